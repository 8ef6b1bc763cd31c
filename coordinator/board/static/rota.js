/* The rota page: sign in with a code texted to the phone, pick station shifts of the travel
   rush, give one back (until 24 h before it starts). Calls /api/rota/* with the rota cookie
   and the session's CSRF token (api.js sends the meta's). */
(function () {
  "use strict";
  var esc = NL.esc, t = function (k) { return I18N.t(k); };
  var app = document.getElementById("rota-app");
  var phone = "";
  var last = null;

  function say(text, bad) {
    var el = document.getElementById("rota-msg");
    el.textContent = text;
    el.classList.toggle("bad", !!bad);
  }
  // a refusal in the page's words when it has a code we know, else the API's sentence
  function refusal(err) {
    var key = "rota.err." + (err.code || err.status);
    return I18N.t(key) !== key ? I18N.t(key) : err.message;
  }
  function setCsrf(token) {
    var m = document.querySelector('meta[name="csrf-token"]');
    if (m) m.setAttribute("content", token);
  }
  function when(s) {
    return NL.day(s.starts_at) + " " + NL.clock(s.starts_at).slice(0, 5) + "–" + NL.clock(s.ends_at).slice(0, 5);
  }
  function title(s) {
    var en = I18N.lang === "en";
    return esc((en && s.title_en) || s.title) + " · " + esc((en && s.place_en) || s.place);
  }

  function render(data) {
    last = data;
    document.getElementById("rota-who").textContent = data.name;
    var mine = data.shifts.filter(function (s) { return s.assignment_id; });
    var open = data.shifts.filter(function (s) { return !s.assignment_id; });
    document.getElementById("rota-mine").innerHTML = mine.length ? mine.map(function (s) {
      var action = s.can_give_back
        ? '<button type="button" class="give-back" data-assignment="' + s.assignment_id + '">' + t("rota.giveback") + "</button>"
        : '<small class="muted">' + I18N.f("rota.toolate", { h: data.give_back_hours }) + "</small>";
      return '<li class="shift mine" data-task="' + s.task_id + '"><b>' + title(s) + "</b><br>" + esc(when(s)) +
        ' <span class="code">' + I18N.f("rota.ref", { code: esc(s.code) }) + "</span> " + action + "</li>";
    }).join("") : '<li class="muted">' + t("rota.none") + "</li>";
    document.getElementById("rota-open").innerHTML = open.length ? open.map(function (s) {
      var action = "";
      if (s.free < 1) action = '<small class="muted">' + t("rota.full") + "</small>";
      else if (s.blocked) action = '<small class="muted">' + t("rota.blocked." + s.blocked) + "</small>";
      else action = '<button type="button" class="primary pick" data-task="' + s.task_id + '">' + t("rota.pick") + "</button>";
      return '<li class="shift" data-task="' + s.task_id + '"><b>' + title(s) + "</b><br>" + esc(when(s)) + " · " +
        I18N.f("rota.free", { n: s.free, of: s.slots }) + " " + action + "</li>";
    }).join("") : '<li class="muted">' + t("rota.noshifts") + "</li>";
  }

  async function load() {
    try {
      var data = await NL.api("GET", "/api/rota/shifts");
      setCsrf(data.csrf_token);
      document.getElementById("rota-phone-form").hidden = true;
      document.getElementById("rota-code-form").hidden = true;
      document.getElementById("rota-shifts").hidden = false;
      render(data);
    } catch (err) {
      if (err.status === 401) {
        document.getElementById("rota-shifts").hidden = true;
        document.getElementById("rota-phone-form").hidden = false;
        return;
      }
      say(refusal(err), true);
    }
  }

  document.getElementById("rota-phone-form").addEventListener("submit", async function (e) {
    e.preventDefault();
    phone = document.getElementById("rota-phone").value;
    try {
      await NL.api("POST", "/api/rota/code", { phone: phone });
      document.getElementById("rota-code-form").hidden = false;
      document.getElementById("rota-code").focus();
      say(t("rota.sent"));
    } catch (err) { say(refusal(err), true); }
  });

  document.getElementById("rota-code-form").addEventListener("submit", async function (e) {
    e.preventDefault();
    try {
      var out = await NL.api("POST", "/api/rota/session", { phone: phone, code: document.getElementById("rota-code").value });
      setCsrf(out.csrf_token);
      say(t("rota.welcome"));
      await load();
    } catch (err) { say(refusal(err), true); }
  });

  document.getElementById("rota-logout").addEventListener("click", async function () {
    await NL.api("POST", "/api/rota/session/end");
    setCsrf("");
    document.getElementById("rota-shifts").hidden = true;
    document.getElementById("rota-phone-form").hidden = false;
    say(t("rota.bye"));
  });

  app.addEventListener("click", async function (e) {
    var pick = e.target.closest("button.pick"), back = e.target.closest("button.give-back");
    if (!pick && !back) return;
    (pick || back).disabled = true;
    try {
      if (pick) {
        var got = await NL.api("POST", "/api/rota/shifts/" + pick.getAttribute("data-task") + "/pick");
        say(I18N.f("rota.picked", { code: got.code }));
      } else {
        if (!window.confirm(t("rota.sure"))) { back.disabled = false; return; }
        await NL.api("POST", "/api/rota/assignments/" + back.getAttribute("data-assignment") + "/give-back");
        say(t("rota.givenback"));
      }
    } catch (err) { say(refusal(err), true); }
    await load();
  });

  document.addEventListener("nuanliu:lang", function () { if (last) render(last); });
  if (app.getAttribute("data-signed-in") === "yes") load();
})();
