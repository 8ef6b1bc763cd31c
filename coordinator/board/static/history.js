/* Past incidents with their figures (GET /api/reports/incidents?status=closed): what each
   was, when it opened and closed (in the people's zone), its slots, how many were filled, by
   how many volunteers, the hours they served and why it was closed, with a link to its
   report. A page of PAGE at a time, newest first. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var t = function (k) { return I18N.t(k); };
  var esc = NL.esc;
  var PAGE = 20;
  var H = { offset: 0, data: null };

  function named(prefix, value) {
    return I18N.t(prefix + value) !== prefix + value ? I18N.t(prefix + value) : value;
  }
  function hours(h) { return (Math.round(h * 10) / 10).toFixed(1); }

  function row(inc) {
    var en = I18N.lang === "en";
    return '<tr class="past-incident" data-incident-id="' + inc.id + '"><td>#' + inc.id + " " + esc(inc.title) + "</td>" +
      "<td>" + esc(named("kind.", inc.kind)) + '</td><td><span class="badge ' + esc(inc.level) + '">' + esc(named("level.", inc.level)) +
      "</span></td><td>" + inc.districts.map(function (d) { return esc(en ? d.name_en : d.name_zh); }).join("、") + "</td>" +
      '<td class="when">' + esc(NL.when(inc.opened_at)) + '</td><td class="when">' + esc(NL.when(inc.closed_at)) + "</td>" +
      '<td class="num n-slots">' + inc.slots + '</td><td class="num n-filled">' + inc.filled + "</td>" +
      '<td class="num n-volunteers">' + inc.volunteers + '</td><td class="num n-hours">' + hours(inc.hours_served) + "</td>" +
      '<td class="reason">' + esc(inc.close_reason) + '</td><td><a href="/board/incidents/' + inc.id + "/report" +
      (en ? "?lang=en" : "") + '">' + t("history.report") + "</a></td></tr>";
  }

  function render() {
    var d = H.data;
    if (!d) return;
    var pages = Math.max(1, Math.ceil(d.count / PAGE)), page = Math.floor(H.offset / PAGE) + 1;
    $("history-rows").innerHTML = d.data.length ? d.data.map(row).join("") :
      '<tr><td colspan="12" class="muted">' + t("history.none") + "</td></tr>";
    $("history-count").textContent = I18N.f("history.count", { n: d.count });
    $("history-page").textContent = I18N.f("history.page", { p: page, n: pages });
    $("history-prev").disabled = H.offset <= 0;
    $("history-next").disabled = H.offset + PAGE >= d.count;
  }

  async function load() {
    try {
      H.data = await NL.api("GET", "/api/reports/incidents?status=closed&limit=" + PAGE + "&offset=" + H.offset);
      $("history-status").textContent = "";
      render();
    } catch (err) {
      $("history-status").textContent = err.message;
      $("history-status").classList.add("bad");
    }
  }

  $("history-prev").addEventListener("click", function () { H.offset = Math.max(0, H.offset - PAGE); load(); });
  $("history-next").addEventListener("click", function () { H.offset += PAGE; load(); });
  document.addEventListener("nuanliu:lang", render);
  load();
})();
