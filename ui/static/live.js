// Clocks and the tab title of every dashboard page (issue 12). "Waiting" and "time left"
// on the pending cards are worked out again every second from the times the server
// wrote (data-since, data-deadline), in the server's own format, so they do not freeze
// between live updates. They count on the server's clock, not the browser's: the page
// carries the server's time as it rendered it (data-server-now), and the clocks keep the
// difference. A browser ten minutes fast showed live orders "overdue" and claims the
// server still enforces "lapsed" (a review). The tab title leads with the pending count and follows the
// navigation badge, which the live stream keeps current. Served from /dashboard/static
// (the CSP allows only our own scripts); without it the page shows the server's values.
(function () {
  "use strict";
  var minute = 60000, hour = 60 * minute, day = 24 * hour;

  // human is ui.HumanDuration: "<1m", "5m", "2h 5m", "3d 4h".
  function human(ms) {
    ms = Math.abs(ms);
    if (ms < minute) { return "<1m"; }
    if (ms < hour) { return Math.floor(ms / minute) + "m"; }
    if (ms < day) { return Math.floor(ms / hour) + "h " + Math.floor((ms % hour) / minute) + "m"; }
    return Math.floor(ms / day) + "d " + Math.floor((ms % day) / hour) + "h";
  }

  function set(el, text) {
    if (el.textContent !== text) { el.textContent = text; }
  }

  var skew = Date.parse(document.body.getAttribute("data-server-now")) - Date.now();
  if (isNaN(skew)) { skew = 0; }

  function tick() {
    var now = Date.now() + skew;
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var t = Date.parse(el.getAttribute("data-since"));
      if (!isNaN(t)) { set(el, human(now - t)); }
    });
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var t = Date.parse(el.getAttribute("data-deadline"));
      if (isNaN(t)) { return; }
      set(el, t <= now ? "overdue" : human(t - now));
      el.classList.toggle("urgent", t - now < hour);
    });
    // A claim past its end has lapsed: say so rather than show a stale reviewer.
    document.querySelectorAll("[data-testid=claim][data-until]").forEach(function (el) {
      var t = Date.parse(el.getAttribute("data-until"));
      if (!isNaN(t) && t <= now && !el.classList.contains("lapsed")) {
        el.classList.add("lapsed");
        var text = el.querySelector("[data-testid=claim-text]");
        if (text) { set(text, text.textContent.replace(/\.$/, "") + " (claim lapsed)."); }
      }
    });
  }

  function title() {
    var badge = document.querySelector("[data-testid=nav-pending-count]");
    if (!badge) { return; }
    var n = parseInt(badge.textContent, 10);
    var base = document.title.replace(/^\(\d+\) /, "");
    var want = n > 0 ? "(" + n + ") " + base : base;
    if (document.title !== want) { document.title = want; }
  }

  // follow keeps the page's stream address at what the page now shows: a "pending"
  // event's id names its rows, an "order" event's how far the order page is. When the
  // stream breaks, htmx connects again to the address it reads then, and the server
  // compares what it has with what the page shows, not with what it first showed.
  var follows = { pending: "shown", order: "since" };
  function follow(e) {
    var m = e.detail, param = m && follows[m.type];
    var body = document.body, url = body.getAttribute("sse-connect");
    if (!param || !m.lastEventId || !url) { return; }
    var u = new URL(url, location.href);
    u.searchParams.set(param, m.lastEventId);
    body.setAttribute("sse-connect", u.pathname + u.search);
  }

  // say shows text in the element named by testid, or hides it when text is empty.
  function say(testid, text) {
    var el = document.querySelector("[data-testid=" + testid + "]");
    if (!el) { return; }
    set(el, text);
    el.hidden = text === "";
  }

  // A live page that lost its stream looks live and is not: say so until it is back.
  function connection() {
    document.addEventListener("htmx:sseOpen", function () { say("live-status", ""); });
    document.addEventListener("htmx:sseError", function () {
      say("live-status", "Not connected: this page may be out of date. Reconnecting… (reload, or sign in again, if this stays)");
    });
  }

  // A stream can fall silent without breaking (a half-open connection), and the page looked
  // live while it went stale for ever. The server sends a keep-alive event at least every
  // data-keep-alive milliseconds; after twice that without a word the stream is taken for
  // lost: it is closed and said broken, so the bar says so and htmx connects again, to the
  // address follow() keeps at what the page shows, which the server catches up from.
  var stream = null, heardAt = 0;
  function heard() { heardAt = Date.now(); }
  function listen() {
    document.addEventListener("htmx:sseOpen", function (e) {
      stream = e.detail.source;
      stream.addEventListener("keep-alive", heard);
      heard();
    });
    document.addEventListener("htmx:sseMessage", heard);
  }
  function watchdog() {
    var every = parseInt(document.body.getAttribute("data-keep-alive"), 10);
    if (!stream || !(every > 0) || stream.readyState === EventSource.CLOSED || Date.now() - heardAt < 2 * every) { return; }
    stream.close();
    stream.dispatchEvent(new Event("error"));
  }

  // An action the server refused, or that never reached it, would otherwise leave the page
  // as it was, saying nothing: the manager could not tell "refused" from "still working".
  function failures() {
    document.addEventListener("htmx:responseError", function (e) {
      var xhr = e.detail.xhr, text = "";
      if (xhr && xhr.responseText) {
        var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
        var msg = doc.querySelector("[data-testid=error-message]");
        text = msg ? msg.textContent : "";
      }
      say("alert", "Not done: " + (text || ("the server answered " + (xhr ? xhr.status : "an error"))) + ".");
    });
    // No answer is not "not done": the action may have been taken before the answer was
    // lost (a probe's decision was recorded while this said nothing had changed).
    document.addEventListener("htmx:sendError", function () {
      say("alert", "No answer from the orders service: the action may or may not have been taken. Reload the page to see where things stand before you try again.");
    });
    document.addEventListener("htmx:afterRequest", function (e) {
      if (e.detail.successful) { say("alert", ""); }
    });
  }

  // A row the manager is deciding stays until the decision's answer takes its place: the
  // live stream deletes a decided order's row, and on a slow network it came first, so the
  // answer found no row to replace, and the manager's own decision vanished unconfirmed.
  // When the answer does not come (or refuses), the stream's word that the order left the
  // list is applied then: it is not sent again, and the row stayed under a count that no
  // longer held it.
  // One entry an order in the decision log: a manager's own decision is logged by its
  // answer and by the stream (which says it for the manager's other tabs), in either order.
  function oneLogEntryAnOrder() {
    document.addEventListener("htmx:oobBeforeSwap", function (e) {
      var entry = e.detail.fragment && e.detail.fragment.querySelector && e.detail.fragment.querySelector("[data-testid=decision-log-entry]");
      if (!entry || !e.detail.target || e.detail.target.id !== "decision-log") { return; }
      var id = entry.getAttribute("data-order-id");
      if (e.detail.target.querySelector('[data-testid=decision-log-entry][data-order-id="' + id + '"]')) {
        e.detail.shouldSwap = false;
      }
    });
  }

  function keepRowsBeingDecided() {
    var left = {};
    document.addEventListener("htmx:oobBeforeSwap", function (e) {
      var t = e.detail.target;
      if (t && t.matches && t.matches("[data-testid=pending-row]") && t.querySelector(".htmx-request")) {
        e.detail.shouldSwap = false;
        left[t.id] = true;
      }
    });
    document.addEventListener("htmx:afterRequest", function (e) {
      var row = e.detail.elt && e.detail.elt.closest && e.detail.elt.closest("[data-testid=pending-row]");
      if (!row || !left[row.id]) { return; }
      delete left[row.id];
      // After the events that follow this one (htmx:sendError comes after
      // htmx:afterRequest): from a row already gone they would reach nothing.
      if (!e.detail.successful) { setTimeout(function () { row.remove(); }, 0); }
    });
  }

  // A bulk confirmation asks about the ticks and the reason as they were: once either
  // changes, its button would no longer do what it says (the server refuses it then, and
  // asks again), so it goes. Pressing "Reject ticked" or "Approve ticked" asks anew.
  function bulkConfirmationFollowsTheForm() {
    document.addEventListener("input", function (e) {
      var card = document.querySelector("[data-testid=bulk-confirm]");
      if (card && e.target.form && e.target.form.id === "bulk-form") { card.remove(); }
    });
  }

  // What a manager types into a reason, a note or a ticket's field ([data-draft], which
  // names it) is kept in this tab until the server takes it: an action sent after the
  // session had ended went to the sign-in page, and signing in again brought back an empty
  // box (found by a probe). An empty field gets its draft back when a page or a redraw
  // shows it. A successful answer to its form forgets it once settled, and empties a box
  // that still shows it (a bulk reason stayed and decided the next bulk: a probe); an
  // answer that refuses it (a field-error, answered 200 as every refusal here is) or asks
  // to confirm it ([data-keeps-drafts]) keeps it, and the redrawn box gets it back.
  // Signing out forgets every draft. Drafts are the signed-in manager's: another manager
  // signed in in this tab sees none of them (the fields are autocomplete="off", so the
  // browser's Back does not put a former manager's text in them either).
  function drafts() {
    var who = document.querySelector("[data-testid=signed-in-as]");
    var store = window.sessionStorage;
    if (!who || !store) { return; }
    var all = "ordermill-draft\n", mine = all + who.textContent.trim() + "\n";
    var answered = {}; // drafts whose form's answer took them, until it has settled
    function key(el) { return mine + el.getAttribute("data-draft"); }
    function fields(root) {
      var found = root.querySelectorAll ? Array.prototype.slice.call(root.querySelectorAll("[data-draft]")) : [];
      return root.matches && root.matches("[data-draft]") ? [root].concat(found) : found;
    }
    function restore(root) {
      fields(root).forEach(function (el) {
        var kept = store.getItem(key(el));
        if (kept && el.value === "" && !answered[key(el)]) { el.value = kept; }
      });
    }
    document.addEventListener("input", function (e) {
      var el = e.target;
      if (!el.hasAttribute || !el.hasAttribute("data-draft")) { return; }
      if (el.value === "") { store.removeItem(key(el)); } else { store.setItem(key(el), el.value); }
    });
    document.addEventListener("htmx:beforeSwap", function (e) {
      var xhr = e.detail.xhr, elt = e.detail.requestConfig && e.detail.requestConfig.elt;
      var form = elt && (elt.form || (elt.closest && elt.closest("form")));
      var answer = e.detail.serverResponse || "";
      if (!form || !xhr || xhr.status < 200 || xhr.status > 299 || /class="field-error"|data-keeps-drafts/.test(answer)) { return; }
      Array.prototype.forEach.call(form.elements, function (el) {
        if (el.hasAttribute("data-draft")) { answered[key(el)] = true; }
      });
    });
    document.addEventListener("htmx:load", function (e) { restore(e.detail.elt); });
    document.addEventListener("htmx:afterSettle", function () {
      Object.keys(answered).forEach(function (k) {
        fields(document).forEach(function (el) { if (key(el) === k) { el.value = ""; } });
        store.removeItem(k);
        delete answered[k];
      });
    });
    document.addEventListener("submit", function (e) {
      if (!e.target.matches || !e.target.matches("form.signout")) { return; }
      // The keys first: removing while walking them skipped some (a probe kept one).
      var keys = [];
      for (var i = 0; i < store.length; i++) { keys.push(store.key(i)); }
      keys.forEach(function (k) { if (k.indexOf(all) === 0) { store.removeItem(k); } });
    });
    restore(document);
  }

  // A redraw (an answer, the live stream) that takes away the element with the focus
  // dropped it to the page: the next Tab began again at "Skip to content", and a screen
  // reader said nothing (an accessibility probe). The focus goes to the element that took
  // its place (the same id, or the same control of the same form or region), else to where
  // the page says (an "ordermill:focuslost" listener that cancels it: the pending page's
  // next order), else to the nearest region still there that takes it: one with a
  // tabindex, or the element one names in data-focus-home. htmx itself keeps the focus
  // only on an element with an id.
  function keepFocus() {
    var had = null, around = []; // the element with the focus, and its ancestors then
    document.addEventListener("focusin", function (e) {
      had = e.target;
      around = [];
      for (var el = had.parentElement; el; el = el.parentElement) { around.push(el); }
    });
    function now(el) { return el.isConnected ? el : (el.id ? document.getElementById(el.id) : null); }
    function put(el) {
      if (el) { el.focus(); }
      return !!el && document.activeElement === el;
    }
    function twin(lost, chain) {
      if (lost.id) { return document.getElementById(lost.id); }
      var key = lost.getAttribute("data-testid") ? '[data-testid="' + CSS.escape(lost.getAttribute("data-testid")) + '"]'
        : lost.name ? '[name="' + CSS.escape(lost.name) + '"][value="' + CSS.escape(lost.value || "") + '"]' : "";
      var holder = chain.filter(function (a) { return a.id; })[0];
      holder = holder && now(holder);
      return key && holder ? holder.querySelector(lost.tagName.toLowerCase() + key) : null;
    }
    function rescue() {
      var lost = had, chain = around;
      if (!lost || lost.isConnected || (document.activeElement && document.activeElement !== document.body)) { return; }
      had = null;
      if (put(twin(lost, chain))) { return; }
      if (!document.dispatchEvent(new CustomEvent("ordermill:focuslost", { cancelable: true, detail: { lost: lost } }))) { return; }
      for (var i = 0; i < chain.length; i++) {
        var a = now(chain[i]), home = a && a.getAttribute("data-focus-home");
        if (a && put(home ? document.getElementById(home) : (a.hasAttribute("tabindex") ? a : null))) { return; }
      }
    }
    new MutationObserver(rescue).observe(document.body, { childList: true, subtree: true });
  }

  function start() {
    tick();
    title();
    connection();
    listen();
    failures();
    keepRowsBeingDecided();
    oneLogEntryAnOrder();
    bulkConfirmationFollowsTheForm();
    drafts();
    keepFocus();
    document.addEventListener("htmx:sseMessage", follow);
    setInterval(function () { tick(); watchdog(); }, 1000);
    var badge = document.querySelector("[data-testid=nav-pending-count]");
    if (badge) {
      new MutationObserver(title).observe(badge, { childList: true, characterData: true, subtree: true });
    }
    // htmx may replace the badge element itself; watch for that too.
    document.addEventListener("htmx:afterSettle", title);
    document.addEventListener("htmx:sseMessage", title);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
