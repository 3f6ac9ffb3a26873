// The enrolment link carries its one-time token after "#": browsers never send that part to
// the server, so it reaches no log. Move it into the form, take it out of the address bar
// and history, and submit (the server answers 404 for an unknown, used or expired token).
(function () {
  "use strict";
  var field = document.getElementById("enrol-token");
  var token = window.location.hash.replace(/^#/, "");
  if (!field || !token) {
    return;
  }
  window.history.replaceState(null, "", window.location.pathname);
  field.value = token;
  if (field.form.requestSubmit) {
    field.form.requestSubmit();
  } else {
    field.form.submit();
  }
})();
