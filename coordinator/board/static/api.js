/* Calls to the JSON API from the pages: same-origin, the session cookie, and the session's CSRF
   token in X-CSRF-Token on every state-changing request. */
(function () {
  "use strict";
  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }
  async function api(method, url, body) {
    var opts = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
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
      var code = data && data.code ? "code." + data.code : "";
      if (Array.isArray(detail)) {  // FastAPI's validation errors, in words: which field, what is wrong
        detail = detail.map(words).join("; ");
      } else if (detail && typeof detail === "object" && detail.message !== undefined) {
        detail = columnWords(detail);  // a refused field: {"column", "message", "zh"}
      } else if (I18N.lang !== "en" && data && typeof data.zh === "string" && data.zh) {
        detail = data.zh;  // a refusal with its own Chinese words beside the English
      } else if (I18N.lang !== "en" && code && I18N.t(code) !== code) {
        detail = I18N.t(code);  // the API answers in English: a known refusal in Chinese words
      } else if (typeof detail !== "string") {
        detail = JSON.stringify(detail);
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
  function duration(s) {
    s = Math.max(0, Math.floor(s));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    return (h ? h + ":" + two(m) : m) + ":" + two(sec);
  }
  window.NL = { api: api, esc: esc, columnWords: columnWords, yuan: yuan, clock: clock, day: day, zone: zone, duration: duration, csrf: csrf };
})();
