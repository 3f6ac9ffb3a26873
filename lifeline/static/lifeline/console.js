// Console: refresh the transcript or the queue in place while the page is open.
(function () {
  "use strict";
  ["transcript", "queue"].forEach(function (id) {
    var box = document.getElementById(id);
    if (!box) { return; }
    var url = box.getAttribute("data-refresh");
    var last = box.innerHTML;
    window.setInterval(function () {
      var typing = document.activeElement && document.activeElement.tagName === "TEXTAREA";
      fetch(url, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null) { return; }
          var tmp = document.createElement("div");
          tmp.innerHTML = html;
          var fresh = tmp.querySelector("#" + id + "-list") || tmp.querySelector("table") || tmp;
          var current = box.querySelector("#" + id + "-list") || box.querySelector("table");
          if (current && fresh && current.outerHTML !== fresh.outerHTML && !(typing && id === "queue")) {
            current.replaceWith(fresh);
          }
        })
        .catch(function () {});
    }, 3000);
  });
})();
