/* The dispatcher's board. Numbers come from a snapshot (pushed on connect, fetched again
   shortly after events arrive); events feed the live list, trigger that refresh and, for an
   assignment's event newer than the snapshot, move its task's counts at once (`moveCounts`,
   the server's own rule, so the snapshot that follows agrees). When
   the stream is down the board says so and greys the numbers instead of showing them as live.

   In a storm (hundreds of offers and replies a second) the page must not block: events are
   queued and drawn at most once per animation frame, new feed lines are prepended (the list is
   bounded), and a snapshot is applied as differences: each section, incident, task and station
   card is redrawn only when its own markup changed (`patch`). Re-rendering everything per event
   blocked the main thread for 44-47 s at 400 offers and replies. */
(function () {
  "use strict";
  var S = { snap: null, snapAt: 0, seen: new Set(), feed: [], filter: "all", es: null,
            live: false, lastMessage: 0, refreshTimer: null, refreshing: false, again: false,
            newest: null, newestTime: 0, reasks: 0, pending: [], frame: 0, drawn: {} };
  var $ = function (id) { return document.getElementById(id); };
  var t = function (k) { return I18N.t(k); };
  var esc = NL.esc;
  var FEED_MAX = 200;
  var GROUPS = { alert: "dispatch", incident: "dispatch", task: "dispatch", assignment: "dispatch", attendance: "dispatch",
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
    // in the same task: a page that is behind never flickers to 实时 on each event
    if (live) showLag();
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
      S.pending = [];
      // the snapshot's feed is newest first; remembering puts each in front, so go oldest first
      snap.feed.slice().reverse().forEach(function (ev) { remember(ev); });
      S.feedAll = true;
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
      S.pending.push(ev);
      if (moveCounts(ev, e.lastEventId)) S.tasksDirty = true;
      draw();
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
    showLag();
  }, 1000);

  function remember(ev) {
    S.seen.add(ev.id);
    S.feed.unshift(ev);
    if (S.feed.length > FEED_MAX) S.feed.length = FEED_MAX;
  }

  function scheduleRefresh(delay) {
    if (S.refreshTimer) return;
    S.refreshTimer = setTimeout(refresh, delay || 250);
  }

  async function refresh() {
    S.refreshTimer = null;
    if (S.refreshing) { S.again = true; return; }
    S.refreshing = true;
    try {
      var snap = await NL.api("GET", "/board/snapshot");
      applySnapshot(snap);
      // the server shares a snapshot between boards for half a second: one taken before the
      // newest event this board has seen is applied, and asked for again, less often the
      // longer it lasts. By the hub's id (the stream and the snapshot come from one process)
      // until it is current: giving up after a few tries left a board short of a storm's
      // last replies for good. By the clock only a few times: two machines' clocks may
      // disagree for good.
      var byId = before(snap.last_id, S.newest);
      var byClock = !byId && Date.parse(snap.as_of) < S.newestTime;
      S.reasks = byId || byClock ? S.reasks + 1 : 0;
      if (byId || (byClock && S.reasks <= 4)) {
        S.again = true;
        S.againDelay = Math.min(2000, 125 * Math.pow(2, Math.min(S.reasks, 4)));
      }
    } catch (e) {
      setLive(false);
    } finally {
      S.refreshing = false;
      if (S.again) { S.again = false; scheduleRefresh(S.againDelay); S.againDelay = 0; }
    }
  }

  // hub ids are "<process>-<sequence>"; ids from another process cannot be compared
  function before(a, b) {
    if (!a || !b) return false;
    var x = a.split("-"), y = b.split("-");
    return x[0] === y[0] && Number(x[1]) < Number(y[1]);
  }

  // names by id for the feed's sentences: task titles and volunteers from the snapshot's
  // incidents, places from the map (an event about something newer says "task #12")
  function index(snap) {
    var tasks = {}, people = {}, places = {};
    snap.incidents.forEach(function (inc) {
      inc.tasks.forEach(function (task) {
        tasks[task.id] = task;
        task.assignments.forEach(function (a) { if (a.volunteer_name) people[a.volunteer_id] = a.volunteer_name; });
      });
    });
    snap.map.places.forEach(function (p) { places[p.id] = p; });
    S.names = { tasks: tasks, people: people, places: places, items: snap.items || {} };
  }
  // An assignment's event moves its task's numbers at once, as the server's projection does
  // (an assignment's state is its newest event's), so the counts need not wait for the next
  // snapshot, which confirms them. An event the snapshot already holds (its hub id is not
  // after the snapshot's) is left alone; ids from another process cannot be compared, and
  // then the snapshot alone decides. Applying one twice sets the same state: nothing counts
  // twice.
  function moveCounts(ev, hubId) {
    var kind = ev.type.replace("nuanliu.", "");
    if (!S.snap || kind.indexOf("assignment.") !== 0) return false;
    if (!hubId || !before(S.snap.last_id, hubId)) return false;
    var d = ev.data, task = S.names && S.names.tasks[d.task_id];
    if (!task) return false;  // a task planned since: the next snapshot brings it
    var a = task.assignments.filter(function (x) { return x.id === d.assignment_id; })[0];
    if (!a) {
      a = { id: d.assignment_id, volunteer_id: d.volunteer_id, volunteer_name: S.names.people[d.volunteer_id] || "" };
      task.assignments.push(a);
    }
    a.state = kind.slice("assignment.".length);
    task.counts = countsOf(task);
    return true;
  }

  // the same numbers as `board.service.task_counts`
  function countsOf(task) {
    var n = function (state) { return task.assignments.filter(function (a) { return a.state === state; }).length; };
    var accepted = n("accepted"), done = n("completed");
    return { needed: task.slots, offered: n("offered"), accepted: accepted, done: done,
             declined: n("declined"), expired: n("expired"), unfilled: Math.max(0, task.slots - accepted - done) };
  }

  function nameOf(obj, zh, en) { return obj ? (I18N.lang === "en" && obj[en] ? obj[en] : obj[zh]) : ""; }
  function itemName(sku) { return nameOf(S.names && S.names.items[sku], "name_zh", "name_en") || sku; }
  function placeName(id) { return nameOf(S.names && S.names.places[id], "name_zh", "name_en") || ("#" + id); }
  function unitName(sku) {
    var item = S.names && S.names.items[sku], key = item ? "unit." + item.unit : "";
    return item ? (I18N.t(key) !== key ? I18N.t(key) : item.unit) : "";
  }
  function districtName(code) {
    var found = S.snap ? S.snap.map.districts.filter(function (d) { return d.code === code; })[0] : null;
    return found ? (I18N.lang === "en" ? found.name_en : found.name_zh) : (code || "");
  }
  function levelName(level) { return I18N.t("level." + level) !== "level." + level ? I18N.t("level." + level) : level; }
  // the fund's name is stored as "中文名 English name": each language shows its own half
  function fundName(name) {
    var m = /^([^A-Za-z]+?)\s+([A-Za-z].*)$/.exec(name || "");
    return m ? (I18N.lang === "en" ? m[2] : m[1]) : name;
  }

  function applySnapshot(snap) {
    index(snap);
    S.snap = snap;
    S.snapAt = Date.now();
    S.snapDirty = true;
    draw();
  }

  // everything that changed since the last frame, drawn in the next one
  function draw() {
    if (!S.frame) S.frame = requestAnimationFrame(frame);
  }

  function frame() {
    S.frame = 0;
    if (S.tasksDirty && !S.snapDirty && S.snap) { S.tasksDirty = false; renderIncidents(); }
    if (S.snapDirty && S.snap) {
      S.snapDirty = false;
      S.tasksDirty = false;
      $("as-of").textContent = NL.clock(S.snap.as_of);
      renderIncidents(); renderMap(); renderStations(); renderLogistics(); renderSignups(); renderSms();
      tickWaiting();
    }
    if (S.feedAll) { S.feedAll = false; S.pending = []; renderFeed(); }
    else if (S.pending.length) { prependFeed(S.pending); S.pending = []; }
    showLag();
  }

  function renderAll() {
    if (!S.snap) return;
    S.drawn = {};  // the language changed: every section's markup does
    S.snapDirty = true; S.feedAll = true;
    draw();
  }

  // Replace `el`'s markup only when it changed since it was last drawn.
  function setHtml(el, html) {
    if (S.drawn[el.id] === html) return;
    S.drawn[el.id] = html;
    el.innerHTML = html;
  }

  // Make `container`'s children the `entries` ([key, html], in order), reusing the element of
  // every key whose markup is the same as last time and moving nothing that is already in place.
  function patch(container, entries) {
    var old = container.__keyed || new Map(), next = new Map();
    var ref = container.firstChild;  // what stands where the next entry belongs
    entries.forEach(function (entry) {
      var key = entry[0], html = entry[1], had = old.get(key), el;
      if (had && had.html === html) {
        el = had.el;
      } else {
        if (had && had.el.parentNode === container) {
          if (had.el === ref) ref = ref.nextSibling;
          container.removeChild(had.el);
        }
        var box = document.createElement("div");
        box.innerHTML = html;
        el = box.firstElementChild;
      }
      next.set(key, { html: html, el: el });
      if (el === ref) ref = ref.nextSibling;
      else container.insertBefore(el, ref);
    });
    // what is left after the last entry is no longer in the snapshot
    while (ref) { var gone = ref; ref = ref.nextSibling; container.removeChild(gone); }
    container.__keyed = next;
  }

  // "Live" only while the numbers on screen are those of the newest event received: behind by
  // more than two seconds (a snapshot still coming in a storm), the badge says by how much
  function showLag() {
    if (!S.live || !S.snap) return;
    var behind = (S.newestTime - Date.parse(S.snap.as_of)) / 1000;
    var el = $("conn");
    var lagging = behind > 2;
    el.classList.toggle("behind", lagging);
    el.setAttribute("data-state", lagging ? "behind" : "live");
    $("conn-text").textContent = lagging ? t("conn.behind").replace("{s}", Math.round(behind)) : t("conn.live");
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

  function taskHtml(task) {
    var c = task.counts;
    var unfilled = c.unfilled > 0;
    var people = task.assignments.filter(function (a) { return a.state === "offered" || a.state === "accepted"; });
    return '<div class="task' + (unfilled ? " unfilled" : "") + '" data-task-id="' + task.id + '">' +
      '<div class="task-head"><span class="task-title">' + esc(taskTitle(task)) + "</span>" +
      '<span class="counts">' + t("task.needed") + ' <b class="n-needed">' + c.needed + "</b> · " +
      t("task.offered") + ' <b class="n-offered">' + c.offered + "</b> · " +
      t("task.accepted") + ' <b class="n-accepted">' + c.accepted + "</b> · " +
      t("task.done") + ' <b class="n-done">' + c.done + "</b></span></div>" + bar(c) +
      // the start, not the seconds so far: a task's markup stays the same from one snapshot
      // to the next unless its numbers change (the clock is ticked in place)
      (unfilled ? '<div class="waiting" data-since="' + esc(task.planned_at) + '">' + t("task.waiting") +
        ' <span class="clock"></span></div>' : "") +
      '<div class="people">' + people.map(function (a) {
        return '<span class="person ' + a.state + '">' + esc(a.volunteer_name || ("#" + a.volunteer_id)) +
          ' <button type="button" class="mini" data-action="cancel" data-id="' + a.id + '">' + t("act.cancel") + "</button></span>";
      }).join("") +
      ' <button type="button" class="mini" data-action="assign" data-id="' + task.id + '">' + t("task.assign") + "</button></div></div>";
  }

  function renderIncidents() {
    var list = S.snap.incidents, box = $("incidents");
    if (!list.length) {
      box.__keyed = null;
      setHtml(box, '<p class="muted">' + t("board.noincidents") + "</p>");
      return;
    }
    if (!box.__keyed) { box.innerHTML = ""; S.drawn.incidents = null; }
    patch(box, list.map(function (inc) {
      return ["i" + inc.id, '<article class="incident level-' + esc(inc.level) + '" data-incident-id="' + inc.id + '">' +
        '<h3><span class="badge ' + esc(inc.level) + '">' + esc(levelName(inc.level)) + '</span> <span class="incident-title">' + esc(inc.title) +
        '</span> <a class="report-link" href="/board/incidents/' + inc.id + '/report">' + t("incident.report") + "</a>" +
        ' <button type="button" class="mini close-incident" data-close-incident="' + inc.id + '">' + t("close.button") + "</button></h3>" +
        '<div class="tasks"></div></article>'];
    }));
    list.forEach(function (inc) {
      var tasks = box.__keyed.get("i" + inc.id).el.querySelector(".tasks");
      patch(tasks, inc.tasks.map(function (task) { return ["t" + task.id, taskHtml(task)]; }));
    });
  }

  function tickWaiting() {
    if (!S.snap) return;
    var serverNow = Date.parse(S.snap.as_of) + (Date.now() - S.snapAt);
    document.querySelectorAll(".waiting[data-since]").forEach(function (el) {
      var since = Date.parse(el.getAttribute("data-since"));
      el.querySelector(".clock").textContent = NL.duration(Math.max(0, Math.floor((serverNow - since) / 1000)));
    });
  }

  // -- the map: map.js draws it (ECharts), redrawing only the series whose data changed ----
  function renderMap() {
    if (window.NLMap) NLMap.update(S.snap);
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
    setHtml($("fund"), f ? '<div class="fund-line"><b>' + t("fund.title") + "</b> " + esc(fundName(f.name)) + " · " + t("fund.spent") +
      ' <b class="n-spent">' + NL.yuan(f.spent_fen) + "</b> / " + t("fund.of") + " " + NL.yuan(f.budget_fen) + " ¥</div>" +
      '<div class="gauge"><span style="width:' + Math.min(100, 100 * f.spent_fen / Math.max(1, f.budget_fen)) + '%"></span></div>' : "");
    patch($("stations"), S.snap.stations.map(function (st) {
      var rows = st.items.filter(function (i) { return i.target || i.quantity; }).map(function (i) {
        var top = Math.max(i.target || 0, i.quantity, 1);
        return '<div class="gauge-row' + (i.low ? " low" : "") + '" data-sku="' + esc(i.sku) + '"><span class="gname">' +
          esc(I18N.lang === "en" ? i.name_en : i.name_zh) + '</span><div class="gauge"><span style="width:' + (100 * i.quantity / top) +
          '%"></span>' + (i.target ? '<i class="target" style="left:' + (100 * i.target / top) + '%"></i>' : "") +
          '</div><span class="gval"><b>' + i.quantity + "</b>" + (i.target ? "/" + i.target : "") + "</span></div>";
      }).join("");
      return ["s" + st.id, '<div class="station-card" data-station-id="' + st.id + '"><h3>' + esc(I18N.lang === "en" ? st.name_en : st.name_zh) +
        "</h3>" + (rows || '<p class="muted">' + t("board.none") + "</p>") + sparkline(st.history) + "</div>"];
    }));
  }

  // money to the fen, for what a dispatcher approves
  function fen2(fen) { return (fen / 100).toLocaleString("en-GB", { minimumFractionDigits: 2, maximumFractionDigits: 2 }); }

  function renderLogistics() {
    var s = S.snap;
    // a plan's lines (station × item × amount, what is bought and what it costs) come first;
    // the approve button only after them, so nobody approves a plan they have not seen
    setHtml($("plans"), s.plans.length ? s.plans.map(function (p) {
      var shown = p.lines.filter(function (l) { return l.allocate || l.purchase; });
      var lines = shown.map(function (l) {
        var item = S.names && S.names.items[l.item], cost = item && item.unit_cost_fen ? l.purchase * item.unit_cost_fen : 0;
        return '<tr class="plan-line"><td>' + esc(placeName(l.station_id)) + "</td><td>" + esc(itemName(l.item)) +
          '</td><td class="num">' + l.allocate + " " + esc(unitName(l.item)) + '</td><td class="num">' +
          (l.purchase ? l.purchase + " " + esc(unitName(l.item)) : "") + '</td><td class="num">' + (l.purchase ? fen2(cost) : "") + "</td></tr>";
      }).join("");
      var why = I18N.t("trigger." + p.trigger) !== "trigger." + p.trigger ? I18N.t("trigger." + p.trigger) : p.trigger;
      return '<div class="row plan" data-plan-id="' + p.id + '"><div class="plan-head">#' + p.id + " · " + esc(why) + "</div>" +
        (shown.length ? '<table class="grid plan-lines"><thead><tr><th>' + t("plan.station") + "</th><th>" + t("plan.item") +
          '</th><th class="num">' + t("plan.allocate") + '</th><th class="num">' + t("plan.purchase") + '</th><th class="num">' +
          t("plan.cost") + "</th></tr></thead><tbody>" + lines + "</tbody></table>" : '<p class="muted">' + t("plan.nolines") + "</p>") +
        '<p class="plan-total">' + esc(I18N.f("plan.total", { n: fen2(p.purchase_fen) })) + "</p>" +
        '<button type="button" class="mini primary" data-action="approve" data-id="' + p.id + '">' + t("act.approve") + "</button></div>";
    }).join("") : '<p class="muted">' + t("board.none") + "</p>");
    var names = {};
    s.map.places.forEach(function (p) { names[p.id] = I18N.lang === "en" ? p.name_en : p.name_zh; });
    setHtml($("discrepancies"), s.discrepancies.length ? s.discrepancies.map(function (d) {
      return '<div class="row discrepancy ' + esc(d.kind) + '" data-discrepancy-id="' + d.id + '"><b>' + esc(I18N.t("disc." + d.kind)) + "</b> " +
        esc(names[d.station_id] || d.station_id) + " · " + esc(itemName(d.sku)) + " · " + d.sent + " → " + d.received +
        ' <button type="button" class="mini" data-action="ack" data-id="' + d.id + '">' + t("act.ack") + "</button></div>";
    }).join("") : '<p class="muted">' + t("board.none") + "</p>");
    setHtml($("transit"), s.in_transit.length ? s.in_transit.map(function (sh) {
      return '<div class="row">' + esc(sh.short_code) + " → " + esc(names[sh.to_id] || sh.to_id) + " · " +
        sh.lines.map(function (l) { return esc(itemName(l.item)) + " ×" + l.quantity; }).join("、") + "</div>";
    }).join("") : '<p class="muted">' + t("board.none") + "</p>");
  }

  // -- the approval queue: sign-ups by SMS waiting for a dispatcher (issue 15) ----------------
  function renderSignups() {
    var q = S.snap.signups || { items: [], count: 0 };
    setHtml($("signup-count"), q.count ? "(" + q.count + ")" : "");
    setHtml($("signups"), q.items.length ? q.items.map(function (v) {
      return '<div class="row signup" data-volunteer-id="' + v.id + '"><b>' + esc(v.name) + "</b> · " + esc(v.district || "") +
        " · " + esc(v.phone) + (v.skills.length ? " · " + v.skills.map(esc).join("、") : "") +
        ' <button type="button" class="mini primary" data-action="approve-volunteer" data-id="' + v.id + '">' + t("act.approve") + "</button>" +
        ' <button type="button" class="mini" data-action="decline-volunteer" data-id="' + v.id + '">' + t("act.decline") + "</button></div>";
    }).join("") : '<p class="muted">' + t("board.none") + "</p>");
  }

  function renderSms() {
    setHtml($("sms"), S.snap.sms.slice(0, 60).map(function (m) {
      return '<li class="' + m.direction + (m.failed ? " failed" : "") + '"><span class="time">' + NL.clock(m.time) + "</span> " +
        (m.direction === "inbound" ? "⬅ " : "➡ ") + esc(m.phone) + ": " + esc(m.body) + "</li>";
    }).join(""));
  }

  // -- the feed -----------------------------------------------------------------------------
  // one sentence per event, with names where the snapshot knows them
  function describe(ev) {
    var d = ev.data, kind = ev.type.replace("nuanliu.", ""), n = S.names || { tasks: {}, people: {} };
    var task = d.task_id === undefined ? "" : n.tasks[d.task_id] ? taskTitle(n.tasks[d.task_id]) :
      (d.title || I18N.f("sometask", { id: d.task_id }));
    var who = d.volunteer_id !== undefined ? (n.people[d.volunteer_id] || I18N.f("someone", { id: d.volunteer_id })) : (d.phone || "");
    var v = { who: who, task: task || d.title || "", what: d.headline || d.body || d.reason || d.error || "",
              place: d.place_id !== undefined ? placeName(d.place_id) : (d.to_id !== undefined ? placeName(d.to_id) : (d.station_id !== undefined ? placeName(d.station_id) : "")),
              item: d.sku ? itemName(d.sku) : "", n: d.balance !== undefined ? d.balance : (d.quantity !== undefined ? d.quantity : d.stations),
              code: d.short_code || "" };
    var key = {
      "assignment.offered": "s.offered", "assignment.accepted": "s.accepted", "assignment.declined": "s.declined",
      "assignment.expired": "s.expired", "assignment.completed": "s.completed", "assignment.cancelled": "s.cancelled",
      "task.planned": "s.planned", "alert.raised": "s.alert", "alert.arrived_expired": "s.alert",
      "incident.opened": "s.incident.opened",
      "incident.closed": "s.incident.closed", "sms.received": "s.sms", "sms.sent": "s.sms.sent", "sms.failed": "s.sms.failed",
      "stock.changed": "s.stock", "stock.low": "s.stock.low", "shipment.dispatched": "s.shipment.dispatched",
      "shipment.received": "s.shipment.received", "plan.proposed": "s.plan.proposed", "plan.approved": "s.plan.approved",
      "discrepancy.recorded": "s.discrepancy", "distribution.recorded": "s.handed",
      "distribution.undone": "s.handed.undone",
      "attendance.checked_in": "s.checked_in", "attendance.checked_out": "s.checked_out"
    }[kind];
    if (kind === "plan.approved") v.who = d.by || "";
    if (kind === "incident.opened" || kind === "incident.closed") v.what = d.title || d.headline || d.reason || "";
    var text = key ? I18N.f(key, v) : kind;
    return { label: t("ev." + kind), text: text, group: GROUPS[kind.split(".")[0]] || "dispatch", kind: kind };
  }

  function feedLine(ev) {
    var x = describe(ev);
    if (S.filter !== "all" && x.group !== S.filter) return "";
    return '<li class="ev ' + x.group + " " + x.kind.replace(".", "-") + '" data-type="' + esc(ev.type) + '" data-time="' + esc(ev.time) + '"><span class="time">' +
      NL.clock(ev.time) + '</span> <b>' + esc(x.label) + "</b> " + esc(x.text) + "</li>";
  }

  function renderFeed() {
    $("feed").innerHTML = S.feed.map(feedLine).join("");
  }

  // this frame's new events in front of the list, newest first, and the list kept bounded
  function prependFeed(events) {
    var list = $("feed");
    list.insertAdjacentHTML("afterbegin", events.slice(-FEED_MAX).reverse().map(feedLine).join(""));
    while (list.children.length > FEED_MAX) list.removeChild(list.lastElementChild);
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
        // by name (picker.js): the dispatcher types a name and picks the person, never an id
        var who = await NL.pickVolunteer({ districtName: districtName });
        if (!who) return;
        await NL.api("POST", "/api/tasks/" + id + "/assign", { volunteer_id: who.id });
        toast(I18N.f("pick.assigned", { name: who.name }));
        scheduleRefresh();
        return;
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
