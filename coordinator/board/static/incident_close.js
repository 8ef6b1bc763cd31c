/* Closing an incident from the board, with a reason and a confirm step: the incident's
   "结束事件" button (drawn by board.js) opens a dialog that names the incident and asks why;
   only "确认结束" with a reason that says something posts POST /api/incidents/{id}/close. The
   reason is kept with the incident, audited, and shown in the history (/board/incidents). */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var t = function (k) { return I18N.t(k); };
  var dialog = $("close-dialog"), form = $("close-form");
  if (!dialog || !form) return;
  var C = { id: null, busy: false };

  function status(text, bad) {
    var el = $("close-status");
    el.textContent = text || "";
    el.classList.toggle("bad", !!bad);
  }

  document.addEventListener("click", function (e) {
    var b = e.target.closest("button[data-close-incident]");
    if (!b) return;
    C.id = b.getAttribute("data-close-incident");
    var article = b.closest(".incident"), title = article ? article.querySelector(".incident-title") : null;
    $("close-incident-name").textContent = "#" + C.id + " " + (title ? title.textContent : "");
    form.reset();
    status("");
    dialog.setAttribute("data-incident-id", C.id);
    dialog.showModal();
    $("close-reason").focus();
  });

  form.addEventListener("submit", async function (e) {
    e.preventDefault();
    var reason = $("close-reason").value.trim();
    if (!reason) { status(t("close.noreason"), true); return; }
    if (C.busy || !C.id) return;
    C.busy = true;
    $("close-confirm").disabled = true;
    try {
      await NL.api("POST", "/api/incidents/" + C.id + "/close", { reason: reason });
      var toast = $("toast");
      if (toast) {
        toast.textContent = I18N.f("close.done", { id: C.id });
        toast.className = "toast";
        toast.hidden = false;
        setTimeout(function () { toast.hidden = true; }, 4000);
      }
      dialog.close();
    } catch (err) {
      status(err.message, true);
    } finally {
      C.busy = false;
      $("close-confirm").disabled = false;
    }
  });
  $("close-cancel").addEventListener("click", function () { dialog.close(); });
})();
