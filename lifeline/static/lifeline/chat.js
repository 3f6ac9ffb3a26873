// Refreshes the web chat transcript while the page is open. The chat works without it:
// forms post normally and, while a reply is awaited, the page refreshes itself (noscript).
(function () {
  "use strict";
  var box = document.getElementById("transcript");
  if (!box) { return; }
  var url = box.getAttribute("data-url");
  var last = box.innerHTML;
  function scroll() { window.scrollTo(0, document.body.scrollHeight); }
  function refresh() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html !== null && html !== last) {
          last = html;
          box.innerHTML = html;
          scroll();
          if (!box.querySelector("[data-waiting]")) { window.location.reload(); }
        }
      })
      .catch(function () { /* offline for a moment: try again on the next tick */ });
  }
  scroll();
  window.setInterval(refresh, 3000);
})();
