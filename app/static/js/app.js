// Small progressive enhancements; every page works without them. No inline scripts (CSP).
(function () {
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.getAttribute("data-confirm"))) e.preventDefault();
    });
  });
  document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
    sel.addEventListener("change", function () { sel.form.submit(); });
  });
  document.querySelectorAll("[data-print]").forEach(function (b) {
    b.addEventListener("click", function () { window.print(); });
  });
  document.querySelectorAll("[data-pct]").forEach(function (el) {
    el.style.width = Math.max(0, Math.min(100, +el.getAttribute("data-pct"))) + "%";
  });
  document.querySelectorAll(".indent[data-depth]").forEach(function (el) {
    el.style.display = "inline-block";
    el.style.width = (1.4 * +el.getAttribute("data-depth")) + "em";
  });
  var box = document.getElementById("import-progress");
  if (box) {
    var url = box.getAttribute("data-status-url");
    var bar = box.querySelector(".progress-bar");
    var stateEl = box.querySelector('[data-field="state"]');
    var labels = JSON.parse(stateEl.getAttribute("data-labels"));
    var tick = function () {
      fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (s) {
        bar.style.width = s.percent + "%";
        ["processed", "total", "created", "updated", "unchanged", "errors"].forEach(function (k) {
          var el = box.querySelector('[data-field="' + k + '"]');
          if (el) el.textContent = s[k];
        });
        stateEl.textContent = labels[s.state] || s.state;
        if (s.state === "running") setTimeout(tick, 500);
      }).catch(function () { setTimeout(tick, 2000); });
    };
    tick();
  }
  // Lesson video uploads: the file goes up in chunks (a failed chunk is retried from the offset the
  // server reports), then the transcoding job is polled until the lesson's video is replaced.
  document.querySelectorAll(".uploader").forEach(function (box) {
    var form = box.querySelector(".upload-form");
    var status = box.querySelector(".upload-status");
    var bar = status.querySelector(".progress-bar");
    var text = status.querySelector(".upload-text");
    var labels = JSON.parse(box.getAttribute("data-labels"));
    var chunk = +box.getAttribute("data-chunk");
    var max = +box.getAttribute("data-max");
    var csrf = form.querySelector("[name=csrf_token]").value;
    var jobUrl = function (id) { return box.getAttribute("data-job-url").replace(/0$/, id); };
    var show = function (pct, msg, failed) {
      status.hidden = false;
      bar.style.width = Math.max(0, Math.min(100, pct)) + "%";
      text.textContent = msg;
      box.classList.toggle("failed", !!failed);
    };
    var poll = function (id) {
      fetch(jobUrl(id), { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (j) {
        if (j.state === "succeeded") { show(100, labels.succeeded); setTimeout(function () { location.reload(); }, 1000); }
        else if (j.state === "failed") { show(100, labels.failed + ":" + j.error, true); }
        else { show(j.progress, (labels[j.state] || j.state) + " " + j.progress + "%"); setTimeout(function () { poll(id); }, 1000); }
      }).catch(function () { setTimeout(function () { poll(id); }, 3000); });
    };
    if (box.getAttribute("data-active-job")) poll(box.getAttribute("data-active-job"));
    form.addEventListener("submit", function (e) {
      var file = form.querySelector("input[type=file]").files[0];
      if (!file || !window.fetch || !window.FormData || !file.slice) return;  // the plain form posts it
      e.preventDefault();
      if (file.size > max) { show(0, labels.too_large, true); return; }
      var uploadId = null, offset = 0, retries = 0;
      var send = function () {
        var fd = new FormData();
        fd.append("file", file.slice(offset, Math.min(offset + chunk, file.size)), file.name);
        fd.append("offset", offset);
        if (uploadId) fd.append("upload_id", uploadId); else fd.append("total_size", file.size);
        fetch(box.getAttribute("data-upload-url"), { method: "POST", body: fd, credentials: "same-origin",
                                                     headers: { "X-CSRFToken": csrf } })
          .then(function (r) { return r.json().then(function (b) { return { status: r.status, body: b }; }); })
          .then(function (res) {
            var b = res.body;
            if (res.status === 202) {
              uploadId = b.id; offset = b.received_bytes; retries = 0;
              var pct = Math.floor(100 * offset / file.size);
              if (b.state === "uploading") { show(pct, labels.uploading + " " + pct + "%"); send(); }
              else { show(0, labels[b.state] || b.state); poll(b.id); }
            } else if (res.status === 409 && b.code === "upload_closed" && b.job_id) {
              poll(b.job_id);  // the last chunk did arrive (its answer was lost): follow the job
            } else if (res.status === 409 && b.received !== undefined && uploadId && b.received !== offset) {
              offset = b.received; send();
            } else if (res.status === 503 && retries++ < 5) {
              setTimeout(send, 1000 * retries);
            } else {
              show(100, b.detail || b.title || labels.failed, true);
            }
          }).catch(function () {
            if (retries++ < 5) { show(Math.floor(100 * offset / file.size), labels.network); setTimeout(send, 2000 * retries); }
            else show(0, labels.network, true);
          });
      };
      show(0, labels.uploading + " 0%");
      send();
    });
  });
  // Time online: once a minute, while the page is visible and was used (mouse, keys, scrolling,
  // touch) in the last minute, tell the server. Idle or hidden pages earn nothing.
  var activityUrl = document.body.getAttribute("data-activity-url");
  if (activityUrl && window.fetch) {
    var lastUse = Date.now();  // arriving on the page is use
    var used = function () { lastUse = Date.now(); };
    ["mousemove", "mousedown", "keydown", "scroll", "wheel", "touchstart"].forEach(function (name) {
      window.addEventListener(name, used, { passive: true, capture: true });
    });
    var ping = setInterval(function () {
      if (document.visibilityState !== "visible" || Date.now() - lastUse > 60000) return;
      fetch(activityUrl, { method: "POST", credentials: "same-origin",
                           headers: { "X-CSRFToken": document.body.getAttribute("data-csrf") } })
        .then(function (r) { if (r.status === 401) clearInterval(ping); }).catch(function () {});
    }, 60000);
  }
})();
