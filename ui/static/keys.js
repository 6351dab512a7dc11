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

  // A row that leaves the list takes the focus with it (decided here or elsewhere). live.js
  // finds the focus a new place and asks this page first: the order next to the one that
  // left gets it, so j and k go on from there rather than from the top (found by a probe).
  // With no order left, live.js's own choice stands (the summary: "No orders are waiting").
  var near = []; // the rows after, then before, the row that last had the focus
  document.addEventListener("focusin", function (e) {
    var row = e.target.closest ? e.target.closest(rowSel) : null;
    if (!row) { return; }
    var all = rows(), i = all.indexOf(row);
    near = all.slice(i + 1).concat(all.slice(0, i).reverse());
  });
  document.addEventListener("ordermill:focuslost", function (e) {
    if (!e.detail.lost.closest(rowSel)) { return; }
    var next = near.filter(function (r) { return r.isConnected; })[0];
    if (!next) { return; }
    next.focus();
    next.scrollIntoView({ block: "nearest" });
    e.preventDefault();
  });

  function isField(t) { return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(t.tagName)); }
  // isTyping is a field that takes characters: a button or a tick box takes none, and a
  // confirmation's button that went with its answer locked every key (a probe).
  function isTyping(t) {
    return t && (t.isContentEditable || /^(TEXTAREA|SELECT)$/.test(t.tagName) ||
      (t.tagName === "INPUT" && !/^(checkbox|radio|button|submit|reset|image|hidden)$/.test(t.type)));
  }

  // Keys typed on after the field they went to left the page (the live stream took away
  // the row of an order another manager decided) are no shortcuts: the focus fell to the
  // page, and a probe's "check again" went on as k and a and approved the order above.
  // Until the manager clicks, presses Esc or Tab, or goes to another field, keys do nothing,
  // and the page says why. The focus live.js moves for them does not lift that. A field
  // the manager's own action took away (their decision from it) is no such loss: it said
  // "decided elsewhere" of the manager's own decision, and locked the keys (a probe). Tab
  // is never held: it is how a keyboard gets out.
  var typingIn = null;
  document.addEventListener("focusin", function (e) {
    if (isTyping(e.target)) {
      typingIn = e.target;
    } else if (!typingIn || typingIn.isConnected) {
      typingIn = null;
    }
  });
  document.addEventListener("mousedown", function () { typingIn = null; }, true);
  document.addEventListener("htmx:beforeRequest", function (e) {
    var elt = e.detail.elt, form = elt && (elt.form || (elt.closest && elt.closest("form")));
    if (typingIn && form && (form.contains(typingIn) || typingIn.form === form)) { typingIn = null; }
  });
  function vanished(e) {
    if (!typingIn || typingIn.isConnected) { return false; }
    if (/^(Shift|Control|Alt|Meta|CapsLock)$/.test(e.key)) { return true; }
    var bar = document.querySelector("[data-testid=alert]");
    if (e.key === "Escape" || e.key === "Tab") {
      typingIn = null;
      if (bar) { bar.hidden = true; bar.textContent = ""; }
    } else if (bar) {
      bar.textContent = "The order you were typing in has left the list (decided elsewhere): keys do nothing until you click or press Esc or Tab.";
      bar.hidden = false;
    }
    if (e.key !== "Tab") { e.preventDefault(); }
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
