/* The station manager's page, phone-first: confirm deliveries line by line, hand out in two
   taps (item, then amount), see the stock. Submissions go to the logistics JSON API; a failed
   one keeps what was typed and says why. */
(function () {
  "use strict";
  var root = document.getElementById("station");
  var id = root.getAttribute("data-station-id");
  var esc = NL.esc, t = function (k) { return I18N.t(k); };
  var data = null, pick = null;
  var $ = function (x) { return document.getElementById(x); };

  function status(text, bad) {
    var el = $("station-status");
    el.textContent = text;
    el.className = "status" + (bad ? " bad" : " ok");
    el.hidden = false;
  }

  async function load() {
    data = await NL.api("GET", "/stations/" + id + "/data");
    render();
  }

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
        }).join("") + '<button type="button" class="tile back" data-amount="0">✕</button>';
    }
  }

  function renderStock() {
    $("stock").innerHTML = '<table class="grid stock"><tbody>' + data.items.filter(function (i) { return i.target || i.quantity || i.in_transit; }).map(function (i) {
      return '<tr class="' + (i.low ? "low" : "") + '" data-sku="' + esc(i.sku) + '"><td>' + esc(name(i)) + '</td><td class="num"><b>' + i.quantity + "</b></td><td class=\"num muted\">" +
        (i.target ? t("stock.target") + " " + i.target : "") + '</td><td class="num">' + (i.in_transit ? "+" + i.in_transit : "") + "</td></tr>";
    }).join("") + "</tbody></table>";
    var recent = data.received.map(function (s) {
      return "<li>" + esc(s.short_code) + " · " + (s.received_at ? NL.clock(s.received_at) : "") + (s.discrepancies.length ? ' <b class="bad">≠' + s.discrepancies.length + "</b>" : "") + "</li>";
    }).concat(data.distributions.map(function (d) { return "<li>" + esc(d.item) + " −" + d.quantity + " · " + NL.clock(d.at) + "</li>"; }));
    $("recent").innerHTML = "<ul>" + recent.join("") + "</ul>";
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

  document.addEventListener("submit", async function (e) {
    var form = e.target.closest("form.receipt");
    if (!form) return;
    e.preventDefault();
    var sid = form.getAttribute("data-shipment-id");
    var lines = Array.prototype.map.call(form.querySelectorAll("input[data-sku]"), function (el) {
      return { item: el.getAttribute("data-sku"), received: el.value === "" ? -1 : Number(el.value) };
    });
    var missing = form.querySelectorAll("input[data-sku]:invalid");
    if (missing.length) {  // say it plainly instead of sending numbers the server must refuse
      missing[0].focus();
      status(t("station.failed") + " " + t("station.fillall"), true);
      return;
    }
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await NL.api("POST", "/api/shipments/" + sid + "/receipt", { lines: lines });
      status(t("station.confirmed"));
      form.remove();
      await load();
    } catch (err) {
      status(t("station.failed") + " " + err.message, true); // the typed numbers stay in the form
    } finally {
      button.disabled = false;
    }
  });

  document.addEventListener("click", async function (e) {
    var c = e.target.closest("button[data-check]");
    if (c) {
      try {
        await NL.api("POST", "/api/assignments/" + c.getAttribute("data-assignment") + "/" + c.getAttribute("data-check"), {});
        status(t("station.handedout"));
        await load();
      } catch (err) {
        status(t("station.failed") + " " + err.message, true);
      }
      return;
    }
    var p = e.target.closest("button[data-pick]");
    if (p) { pick = p.getAttribute("data-pick"); renderHandout(); return; }
    var a = e.target.closest("button[data-amount]");
    if (!a) return;
    var amount = +a.getAttribute("data-amount");
    if (!amount) { pick = null; renderHandout(); return; }
    try {
      await NL.api("POST", "/api/stations/" + id + "/distributions", { item: pick, quantity: amount });
      status(t("station.handedout") + " " + pick + " −" + amount);
      pick = null;
      await load();
    } catch (err) {
      status(t("station.failed") + " " + err.message, true);
    }
  });

  document.addEventListener("nuanliu:lang", function () { if (data) render(); });
  load().catch(function (err) { status(err.message, true); });
})();
