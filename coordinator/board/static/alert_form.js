/* Raising an alert from the board: kind (from the playbooks), level, districts, headline and
   window, then a preview of the tasks and slots its playbook will plan (POST
   /api/alerts/preview, which stores nothing), and only then "确认发布" (POST /api/alerts).
   What is confirmed is what was previewed: any change to the form after the preview disables
   the confirm button until the form is previewed again. Times are entered and shown in the
   people's zone (the page's meta timezone, Asia/Shanghai), whatever the browser's. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var t = function (k) { return I18N.t(k); };
  var esc = NL.esc;
  var dialog = $("alert-dialog"), form = $("alert-form");
  if (!dialog || !form) return;
  // the body last previewed, as JSON, and the Idempotency-Key its confirmation is sent with
  // (a double click, or a retry after a lost answer, raises it once)
  var A = { previewed: null, key: null, kinds: [], last: null, busy: false };

  function named(prefix, value) {
    return I18N.t(prefix + value) !== prefix + value ? I18N.t(prefix + value) : value;
  }

  function status(text, bad) {
    var el = $("alert-status");
    el.textContent = text || "";
    el.classList.toggle("bad", !!bad);
  }

  async function loadKinds() {
    if (A.kinds.length) return;
    var books = await NL.api("GET", "/api/playbooks");
    var seen = {};
    books.forEach(function (b) { if (!seen[b.kind]) { seen[b.kind] = true; A.kinds.push(b.kind); } });
    drawKinds();
  }

  function drawKinds() {
    var select = $("alert-kind"), chosen = select.value;
    select.innerHTML = '<option value="">' + esc(t("alert.choose")) + "</option>" + A.kinds.map(function (k) {
      return '<option value="' + esc(k) + '">' + esc(named("kind.", k)) + "</option>";
    }).join("");
    select.value = chosen;
  }

  function zoneNote() {
    var el = $("alert-zone");
    el.textContent = I18N.f("alert.zone", { zone: el.getAttribute("data-zone") || "" });
  }

  // the form as the API's body, or the first thing wrong with it in words
  function read() {
    var kind = $("alert-kind").value, level = $("alert-level").value;
    var districts = Array.prototype.map.call(form.querySelectorAll('input[name="district"]:checked'), function (c) { return c.value; });
    var headline = $("alert-headline").value.trim();
    var starts = $("alert-starts").value, ends = $("alert-ends").value;
    if (!kind) return { error: t("alert.nokind") };
    if (!level) return { error: t("alert.nolevel") };
    if (!districts.length) return { error: t("alert.nodistrict") };
    if (!headline) return { error: t("alert.noheadline") };
    var body = { kind: kind, level: level, districts: districts, headline: headline };
    if (starts) body.starts_at = NL.fromLocal(starts);
    if (ends) body.ends_at = NL.fromLocal(ends);
    if (body.starts_at && body.ends_at && Date.parse(body.ends_at) <= Date.parse(body.starts_at)) {
      return { error: t("alert.endbeforestart") };
    }
    return { body: body };
  }

  // a window's end: its time alone when it ends on the day it starts
  function until(start, end) {
    var a = NL.when(start), b = NL.when(end);
    return a.slice(0, 10) === b.slice(0, 10) ? b.slice(11) : b;
  }

  function previewHtml(p) {
    var en = I18N.lang === "en";
    var head = p.expired ? '<p class="bad expired">' + esc(t("alert.expired")) + "</p>" :
      '<p class="summary"><b>' + esc(I18N.f("alert.summary", { tasks: p.total_tasks, slots: p.total_slots })) + "</b> " +
      esc(I18N.f("alert.window", { start: NL.when(p.starts_at) })) +
      (p.ends_at ? " " + esc(I18N.f("alert.until", { end: NL.when(p.ends_at) })) : "") + "</p>";
    if (p.expired) return head;
    var districts = '<table class="grid preview-districts"><thead><tr><th>' + t("preview.district") + '</th><th class="num">' +
      t("preview.tasks") + '</th><th class="num">' + t("preview.slots") + "</th></tr></thead><tbody>" +
      p.districts.map(function (d) {
        return '<tr data-district="' + esc(d.code) + '"><td>' + esc(en ? d.name_en : d.name_zh) + '</td><td class="num">' + d.tasks +
          '</td><td class="num n-slots">' + d.slots + "</td></tr>";
      }).join("") + '<tr class="total"><td>' + t("preview.total") + '</td><td class="num n-total-tasks">' + p.total_tasks +
      '</td><td class="num n-total-slots">' + p.total_slots + "</td></tr></tbody></table>";
    var tasks = '<table class="grid preview-tasks"><thead><tr><th>' + t("preview.task") + "</th><th>" + t("preview.place") +
      '</th><th class="num">' + t("preview.slots") + "</th><th>" + t("preview.when") + "</th></tr></thead><tbody>" +
      p.tasks.map(function (x) {
        return '<tr class="preview-task" data-plan-key="' + esc(x.plan_key) + '"><td>' + esc(en && x.title_en ? x.title_en : x.title) +
          "</td><td>" + esc(en && x.place_en ? x.place_en : x.place) + '</td><td class="num">' + x.slots + "</td><td>" +
          esc(NL.when(x.starts_at)) + " – " + esc(until(x.starts_at, x.ends_at)) + "</td></tr>";
      }).join("") + "</tbody></table>";
    return head + districts + tasks;
  }

  function showPreview() {
    var box = $("alert-preview");
    if (!A.last) { box.hidden = true; box.innerHTML = ""; return; }
    box.innerHTML = previewHtml(A.last);
    box.hidden = false;
  }

  async function preview(e) {
    e.preventDefault();
    var got = read();
    A.previewed = null; A.last = null;
    $("alert-confirm").disabled = true;
    showPreview();
    if (got.error) { status(got.error, true); return; }
    status(t("alert.previewing"));
    try {
      A.last = await NL.api("POST", "/api/alerts/preview", got.body);
      A.previewed = JSON.stringify(got.body);
      A.key = "board-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10);
      status("");
      showPreview();
      $("alert-confirm").disabled = false;
    } catch (err) {
      status(err.message, true);
    }
  }

  async function confirmRaise() {
    var got = read();
    if (got.error) { status(got.error, true); return; }
    if (JSON.stringify(got.body) !== A.previewed) {  // changed since the preview
      $("alert-confirm").disabled = true;
      status(t("alert.stale"), true);
      return;
    }
    if (A.busy) return;
    A.busy = true;
    $("alert-confirm").disabled = true;
    try {
      var done = await NL.api("POST", "/api/alerts", got.body, { "Idempotency-Key": A.key });
      if (done.expired) {
        status(t("alert.expired"), true);
      } else {
        var toast = $("toast");
        if (toast) {
          toast.textContent = I18N.f("alert.raised", { id: done.incident_id });
          toast.className = "toast";
          toast.hidden = false;
          setTimeout(function () { toast.hidden = true; }, 4000);
        }
        reset();
        dialog.close();
      }
      dialog.setAttribute("data-raised", String(done.incident_id));
    } catch (err) {
      status(err.message, true);
      $("alert-confirm").disabled = false;
    } finally {
      A.busy = false;
    }
  }

  function reset() {
    form.reset();
    A.previewed = null; A.last = null; A.key = null;
    $("alert-confirm").disabled = true;
    status("");
    showPreview();
  }

  async function open() {
    reset();
    $("alert-starts").value = NL.localInput(Date.now());
    zoneNote();
    if (!dialog.open) dialog.showModal();
    try { await loadKinds(); } catch (err) { status(err.message, true); }
  }

  form.addEventListener("submit", preview);
  // any change after a preview: confirm only after previewing again
  form.addEventListener("input", function () {
    if (A.previewed !== null) {
      var got = read();
      var same = !got.error && JSON.stringify(got.body) === A.previewed;
      $("alert-confirm").disabled = !same;
      if (!same) status(t("alert.stale"));
      else status("");
    }
  });
  $("alert-confirm").addEventListener("click", confirmRaise);
  $("alert-cancel").addEventListener("click", function () { dialog.close(); });
  var button = $("raise-alert");
  if (button) button.addEventListener("click", open);
  document.addEventListener("nuanliu:lang", function () { drawKinds(); zoneNote(); showPreview(); });
})();
