// The exam page: answers saved to the server as the cadre goes (debounced, retried until they
// arrive), the countdown from the server's seconds_left (re-synced every minute), the question
// navigator, the confirm-before-submit dialog, and the submission when time runs out. The page
// knows nothing of the correct answers; the server keeps the time and grades. Without this script
// the form still works: 交卷 posts every answer. No inline scripts (CSP).
(function () {
  "use strict";
  var form = document.getElementById("exam-form");
  if (!form || !window.fetch || !window.JSON) return;

  var labels = JSON.parse(form.getAttribute("data-labels") || "{}");
  var csrf = document.body.getAttribute("data-csrf");
  var saveUrl = form.getAttribute("data-save-url");
  var stateUrl = form.getAttribute("data-state-url");
  var resultUrl = form.getAttribute("data-result-url");
  var timerBox = document.querySelector("[data-timer]");
  var timerText = document.querySelector("[data-timer-text]");
  var saveState = document.querySelector("[data-save-state]");
  var answeredText = document.querySelector("[data-answered]");
  var modal = document.getElementById("exam-confirm");
  var questions = Array.prototype.slice.call(form.querySelectorAll(".exam-q[data-position]"));
  var total = questions.length;

  var DEBOUNCE = 1000, SYNC = 60000, MAX_RETRY = 30;
  var S = {
    pending: {},        // position → answer not yet sent
    inflight: null,     // the answers being sent
    timer: null,        // the debounce or retry timer
    failures: 0,
    deadline: 0,        // performance.now() at which the time runs out
    submitting: false,
    closed: false
  };

  var fmt = function (text, values) {
    return String(text || "").replace(/\{(\w+)\}/g, function (m, k) { return values[k] !== undefined ? values[k] : m; });
  };
  var pad = function (n) { return (n < 10 ? "0" : "") + n; };
  var clockText = function (s) {
    s = Math.max(0, Math.ceil(s));
    var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
    return h ? h + ":" + pad(m) + ":" + pad(sec) : pad(m) + ":" + pad(sec);
  };
  var nowText = function () {
    var d = new Date();
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  };
  var mono = function () { return window.performance && performance.now ? performance.now() : Date.now(); };

  // --- answers ----------------------------------------------------------------------------

  var answerOf = function (q) {
    var letters = [];
    q.querySelectorAll("input:checked").forEach(function (i) { letters.push(i.value); });
    letters.sort();
    return letters.join("") || null;
  };
  var answeredCount = function () {
    return questions.filter(function (q) { return answerOf(q) !== null; }).length;
  };
  var showAnswered = function () {
    questions.forEach(function (q) {
      var pos = q.getAttribute("data-position"), done = answerOf(q) !== null;
      q.classList.toggle("answered", done);
      var link = document.querySelector("[data-nav='" + pos + "']");
      if (link) link.classList.toggle("answered", done);
    });
    if (answeredText) answeredText.textContent = fmt(labels.answered, { a: answeredCount(), n: total });
  };

  var setSave = function (text, cls) {
    if (!saveState) return;
    saveState.textContent = text;
    saveState.className = "exam-save " + (cls || "");
  };
  var hasUnsaved = function () {
    return S.inflight !== null || Object.keys(S.pending).length > 0;
  };

  var goToResult = function () {
    if (S.closed) return;
    S.closed = true;
    clearTimeout(S.timer);
    setSave(labels.closed, "warn");
    window.location.href = resultUrl;
  };

  var schedule = function (delay) {
    clearTimeout(S.timer);
    S.timer = setTimeout(send, delay);
  };

  var send = function () {
    if (S.inflight !== null || S.closed || S.submitting) return;
    var keys = Object.keys(S.pending);
    if (!keys.length) return;
    S.inflight = S.pending;
    S.pending = {};
    setSave(labels.saving, "busy");
    fetch(saveUrl, {
      method: "PUT", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ answers: S.inflight })
    }).then(function (r) {
      var after = parseInt(r.headers.get("Retry-After"), 10);
      return r.json().catch(function () { return {}; }).then(function (b) {
        return { status: r.status, body: b || {}, retryAfter: after > 0 ? after : 0 };
      });
    }).then(function (res) {
      var sent = S.inflight;
      S.inflight = null;
      if (res.status === 200) {
        S.failures = 0;
        if (typeof res.body.seconds_left === "number") setDeadline(res.body.seconds_left);
        if (Object.keys(S.pending).length) { setSave(labels.pending, "busy"); schedule(DEBOUNCE); }
        else setSave(fmt(labels.saved, { t: nowText() }), "ok");
      } else if (res.status === 409) {
        goToResult();   // closed: handed in elsewhere, or out of time
      } else if (res.status === 401) {
        requeue(sent);
        setSave(labels.logged_out, "error");
      } else if (res.status >= 400 && res.status < 500 && res.status !== 429) {
        // an answer the server refuses (should not happen from this page): say so, keep the rest
        setSave(fmt(labels.refused, { m: res.body.detail || res.body.title || res.status }), "error");
      } else {
        retry(sent, res.retryAfter);
      }
    }).catch(function () {
      var sent = S.inflight;
      S.inflight = null;
      retry(sent);
    });
  };

  // Put unsent answers back, unless the cadre changed them meanwhile (the newer choice wins).
  var requeue = function (sent) {
    Object.keys(sent || {}).forEach(function (k) { if (!(k in S.pending)) S.pending[k] = sent[k]; });
  };
  var retry = function (sent, after) {
    requeue(sent);
    S.failures += 1;
    var wait = Math.min(MAX_RETRY, after || Math.pow(2, S.failures));   // the server's Retry-After first
    setSave(fmt(labels.retry, { s: wait }), "error");
    schedule(wait * 1000);
  };

  form.addEventListener("change", function (e) {
    var q = e.target.closest && e.target.closest(".exam-q[data-position]");
    if (!q || S.closed || S.submitting) return;
    S.pending[q.getAttribute("data-position")] = answerOf(q);
    showAnswered();
    if (S.failures) return;   // a retry is already scheduled; it takes this answer along
    setSave(labels.pending, "busy");
    schedule(DEBOUNCE);
  });

  // --- the clock --------------------------------------------------------------------------

  var setDeadline = function (secondsLeft) {
    S.deadline = mono() + secondsLeft * 1000;
    tick();
  };
  var tick = function () {
    var left = (S.deadline - mono()) / 1000;
    if (timerText) timerText.textContent = clockText(left);
    if (timerBox) {
      timerBox.classList.toggle("warn", left <= 300 && left > 60);
      timerBox.classList.toggle("danger", left <= 60);
    }
    if (left <= 0 && !S.submitting && !S.closed) timeUp();
  };
  var sync = function () {
    if (S.closed || S.submitting) return;
    fetch(stateUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (b) {
        if (!b) return;
        if (b.state === "closed") goToResult();
        else if (typeof b.seconds_left === "number") setDeadline(b.seconds_left);
      }).catch(function () {});
  };
  setDeadline(+timerBox.getAttribute("data-seconds-left") || 0);
  setInterval(tick, 250);
  setInterval(sync, SYNC);
  document.addEventListener("visibilitychange", function () { if (document.visibilityState === "visible") sync(); });

  // --- handing in -------------------------------------------------------------------------

  var buttons = Array.prototype.slice.call(document.querySelectorAll("[data-submit]"));
  var handIn = function (text) {
    S.submitting = true;
    clearTimeout(S.timer);
    buttons.forEach(function (b) { b.disabled = true; b.textContent = text; });
    setSave(text, "busy");
    HTMLFormElement.prototype.submit.call(form);   // the form carries every answer
  };
  var timeUp = function () {
    closeModal();
    handIn(labels.time_up);
  };

  var openModal = function () {
    var missing = questions.filter(function (q) { return answerOf(q) === null; })
      .map(function (q) { return q.getAttribute("data-position"); });
    var unanswered = missing.length;
    var list = modal.querySelector("[data-confirm-list]");
    modal.querySelector("[data-confirm-text]").textContent = unanswered
      ? fmt(labels.unanswered, { u: unanswered, n: total })
      : fmt(labels.all_answered, { n: total });
    list.textContent = fmt(labels.unanswered_list, { list: missing.join("、") });
    list.hidden = !unanswered;
    modal.classList.toggle("has-unanswered", unanswered > 0);
    modal.hidden = false;
    modal.querySelector(unanswered ? "[data-confirm-cancel]" : "[data-confirm-ok]").focus();
  };
  var closeModal = function () { if (modal) modal.hidden = true; };

  form.addEventListener("submit", function (e) {
    if (S.submitting) return;
    e.preventDefault();
    openModal();
  });
  modal.querySelector("[data-confirm-cancel]").addEventListener("click", closeModal);
  modal.querySelector("[data-confirm-ok]").addEventListener("click", function () {
    closeModal();
    handIn(labels.submitting);
  });
  modal.addEventListener("click", function (e) { if (e.target === modal) closeModal(); });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape" && !modal.hidden) closeModal(); });

  // --- navigator ----------------------------------------------------------------------------

  document.querySelectorAll("[data-nav]").forEach(function (link) {
    link.addEventListener("click", function (e) {
      var q = document.getElementById("q" + link.getAttribute("data-nav"));
      if (!q) return;
      e.preventDefault();
      q.scrollIntoView({ behavior: "smooth", block: "start" });
      q.classList.remove("flash-q");
      void q.offsetWidth;   // restart the highlight
      q.classList.add("flash-q");
      var first = q.querySelector("input");
      if (first) first.focus({ preventScroll: true });
      if (history.replaceState) history.replaceState(null, "", "#q" + link.getAttribute("data-nav"));
    });
  });

  // --- leaving --------------------------------------------------------------------------------

  window.addEventListener("beforeunload", function (e) {
    if (S.submitting || S.closed || !hasUnsaved()) return;
    e.preventDefault();
    e.returnValue = labels.leave;
    return labels.leave;
  });
  // The page goes away with answers unsent: one last try that outlives the page.
  window.addEventListener("pagehide", function () {
    if (S.submitting || S.closed) return;
    var all = {};
    requeue(S.inflight);
    Object.keys(S.pending).forEach(function (k) { all[k] = S.pending[k]; });
    if (!Object.keys(all).length) return;
    try {
      fetch(saveUrl, { method: "PUT", credentials: "same-origin", keepalive: true,
                       headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
                       body: JSON.stringify({ answers: all }) });
    } catch (err) { /* nothing more can be done */ }
  });

  showAnswered();
})();
