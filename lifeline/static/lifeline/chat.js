// Refreshes the web chat transcript while the page is open. The chat works without it:
// forms post normally and, while a reply is awaited, the page refreshes itself (noscript).
// Code words are sent by the server only once: a refresh keeps them on screen as they were
// (the server now has only a placeholder), and the page is not reloaded while they show.
(function () {
  "use strict";
  var box = document.getElementById("transcript");
  if (!box) { return; }
  var url = box.getAttribute("data-url");
  // With JavaScript the transcript refreshes itself: the no-JS hint to check for replies goes.
  var hint = document.getElementById("operator-expected");
  if (hint) { hint.hidden = true; }
  var last = box.innerHTML;
  function scroll() { window.scrollTo(0, document.body.scrollHeight); }
  function keepSecrets(previous) {
    previous.forEach(function (item) {
      var target = box.querySelector('[data-message-id="' + item.id + '"]');
      if (target) {
        target.innerHTML = item.html;
        target.setAttribute("data-secret", "1");
        target.classList.add("secret");
      }
    });
  }
  // Once a message is being sent, the page stops refreshing and ignores any answer still on
  // its way: every message changes the chat cookie, and a reload now would cancel the send
  // before the browser has the new cookie.
  var sending = false;
  var timer = null;
  document.addEventListener("submit", function () {
    sending = true;
    if (timer !== null) { window.clearInterval(timer); }
  });
  window.addEventListener("pagehide", function () { sending = true; });
  function refresh() {
    if (sending) { return; }
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (sending) { return; }
        if (html !== null && html !== last) {
          var secrets = Array.prototype.map.call(
            box.querySelectorAll("[data-secret]"),
            function (el) { return { id: el.getAttribute("data-message-id"), html: el.innerHTML }; }
          );
          last = html;
          box.innerHTML = html;
          keepSecrets(secrets);
          scroll();
          if (!box.querySelector("[data-waiting]") && !box.querySelector("[data-secret]")) {
            window.location.reload();
          }
        }
      })
      .catch(function () { /* offline for a moment: try again on the next tick */ });
  }
  scroll();
  timer = window.setInterval(refresh, 3000);
})();
