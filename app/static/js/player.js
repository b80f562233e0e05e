// The tracked lesson player (cadres only; staff keep the plain <video>). It opens a watch session,
// records the ranges really played, refuses seeking past what was watched, caps the speed, reports
// progress and shows what the server credited; still-studying checks pause it until answered.
// The server decides what counts: this only tells it what happened. No inline scripts (CSP).
(function () {
  "use strict";
  var box = document.querySelector("[data-track-start]");
  var video = box && box.querySelector("video");
  if (!video || !window.fetch || !window.JSON) return;

  var labels = JSON.parse(box.getAttribute("data-labels") || "{}");
  var csrf = box.getAttribute("data-csrf");
  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var ui = {
    notice: $(".player-notice", box), stopped: $(".player-stopped", box),
    stoppedText: $(".stopped-text", box), restart: $("[data-restart]", box),
    lessonBar: $("[data-lesson-bar]"), lessonPct: $("[data-lesson-pct]"), lessonDone: $("[data-lesson-done]"),
    courseBar: $("[data-course-bar]"), coursePct: $("[data-course-pct]"), courseDone: $("[data-course-done]"),
    courseLessons: $("[data-course-lessons]"), courseComplete: $("[data-course-complete]"),
    status: $("[data-track-status]"), modal: document.getElementById("study-check")
  };
  var MAX_RANGES = 200, JUMP = 2;

  var S = {
    state: "idle",          // idle | starting | active | stopped | closed | error
    session: null, reportUrl: null, interval: 15, timer: null,
    furthest: +box.getAttribute("data-furthest") || 0,    // from the server: seeking beyond is refused
    localMax: 0,            // furthest point played on this page (the server's value lags one report)
    cap: +box.getAttribute("data-speed-cap") || 1,
    seq: 0, inFlight: false, queued: null, retry: null,
    retryAt: 0, retryTimer: null, rebuild: false,   // after a failure: not before the server's Retry-After
    unsent: [],             // [[start, end], …] played and not yet acknowledged by the server
    segStart: null, lastPos: 0,
    check: null, resumed: false, stopCode: null
  };

  // --- small helpers ------------------------------------------------------------------------

  var r2 = function (x) { return Math.round(x * 100) / 100; };
  var pct = function (ratio) { return Math.round((+ratio || 0) * 100); };
  var setState = function (state) {
    S.state = state;
    box.setAttribute("data-track-state", state);
    showStatus();
  };
  var showStatus = function () {
    if (!ui.status) return;
    var text, cls;
    if (S.state === "active" && S.retry) { text = labels.offline; cls = "off"; }
    else if (S.state === "active" && S.check) { text = labels.paused; cls = "paused"; }
    else if (S.state === "active" && video.paused && !S.played) { text = labels.ready; cls = "paused"; }
    else if (S.state === "active") { text = video.paused ? labels.paused : labels.timing; cls = video.paused ? "paused" : "on"; }
    else if (S.state === "starting") { text = labels.starting; cls = "paused"; }
    else if (S.state === "error") { text = labels.offline; cls = "off"; }
    else { text = labels.stopped; cls = "off"; }
    ui.status.textContent = text;
    ui.status.className = "track-status " + cls;
  };
  var noticeTimer = null;
  var notice = function (text) {
    if (!ui.notice) return;
    ui.notice.textContent = text;
    ui.notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { ui.notice.hidden = true; }, 3500);
  };
  var post = function (url, body, keepalive) {
    return fetch(url, {
      method: "POST", credentials: "same-origin", keepalive: !!keepalive,
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json" },
      body: JSON.stringify(body || {})
    }).then(function (r) {
      var after = parseInt(r.headers.get("Retry-After"), 10);   // seconds (an HTTP date is not used here)
      return r.json().catch(function () { return {}; }).then(function (b) {
        return { status: r.status, body: b || {}, retryAfter: after >= 0 ? after : null };
      });
    });
  };

  // --- what the server said -----------------------------------------------------------------

  var showLesson = function (coverage, done) {
    var n = pct(coverage);
    if (ui.lessonPct) ui.lessonPct.textContent = n;
    if (ui.lessonBar) ui.lessonBar.style.width = n + "%";
    if (ui.lessonDone && done !== undefined && done !== null) ui.lessonDone.hidden = !done;
  };
  var showCourse = function (coverage, completed, lessons, completedAt) {
    var n = pct(coverage);
    if (ui.coursePct) ui.coursePct.textContent = n;
    if (ui.courseBar) ui.courseBar.style.width = n + "%";
    if (ui.courseDone && completed !== undefined) ui.courseDone.textContent = completed;
    if (ui.courseLessons && lessons !== undefined) ui.courseLessons.textContent = lessons;
    if (ui.courseComplete && completedAt !== undefined) ui.courseComplete.hidden = !completedAt;
  };
  var apply = function (b) {
    S.furthest = Math.max(S.furthest, +b.furthest || 0);
    showLesson(b.coverage, b.lesson_completed);
    if (b.course) showCourse(b.course.coverage, b.course.lessons_completed, b.course.lessons, b.course.completed_at);
    if (b.state === "paused") { stop("session_paused"); return; }
    if (b.check && !S.check && S.state === "active") openCheck(b.check);
  };

  // --- stopping and starting ----------------------------------------------------------------

  var stop = function (code) {
    if (S.state === "closed") return;   // our own close: the page was hidden or is going away
    S.stopCode = code;
    clearInterval(S.timer);
    S.session = null;
    S.retry = null;
    S.queued = null;
    setState("stopped");
    closeCheck();
    if (!video.paused) video.pause();
    var restart = { session_ended: labels.restart_here, session_paused: labels.restart, check_expired: labels.restart };
    ui.stoppedText.textContent = labels[code === "check_expired" ? "session_paused" : code] || labels.failed;
    ui.restart.textContent = restart[code] || "";
    ui.restart.hidden = !restart[code];
    ui.stopped.hidden = false;
  };

  var start = function (thenPlay) {
    S.unsent = [];   // anything played while not counted stays uncounted
    S.segStart = null;
    setState("starting");
    ui.stopped.hidden = true;
    post(box.getAttribute("data-track-start"), {}).then(function (res) {
      var b = res.body;
      if (res.status !== 201) { stop(res.status === 401 ? "unauthenticated" : b.code === "no_access" ? "no_access" : "failed"); return; }
      S.session = b.session_id;
      S.reportUrl = b.report_url;
      S.interval = Math.max(1, +b.report_interval || 15);
      S.furthest = Math.max(S.furthest, +b.furthest || 0);
      S.cap = +b.speed_cap || S.cap;
      S.seq = 0;
      S.retry = null;
      S.queued = null;
      S.inFlight = false;
      setState("active");
      showLesson(b.coverage);
      showCourse(b.course_coverage);
      clampRate();
      if (!S.resumed) resumeAt(+b.resume_position || 0, +b.duration || 0);
      clearInterval(S.timer);
      S.timer = setInterval(function () {
        if (S.state === "active" && !video.paused && !S.check) send("tick");
      }, S.interval * 1000);
      if (thenPlay) { var p = video.play(); if (p && p.catch) p.catch(function () {}); }
    }, function () {
      setState("error");   // no loop: the next press of play tries again
    });
  };

  var resumeAt = function (pos, duration) {
    S.resumed = true;
    var go = function () {
      var end = video.duration || duration;
      // a finished lesson starts again from the beginning; a few seconds in are not worth a jump
      if (pos > 2 && (!end || pos < end - 2) && video.currentTime < 1) video.currentTime = pos;
    };
    if (video.readyState >= 1) go(); else video.addEventListener("loadedmetadata", go, { once: true });
  };

  // --- watched ranges -----------------------------------------------------------------------

  // Extend the open segment to the current position, unless that is a jump (a seek).
  var extend = function () {
    if (S.segStart === null || video.seeking) return;
    var d = video.currentTime - S.lastPos;
    if (d >= 0 && d <= JUMP) { S.lastPos = video.currentTime; S.localMax = Math.max(S.localMax, S.lastPos); }
  };
  var closeSeg = function () {
    if (S.segStart !== null && S.lastPos - S.segStart > 0.05) S.unsent.push([r2(S.segStart), r2(S.lastPos)]);
    S.segStart = null;
  };
  var openSeg = function () { S.segStart = S.lastPos = video.currentTime; };

  video.addEventListener("timeupdate", function () {
    if (video.paused || video.seeking) return;
    if (S.segStart === null) { openSeg(); return; }
    var d = video.currentTime - S.lastPos;
    if (d >= 0 && d <= JUMP) { S.lastPos = video.currentTime; S.localMax = Math.max(S.localMax, S.lastPos); }
    else { closeSeg(); openSeg(); }   // a jump: what lies between was not watched
  });

  video.addEventListener("seeking", function () {
    closeSeg();
    var limit = Math.max(S.furthest, S.localMax);
    if (video.currentTime > limit + 1) {
      video.currentTime = limit;
      notice(labels.no_skip);
    }
  });
  video.addEventListener("seeked", function () { if (!video.paused) openSeg(); });

  var clampRate = function () {
    if (video.playbackRate > S.cap + 1e-6) {
      video.playbackRate = S.cap;
      notice((labels.speed_cap || "").replace("{n}", S.cap));
    }
    if (video.defaultPlaybackRate > S.cap + 1e-6) video.defaultPlaybackRate = S.cap;
  };
  video.addEventListener("ratechange", clampRate);

  video.addEventListener("play", function () {
    if (S.state === "stopped") { video.pause(); ui.stopped.hidden = false; return; }
    if (S.check) { video.pause(); return; }
    if (S.state === "idle" || S.state === "closed" || S.state === "error") start(false);
    showStatus();
  });
  video.addEventListener("playing", function () { S.played = true; if (!video.seeking) openSeg(); showStatus(); });
  video.addEventListener("pause", function () {
    extend();
    closeSeg();
    showStatus();
    if (video.ended || S.check) return;   // "ended" reports; a check pauses without a report
    send("pause");
  });
  video.addEventListener("ended", function () {
    extend();
    closeSeg();
    send("end");
  });

  // --- reports ------------------------------------------------------------------------------

  var RANK = { tick: 0, pause: 1, end: 2 };
  var send = function (event) {
    if (S.state !== "active" || !S.reportUrl) return;
    if (S.inFlight || (S.retry && Date.now() < S.retryAt)) {
      if (S.queued === null || RANK[event] > RANK[S.queued]) S.queued = event;
      return;
    }
    var body = S.retry;  // a report whose answer was lost goes again unchanged (same number: counted once)
    if (!body || S.rebuild) {
      if (!video.paused) { extend(); closeSeg(); openSeg(); }   // cut the open segment here
      var batch = S.unsent.slice(0, MAX_RANGES);
      // After the server's own 503 nothing of the report was saved: it goes again under the same
      // number with all that was played since (credit is bounded by the time since the last report).
      body = { seq: body ? body.seq : ++S.seq, position: r2(video.currentTime), playing: !video.paused || batch.length > 0,
               ranges: batch, event: body && RANK[body.event] > RANK[event] ? body.event : event };
      S.rebuild = false;
    } else if (event !== "tick") {
      S.queued = event;
    }
    var url = S.reportUrl;
    S.inFlight = true;
    post(url, body).then(function (res) {
      S.inFlight = false;
      if (url !== S.reportUrl) return;   // a newer session took over meanwhile
      S.retry = null;
      if (res.status === 200) {
        S.unsent.splice(0, body.ranges.length);
        apply(res.body);
      } else if (res.status === 409) {
        stop(res.body.code || "session_ended");
        return;
      } else if (res.status === 401) {
        stop("unauthenticated");
        return;
      } else if (res.status === 404) {
        stop("failed");
        return;
      } else if (res.status < 500 && res.status !== 429) {
        S.unsent.splice(0, body.ranges.length);   // refused as malformed: sending it again would not help
      } else {
        S.retry = body;
        // 429 (refused before the report was looked at) and the server's own 503s: nothing was saved
        S.rebuild = res.status === 429 ||
          (res.status === 503 && (res.body.code === "busy" || res.body.code === "db_unavailable"));
        retryLater(res.retryAfter);
      }
      showStatus();
      flush();
    }, function () {
      S.inFlight = false;
      S.retry = body;   // network: the same report goes again (it may have been saved)
      retryLater(null);
      showStatus();
    });
  };
  // A failed report goes again after a report interval, or the server's Retry-After when that is
  // longer, playing or not (every player retrying each second would multiply a busy database's load).
  var retryLater = function (seconds) {
    var wait = Math.min(Math.max(seconds === null ? 0 : seconds, S.interval, 1), 300);
    S.retryAt = Date.now() + wait * 1000;
    clearTimeout(S.retryTimer);
    S.retryTimer = setTimeout(function () {
      if (!S.retry || S.inFlight) return;
      var e = S.queued || "tick";
      S.queued = null;
      send(e);
    }, wait * 1000 + 50);
  };
  var flush = function () {
    if (S.queued !== null && S.state === "active") { var e = S.queued; S.queued = null; send(e); }
  };

  // The page is hidden or going away: the last report goes by beacon and ends the session; coming
  // back opens a new one (time away is not study time).
  var close = function () {
    if (S.state !== "active" || !S.reportUrl) return;
    extend();
    closeSeg();
    var batch = S.unsent.slice(0, MAX_RANGES);
    var body = { seq: ++S.seq, position: r2(video.currentTime), playing: !video.paused || batch.length > 0,
                 ranges: batch, event: "close", csrf_token: csrf };
    var sent = false;
    try {
      sent = navigator.sendBeacon && navigator.sendBeacon(S.reportUrl, new Blob([JSON.stringify(body)], { type: "application/json" }));
    } catch (e) { sent = false; }
    if (!sent) post(S.reportUrl, body, true).catch(function () {});
    S.unsent = [];
    S.retry = null;
    S.queued = null;
    S.reportUrl = null;
    S.session = null;
    clearInterval(S.timer);
    setState("closed");
    if (!video.paused) { video.pause(); S.wasAway = true; }
  };
  var back = function () {
    if (S.state !== "closed") return;
    if (S.wasAway) { S.wasAway = false; notice(labels.away); }
    start(false);
  };
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") close(); else back();
  });
  window.addEventListener("pagehide", close);
  window.addEventListener("pageshow", function (e) { if (e.persisted) back(); });

  // --- still-studying checks ----------------------------------------------------------------

  var closeCheck = function () {
    if (!ui.modal) return;
    ui.modal.hidden = true;
    S.check = null;
    showStatus();
  };
  var openCheck = function (check) {
    if (!ui.modal) return;
    S.check = check;
    if (!video.paused) video.pause();
    if (document.fullscreenElement && document.exitFullscreen) document.exitFullscreen().catch(function () {});
    $(".check-prompt", ui.modal).textContent = check.prompt;
    $(".check-image", ui.modal).src = check.image_url;
    var err = $(".check-error", ui.modal);
    err.hidden = true;
    var opts = $(".check-options", ui.modal);
    opts.textContent = "";
    check.options.forEach(function (value) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "btn check-option";
      b.textContent = value;
      b.setAttribute("data-answer", value);
      b.addEventListener("click", function () { answer(check, value); });
      opts.appendChild(b);
    });
    ui.modal.hidden = false;
    showStatus();
    var first = opts.querySelector("button");
    if (first) first.focus();
  };
  var answer = function (check, value) {
    var buttons = ui.modal.querySelectorAll(".check-option");
    var err = $(".check-error", ui.modal);
    var enable = function (on) { buttons.forEach(function (b) { b.disabled = !on; }); };
    enable(false);
    var url = box.getAttribute("data-answer-url").replace("__KEY__", encodeURIComponent(check.id));
    post(url, { answer: value }).then(function (res) {
      if (S.check !== check) return;
      if (res.status === 200 && res.body.ok) {
        closeCheck();
        var p = video.play();
        if (p && p.catch) p.catch(function () {});
      } else if (res.status === 200) {
        err.textContent = labels.wrong;
        err.hidden = false;
        enable(true);
      } else if (res.status === 409 || res.status === 404) {
        stop("session_paused");
      } else if (res.status === 401) {
        stop("unauthenticated");
      } else {
        err.textContent = labels.answer_failed;
        err.hidden = false;
        enable(true);
      }
    }, function () {
      err.textContent = labels.answer_failed;
      err.hidden = false;
      enable(true);
    });
  };

  ui.restart.addEventListener("click", function () { start(true); });

  start(false);
})();
