// Keyboard shortcuts of the pending page (issue 12): j/k move between orders, r goes to
// the reason box, a approves after a confirmation, ? lists the shortcuts. Keys typed
// into a field are the field's own. Served from /dashboard/static (the CSP allows only
// our own scripts); the page works without it.
(function () {
  "use strict";
  var rowSel = "[data-testid=pending-row]";

  function rows() { return Array.prototype.slice.call(document.querySelectorAll(rowSel)); }
  function current() { return document.activeElement && document.activeElement.closest ? document.activeElement.closest(rowSel) : null; }

  function move(step) {
    var all = rows();
    if (all.length === 0) { return; }
    var i = all.indexOf(current());
    var next = all[i < 0 ? 0 : Math.min(Math.max(i + step, 0), all.length - 1)];
    next.focus();
    next.scrollIntoView({ block: "nearest" });
  }

  // A decided row leaves the list, and the focus with it: the order that takes its place
  // gets the focus, so j and k go on from there rather than from the top (found by a probe).
  var decidedAt = -1;
  document.addEventListener("htmx:beforeRequest", function (e) {
    var row = e.target && e.target.closest ? e.target.closest(rowSel) : null;
    decidedAt = row ? rows().indexOf(row) : -1;
  });
  document.addEventListener("htmx:afterSettle", function () {
    var lost = !document.activeElement || document.activeElement === document.body;
    var all = rows();
    if (decidedAt >= 0 && lost && all.length > 0) {
      all[Math.min(decidedAt, all.length - 1)].focus();
    }
    decidedAt = -1;
  });

  function isField(t) { return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(t.tagName)); }

  // Keys typed on after the field they went to left the page (the live stream took away
  // the row of an order another manager decided) are no shortcuts: the focus fell to the
  // page, and a probe's "check again" went on as k and a and approved the order above.
  // Until the manager clicks, or presses Esc, keys do nothing, and the page says why.
  var typingIn = null;
  document.addEventListener("focusin", function (e) { typingIn = isField(e.target) ? e.target : null; });
  document.addEventListener("mousedown", function () { typingIn = null; }, true);
  function vanished(e) {
    if (!typingIn || typingIn.isConnected) { return false; }
    var bar = document.querySelector("[data-testid=alert]");
    if (e.key === "Escape") {
      typingIn = null;
      if (bar) { bar.hidden = true; bar.textContent = ""; }
    } else if (bar) {
      bar.textContent = "The order you were typing in has left the list (decided elsewhere): keys do nothing until you click or press Esc.";
      bar.hidden = false;
    }
    e.preventDefault();
    return true;
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) { return; }
    var t = e.target;
    if (isField(t) || vanished(e)) { return; }
    var help = document.getElementById("shortcuts");
    var row = current();
    switch (e.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "r":
        if (!row) { return; }
        row.querySelector("[data-testid=decide-reason]").focus();
        break;
      case "a":
        if (!row) { return; }
        var approve = row.querySelector("[data-testid=approve-button]");
        if (approve && window.confirm(approve.getAttribute("aria-label") + "?")) { approve.click(); }
        break;
      case "?":
        if (help && !help.open) { help.showModal(); }
        break;
      default:
        return;
    }
    e.preventDefault();
  });
})();
