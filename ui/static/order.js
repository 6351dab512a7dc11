// The order page's content arrives by two roads, the answer to a decision taken there and
// the live stream, on two connections: the older of the two may arrive last. Each copy
// carries the log position it reflects (data-version); an older copy never replaces a
// newer one.
(function () {
  "use strict";
  function version(html) {
    var m = /data-testid="order-version" data-version="(\d+)"/.exec(html || "");
    return m ? Number(m[1]) : -1;
  }
  function shown() {
    var el = document.querySelector("[data-testid=order-version]");
    return el ? Number(el.getAttribute("data-version")) : -1;
  }
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (e.detail.target && e.detail.target.id === "order-live" && version(e.detail.serverResponse) < shown()) {
      e.detail.shouldSwap = false;
    }
  });
  document.addEventListener("htmx:sseBeforeMessage", function (e) {
    if (e.detail.type === "order" && version(e.detail.data) < shown()) {
      e.preventDefault();
    }
  });
})();
