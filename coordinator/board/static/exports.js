/* Download buttons: every <a data-export="/api/exports/…"> gets the page's language (column
   headers and names in Chinese or English) and, with data-search, the roster page's current
   search (sent as a "nuanliu:search" event), so the file holds what the screen shows. The
   session cookie authorises the download, as it does the page's API calls. */
(function () {
  "use strict";
  var search = {};
  function update() {
    document.querySelectorAll("a[data-export]").forEach(function (a) {
      var params = new URLSearchParams({ lang: I18N.lang === "en" ? "en" : "zh" });
      if (a.hasAttribute("data-search")) {
        Object.keys(search).forEach(function (k) { if (search[k]) params.set(k, search[k]); });
      }
      a.href = a.getAttribute("data-export") + "?" + params.toString();
    });
  }
  document.addEventListener("nuanliu:lang", update);
  document.addEventListener("nuanliu:search", function (e) { search = e.detail || {}; update(); });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", update);
  else update();
})();
