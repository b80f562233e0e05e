// The learning archive: the print button, the print date and the code in the printed page's margins
// (CSS custom properties on the root, which @page margin boxes inherit), copying the verification link.
// No inline scripts (CSP); without JavaScript the browser's own print still gives the document.
(function () {
  var doc = document.querySelector("[data-archive]");
  if (!doc) return;
  var root = document.documentElement.style;
  var cssString = function (s) {
    return '"' + String(s || "").replace(/[\\"]/g, "\\$&").replace(/[\r\n]+/g, " ") + '"';
  };
  var pad = function (n) { return (n < 10 ? "0" : "") + n; };
  var stamp = function () {
    var d = new Date();
    var day = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
    document.querySelectorAll("[data-print-date]").forEach(function (el) { el.textContent = day; });
    root.setProperty("--archive-printed", cssString(doc.getAttribute("data-print-date-label") + " " + day + " " +
                                                    pad(d.getHours()) + ":" + pad(d.getMinutes())));
  };
  root.setProperty("--archive-head", cssString(doc.getAttribute("data-print-head")));
  root.setProperty("--archive-code", cssString(doc.getAttribute("data-print-code")));
  stamp();
  window.addEventListener("beforeprint", stamp);

  document.querySelectorAll("[data-archive-print]").forEach(function (b) {
    b.addEventListener("click", function () { window.print(); });
  });
  document.querySelectorAll("[data-hpct]").forEach(function (el) {
    el.style.height = Math.max(0, Math.min(100, +el.getAttribute("data-hpct"))) + "%";
  });
  document.querySelectorAll("[data-copy]").forEach(function (b) {
    b.addEventListener("click", function () {
      if (!navigator.clipboard) return;
      navigator.clipboard.writeText(b.getAttribute("data-copy")).then(function () {
        var was = b.textContent;
        b.textContent = b.getAttribute("data-copied");
        setTimeout(function () { b.textContent = was; }, 1500);
      });
    });
  });
})();
