// The console's small helpers. Everything works without this file; it only adds:
// canned answers put in the reply box, Ctrl+Enter to send, N / Q to move, and a tab-title and
// sound notification when a new item or message arrives. No inline script (the CSP forbids it).
(function () {
  "use strict";
  var baseTitle = document.title;
  var soundKey = "lifeline-sound";
  var audio = null;

  function soundOn() {
    try { return window.localStorage.getItem(soundKey) === "1"; } catch (e) { return false; }
  }

  function ring() {
    if (!soundOn()) { return; }
    var source = document.getElementById("nav-next");
    if (!source) { return; }
    if (audio === null) { audio = new Audio(source.dataset.sound); }
    audio.currentTime = 0;
    var played = audio.play();
    if (played && played.catch) { played.catch(function () {}); }
  }

  function setTitle(count) {
    document.title = count > 0 ? "(" + count + ") " + baseTitle : baseTitle;
  }

  // --- Queue: items that wait for someone, and unread messages, in the tab title ---------
  var known = null;
  function readQueue() {
    var table = document.querySelector("#queue table");
    if (!table) { return; }
    var items = {};
    (table.dataset.items || "").split(" ").forEach(function (pair) {
      if (pair) { var p = pair.split(":"); items[p[0]] = parseInt(p[1], 10) || 0; }
    });
    var fresh = false;
    if (known !== null) {
      Object.keys(items).forEach(function (id) {
        if (!(id in known) || items[id] > known[id]) { fresh = true; }
      });
    }
    known = items;
    setTitle((parseInt(table.dataset.waiting, 10) || 0) + (parseInt(table.dataset.unread, 10) || 0));
    if (fresh) { ring(); }
  }

  // --- Conversation: a new message from the person while the tab is in the background ----
  var seenIn = null;
  function readTranscript() {
    var count = document.querySelectorAll("#transcript-list li.msg.in").length;
    if (seenIn !== null && count > seenIn && document.hidden) {
      setTitle(count - seenIn);
      ring();
      return; // keep the old count until the operator looks again
    }
    if (!document.hidden) { seenIn = count; setTitle(0); }
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && document.getElementById("transcript-list")) {
      seenIn = document.querySelectorAll("#transcript-list li.msg.in").length;
      setTitle(0);
    }
  });

  document.body.addEventListener("htmx:afterSettle", function () {
    if (document.querySelector("#queue table")) { readQueue(); }
    if (document.getElementById("transcript-list")) { readTranscript(); }
  });

  // --- Canned answers: into the box, to be edited before sending -------------------------
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a.canned-answer") : null;
    if (!link) { return; }
    var box = document.getElementById("reply-text");
    if (!box) { return; }
    event.preventDefault();
    var text = link.dataset.text || "";
    box.value = box.value.trim() ? box.value.replace(/\s+$/, "") + "\n" + text : text;
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
  });

  // --- Keys ---------------------------------------------------------------------------------
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT" ||
      target.tagName === "SELECT" || target.isContentEditable);
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && target && target.id === "reply-text") {
      event.preventDefault();
      var form = document.getElementById("reply-form");
      if (form && target.value.trim()) { form.requestSubmit ? form.requestSubmit() : form.submit(); }
      return;
    }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var next = document.getElementById("nav-next");
    if ((event.key === "n" || event.key === "N" || event.key === "т" || event.key === "Т") && next) {
      event.preventDefault();
      window.location.assign(next.getAttribute("href"));
    } else if ((event.key === "q" || event.key === "Q" || event.key === "й" || event.key === "Й") && next) {
      event.preventDefault();
      window.location.assign(next.dataset.queue);
    }
  });

  // --- Sound switch (a click is also what lets the browser play it) ---------------------
  var toggle = document.getElementById("sound-toggle");
  if (toggle) {
    toggle.parentElement.hidden = false;
    toggle.checked = soundOn();
    toggle.addEventListener("change", function () {
      try { window.localStorage.setItem(soundKey, toggle.checked ? "1" : "0"); } catch (e) { /* private mode */ }
      if (toggle.checked) { ring(); }
    });
  }

  readQueue();
  if (document.getElementById("transcript-list")) { readTranscript(); }
})();
