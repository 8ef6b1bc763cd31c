/* The board's map of Guiyang: the ten districts from their real outlines (fetched once from
   /board/geo/guiyang.json, see coordinator/geo/outlines.py), districts under an alert coloured
   by its warning level, stations, the warehouse and tasks at their coordinates. Drawn by Apache
   ECharts (vendored: static/vendor/README.md), which gives zoom and pan, tooltips and a legend.

   The SVG renderer, not canvas: the map prints as vectors at the printer's resolution (a canvas
   prints as the screen's bitmap, blurred or cut), its text stays text, and a handful of regions
   and a few dozen markers cost little in DOM.

   board.js calls NLMap.update(snap) from its animation frame whenever a snapshot arrived; this
   module compares each series' data with what it last gave ECharts and passes on only the
   series that changed (setOption merges them by id), so a storm's snapshots that change only
   counts redraw only the task markers, and nothing when the map's data are the same. */
(function () {
  "use strict";
  var LEVELS = ["blue", "yellow", "orange", "red"];
  // the same colours as the incidents' badges (board.css)
  var LEVEL_COLORS = { blue: "#4aa3ff", yellow: "#f0d000", orange: "#ff8a3d", red: "#e5484d" };
  var PALETTES = {
    screen: { area: "#1f3346", border: "#4a6a88", hover: "#2c4a66", label: "#e8eef4", halo: "#0b1118",
              text: "#8fa1b3", station: "#4aa3ff", warehouse: "#ff8a3d", edge: "#ffffff",
              filled: "#2fbf71", partial: "#f0b429", empty: "#e5484d" },
    // white paper: pale districts, dark words, markers with dark edges
    print: { area: "#f4f4f4", border: "#777777", hover: "#e0e0e0", label: "#000000", halo: "#ffffff",
             text: "#333333", station: "#1f6fd1", warehouse: "#c25a12", edge: "#000000",
             filled: "#1b8a50", partial: "#c58a00", empty: "#c9252b" }
  };
  var MAP = "guiyang";
  var K = Math.cos(26.6 * Math.PI / 180);  // a degree of longitude is shorter here than of latitude
  var M = { chart: null, el: null, geo: null, loading: false, snap: null, sent: {}, frame: null,
            center: null, printing: false, rem: 16, tips: {}, placedKey: null, offsets: [] };
  var t = function (k) { return I18N.t(k); };
  var esc = NL.esc;

  function en() { return I18N.lang === "en"; }
  function districtLabel(d) { return en() ? d.name_en.replace(/ (District|County|City)$/, "") : d.name_zh; }
  function nameOf(x) { return en() && x.name_en ? x.name_en : x.name_zh; }
  function taskTitle(task) {
    var title = en() && task.title_en ? task.title_en : task.title;
    var place = en() && task.place_en ? task.place_en : task.place;
    return place ? title + " · " + place : title;
  }
  function palette() { return PALETTES[M.printing ? "print" : "screen"]; }
  // the page's type grows on a wall screen (board.css): the map's words grow with it
  // (read on load and resize only: getComputedStyle in a storm's frame forces a style recalc)
  function px(rem) { return Math.round(rem * M.rem); }
  function readRem() {
    M.rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
    M.family = getComputedStyle(document.body).fontFamily;
  }
  // a phone's column is too narrow for the four warning levels in a row
  function narrow() { return M.chart.getWidth() < 340; }

  // -- the outlines, fetched once -----------------------------------------------------------
  function load() {
    if (M.loading || M.geo) return;
    M.loading = true;
    NL.api("GET", "/board/geo/guiyang.json").then(function (geo) {
      echarts.registerMap(MAP, geo);
      M.geo = geo;
      M.center = centreOf(geo);
      if (M.snap) update(M.snap);
    }, function () {
      M.el.setAttribute("data-state", "failed");
      setTimeout(load, 5000);
    }).then(function () { M.loading = false; });
  }

  // the middle of the outlines' bounding box: where the whole-city view is centred
  function centreOf(geo) {
    var x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    (function walk(c) {
      if (typeof c[0] === "number") {
        x0 = Math.min(x0, c[0]); x1 = Math.max(x1, c[0]); y0 = Math.min(y0, c[1]); y1 = Math.max(y1, c[1]);
      } else c.forEach(walk);
    })(geo.features.map(function (f) { return f.geometry.coordinates; }));
    return [(x0 + x1) / 2, (y0 + y1) / 2];
  }

  // -- what the snapshot puts on the map ------------------------------------------------------
  function levels(snap) {
    var byCode = {}, names = {};
    snap.map.districts.forEach(function (d) { names[d.name_zh] = d.code; });
    snap.incidents.forEach(function (inc) {
      var rank = LEVELS.indexOf(inc.level);
      (inc.districts || []).forEach(function (c) {
        var code = names[c] || c, had = byCode[code];
        if (!had || rank > had.rank) byCode[code] = { rank: rank, level: inc.level, titles: (had ? had.titles : []) };
        byCode[code].titles.push(inc.title);
      });
    });
    return byCode;
  }

  function taskPoint(task, byCode) {
    if (typeof task.lon === "number" && typeof task.lat === "number") return [task.lon, task.lat];
    var d = byCode[task.district_code];
    if (!d) return null;
    // no location known: somewhere in its district, the same place for a task every time
    var angle = task.id * 2.399963, km = (0.25 + 0.5 * ((task.id * 7919) % 100) / 100) * d.radius_km;
    return [d.lon + km * Math.cos(angle) / (111 * K), d.lat + km * Math.sin(angle) / 111];
  }

  // The series' data hold names and places only; the tooltips' words (a task's counts change
  // with every reply) are looked up when shown, so that a storm's replies change a task's
  // series only when the task becomes partly filled or filled.
  function seriesData(snap) {
    var districts = {}, labels = [], tips = M.tips = {};
    snap.map.districts.forEach(function (d) { districts[d.code] = d; });
    var alerted = levels(snap);
    var cps = {};
    M.geo.features.forEach(function (f) { cps[f.properties.code] = f.properties.cp; });
    var regions = M.geo.features.map(function (f) {
      var code = f.properties.code, d = districts[code], a = alerted[code];
      var name = d ? nameOf(d) : f.properties.name;
      tips["districts|" + code] = "<b>" + esc(name) + "</b>" +
        (a ? "<br>" + esc(t("level." + a.level)) + " · " + a.titles.map(esc).join("<br>") : "");
      return { name: code, value: a ? a.rank + 1 : null };
    });
    Object.keys(cps).sort().forEach(function (code) {
      var d = districts[code];
      labels.push({ name: code, value: cps[code], text: d ? districtLabel(d) : code });
    });
    var places = { station: [], warehouse: [] };
    snap.map.places.forEach(function (p) {
      var kind = p.kind === "warehouse" ? "warehouse" : "station";
      var series = kind === "warehouse" ? "warehouse" : "stations";
      tips[series + "|" + p.id] = "<b>" + esc(nameOf(p)) + "</b><br>" + esc(t("map." + series));
      places[kind].push({ name: String(p.id), value: [p.lon, p.lat] });
    });
    var tasks = { filled: [], partial: [], empty: [] };
    snap.incidents.forEach(function (inc) {
      inc.tasks.forEach(function (task) {
        var at = taskPoint(task, districts);
        if (!at) return;
        var c = task.counts, state = c.unfilled === 0 ? "filled" : (c.accepted + c.done > 0 ? "partial" : "empty");
        tips["tasks-" + state + "|" + task.id] = "<b>" + esc(taskTitle(task)) + "</b><br>" + t("task.needed") + " " +
          c.needed + " · " + t("task.accepted") + " " + c.accepted + " · " + t("task.done") + " " + c.done;
        tasks[state].push({ name: String(task.id), value: at });
      });
    });
    return { districts: regions, labels: labels, stations: places.station, warehouse: places.warehouse,
             "tasks-filled": tasks.filled, "tasks-partial": tasks.partial, "tasks-empty": tasks.empty };
  }

  // -- the chart's option -------------------------------------------------------------------
  function tip(p) { return M.tips[(p.componentType === "geo" ? "districts" : p.seriesId) + "|" + p.name] || ""; }

  function symbolSeries(id, name, symbol, size, color, z) {
    var P = palette();
    return { id: id, name: name, type: "scatter", coordinateSystem: "geo", geoIndex: 0, symbol: symbol,
             symbolSize: size, z: z, itemStyle: { color: color, borderColor: P.edge, borderWidth: 1.5, opacity: 1 },
             emphasis: { scale: 1.4 }, tooltip: { formatter: tip } };
  }

  function frameOption() {
    var P = palette();
    // the tasks nobody has taken yet are larger, and ripple under the pointer only: a ripple
    // always on redraws the SVG every frame, 60-100 ms long tasks every second or so on the
    // board at rest with a storm's tasks open (measured in Chromium), which the storm cannot spare
    var tasksEmpty = symbolSeries("tasks-empty", t("map.task.empty"), "circle", 13, P.empty, 6);
    tasksEmpty.type = "effectScatter";
    tasksEmpty.showEffectOn = "emphasis";
    tasksEmpty.rippleEffect = { period: 3, scale: 2.4, brushType: "stroke" };
    return {
      // data changes are redrawn at once: a storm's snapshots would otherwise keep an
      // animation running on the main thread the whole time
      animation: false,
      backgroundColor: "transparent",
      textStyle: { fontFamily: M.family },
      tooltip: { trigger: "item", confine: true },
      legend: { top: 4, left: 4, right: 4, itemGap: 8, itemWidth: px(0.75), itemHeight: px(0.75),
                textStyle: { color: P.text, fontSize: px(0.75) },
                data: [t("map.stations"), t("map.warehouse"), t("map.task.filled"), t("map.task.partial"), t("map.task.empty")] },
      visualMap: { type: "piecewise", seriesIndex: 0, orient: narrow() ? "vertical" : "horizontal", left: 4, bottom: 4,
                   itemWidth: px(0.85), itemHeight: px(0.6), itemGap: 6, textStyle: { color: P.text, fontSize: px(0.75) },
                   showLabel: true,
                   pieces: LEVELS.map(function (level, i) { return { value: i + 1, label: t("level." + level), color: LEVEL_COLORS[level] }; }),
                   outOfRange: { color: P.area } },
      geo: { map: MAP, nameProperty: "code", roam: true, scaleLimit: { min: 1, max: 16 }, aspectScale: K,
             center: M.center, zoom: 1,
             // a box by its centre and size keeps the aspect (with top, bottom, left and right
             // all given ECharts stretches the map to the box); the size is of the longer side
             layoutCenter: ["50%", "52%"], layoutSize: "84%",
             label: { show: false }, itemStyle: { areaColor: P.area, borderColor: P.border, borderWidth: 1 },
             emphasis: { label: { show: false }, itemStyle: { areaColor: P.hover } },
             select: { disabled: true }, tooltip: { show: true, formatter: tip } },
      series: [
        { id: "districts", type: "map", geoIndex: 0, name: "districts", tooltip: { formatter: tip } },
        // the districts' names in a series of their own: painted over every marker (z), moved
        // off markers and one another (place()), with a halo for what is left beneath
        { id: "labels", type: "scatter", coordinateSystem: "geo", geoIndex: 0, symbolSize: 0, silent: true, z: 10,
          label: { show: true, position: "inside", formatter: function (p) { return p.data.text; },
                   color: P.label, fontSize: px(0.8), fontWeight: 600, textBorderColor: P.halo, textBorderWidth: 3, opacity: 1 },
          tooltip: { show: false } },
        symbolSeries("stations", t("map.stations"), "rect", 10, P.station, 4),
        symbolSeries("warehouse", t("map.warehouse"), "diamond", 16, P.warehouse, 4),
        symbolSeries("tasks-filled", t("map.task.filled"), "circle", 11, P.filled, 5),
        symbolSeries("tasks-partial", t("map.task.partial"), "circle", 11, P.partial, 5),
        tasksEmpty
      ]
    };
  }

  // -- district names off the markers and off one another ----------------------------------
  // ECharts' own labelLayout cannot do it: hideOverlap hides names, and moveOverlap "shiftY"
  // stacks every label of the series in one column, whatever their x (it is made for a pie's).
  // So: for each name in turn, the first of a few places around its point that covers no name
  // placed before and no marker, else the one that covers least; in pixels of the current view
  // (names spread apart as one zooms in, so what is clear stays clear).
  var STEPS = [[0, 0], [0, -1], [0, 1], [1, 0], [-1, 0], [1, -1], [-1, -1], [1, 1], [-1, 1], [0, -2], [0, 2],
               [1, -2], [-1, -2], [1, 2], [-1, 2], [2, 0], [-2, 0], [0, -3], [0, 3]];
  var ruler = document.createElement("canvas").getContext("2d");

  function place(data) {
    // again only when a name, a marker's place, the view's size or the type size changed
    var key = JSON.stringify([data.labels, ["stations", "warehouse", "tasks-filled", "tasks-partial", "tasks-empty"]
      .map(function (id) { return data[id].map(function (d) { return d.value; }); }), M.chart.getWidth(), M.chart.getHeight(), M.rem]);
    if (key !== M.placedKey) { M.placedKey = key; M.offsets = offsets(data); }
    data.labels.forEach(function (item, i) { if (M.offsets[i]) item.label = { offset: M.offsets[i] }; });
  }

  function offsets(data) {
    var out = [];
    var pixel = function (lonlat) { return M.chart.convertToPixel({ geoIndex: 0 }, lonlat); };
    var marks = [];
    [["stations", 6], ["warehouse", 9], ["tasks-filled", 7], ["tasks-partial", 7], ["tasks-empty", 7]].forEach(function (s) {
      data[s[0]].forEach(function (d) { var at = pixel(d.value); if (at) marks.push([at[0], at[1], s[1]]); });
    });
    var size = px(0.8), h = Math.round(size * 1.3) + 2, boxes = [];
    ruler.font = "600 " + size + "px " + M.family;
    data.labels.forEach(function (item, index) {
      var at = pixel(item.value), w = ruler.measureText(item.text).width + 6, best = null;
      if (!at) return;
      for (var i = 0; i < STEPS.length && !(best && best.cost === 0); i++) {
        var dx = STEPS[i][0] * (w / 2 + 9), dy = STEPS[i][1] * h;
        var b = [at[0] + dx - w / 2, at[1] + dy - h / 2, at[0] + dx + w / 2, at[1] + dy + h / 2];
        var cost = 0;
        boxes.forEach(function (o) { if (b[0] < o[2] && o[0] < b[2] && b[1] < o[3] && o[1] < b[3]) cost += 3; });
        marks.forEach(function (m) { if (b[0] < m[0] + m[2] && m[0] - m[2] < b[2] && b[1] < m[1] + m[2] && m[1] - m[2] < b[3]) cost += 1; });
        if (!best || cost < best.cost) best = { cost: cost, box: b, offset: [Math.round(dx), Math.round(dy)] };
      }
      boxes.push(best.box);
      out[index] = best.offset;
    });
    return out;
  }

  // The whole option when the language or the palette changed (the legend's words with the
  // series' names), else only the series whose data changed; nothing when none did.
  function update(snap) {
    M.snap = snap;
    if (!M.chart || !M.geo || !sized()) return;
    var data = seriesData(snap);
    var frame = [I18N.lang, M.printing ? "print" : "screen", narrow(), px(1)].join(":");
    var option, changed = [];
    if (M.frame !== frame) {
      option = frameOption();
      option.series.forEach(function (s) { s.data = data[s.id]; });
      if (M.frame) {  // a new language or size keeps the reader's zoom and pan
        delete option.geo.center;
        delete option.geo.zoom;
      }
      // merged into the option by id (every series and component is given in full), and an
      // open tooltip closed first: its words are of the old language
      M.chart.dispatchAction({ type: "hideTip" });
      M.chart.setOption(option);
      M.placedKey = null;
      place(data);  // now that the view is laid out for this size
      M.chart.setOption({ series: [{ id: "labels", data: data.labels }] });
      M.frame = frame;
      M.sent = {};
      Object.keys(data).forEach(function (id) { M.sent[id] = JSON.stringify(data[id]); });
    } else {
      place(data);
      Object.keys(data).forEach(function (id) {
        var json = JSON.stringify(data[id]);
        if (M.sent[id] !== json) { M.sent[id] = json; changed.push({ id: id, data: data[id] }); }
      });
      if (changed.length) M.chart.setOption({ series: changed });
    }
    M.el.setAttribute("data-state", "drawn");
    M.updates = (M.updates || 0) + 1;
  }

  // -- the whole city again, after any zoom or pan ------------------------------------------
  function reset() {
    if (!M.chart || !M.center) return;
    M.chart.setOption({ geo: { center: M.center, zoom: 1 } });
    M.frame = null;  // the names placed again for the whole city
    M.placedKey = null;
    if (M.snap) update(M.snap);
  }

  // ECharts cannot lay a map out in a box of no size (its view's transform has no inverse and
  // it throws): a panel being laid out for print or hidden has none for a moment
  function sized() { return M.el.clientWidth > 0 && M.el.clientHeight > 0; }

  function resize() {
    if (!M.chart) return;
    if (M.resizing) return;
    M.resizing = requestAnimationFrame(function () {
      M.resizing = 0;
      if (!sized()) return;
      readRem();
      M.chart.resize();
      if (M.snap) update(M.snap);  // a phone's width or a wall's type size changes the frame
    });
  }

  // paper: the print palette and the page's width, drawn before the browser lays out the print
  // (no early return when already on: beforeprint comes before the print layout, the media
  // query's change after it, and only then is the box its paper size)
  function setPrinting(on) {
    if (!M.chart) return;
    M.printing = on;
    if (!sized()) return;
    M.chart.resize();
    if (M.snap) update(M.snap);
  }

  function init() {
    M.el = document.getElementById("map");
    if (!M.el || !window.echarts) return;
    readRem();
    M.chart = echarts.init(M.el, null, { renderer: "svg" });
    var button = document.getElementById("map-reset");
    if (button) button.addEventListener("click", reset);
    window.addEventListener("resize", resize);
    window.addEventListener("beforeprint", function () { setPrinting(true); });
    window.addEventListener("afterprint", function () { setPrinting(false); });
    if (window.matchMedia) {
      var media = window.matchMedia("print");
      if (media.addEventListener) media.addEventListener("change", function (e) { setPrinting(e.matches); });
    }
    load();
  }

  window.NLMap = { update: update, reset: reset, stats: function () { return { updates: M.updates || 0 }; } };
  init();
})();
