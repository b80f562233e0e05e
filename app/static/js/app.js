// Small progressive enhancements; every page works without them. No inline scripts (CSP).
(function () {
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.getAttribute("data-confirm"))) e.preventDefault();
    });
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
})();
