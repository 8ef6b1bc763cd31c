/* Calls to the JSON API from the pages: same-origin, the session cookie, and the session's CSRF
   token in X-CSRF-Token on every state-changing request. */
(function () {
  "use strict";
  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }
  async function api(method, url, body, headers) {
    var opts = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    Object.keys(headers || {}).forEach(function (k) { opts.headers[k] = headers[k]; });
    if (method !== "GET") {
      opts.headers["X-CSRF-Token"] = csrf();
      if (body !== undefined) {
        opts.headers["Content-Type"] = "application/json";
        opts.body = JSON.stringify(body);
      }
    }
    var res = await fetch(url, opts);
    var data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      var detail = data && data.detail !== undefined ? data.detail : res.statusText;
      if (Array.isArray(detail)) {  // FastAPI's validation errors, in words: which field, what is wrong
        detail = detail.map(words).join("; ");
      } else if (detail && typeof detail === "object" && detail.message !== undefined) {
        detail = columnWords(detail);  // a refused field: {"column", "message", "zh"}
      } else if (I18N.lang !== "en" && data && typeof data.zh === "string" && data.zh) {
        detail = data.zh;  // a refusal with its own Chinese words beside the English
      } else if (typeof detail !== "string") {
        detail = JSON.stringify(detail);
      } else if (data && data.code && I18N.t("code." + data.code) !== "code." + data.code) {
        detail = I18N.t("code." + data.code);  // a domain's refusal with words of its own
      }
      var err = new Error(detail || ("HTTP " + res.status));
      err.status = res.status;
      err.code = data && data.code;
      err.data = data;
      throw err;
    }
    return data;
  }
  // "volunteer_id: Input should be a valid integer" → "志愿者应为整数" (or the English words);
  // a field or kind of error without words of its own keeps pydantic's
  function words(d) {
    var path = (d.loc || []).filter(function (p) { return p !== "body" && p !== "query" && p !== "path"; });
    var field = path.length ? String(path[path.length - 1]) : "";
    var fieldKey = "f." + field, errKey = "err." + d.type;
    var name = field && I18N.t(fieldKey) !== fieldKey ? I18N.t(fieldKey) : field;
    var what = I18N.t(errKey) !== errKey ? I18N.f(errKey, d.ctx || {}) : d.msg;
    var sep = I18N.lang === "en" ? " " : "";
    return name ? name + sep + what : what;
  }

  // {"column": "phone", "message": "...", "zh": "..."} → "手机号：…" / "Phone: …"
  function columnWords(d) {
    var text = I18N.lang === "en" ? d.message : (d.zh || d.message);
    var key = "f." + d.column, name = d.column && I18N.t(key) !== key ? I18N.t(key) : (d.column || "");
    return name ? name + (I18N.lang === "en" ? ": " : "：") + text : text;
  }

  function esc(s) {
    return String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function yuan(fen) { return (fen / 100).toLocaleString(undefined, { maximumFractionDigits: 0 }); }
  // times are shown where the people are (settings.timezone), not in the browser's zone: a
  // dispatcher's laptop set to UTC must not say 16:25 for 00:25 in Guiyang
  function zone() {
    var m = document.querySelector('meta[name="timezone"]');
    return (m && m.getAttribute("content")) || undefined;
  }
  function clock(iso) {
    var d = new Date(iso), lang = I18N.lang === "en" ? "en-GB" : "zh-CN";
    try {
      return d.toLocaleTimeString(lang, { hour12: false, timeZone: zone() });
    } catch (e) {  // an unknown zone name: the browser's own
      return d.toLocaleTimeString(lang, { hour12: false });
    }
  }
  function day(iso) {
    var d = new Date(iso), lang = I18N.lang === "en" ? "en-GB" : "zh-CN";
    try {
      return d.toLocaleDateString(lang, { timeZone: zone() });
    } catch (e) {
      return d.toLocaleDateString(lang);
    }
  }
  // the offset (ms) of `zone` from UTC at the instant `ms`
  function offsetAt(ms, tz) {
    var p = {};
    new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit",
      day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" })
      .formatToParts(new Date(ms)).forEach(function (x) { p[x.type] = x.value; });
    var wall = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour % 24, +p.minute, +p.second);
    return wall - Math.floor(ms / 1000) * 1000;
  }
  function two(n) { return (n < 10 ? "0" : "") + n; }
  // a datetime-local input's "2026-12-05T08:00", read as a time where the people are (not
  // the browser's zone), as ISO 8601 with that zone's offset; null when not a time
  function fromLocal(value) {
    var m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(value || "");
    if (!m) return null;
    var wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]), tz = zone() || "UTC";
    var off = offsetAt(wall - offsetAt(wall, tz), tz), mins = Math.round(off / 60000);
    var sign = mins < 0 ? "-" : "+", a = Math.abs(mins);
    return m[1] + "-" + m[2] + "-" + m[3] + "T" + m[4] + ":" + m[5] + ":00" + sign + two(Math.floor(a / 60)) + ":" + two(a % 60);
  }
  // an instant as a datetime-local input's value, where the people are
  function localInput(ms) {
    var d = new Date(ms + offsetAt(ms, zone() || "UTC"));
    return d.getUTCFullYear() + "-" + two(d.getUTCMonth() + 1) + "-" + two(d.getUTCDate()) + "T" +
      two(d.getUTCHours()) + ":" + two(d.getUTCMinutes());
  }
  // date and time, where the people are: "2026/12/05 08:00"
  function when(iso) {
    if (!iso) return "";
    var d = new Date(typeof iso === "number" ? iso : Date.parse(iso));
    var l = new Date(d.getTime() + offsetAt(d.getTime(), zone() || "UTC"));
    return l.getUTCFullYear() + "-" + two(l.getUTCMonth() + 1) + "-" + two(l.getUTCDate()) + " " +
      two(l.getUTCHours()) + ":" + two(l.getUTCMinutes());
  }
  function duration(s) {
    s = Math.max(0, Math.floor(s));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    return (h ? h + ":" + two(m) : m) + ":" + two(sec);
  }
  window.NL = { api: api, esc: esc, columnWords: columnWords, yuan: yuan, clock: clock, day: day, zone: zone, duration: duration, csrf: csrf,
                fromLocal: fromLocal, localInput: localInput, when: when };
})();
