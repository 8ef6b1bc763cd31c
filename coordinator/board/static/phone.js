/* The demo phone: each volunteer's SMS inbox as a phone shows it, with a reply box that posts
   to the inbound SMS API exactly as a reply through the gateway would arrive.

   Built for the whole roster on the worst day: the server sends the 200 phones texted most
   recently (a search finds anyone else), then every few seconds only the phones that changed
   since its last answer. A phone is drawn once and afterwards only its bubbles are replaced
   when its texts changed, so a reply being typed is never disturbed; the first wall is drawn
   a slice per animation frame, so the page never freezes. */
(function () {
  "use strict";
  var esc = NL.esc, t = function (k) { return I18N.t(k); };
  var TICK_MS = 3000, SLICE = 40;
  var wall = document.getElementById("phones"), filter = document.getElementById("phone-filter");
  var count = document.getElementById("phone-count");
  var phones = {};          // phone → { el, sig }
  var cursor = null, query = "", asking = false, generation = 0;

  function bubbles(p) {
    return p.messages.map(function (m) {
      return '<div class="bubble ' + (m.direction === "inbound" ? "out" : "in") + '">' + esc(m.body) + "<small>" + NL.clock(m.time) + "</small></div>";
    }).join("");
  }

  function signature(p) {
    var last = p.messages[p.messages.length - 1];
    return p.messages.length + ":" + (last ? last.id : 0) + ":" + p.name + ":" + p.label;
  }

  function build(p) {
    var el = document.createElement("div");
    el.className = "phone";
    el.setAttribute("data-phone", p.phone);
    // the reply box is made once: redrawing the bubbles never touches what is being typed
    el.innerHTML = '<div class="phone-top"></div><div class="bubbles"></div><form class="reply"><textarea name="' + esc(p.phone) +
      '" rows="1" maxlength="160" placeholder="' + esc(t("phone.reply")) + '"></textarea><button type="submit" class="primary">' +
      esc(t("phone.send")) + "</button></form>";
    return el;
  }

  function draw(p) {
    var known = phones[p.phone], sig = signature(p);
    if (!known) known = phones[p.phone] = { el: build(p), sig: null };
    if (known.sig !== sig) {
      known.el.querySelector(".phone-top").innerHTML = esc(p.name || p.label) + "<small>" + esc(p.label) + "</small>";
      var box = known.el.querySelector(".bubbles");
      box.innerHTML = bubbles(p);
      known.sig = sig;
      requestAnimationFrame(function () { box.scrollTop = box.scrollHeight; });
    }
    return known.el;
  }

  function say(total) {
    if (total === null || total === undefined) return;
    var shown = Object.keys(phones).length;
    count.textContent = total > shown ? I18N.f("phone.some", { n: shown, total: total }) : I18N.f("phone.all", { n: total });
  }

  // the first answer (or a new search): replace the wall, a slice per frame
  function replace(answer) {
    var mine = ++generation;
    wall.textContent = "";
    phones = {};
    if (!answer.phones.length) { wall.innerHTML = '<p class="muted">' + esc(t("phone.none")) + "</p>"; say(answer.total); return; }
    var list = answer.phones, i = 0;
    (function slice() {
      if (mine !== generation) return;  // a newer search took over
      var frag = document.createDocumentFragment();
      for (var end = Math.min(i + SLICE, list.length); i < end; i++) frag.appendChild(draw(list[i]));
      wall.appendChild(frag);
      say(answer.total);
      if (i < list.length) requestAnimationFrame(slice);
    })();
  }

  // a later answer: only the phones that changed, moved to the top newest first
  function update(answer) {
    var before = wall.firstChild;
    if (before && before.tagName === "P") { wall.textContent = ""; before = null; }
    for (var j = answer.phones.length - 1; j >= 0; j--) {
      var el = draw(answer.phones[j]);
      if (wall.firstChild !== el) wall.insertBefore(el, wall.firstChild);
    }
  }

  async function ask() {
    if (asking) return;
    asking = true;
    var fresh = cursor === null, mine = generation;
    try {
      var url = "/board/phone/inboxes?q=" + encodeURIComponent(query) + (fresh ? "" : "&since=" + encodeURIComponent(cursor));
      var answer = await NL.api("GET", url);
      if (mine !== generation) return;  // a search started while this was asked
      if (fresh) replace(answer); else update(answer);
      if (answer.cursor) cursor = answer.cursor;
    } catch (err) {
      count.textContent = err.message;
    } finally {
      asking = false;
    }
  }

  var typing = null;
  filter.addEventListener("input", function () {
    clearTimeout(typing);
    typing = setTimeout(function () {
      query = filter.value.trim();
      cursor = null;
      generation++;
      asking = false;
      ask();
    }, 250);
  });

  document.addEventListener("submit", async function (e) {
    var form = e.target.closest("form.reply");
    if (!form) return;
    e.preventDefault();
    var box = form.querySelector("textarea");
    try {
      await NL.api("POST", "/api/sms/inbound", { from: box.name, body: box.value });
      box.value = "";
      await ask();
    } catch (err) {
      alert(err.message);
    }
  });

  ask();
  setInterval(function () { if (document.visibilityState === "visible") ask(); }, TICK_MS);
})();
