// The calls a site makes: a page view, who the visitor is, what they did. `?run=` tells the
// test's events apart; the list on the page shows each call as it is made.
(function () {
  var run = new URLSearchParams(location.search).get("run") || "manual";
  var list = document.getElementById("calls");
  function shown(text) {
    var item = document.createElement("li");
    item.textContent = text;
    list.appendChild(item);
  }
  analytics.page("Docs", "Browser test", { run: run });
  shown("page: Docs / Browser test");
  analytics.identify("browser-" + run, { plan: "pro", run: run });
  shown("identify: browser-" + run);
  analytics.track("Report Exported", { run: run, format: "csv", rows: 120 });
  shown("track: Report Exported");
  analytics.ready(function () {
    var status = document.getElementById("status");
    var script = document.querySelector("script[data-global-segment-analytics-key]");
    status.textContent = "analytics.js " + analytics.VERSION + " loaded from " + script.src;
    document.body.setAttribute("data-ready", "true");
  });
})();
