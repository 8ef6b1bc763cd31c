/* Choose a volunteer by name: a dialog with a search box that asks the roster as the
   dispatcher types (names, or four or more digits of a phone number) and lists the matches
   with their district and skills. NL.pickVolunteer({districtName}) resolves to the chosen
   volunteer, or null when the dialog is closed. Used by the board's "Assign…" (the override
   route then takes the volunteer's id). */
(function () {
  "use strict";
  I18N.add({
    "pick.title": "Assign a volunteer", "pick.search": "Search by name or phone", "pick.none": "No volunteer matches.",
    "pick.type": "Type a name…", "pick.close": "Close", "pick.optedout": "opted out", "pick.pending": "not approved",
    "pick.assigned": "{name} assigned.",
    "code.task_full": "the task is full", "code.shift_taken": "the volunteer holds another task in this shift",
    "code.volunteer_unavailable": "the volunteer is inactive or opted out of messages", "code.already_in_task": "the volunteer is already in this task",
    "code.task_over": "the task is over", "code.incident_closed": "the incident is closed", "code.unknown_volunteer": "no such volunteer",
    "code.task_not_found": "no such task",
    "skill.de_icing": "de-icing", "skill.elderly_care": "elderly care", "skill.first_aid": "first aid", "skill.driving": "driving",
    "skill.traffic": "traffic", "skill.legal_aid": "legal aid", "skill.logistics": "logistics"
  }, {
    "pick.title": "指派志愿者", "pick.search": "按姓名或手机号搜索", "pick.none": "没有符合条件的志愿者。",
    "pick.type": "输入姓名…", "pick.close": "关闭", "pick.optedout": "已退订", "pick.pending": "未审核",
    "pick.assigned": "已指派 {name}。",
    "code.task_full": "任务已满员", "code.shift_taken": "该志愿者在这个时段已有其他任务",
    "code.volunteer_unavailable": "该志愿者未在册或已退订短信", "code.already_in_task": "该志愿者已在这个任务中",
    "code.task_over": "任务已结束", "code.incident_closed": "事件已结束", "code.unknown_volunteer": "没有这个志愿者",
    "code.task_not_found": "没有这个任务",
    "skill.de_icing": "除冰", "skill.elderly_care": "助老", "skill.first_aid": "急救", "skill.driving": "驾驶",
    "skill.traffic": "交通疏导", "skill.legal_aid": "法律援助", "skill.logistics": "物流后勤"
  });
  var t = function (k) { return I18N.t(k); };
  var esc = NL.esc;
  var dialog = null, seq = 0, timer = null, done = null, found = {}, opts = {};

  function skillWords(list) {
    return list.map(function (s) {
      var key = "skill." + s;
      return I18N.t(key) !== key ? I18N.t(key) : s;
    }).join(I18N.lang === "en" ? ", " : "、");
  }

  function build() {
    dialog = document.createElement("dialog");
    dialog.id = "picker";
    dialog.className = "picker";
    dialog.innerHTML = '<form method="dialog" class="stack"><h3 id="picker-title"></h3>' +
      '<label for="picker-q" id="picker-label"></label><input id="picker-q" type="search" autocomplete="off" maxlength="64">' +
      '<ul id="picker-list" class="picker-list" role="listbox" aria-labelledby="picker-label"></ul>' +
      '<button type="submit" value="" id="picker-close"></button></form>';
    document.body.appendChild(dialog);
    dialog.querySelector("#picker-q").addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(search, 200);
    });
    // Enter in the box takes the first person who may be assigned (it would otherwise
    // submit the dialog's form, which closes it)
    dialog.querySelector("#picker-q").addEventListener("keydown", function (e) {
      if (e.key !== "Enter") return;
      e.preventDefault();
      var first = dialog.querySelector("#picker-list button.pick:not([disabled])");
      if (first) first.click();
    });
    dialog.querySelector("#picker-list").addEventListener("click", function (e) {
      var b = e.target.closest("button[data-volunteer-id]");
      if (!b || b.disabled) return;
      finish(found[b.getAttribute("data-volunteer-id")] || null);
    });
    dialog.addEventListener("close", function () { finish(null); });
  }

  function words() {
    dialog.querySelector("#picker-title").textContent = t("pick.title");
    dialog.querySelector("#picker-label").textContent = t("pick.search");
    dialog.querySelector("#picker-q").placeholder = t("pick.type");
    dialog.querySelector("#picker-close").textContent = t("pick.close");
  }

  async function search() {
    var q = dialog.querySelector("#picker-q").value.trim(), mine = ++seq, list = dialog.querySelector("#picker-list");
    if (!q) { list.innerHTML = ""; return; }
    try {
      var page = await NL.api("GET", "/api/volunteers?" + new URLSearchParams({ q: q, limit: 10 }).toString());
      if (mine !== seq) return;  // the box says something newer already
      found = {};
      list.innerHTML = page.items.length ? page.items.map(function (v) {
        found[v.id] = v;
        var off = v.opted_out || v.status !== "active" || !v.active;
        var why = v.opted_out ? t("pick.optedout") : (v.status !== "active" ? t("pick.pending") : "");
        var where = opts.districtName ? opts.districtName(v.district_code) : (v.district_code || "");
        return '<li><button type="button" class="pick" data-volunteer-id="' + v.id + '"' + (off ? " disabled" : "") + ">" +
          '<b class="pick-name">' + esc(v.name) + "</b> · " + esc(where) + (v.skills.length ? " · " + esc(skillWords(v.skills)) : "") +
          (why ? ' <small class="muted">(' + esc(why) + ")</small>" : "") + "</button></li>";
      }).join("") : '<li class="muted">' + t("pick.none") + "</li>";
    } catch (err) {
      if (mine === seq) list.innerHTML = '<li class="error">' + esc(err.message) + "</li>";
    }
  }

  function finish(value) {
    if (!done) return;
    var resolve = done;
    done = null;
    if (dialog.open) dialog.close();
    resolve(value);
  }

  NL.pickVolunteer = function (options) {
    opts = options || {};
    if (!dialog) build();
    words();
    dialog.querySelector("#picker-q").value = "";
    dialog.querySelector("#picker-list").innerHTML = "";
    found = {};
    return new Promise(function (resolve) {
      done = resolve;
      dialog.showModal();
      dialog.querySelector("#picker-q").focus();
    });
  };
})();
