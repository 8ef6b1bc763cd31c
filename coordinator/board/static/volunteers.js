/* The roster page (/board/volunteers): search as you type by name or phone, district, skill;
   pages of 20; add and edit; opt out and back in; import a CSV/XLSX and list every rejected
   row with its number and reason; download what the search shows. Every action is a call to
   the roster's JSON API (NL.api, the session's CSRF token); the phone numbers come masked
   from the API unless the reader is an admin. */
(function () {
  "use strict";
  I18N.add({
    "vol.title": "Volunteers", "vol.q": "Name or phone", "vol.district": "District", "vol.skill": "Skills",
    "vol.alldistricts": "All districts", "vol.allskills": "All skills", "vol.search": "Search", "vol.new": "Add a volunteer",
    "vol.id": "ID", "vol.state": "State", "vol.actions": "Actions", "vol.prev": "Previous", "vol.next": "Next",
    "vol.export": "Download the roster (current search):", "vol.masked": "(phone numbers masked; only an admin downloads them whole)",
    "vol.add": "Add a volunteer", "vol.edit": "Edit volunteer #{id}", "vol.choosedistrict": "Choose a district",
    "vol.language": "SMS language", "vol.lang.zh": "Chinese", "vol.lang.en": "English",
    "vol.otherskills": "Other skills (comma-separated)", "vol.save": "Save",
    "vol.phonehint": "Phone: mainland mobiles may leave out +86; when editing, leave it empty to keep the number.",
    "vol.import": "Import a roster (CSV or XLSX)", "vol.file": "File", "vol.doimport": "Import",
    "vol.importhint": "First row is the header: name, phone, district (or lat and lon), optionally skills, language, team. Valid rows are imported; every other row is listed with its reason.",
    "vol.count": "{from}–{to} of {n}", "vol.none": "No volunteer matches.", "vol.page": "page {p} of {pages}",
    "vol.active": "on the roster", "vol.pending": "waiting for approval", "vol.declined": "declined", "vol.optedout": "opted out",
    "vol.doedit": "Edit", "vol.optout": "Opt out", "vol.optin": "Opt back in", "vol.sureout": "Opt {name} out of task messages? Their open tasks are cancelled.",
    "vol.outdone": "{name} opted out ({n} open tasks cancelled).", "vol.indone": "{name} receives task messages again.",
    "vol.saved": "Saved.", "vol.created": "Added {name}.", "vol.phonenew": "new number (required)", "vol.phonekeep": "now {phone}; empty keeps it",
    "vol.imported": "{rows} rows read: {created} imported, {rejected} rejected.", "vol.rejected": "Rejected rows",
    "vol.row": "Row", "vol.column": "Column", "vol.reason": "Reason", "vol.fileerror": "The file cannot be imported: {why}",
    "vol.importing": "Importing…", "vol.toolarge": "the file is too large",
    "f.district": "District", "f.skills": "Skills", "f.language": "Language", "f.team": "Team", "f.lat": "Latitude", "f.lon": "Longitude",
    "code.phone_on_roster": "this phone number is on the roster already", "code.roster_conflict": "the number was added at the same moment by someone else; nothing was stored, please retry",
    "code.volunteer_opted_out_already": "the volunteer has opted out already", "code.volunteer_not_opted_out": "the volunteer has not opted out",
    "code.volunteer_not_found": "no such volunteer", "code.invalid_roster_filter": "no such district or skill"
  }, {
    "vol.title": "志愿者名册", "vol.count": "第 {from}–{to} 条，共 {n} 条", "vol.none": "没有符合条件的志愿者。", "vol.page": "第 {p} / {pages} 页",
    "vol.active": "在册", "vol.pending": "待审核", "vol.declined": "未通过", "vol.optedout": "已退订",
    "vol.doedit": "编辑", "vol.optout": "退订", "vol.optin": "恢复接收", "vol.sureout": "确定让 {name} 退订任务短信吗？其未完成的任务会被取消。",
    "vol.outdone": "{name} 已退订（取消了 {n} 个未完成的任务）。", "vol.indone": "{name} 已恢复接收任务短信。",
    "vol.add": "新增志愿者", "vol.edit": "编辑志愿者 #{id}", "vol.saved": "已保存。", "vol.created": "已新增 {name}。",
    "vol.phonenew": "新手机号（必填）", "vol.phonekeep": "现为 {phone}，留空不改",
    "vol.imported": "读取 {rows} 行：导入 {created} 行，拒绝 {rejected} 行。", "vol.rejected": "被拒绝的行",
    "vol.row": "行号", "vol.column": "列", "vol.reason": "原因", "vol.fileerror": "文件无法导入：{why}", "vol.importing": "正在导入…", "vol.toolarge": "文件太大",
    "f.district": "区县", "f.skills": "技能", "f.language": "语言", "f.team": "队伍", "f.lat": "纬度", "f.lon": "经度",
    "code.phone_on_roster": "该手机号已在名册中", "code.roster_conflict": "有人同时添加了这个号码，未保存，请重试",
    "code.volunteer_opted_out_already": "该志愿者已经退订", "code.volunteer_not_opted_out": "该志愿者没有退订",
    "code.volunteer_not_found": "没有这个志愿者", "code.invalid_roster_filter": "没有这个区县或技能"
  });

  var $ = function (id) { return document.getElementById(id); };
  var t = function (k) { return I18N.t(k); };
  var esc = NL.esc;
  var DATA = JSON.parse($("roster-data").textContent);
  var LIMIT = 20;
  var S = { offset: 0, count: 0, items: [], byId: {}, timer: null, seq: 0, editing: null };
  var districts = {}, skills = {};
  DATA.districts.forEach(function (d) { districts[d.code] = d; });
  DATA.skills.forEach(function (s) { skills[s.key] = s; });
  function en() { return I18N.lang === "en"; }
  function districtName(code) { var d = districts[code]; return d ? (en() ? d.en : d.zh) : (code || ""); }
  function skillName(key) { var s = skills[key]; return s ? (en() ? s.en : s.zh) : key; }

  function toast(text, bad) {
    var el = $("toast");
    el.textContent = text;
    el.className = "toast" + (bad ? " bad" : "");
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { el.hidden = true; }, 5000);
  }

  // -- search -----------------------------------------------------------------------------
  function query() {
    return { q: $("q").value.trim(), district: $("f-district").value, skill: $("f-skill").value };
  }

  async function load() {
    var q = query(), seq = ++S.seq;
    document.dispatchEvent(new CustomEvent("nuanliu:search", { detail: q }));
    var params = new URLSearchParams({ offset: S.offset, limit: LIMIT });
    Object.keys(q).forEach(function (k) { if (q[k]) params.set(k, q[k]); });
    try {
      var page = await NL.api("GET", "/api/volunteers?" + params.toString());
      if (seq !== S.seq) return;  // a newer search answered first: keep what the box now says
      S.items = page.items; S.count = page.count;
      S.byId = {};
      page.items.forEach(function (v) { S.byId[v.id] = v; });
      render();
      $("roster").setAttribute("data-query", params.toString());  // what the table shows now
    } catch (err) {
      if (seq === S.seq) toast(err.message, true);
    }
  }

  function soon() {
    clearTimeout(S.timer);
    S.timer = setTimeout(function () { S.offset = 0; load(); }, 250);
  }

  function stateWords(v) {
    var words = [t("vol." + v.status) !== "vol." + v.status ? t("vol." + v.status) : v.status];
    if (v.opted_out) words.push(t("vol.optedout"));
    return words.join(" · ");
  }

  function rowHtml(v) {
    var opt = v.opted_out
      ? '<button type="button" class="mini" data-act="opt-in" data-id="' + v.id + '">' + t("vol.optin") + "</button>"
      : '<button type="button" class="mini" data-act="opt-out" data-id="' + v.id + '">' + t("vol.optout") + "</button>";
    return '<tr data-volunteer-id="' + v.id + '"' + (v.opted_out ? ' class="opted-out"' : "") + "><td>" + v.id + '</td><td class="name">' + esc(v.name) +
      '</td><td class="tel">' + esc(v.phone) + '</td><td class="district">' + esc(districtName(v.district_code)) +
      '</td><td class="skills">' + v.skills.map(function (s) { return esc(skillName(s)); }).join(en() ? ", " : "、") +
      '</td><td class="state">' + esc(stateWords(v)) + '</td><td class="actions"><button type="button" class="mini" data-act="edit" data-id="' + v.id + '">' +
      t("vol.doedit") + "</button> " + opt + "</td></tr>";
  }

  function render() {
    $("roster").querySelector("tbody").innerHTML = S.items.length ? S.items.map(rowHtml).join("") :
      '<tr><td colspan="7" class="muted">' + t("vol.none") + "</td></tr>";
    var pages = Math.max(1, Math.ceil(S.count / LIMIT)), p = Math.floor(S.offset / LIMIT) + 1;
    $("summary").textContent = S.count ? I18N.f("vol.count", { from: S.offset + 1, to: S.offset + S.items.length, n: S.count }) : "";
    $("page-no").textContent = I18N.f("vol.page", { p: p, pages: pages });
    $("prev").disabled = S.offset === 0;
    $("next").disabled = S.offset + LIMIT >= S.count;
  }

  $("search").addEventListener("submit", function (e) { e.preventDefault(); S.offset = 0; load(); });
  $("q").addEventListener("input", soon);
  $("f-district").addEventListener("change", soon);
  $("f-skill").addEventListener("change", soon);
  $("prev").addEventListener("click", function () { S.offset = Math.max(0, S.offset - LIMIT); load(); });
  $("next").addEventListener("click", function () { S.offset += LIMIT; load(); });

  // -- add and edit -----------------------------------------------------------------------
  function showError(text) {
    var el = $("editor-error");
    el.textContent = text || "";
    el.hidden = !text;
  }

  function openEditor(v) {
    S.editing = v || null;
    $("editor-card").hidden = false;
    $("editor-title").textContent = v ? I18N.f("vol.edit", { id: v.id }) : t("vol.add");
    $("e-id").value = v ? v.id : "";
    $("e-name").value = v ? v.name : "";
    $("e-phone").value = "";
    $("e-phone").required = !v;
    $("e-phone").placeholder = v ? I18N.f("vol.phonekeep", { phone: v.phone }) : t("vol.phonenew");
    $("e-district").value = v ? (v.district_code || "") : "";
    $("e-language").value = v ? v.language : "zh";
    var known = v ? v.skills.filter(function (s) { return skills[s]; }) : [];
    document.querySelectorAll('input[name="e-skill"]').forEach(function (box) { box.checked = known.indexOf(box.value) >= 0; });
    $("e-other").value = v ? v.skills.filter(function (s) { return !skills[s]; }).join("、") : "";
    showError("");
    $("editor-card").scrollIntoView({ block: "nearest" });
    $("e-name").focus();
  }

  function chosenSkills() {
    var out = [];
    document.querySelectorAll('input[name="e-skill"]:checked').forEach(function (box) { out.push(box.value); });
    $("e-other").value.split(/[,，、;；]/).forEach(function (s) { if (s.trim()) out.push(s.trim()); });
    return out;
  }

  $("new-volunteer").addEventListener("click", function () { openEditor(null); });
  $("e-cancel").addEventListener("click", function () { $("editor-card").hidden = true; });
  $("editor").addEventListener("submit", async function (e) {
    e.preventDefault();
    var v = S.editing, body = {
      name: $("e-name").value, district: $("e-district").value,
      language: $("e-language").value, skills: chosenSkills()
    };
    var phone = $("e-phone").value.trim();
    if (phone || !v) body.phone = phone;
    $("e-save").disabled = true;
    try {
      if (v) {
        await NL.api("PATCH", "/api/volunteers/" + v.id, body);
        toast(t("vol.saved"));
      } else {
        var made = await NL.api("POST", "/api/volunteers", body);
        toast(I18N.f("vol.created", { name: made.name }));
      }
      $("editor-card").hidden = true;
      load();
    } catch (err) {
      showError(err.message);
    } finally {
      $("e-save").disabled = false;
    }
  });

  // -- opt out and back in; edit --------------------------------------------------------------
  $("roster").addEventListener("click", async function (e) {
    var b = e.target.closest("button[data-act]");
    if (!b) return;
    var v = S.byId[b.getAttribute("data-id")], act = b.getAttribute("data-act");
    if (!v) return;
    if (act === "edit") { openEditor(v); return; }
    try {
      if (act === "opt-out") {
        if (!confirm(I18N.f("vol.sureout", { name: v.name }))) return;
        var out = await NL.api("POST", "/api/volunteers/" + v.id + "/opt-out", {});
        toast(I18N.f("vol.outdone", { name: v.name, n: out.cancelled }));
      } else if (act === "opt-in") {
        await NL.api("POST", "/api/volunteers/" + v.id + "/opt-in", {});
        toast(I18N.f("vol.indone", { name: v.name }));
      }
      load();
    } catch (err) {
      toast(err.message, true);
    }
  });

  // -- import -------------------------------------------------------------------------------
  var lastImport = null;
  function renderImport() {
    var r = lastImport, box = $("import-result");
    if (!r) { box.innerHTML = ""; return; }
    if (r.fileError) {
      box.innerHTML = '<p class="error" role="alert">' + esc(I18N.f("vol.fileerror", { why: r.fileError })) + "</p>";
      return;
    }
    var html = '<p class="notice" id="import-summary">' + esc(I18N.f("vol.imported", r)) + "</p>";
    if (r.errors.length) {
      html += "<h3>" + t("vol.rejected") + '</h3><table class="grid" id="import-errors"><thead><tr><th>' + t("vol.row") + "</th><th>" +
        t("vol.column") + "</th><th>" + t("vol.reason") + "</th></tr></thead><tbody>" + r.errors.map(function (x) {
          var key = "f." + x.column, column = x.column ? (I18N.t(key) !== key ? I18N.t(key) : x.column) : "";
          return '<tr data-row="' + x.row + '"><td>' + x.row + "</td><td>" + esc(column) + "</td><td>" +
            esc(en() ? x.message : (x.zh || x.message)) + "</td></tr>";
        }).join("") + "</tbody></table>";
    }
    box.innerHTML = html;
  }

  $("import").addEventListener("submit", async function (e) {
    e.preventDefault();
    var file = $("import-file").files[0];
    if (!file) return;
    var form = new FormData();
    form.append("file", file, file.name);
    $("import-result").innerHTML = '<p class="muted">' + t("vol.importing") + "</p>";
    try {
      var res = await fetch("/api/volunteers/import", {
        method: "POST", credentials: "same-origin", body: form,
        headers: { "Accept": "application/json", "X-CSRF-Token": NL.csrf() }
      });
      var data = null;
      try { data = await res.json(); } catch (x) { data = null; }
      if (!res.ok) {
        var why = data && typeof data.detail === "string" ? (!en() && data.zh ? data.zh : data.detail) :
          (res.status === 413 ? t("vol.toolarge") : "HTTP " + res.status);
        lastImport = { fileError: why };
      } else {
        lastImport = data;
      }
    } catch (err) {
      lastImport = { fileError: err.message };
    }
    renderImport();
    S.offset = 0;
    load();
  });

  document.addEventListener("nuanliu:lang", function () {
    render(); renderImport();
    if (!$("editor-card").hidden) {
      var v = S.editing;
      $("editor-title").textContent = v ? I18N.f("vol.edit", { id: v.id }) : t("vol.add");
      $("e-phone").placeholder = v ? I18N.f("vol.phonekeep", { phone: v.phone }) : t("vol.phonenew");
    }
  });
  load();
})();
