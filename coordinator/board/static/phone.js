/* The demo phone: each volunteer's SMS inbox as a phone shows it, with a reply box that posts
   to the inbound SMS API exactly as a reply through the gateway would arrive. */
(function () {
  "use strict";
  var esc = NL.esc, t = function (k) { return I18N.t(k); };
  var drafts = {};

  async function load() {
    var phones = await NL.api("GET", "/board/phone/inboxes");
    document.querySelectorAll(".phone textarea").forEach(function (el) { drafts[el.name] = el.value; });
    var wall = document.getElementById("phones");
    if (!phones.length) { wall.innerHTML = '<p class="muted">' + t("phone.none") + "</p>"; return; }
    wall.innerHTML = phones.map(function (p) {
      return '<div class="phone" data-phone="' + esc(p.phone) + '"><div class="phone-top">' + esc(p.name || p.phone) +
        "<small>" + esc(p.phone) + '</small></div><div class="bubbles">' + p.messages.map(function (m) {
          return '<div class="bubble ' + (m.direction === "inbound" ? "out" : "in") + '">' + esc(m.body) + "<small>" + NL.clock(m.time) + "</small></div>";
        }).join("") + '</div><form class="reply"><textarea name="' + esc(p.phone) + '" rows="1" maxlength="160" placeholder="' + t("phone.reply") +
        '">' + esc(drafts[p.phone] || "") + '</textarea><button type="submit" class="primary">' + t("phone.send") + "</button></form></div>";
    }).join("");
    document.querySelectorAll(".bubbles").forEach(function (b) { b.scrollTop = b.scrollHeight; });
    applyFilter();
  }

  function applyFilter() {
    var q = document.getElementById("phone-filter").value.trim().toLowerCase();
    document.querySelectorAll(".phone").forEach(function (el) {
      var text = (el.getAttribute("data-phone") + " " + el.querySelector(".phone-top").textContent).toLowerCase();
      el.hidden = q !== "" && text.indexOf(q) < 0;
    });
  }

  document.getElementById("phone-filter").addEventListener("input", applyFilter);

  document.addEventListener("submit", async function (e) {
    var form = e.target.closest("form.reply");
    if (!form) return;
    e.preventDefault();
    var box = form.querySelector("textarea");
    try {
      await NL.api("POST", "/api/sms/inbound", { from: box.name, body: box.value });
      drafts[box.name] = "";
      box.value = "";
      await load();
    } catch (err) {
      alert(err.message);
    }
  });

  load();
  setInterval(function () { if (!document.activeElement || document.activeElement.tagName !== "TEXTAREA") load(); }, 3000);
})();
