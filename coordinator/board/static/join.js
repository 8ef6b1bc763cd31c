/* The sign-up page works without this script (two plain form posts); it only tells the server
   which language the person reads (so the code and later texts come in it) and keeps the
   "new code" button quiet until the server would accept another request. */
(function () {
  "use strict";
  function setLang() {
    var field = document.getElementById("join-lang");
    if (field) field.value = I18N.lang === "en" ? "en" : "zh";
  }
  function countdown() {
    var button = document.getElementById("join-resend");
    if (!button) return;
    var left = parseInt(button.getAttribute("data-wait") || "0", 10);
    if (!(left > 0)) return;
    var label = button.textContent;
    button.disabled = true;
    var tick = function () {
      if (left <= 0) {
        button.disabled = false;
        button.textContent = label;
        return;
      }
      button.textContent = label + (I18N.lang === "en" ? " (" + left + " s)" : "（" + left + "秒）");
      left -= 1;
      setTimeout(tick, 1000);
    };
    tick();
    // the label is the language's own: follow a switch of language while counting
    document.addEventListener("nuanliu:lang", function () {
      label = I18N.lang === "en" ? button.getAttribute("data-en") : button.getAttribute("data-zh");
    });
  }
  // after the page's I18N.apply(), which keeps each text's Chinese in data-zh from the
  // content it finds: the countdown must not be in it
  document.addEventListener("DOMContentLoaded", function () {
    setLang();
    document.addEventListener("nuanliu:lang", setLang);
    countdown();
  });
})();
