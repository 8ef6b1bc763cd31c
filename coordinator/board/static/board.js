/* The dispatcher's board. Numbers always come from a snapshot (pushed on connect, fetched again
   shortly after events arrive); events only feed the live list and trigger that refresh. When
   the stream is down the board says so and greys the numbers instead of showing them as live. */
(function () {
  "use strict";
  var S = { snap: null, snapAt: 0, seen: new Set(), feed: [], filter: "all", es: null,
            live: false, lastMessage: 0, refreshTimer: null, refreshing: false, again: false,
            newest: null, newestTime: 0, reasks: 0 };
  var $ = function (id) { return document.getElementById(id); };
  var t = function (k) { return I18N.t(k); };
  var esc = NL.esc;
  var FEED_MAX = 200;
  var GROUPS = { alert: "dispatch", incident: "dispatch", task: "dispatch", assignment: "dispatch",
                 sms: "sms", shipment: "logistics", stock: "logistics", plan: "logistics",
                 discrepancy: "logistics", distribution: "logistics" };

  // -- connection -------------------------------------------------------------------------
  function setLive(live) {
    S.live = live;
    var el = $("conn");
    el.classList.toggle("stale", !live);
    el.classList.toggle("live", live);
    el.setAttribute("data-state", live ? "live" : "stale");
    $("conn-text").textContent = t(live ? "conn.live" : "conn.stale");
    document.body.classList.toggle("is-stale", !live);
  }

  function connect() {
    if (S.es) S.es.close();
    var es = new EventSource("/board/stream");
    S.es = es;
    es.addEventListener("snapshot", function (e) {
      S.lastMessage = Date.now();
      var snap = JSON.parse(e.data);
      S.feed = [];
      S.seen = new Set();
      snap.feed.forEach(function (ev) { remember(ev); });
      applySnapshot(snap);
      setLive(true);
    });
    es.addEventListener("board", function (e) {
      S.lastMessage = Date.now();
      setLive(true);
      var ev = JSON.parse(e.data);
      S.newest = e.lastEventId || S.newest;
      S.newestTime = Math.max(S.newestTime, Date.parse(ev.time) || 0);
      if (S.seen.has(ev.id)) return; // a redelivered event or one the snapshot already had
      remember(ev);
      renderFeed();
      scheduleRefresh();
    });
    es.addEventListener("ping", function () { S.lastMessage = Date.now(); });
    es.onopen = function () { S.lastMessage = Date.now(); };
    es.onerror = function () {
      setLive(false);
      if (es.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
    };
  }

  // the stream sends a ping at least every 15 s: silence longer than that means it is gone
  setInterval(function () {
    if (S.live && Date.now() - S.lastMessage > 40000) { setLive(false); connect(); }
    tickWaiting();
  }, 1000);

  function remember(ev) {
    S.seen.add(ev.id);
    S.feed.unshift(ev);
    if (S.feed.length > FEED_MAX) S.feed.length = FEED_MAX;
  }

  function scheduleRefresh() {
    if (S.refreshTimer) return;
    S.refreshTimer = setTimeout(refresh, 250);
  }

  async function refresh() {
    S.refreshTimer = null;
    if (S.refreshing) { S.again = true; return; }
    S.refreshing = true;
    try {
      var snap = await NL.api("GET", "/board/snapshot");
      applySnapshot(snap);
      // the server shares a snapshot between boards for half a second: one taken before the
      // newest event this board has seen is applied, and asked for again (by the hub's id
      // when the stream and the snapshot come from one process, else by the clock)
      // (a few times at most: clocks of two machines may disagree for good)
      var stale = before(snap.last_id, S.newest) || Date.parse(snap.as_of) < S.newestTime;
      S.reasks = stale ? S.reasks + 1 : 0;
      if (stale && S.reasks <= 4) S.again = true;
    } catch (e) {
      setLive(false);
    } finally {
      S.refreshing = false;
      if (S.again) { S.again = false; scheduleRefresh(); }
    }
  }

  // hub ids are "<process>-<sequence>"; ids from another process cannot be compared
  function before(a, b) {
    if (!a || !b) return false;
    var x = a.split("-"), y = b.split("-");
    return x[0] === y[0] && Number(x[1]) < Number(y[1]);
  }

  function applySnapshot(snap) {
    S.snap = snap;
    S.snapAt = Date.now();
    $("as-of").textContent = NL.clock(snap.as_of);
    renderAll();
  }

  function renderAll() {
    if (!S.snap) return;
    renderIncidents(); renderMap(); renderStations(); renderLogistics(); renderSignups(); renderSms(); renderFeed();
  }

  // -- incidents and tasks ------------------------------------------------------------------
  function bar(c) {
    var n = Math.max(c.needed, 1);
    var seg = function (cls, v) { return v > 0 ? '<span class="' + cls + '" style="width:' + (100 * Math.min(v, n) / n) + '%"></span>' : ""; };
    var offered = Math.min(c.offered, c.unfilled);
    return '<div class="bar">' + seg("done", c.done) + seg("accepted", c.accepted) +
      seg("offered", offered) + seg("unfilled", Math.max(0, c.unfilled - offered)) + "</div>";
  }

  function taskTitle(task) {
    var en = I18N.lang === "en";
    var title = en && task.title_en ? task.title_en : task.title;
    var place = en && task.place_en ? task.place_en : task.place;
    return place ? title + " · " + place : title;
  }

  function renderIncidents() {
    var list = S.snap.incidents;
    if (!list.length) { $("incidents").innerHTML = '<p class="muted">' + t("board.noincidents") + "</p>"; return; }
    $("incidents").innerHTML = list.map(function (inc) {
      return '<article class="incident level-' + esc(inc.level) + '" data-incident-id="' + inc.id + '">' +
        '<h3><span class="badge ' + esc(inc.level) + '">' + esc(inc.level) + "</span> " + esc(inc.title) + "</h3>" +
        inc.tasks.map(function (task) {
          var c = task.counts;
          var unfilled = c.unfilled > 0;
          var people = task.assignments.filter(function (a) { return a.state === "offered" || a.state === "accepted"; });
          return '<div class="task' + (unfilled ? " unfilled" : "") + '" data-task-id="' + task.id + '">' +
            '<div class="task-head"><span class="task-title">' + esc(taskTitle(task)) + "</span>" +
            '<span class="counts">' + t("task.needed") + ' <b class="n-needed">' + c.needed + "</b> · " +
            t("task.offered") + ' <b class="n-offered">' + c.offered + "</b> · " +
            t("task.accepted") + ' <b class="n-accepted">' + c.accepted + "</b> · " +
            t("task.done") + ' <b class="n-done">' + c.done + "</b></span></div>" + bar(c) +
            (unfilled ? '<div class="waiting" data-waiting="' + task.waiting_s + '">' + t("task.waiting") +
              ' <span class="clock">' + NL.duration(task.waiting_s) + "</span></div>" : "") +
            '<div class="people">' + people.map(function (a) {
              return '<span class="person ' + a.state + '">' + esc(a.volunteer_name || ("#" + a.volunteer_id)) +
                ' <button type="button" class="mini" data-action="cancel" data-id="' + a.id + '">' + t("act.cancel") + "</button></span>";
            }).join("") +
            ' <button type="button" class="mini" data-action="assign" data-id="' + task.id + '">' + t("task.assign") + "</button></div></div>";
        }).join("") + "</article>";
    }).join("");
  }

  function tickWaiting() {
    if (!S.snap) return;
    var extra = (Date.now() - S.snapAt) / 1000;
    document.querySelectorAll(".waiting[data-waiting]").forEach(function (el) {
      el.querySelector(".clock").textContent = NL.duration(+el.getAttribute("data-waiting") + extra);
    });
  }

  // -- the map: district centres, stations and tasks, projected from lon/lat ----------------
  function renderMap() {
    var m = S.snap.map, svg = $("map");
    if (!m.districts.length) { svg.innerHTML = ""; return; }
    // frame the tasks when there are any (that is where the work is), else the whole city;
    // districts and stations outside the frame are clipped, not moved
    var taskPts = [];
    S.snap.incidents.forEach(function (inc) {
      inc.tasks.forEach(function (task) { if (task.lat !== undefined) taskPts.push([task.lon, task.lat]); });
    });
    var pts = taskPts.length ? taskPts : m.districts.map(function (d) { return [d.lon, d.lat]; }).concat(m.places.map(function (p) { return [p.lon, p.lat]; }));
    var pad = taskPts.length ? 0.06 : 0.08;
    var minX = Math.min.apply(null, pts.map(function (p) { return p[0]; })) - pad;
    var maxX = Math.max.apply(null, pts.map(function (p) { return p[0]; })) + pad;
    var minY = Math.min.apply(null, pts.map(function (p) { return p[1]; })) - pad;
    var maxY = Math.max.apply(null, pts.map(function (p) { return p[1]; })) + pad;
    var k = Math.cos(26.6 * Math.PI / 180); // degrees of longitude are shorter here
    var scale = 580 / Math.max((maxX - minX) * k, maxY - minY);
    var X = function (lon) { return 10 + (lon - minX) * k * scale; };
    var Y = function (lat) { return 10 + (maxY - lat) * scale; };
    var perKm = scale / 111;
    var byCode = {};
    var out = [];
    m.districts.forEach(function (d) {
      byCode[d.code] = d;
      out.push('<circle class="district" cx="' + X(d.lon) + '" cy="' + Y(d.lat) + '" r="' + d.radius_km * perKm + '"></circle>');
    });
    m.districts.forEach(function (d) {
      out.push('<text class="dlabel" x="' + X(d.lon) + '" y="' + Y(d.lat) + '">' + esc(I18N.lang === "en" ? d.name_en.replace(/ (District|County|City)$/, "") : d.name_zh) + "</text>");
    });
    m.places.forEach(function (p) {
      var cls = p.kind === "warehouse" ? "warehouse" : "station";
      out.push('<rect class="' + cls + '" x="' + (X(p.lon) - 5) + '" y="' + (Y(p.lat) - 5) + '" width="10" height="10"><title>' + esc(p.name_zh) + "</title></rect>");
    });
    S.snap.incidents.forEach(function (inc) {
      inc.tasks.forEach(function (task) {
        var x, y, d = byCode[task.district_code];
        if (task.lat !== undefined && task.lon !== undefined) {
          x = X(task.lon); y = Y(task.lat);
        } else if (d) {  // no location known: somewhere in its district, stable per task
          var angle = task.id * 2.399963, r = (0.25 + 0.5 * ((task.id * 7919) % 100) / 100) * d.radius_km * perKm;
          x = X(d.lon) + r * Math.cos(angle); y = Y(d.lat) + r * Math.sin(angle);
        } else {
          return;
        }
        var c = task.counts, state = c.unfilled === 0 ? "filled" : (c.accepted + c.done > 0 ? "partial" : "empty");
        out.push('<circle class="task ' + state + '" data-task-id="' + task.id + '" cx="' + x + '" cy="' + y + '" r="7"><title>' + esc(taskTitle(task)) + "</title></circle>");
      });
    });
    svg.innerHTML = out.join("");
  }

  // -- stations: gauges against targets, stock over time, the fund -------------------------
  function sparkline(points) {
    if (points.length < 2) return "";
    var ts = points.map(function (p) { return Date.parse(p[0]); }), vs = points.map(function (p) { return p[1]; });
    var t0 = Math.min.apply(null, ts), t1 = Math.max.apply(null, ts), v1 = Math.max.apply(null, vs.concat([1]));
    var W = 240, H = 40;
    var path = points.map(function (p, i) {
      var x = t1 > t0 ? (ts[i] - t0) / (t1 - t0) * W : i / (points.length - 1) * W;
      return (i ? "L" : "M") + x.toFixed(1) + "," + (H - vs[i] / v1 * (H - 4) - 2).toFixed(1);
    }).join("");
    return '<svg class="spark" viewBox="0 0 ' + W + " " + H + '" preserveAspectRatio="none"><path d="' + path + '"></path></svg>';
  }

  function renderStations() {
    var f = S.snap.fund;
    $("fund").innerHTML = f ? '<div class="fund-line"><b>' + t("fund.title") + "</b> " + esc(f.name) + " · " + t("fund.spent") +
      ' <b class="n-spent">' + NL.yuan(f.spent_fen) + "</b> / " + t("fund.of") + " " + NL.yuan(f.budget_fen) + " ¥</div>" +
      '<div class="gauge"><span style="width:' + Math.min(100, 100 * f.spent_fen / Math.max(1, f.budget_fen)) + '%"></span></div>' : "";
    $("stations").innerHTML = S.snap.stations.map(function (st) {
      var rows = st.items.filter(function (i) { return i.target || i.quantity; }).map(function (i) {
        var top = Math.max(i.target || 0, i.quantity, 1);
        return '<div class="gauge-row' + (i.low ? " low" : "") + '" data-sku="' + esc(i.sku) + '"><span class="gname">' +
          esc(I18N.lang === "en" ? i.name_en : i.name_zh) + '</span><div class="gauge"><span style="width:' + (100 * i.quantity / top) +
          '%"></span>' + (i.target ? '<i class="target" style="left:' + (100 * i.target / top) + '%"></i>' : "") +
          '</div><span class="gval"><b>' + i.quantity + "</b>" + (i.target ? "/" + i.target : "") + "</span></div>";
      }).join("");
      return '<div class="station-card" data-station-id="' + st.id + '"><h3>' + esc(I18N.lang === "en" ? st.name_en : st.name_zh) +
        "</h3>" + (rows || '<p class="muted">' + t("board.none") + "</p>") + sparkline(st.history) + "</div>";
    }).join("");
  }

  function renderLogistics() {
    var s = S.snap;
    $("plans").innerHTML = s.plans.length ? s.plans.map(function (p) {
      return '<div class="row" data-plan-id="' + p.id + '">#' + p.id + " · " + esc(p.trigger) + " · " + p.lines.length +
        " lines · " + NL.yuan(p.purchase_fen) + ' ¥ <button type="button" class="mini primary" data-action="approve" data-id="' + p.id + '">' + t("act.approve") + "</button></div>";
    }).join("") : '<p class="muted">' + t("board.none") + "</p>";
    var names = {};
    s.map.places.forEach(function (p) { names[p.id] = I18N.lang === "en" ? p.name_en : p.name_zh; });
    $("discrepancies").innerHTML = s.discrepancies.length ? s.discrepancies.map(function (d) {
      return '<div class="row discrepancy ' + esc(d.kind) + '" data-discrepancy-id="' + d.id + '"><b>' + esc(d.kind) + "</b> " +
        esc(names[d.station_id] || d.station_id) + " · " + esc(d.sku) + " · " + d.sent + " → " + d.received +
        ' <button type="button" class="mini" data-action="ack" data-id="' + d.id + '">' + t("act.ack") + "</button></div>";
    }).join("") : '<p class="muted">' + t("board.none") + "</p>";
    $("transit").innerHTML = s.in_transit.length ? s.in_transit.map(function (sh) {
      return '<div class="row">' + esc(sh.short_code) + " → " + esc(names[sh.to_id] || sh.to_id) + " · " +
        sh.lines.map(function (l) { return esc(l.item) + "×" + l.quantity; }).join(", ") + "</div>";
    }).join("") : '<p class="muted">' + t("board.none") + "</p>";
  }

  // -- the approval queue: sign-ups by SMS waiting for a dispatcher ----------------------------
  function renderSignups() {
    var q = S.snap.signups || { items: [], count: 0 };
    $("signup-count").textContent = q.count ? "(" + q.count + ")" : "";
    $("signups").innerHTML = q.items.length ? q.items.map(function (v) {
      return '<div class="row signup" data-volunteer-id="' + v.id + '"><b>' + esc(v.name) + "</b> · " + esc(v.district || "") +
        " · " + esc(v.phone) + (v.skills.length ? " · " + v.skills.map(esc).join("、") : "") +
        ' <button type="button" class="mini primary" data-action="approve-volunteer" data-id="' + v.id + '">' + t("act.approve") + "</button>" +
        ' <button type="button" class="mini" data-action="decline-volunteer" data-id="' + v.id + '">' + t("act.decline") + "</button></div>";
    }).join("") : '<p class="muted">' + t("board.none") + "</p>";
  }

  function renderSms() {
    $("sms").innerHTML = S.snap.sms.slice(0, 60).map(function (m) {
      return '<li class="' + m.direction + (m.failed ? " failed" : "") + '"><span class="time">' + NL.clock(m.time) + "</span> " +
        (m.direction === "inbound" ? "⬅ " : "➡ ") + esc(m.phone) + ": " + esc(m.body) + "</li>";
    }).join("");
  }

  // -- the feed -----------------------------------------------------------------------------
  function describe(ev) {
    var d = ev.data, kind = ev.type.replace("nuanliu.", "");
    var bits = [];
    if (d.title) bits.push(d.title);
    if (d.headline) bits.push(d.headline);
    if (d.task_id) bits.push("task " + d.task_id);
    if (d.volunteer_id) bits.push("volunteer " + d.volunteer_id);
    if (d.body) bits.push(d.phone + ": " + d.body);
    if (d.sku) bits.push(d.sku + (d.balance !== undefined ? " = " + d.balance : "") + (d.quantity !== undefined ? " ×" + d.quantity : ""));
    if (d.short_code && kind.indexOf("shipment") === 0) bits.push(d.short_code);
    if (d.discrepancies) bits.push(d.discrepancies + " ≠");
    return { label: t("ev." + kind), text: bits.join(" · "), group: GROUPS[kind.split(".")[0]] || "dispatch", kind: kind };
  }

  function renderFeed() {
    $("feed").innerHTML = S.feed.map(function (ev) {
      var x = describe(ev);
      if (S.filter !== "all" && x.group !== S.filter) return "";
      return '<li class="ev ' + x.group + " " + x.kind.replace(".", "-") + '" data-type="' + esc(ev.type) + '"><span class="time">' +
        NL.clock(ev.time) + '</span> <b>' + esc(x.label) + "</b> " + esc(x.text) + "</li>";
    }).join("");
  }

  $("filters").addEventListener("click", function (e) {
    var b = e.target.closest("button[data-filter]");
    if (!b) return;
    S.filter = b.getAttribute("data-filter");
    document.querySelectorAll("#filters button").forEach(function (x) { x.classList.toggle("on", x === b); });
    renderFeed();
  });

  // -- actions, through the JSON API with the CSRF token ------------------------------------
  function toast(text, bad) {
    var el = $("toast");
    el.textContent = text;
    el.className = "toast" + (bad ? " bad" : "");
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { el.hidden = true; }, 4000);
  }

  document.addEventListener("click", async function (e) {
    var b = e.target.closest("button[data-action]");
    if (!b) return;
    var id = b.getAttribute("data-id"), action = b.getAttribute("data-action");
    try {
      if (action === "cancel") {
        if (!confirm(t("act.confirm"))) return;
        await NL.api("POST", "/api/assignments/" + id + "/cancel", { reason: "dispatcher" });
      } else if (action === "assign") {
        var vid = prompt(t("task.assignprompt"));
        if (!vid) return;
        await NL.api("POST", "/api/tasks/" + id + "/assign", { volunteer_id: parseInt(vid, 10) });
      } else if (action === "approve") {
        await NL.api("POST", "/api/plans/" + id + "/approve", {});
      } else if (action === "approve-volunteer") {
        await NL.api("POST", "/api/volunteers/" + id + "/approve", {});
      } else if (action === "decline-volunteer") {
        if (!confirm(t("act.confirm"))) return;
        await NL.api("POST", "/api/volunteers/" + id + "/decline", {});
      } else if (action === "ack") {
        await NL.api("POST", "/api/discrepancies/" + id + "/acknowledge", {});
      }
      toast(t("act.ok"));
      scheduleRefresh();
    } catch (err) {
      toast(err.message, true);
    }
  });

  document.addEventListener("nuanliu:lang", function () { setLive(S.live); renderAll(); });
  setLive(false);
  $("conn-text").textContent = t("conn.connecting");
  connect();
})();
