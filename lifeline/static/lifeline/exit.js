// Quick exit: hide this page at once, leave for a neutral site and take this page out of the
// back button's history. Without JavaScript the link still leaves (the server redirects).
// Esc pressed twice leaves too. With JavaScript, moving between the site's own pages replaces
// the history entry instead of adding one, so Back after a quick exit does not land on any of
// them (an entry the site made before this script ran cannot be removed by any page).
(function () {
  "use strict";
  var link = document.getElementById("quick-exit");
  if (!link) { return; }
  function leave(event) {
    if (event) { event.preventDefault(); }
    document.title = "";
    if (document.body) { document.body.hidden = true; }  // gone from the screen before the network answers
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
  document.addEventListener("click", function (event) {
    if (event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey ||
        event.shiftKey || event.altKey) { return; }
    var target = event.target.closest ? event.target.closest("a[href]") : null;
    if (!target || target === link) { return; }
    var href = target.getAttribute("href");
    if (!href || href.charAt(0) !== "/" || href.charAt(1) === "/" || target.target) { return; }
    event.preventDefault();
    window.location.replace(href);
  });
})();
