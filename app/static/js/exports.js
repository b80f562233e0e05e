// 导出任务: follow the progress of queued and running exports (getReportExport) and show the
// download when one is done. Without JavaScript the page shows the state when it was loaded.
(function () {
  var table = document.querySelector("[data-exports]");
  if (!table) return;
  var base = table.getAttribute("data-poll-url").replace(/0$/, "");
  var poll = function () {
    var open = table.querySelectorAll("tr[data-state=queued], tr[data-state=running]");
    if (!open.length) return;
    var pending = open.length, finished = false;
    open.forEach(function (row) {
      fetch(base + row.getAttribute("data-export-id"), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (e) {
          if (!e) return;
          row.setAttribute("data-state", e.state);
          var bar = row.querySelector("progress"), stage = row.querySelector("[data-stage]");
          if (bar) bar.value = e.progress;
          if (stage) stage.textContent = e.progress + "% · " + (e.stage || "");
          if (e.state !== "queued" && e.state !== "running") finished = true;
        })
        .catch(function () {})
        .then(function () {
          pending -= 1;
          if (pending === 0) {
            if (finished) window.location.reload();
            else window.setTimeout(poll, 1500);
          }
        });
    });
  };
  window.setTimeout(poll, 1000);
})();
