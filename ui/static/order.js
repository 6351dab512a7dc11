// The order page's content arrives by two roads, the answer to a decision or a note taken
// there (out of band, beside its message) and the live stream, on two connections: the
// older of the two may arrive last. Each copy carries the log position it reflects
// (data-version); an older copy never replaces a newer one (the answer's message still
// shows).
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
  document.addEventListener("htmx:oobBeforeSwap", function (e) {
    var copy = e.detail.fragment && e.detail.fragment.querySelector && e.detail.fragment.querySelector("[data-testid=order-version]");
    if (e.detail.target && e.detail.target.id === "order-live" && copy && Number(copy.getAttribute("data-version")) < shown()) {
      e.detail.shouldSwap = false;
    }
  });
  document.addEventListener("htmx:sseBeforeMessage", function (e) {
    if (e.detail.type === "order" && version(e.detail.data) < shown()) {
      e.preventDefault();
    }
  });

  // A new status is said (politely) when the content shows it: the badge changed without
  // a word to a screen reader (an accessibility probe).
  function status() {
    var badge = document.querySelector("[data-testid=order-head] [data-testid=status-badge]");
    return badge ? badge.textContent.trim() : "";
  }
  var said = null;
  document.addEventListener("htmx:afterSettle", function () {
    var now = status(), region = document.getElementById("order-status-said");
    if (said === null) { said = now; }
    if (region && now && now !== said) {
      said = now;
      region.textContent = "The order is now " + now + ".";
    }
  });
  document.addEventListener("DOMContentLoaded", function () { said = status(); });
})();
