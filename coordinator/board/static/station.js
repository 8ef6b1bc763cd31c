/* The station manager's page, phone-first: confirm deliveries line by line, hand out in two
   taps (item, then amount, or an amount typed), see the stock, correct a receipt once within
   the hour, take a hand-out back within a minute (a wrong tile, a double tap). Submissions go to the logistics JSON API; a failed one keeps what was typed and
   says why; a number far from what was sent (330 cakes where 33 were sent) asks first. The
   page refreshes itself every few seconds while it is on screen, so a shipment dispatched to
   the station appears without a reload. */
(function () {
  "use strict";
  var root = document.getElementById("station");
  var id = root.getAttribute("data-station-id");
  var esc = NL.esc, t = function (k) { return I18N.t(k); };
  var data = null, pick = null, shown = "", busy = false, correcting = null, undoTimer = null;
  // the server enforces both windows; these only decide which buttons to show
  var REFRESH_MS = 5000, CORRECTION_MS = 60 * 60 * 1000, UNDO_MS = 60 * 1000;
  var $ = function (x) { return document.getElementById(x); };

  function status(text, bad) {
    var el = $("station-status");
    el.textContent = text;
    el.className = "status" + (bad ? " bad" : " ok");
    el.hidden = false;
  }

  async function load() {
    var fresh = await NL.api("GET", "/stations/" + id + "/data");
    var text = JSON.stringify(fresh);
    data = fresh;
    if (text === shown) return;  // nothing changed: leave the page (and the manager's fingers) alone
    shown = text;
    render();
  }

  // while the page is on screen and nothing is being sent
  setInterval(function () {
    if (document.visibilityState !== "visible" || busy || pick || correcting) return;
    load().catch(function () { /* the next tick tries again */ });
  }, REFRESH_MS);

  // A number a slip of the finger makes: ten times what was sent, or far past the target
  function implausible(value, sent, target) {
    if (sent !== undefined && sent !== null && value > Math.max(3 * sent, sent + 20)) return true;
    return !!target && value > 3 * target;
  }
  function sure(what) { return window.confirm(t("station.sure") + "\n" + what); }

  function name(i) { return I18N.lang === "en" ? (i.name_en || i.item) : (i.name_zh || i.item); }

  function renderIncoming() {
    // keep whatever the manager has typed into a form that is still on the page
    var typed = {};
    document.querySelectorAll("#incoming input[data-sku]").forEach(function (el) {
      typed[el.getAttribute("data-shipment") + "/" + el.getAttribute("data-sku")] = el.value;
    });
    if (!data.incoming.length) { $("incoming").innerHTML = '<p class="muted">' + t("station.noincoming") + "</p>"; return; }
    $("incoming").innerHTML = data.incoming.map(function (s) {
      return '<form class="receipt" novalidate data-shipment-id="' + s.id + '"><h3>' + esc(s.short_code) +
        ' <small class="muted">' + (s.dispatched_at ? NL.clock(s.dispatched_at) : "") + "</small></h3>" +
        s.lines.map(function (l) {
          var key = s.id + "/" + l.item;
          var value = typed[key] !== undefined ? typed[key] : l.quantity;
          return '<label class="line"><span class="lname">' + esc(name(l)) + ' <small>' + t("station.sent") + " " + l.quantity +
            '</small></span><input type="number" inputmode="numeric" min="0" max="1000000" required class="big-number" data-shipment="' +
            s.id + '" data-sku="' + esc(l.item) + '" name="' + esc(l.item) + '" value="' + esc(value) + '"></label>';
        }).join("") + '<button type="submit" class="primary big">' + t("station.confirm") + "</button></form>";
    }).join("");
  }

  function renderHandout() {
    var items = data.items.filter(function (i) { return i.quantity > 0; });
    if (!pick) {
      $("handout").innerHTML = items.map(function (i) {
        return '<button type="button" class="tile" data-pick="' + esc(i.sku) + '">' + esc(name(i)) + "<small>" + i.quantity + "</small></button>";
      }).join("") || '<p class="muted">' + t("board.none") + "</p>";
    } else {
      var item = data.items.filter(function (i) { return i.sku === pick; })[0];
      $("handout").innerHTML = '<p><b>' + esc(name(item)) + "</b> (" + item.quantity + ")</p>" +
        [1, 2, 5, 10, 20].map(function (n) {
          return '<button type="button" class="tile amount" data-amount="' + n + '"' + (n > item.quantity ? " disabled" : "") + ">" + n + "</button>";
        }).join("") + '<button type="button" class="tile back" data-amount="0">✕</button>' +
        '<div class="custom-amount"><label for="handout-custom">' + t("station.other") + '</label>' +
        '<input id="handout-custom" type="number" inputmode="numeric" min="1" max="' + item.quantity + '" class="big-number">' +
        '<button type="button" class="primary" data-amount="custom">' + t("station.handout") + "</button></div>";
    }
  }

  function renderStock() {
    $("stock").innerHTML = '<table class="grid stock"><tbody>' + data.items.filter(function (i) { return i.target || i.quantity || i.in_transit; }).map(function (i) {
      return '<tr class="' + (i.low ? "low" : "") + '" data-sku="' + esc(i.sku) + '"><td>' + esc(name(i)) + '</td><td class="num"><b>' + i.quantity + "</b></td><td class=\"num muted\">" +
        (i.target ? t("stock.target") + " " + i.target : "") + '</td><td class="num">' + (i.in_transit ? "+" + i.in_transit : "") + "</td></tr>";
    }).join("") + "</tbody></table>";
    var recent = data.received.map(function (s) {
      var open = s.received_at && !s.corrected_at && Date.now() - Date.parse(s.received_at) < CORRECTION_MS;
      return '<li data-received="' + s.id + '">' + esc(s.short_code) + " · " + (s.received_at ? NL.clock(s.received_at) : "") +
        (s.discrepancies.length ? ' <b class="bad">≠' + s.discrepancies.length + "</b>" : "") +
        (s.corrected_at ? ' <small class="muted">' + t("station.corrected") + "</small>" : "") +
        (open ? ' <button type="button" class="mini" data-correct="' + s.id + '">' + t("station.correct") + "</button>" : "") +
        (correcting === s.id ? correctionForm(s) : "") + "</li>";
    }).concat(data.distributions.map(handoutLine));
    $("recent").innerHTML = "<ul>" + recent.join("") + "</ul>";
    // take the undo buttons away when their minute is up, without waiting for new data
    clearTimeout(undoTimer);
    var left = data.distributions.filter(undoable).map(function (d) { return UNDO_MS - (Date.now() - Date.parse(d.at)); });
    if (left.length) undoTimer = setTimeout(function () { if (!correcting) renderStock(); }, Math.max(0, Math.min.apply(null, left)) + 50);
  }

  function undoable(d) { return !d.undone_at && Date.now() - Date.parse(d.at) < UNDO_MS; }
  function itemOf(sku) { return data.items.filter(function (i) { return i.sku === sku; })[0] || { sku: sku, item: sku }; }

  function handoutLine(d) {
    return '<li data-handout="' + d.id + '"' + (d.undone_at ? ' class="undone"' : "") + ">" + esc(name(itemOf(d.item))) + " −" + d.quantity + " · " + NL.clock(d.at) +
      (d.undone_at ? ' <small class="muted">' + t("station.undone") + "</small>" : "") +
      (undoable(d) ? ' <button type="button" class="mini" data-undo="' + d.id + '">' + t("station.undo") + "</button>" : "") + "</li>";
  }

  function correctionForm(s) {
    return '<form class="correction" novalidate data-shipment-id="' + s.id + '">' + s.lines.map(function (l) {
      return '<label class="line"><span class="lname">' + esc(name(l)) + " <small>" + t("station.sent") + " " + l.quantity + "</small></span>" +
        '<input type="number" inputmode="numeric" min="0" max="1000000" required class="big-number" data-sku="' + esc(l.item) +
        '" data-sent="' + l.quantity + '" value="' + (l.received === null ? "" : l.received) + '"></label>';
    }).join("") + '<button type="submit" class="primary">' + t("station.savecorrection") + "</button></form>";
  }

  // the volunteers of this station's shifts: check in and out those without a phone at hand
  function renderVolunteers() {
    var rows = data.volunteers || [];
    if (!rows.length) { $("volunteers").innerHTML = '<p class="muted">' + t("board.none") + "</p>"; return; }
    $("volunteers").innerHTML = rows.map(function (v) {
      var state, button = "";
      if (v.checked_out_at) {
        state = t("station.out") + " " + NL.clock(v.checked_out_at);
      } else if (v.checked_in_at) {
        state = t("station.in") + " " + NL.clock(v.checked_in_at);
        button = '<button type="button" class="mini" data-check="check-out" data-assignment="' + v.assignment_id + '">' + t("station.checkout") + "</button>";
      } else {
        state = v.status === "accepted" ? t("station.notin") : "";
        if (v.status === "accepted") button = '<button type="button" class="mini primary" data-check="check-in" data-assignment="' + v.assignment_id + '">' + t("station.checkin") + "</button>";
      }
      return '<div class="row attendee" data-assignment-id="' + v.assignment_id + '"><b>' + esc(v.name) + "</b> · " +
        esc(I18N.lang === "en" ? (v.task_en || v.task) : v.task) + " " + NL.clock(v.starts_at) +
        ' · <span class="state">' + esc(state) + "</span> " + button + "</div>";
    }).join("");
  }

  function render() { renderIncoming(); renderVolunteers(); renderHandout(); renderStock(); }

  function targetOf(sku) {
    var item = data.items.filter(function (i) { return i.sku === sku; })[0];
    return item ? item.target : 0;
  }

  // the lines of a receipt or correction form; null (and the reason said) when one is empty
  // or the manager does not confirm a number far from what was sent
  function linesOf(form, sentOf) {
    var missing = form.querySelectorAll("input[data-sku]:invalid");
    if (missing.length) {  // say it plainly instead of sending numbers the server must refuse
      missing[0].focus();
      status(t("station.failed") + " " + t("station.fillall"), true);
      return null;
    }
    var odd = [];
    var lines = Array.prototype.map.call(form.querySelectorAll("input[data-sku]"), function (el) {
      var sku = el.getAttribute("data-sku"), value = Number(el.value), sent = sentOf(el);
      if (implausible(value, sent, targetOf(sku))) odd.push(el.closest("label").querySelector(".lname").textContent + ": " + value);
      return { item: sku, received: value };
    });
    if (odd.length && !sure(odd.join("\n"))) return null;
    return lines;
  }

  function sentOnForm(el) {
    var sid = +el.getAttribute("data-shipment"), sku = el.getAttribute("data-sku");
    var s = data.incoming.filter(function (x) { return x.id === sid; })[0];
    var line = s ? s.lines.filter(function (l) { return l.item === sku; })[0] : null;
    return line ? line.quantity : undefined;
  }

  document.addEventListener("submit", async function (e) {
    var form = e.target.closest("form.receipt, form.correction");
    if (!form) return;
    e.preventDefault();
    var correction = form.classList.contains("correction");
    var sid = form.getAttribute("data-shipment-id");
    var lines = linesOf(form, correction ? function (el) { return +el.getAttribute("data-sent"); } : sentOnForm);
    if (!lines) return;
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    busy = true;
    try {
      await NL.api("POST", "/api/shipments/" + sid + (correction ? "/receipt/correction" : "/receipt"), { lines: lines });
      status(t(correction ? "station.correctiondone" : "station.confirmed"));
      if (correction) correcting = null;
      form.remove();
      shown = "";
      await load();
    } catch (err) {
      status(t("station.failed") + " " + err.message, true); // the typed numbers stay in the form
    } finally {
      button.disabled = false;
      busy = false;
    }
  });

  document.addEventListener("click", async function (e) {
    var k = e.target.closest("button[data-check]");
    if (k) {
      busy = true;
      try {
        await NL.api("POST", "/api/assignments/" + k.getAttribute("data-assignment") + "/" + k.getAttribute("data-check"), {});
        status(t("station.handedout"));
        await load();
      } catch (err) {
        status(t("station.failed") + " " + err.message, true);
      } finally {
        busy = false;
      }
      return;
    }
    var u = e.target.closest("button[data-undo]");
    if (u) {
      busy = true;
      u.disabled = true;
      try {
        var back = await NL.api("POST", "/api/stations/" + id + "/distributions/" + u.getAttribute("data-undo") + "/undo", {});
        status(t("station.undonedone") + " " + name(itemOf(back.item)) + " +" + back.quantity);
        shown = "";
        await load();
      } catch (err) {
        status(t("station.failed") + " " + err.message, true);
        u.disabled = false;
      } finally {
        busy = false;
      }
      return;
    }
    var c = e.target.closest("button[data-correct]");
    if (c) { correcting = +c.getAttribute("data-correct"); renderStock(); return; }
    var p = e.target.closest("button[data-pick]");
    if (p) { pick = p.getAttribute("data-pick"); renderHandout(); return; }
    var a = e.target.closest("button[data-amount]");
    if (!a) return;
    var custom = a.getAttribute("data-amount") === "custom";
    var amount = custom ? Number($("handout-custom").value) : +a.getAttribute("data-amount");
    if (!custom && !amount) { pick = null; renderHandout(); return; }
    if (custom && !(amount >= 1 && Math.floor(amount) === amount)) {
      status(t("station.failed") + " " + t("station.wholenumber"), true);
      return;
    }
    var item = data.items.filter(function (i) { return i.sku === pick; })[0];
    if (custom && implausible(amount, undefined, Math.max(item.target || 0, 20)) && !sure(name(item) + ": " + amount)) return;
    busy = true;
    try {
      await NL.api("POST", "/api/stations/" + id + "/distributions", { item: pick, quantity: amount });
      status(t("station.handedout") + " " + name(item) + " −" + amount);
      pick = null;
      shown = "";
      await load();
    } catch (err) {
      status(t("station.failed") + " " + err.message, true);
    } finally {
      busy = false;
    }
  });

  document.addEventListener("nuanliu:lang", function () { if (data) render(); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && !busy) load().catch(function () {});
  });
  load().catch(function (err) { status(err.message, true); });
})();
