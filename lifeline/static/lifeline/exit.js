// Quick exit: leave for a neutral site and take this page out of the back button's history.
// Without JavaScript the link still leaves (the server redirects); Esc pressed twice does too.
(function () {
  "use strict";
  var link = document.getElementById("quick-exit");
  if (!link) { return; }
  function leave(event) {
    if (event) { event.preventDefault(); }
    window.location.replace(link.getAttribute("href"));
  }
  link.addEventListener("click", leave);
  var last = 0;
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    var now = Date.now();
    if (now - last < 800) { leave(event); }
    last = now;
  });
})();
