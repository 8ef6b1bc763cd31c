/* Chinese by default, English with one click (remembered in localStorage). Server-rendered
   text carries data-i18n keys; scripts call I18N.t(key). */
(function () {
  "use strict";
  var EN = {
    "role.admin": "admin", "role.dispatcher": "dispatcher", "role.station_manager": "station manager",
    "nav.users": "Users", "nav.logout": "Log out", "nav.home": "Home", "nav.board": "Board", "nav.phone": "Demo phone",
    "login.title": "Log in", "login.username": "Username", "login.password": "Password", "login.submit": "Log in",
    "password.title": "Choose a new password", "password.onetime": "The one-time password must be replaced at first login.",
    "password.current": "Current password", "password.new": "New password (10+ characters)", "password.repeat": "Repeat it",
    "password.submit": "Save",
    "users.title": "Users", "users.created": "Created. One-time password (shown only now):", "users.role": "Role",
    "users.stations": "Stations", "users.state": "State", "users.disabled": "disabled", "users.locked": "locked",
    "users.mustchange": "must change password", "users.active": "active", "users.unlock": "Unlock", "users.new": "New user",
    "users.create": "Create",
    "conn.live": "Live", "conn.connecting": "Connecting…", "conn.stale": "Stale — reconnecting…",
    "board.incidents": "Open incidents", "board.loading": "Loading…", "board.map": "Guiyang", "board.feed": "Live feed",
    "board.stations": "Station stock", "board.plans": "Supply plans to approve", "board.discrepancies": "Receipt discrepancies",
    "board.transit": "Shipments on the road", "board.signups": "Sign-ups to approve", "board.sms": "SMS traffic", "board.none": "Nothing here.",
    "board.noincidents": "No open incidents.",
    "map.filled": "filled", "map.partial": "partial", "map.empty": "unfilled", "map.station": "station",
    "filter.all": "All", "filter.dispatch": "Dispatch", "filter.sms": "SMS", "filter.logistics": "Supplies",
    "task.needed": "needed", "task.offered": "offered", "task.accepted": "accepted", "task.done": "done",
    "task.waiting": "unfilled, waiting", "task.assign": "Assign…", "task.assignprompt": "Volunteer id to assign:",
    "act.cancel": "Cancel", "act.approve": "Approve", "act.decline": "Decline", "act.ack": "Acknowledge", "act.ok": "Done.", "act.confirm": "Sure?",
    "fund.title": "Fund", "fund.spent": "spent", "fund.of": "of",
    "stock.target": "target", "stock.low": "low",
    "station.incoming": "Deliveries to confirm", "station.handout": "Hand out", "station.stock": "Current stock",
    "station.recent": "Recent", "station.sent": "sent", "station.received": "received", "station.confirm": "Confirm receipt",
    "station.noincoming": "Nothing on the way.", "station.confirmed": "Receipt confirmed.", "station.failed": "Not saved:",
    "station.handedout": "Recorded.", "station.volunteers": "Volunteers on shift today",
    "station.checkin": "Check in", "station.checkout": "Check out", "station.in": "in since", "station.out": "left at",
    "station.notin": "not checked in", "station.expect": "Next expected",
    "station.fillall": "enter the count received on every line (0 if nothing came).",
    "phone.hint": "Console SMS gateway: one phone per volunteer who got a message. Replies go to the inbound SMS API.",
    "phone.reply": "Reply", "phone.send": "Send", "phone.none": "No messages yet.",
    "ev.alert.raised": "Alert raised", "ev.incident.opened": "Incident opened", "ev.incident.closed": "Incident closed",
    "ev.task.planned": "Task planned", "ev.assignment.offered": "Offer sent", "ev.assignment.accepted": "Accepted",
    "ev.assignment.declined": "Declined", "ev.assignment.expired": "Offer expired", "ev.assignment.completed": "Completed",
    "ev.assignment.cancelled": "Cancelled", "ev.sms.sent": "SMS sent", "ev.sms.received": "SMS received",
    "ev.sms.failed": "SMS failed", "ev.shipment.dispatched": "Shipment dispatched", "ev.shipment.received": "Shipment received",
    "ev.stock.changed": "Stock changed", "ev.stock.low": "Stock low", "ev.plan.proposed": "Plan proposed",
    "ev.plan.approved": "Plan approved", "ev.discrepancy.recorded": "Discrepancy", "ev.distribution.recorded": "Handed out"
  };
  var ZH = {
    "role.admin": "管理员", "role.dispatcher": "调度员", "role.station_manager": "站长",
    "conn.live": "实时", "conn.connecting": "连接中…", "conn.stale": "数据可能过时 · 正在重连…",
    "board.none": "暂无。", "board.noincidents": "没有进行中的事件。",
    "task.needed": "需要", "task.offered": "已邀请", "task.accepted": "已接受", "task.done": "已完成",
    "task.waiting": "缺人，已等待", "task.assign": "指派…", "task.assignprompt": "要指派的志愿者编号：",
    "act.cancel": "取消", "act.approve": "批准", "act.decline": "不通过", "act.ack": "确认知悉", "act.ok": "已完成。", "act.confirm": "确定吗？",
    "fund.title": "专项资金", "fund.spent": "已用", "fund.of": "预算",
    "stock.target": "目标", "stock.low": "偏低",
    "station.sent": "发出", "station.received": "实收", "station.confirm": "确认收货",
    "station.noincoming": "暂无在途物资。", "station.confirmed": "收货已确认。", "station.failed": "未保存：",
    "station.handedout": "已记录。", "station.volunteers": "今日志愿者签到",
    "station.checkin": "签到", "station.checkout": "签退", "station.in": "已签到", "station.out": "已签退",
    "station.notin": "未签到", "station.expect": "预计到达",
    "station.fillall": "请填写每一行的实收数量（没收到填 0）。",
    "phone.reply": "回复", "phone.send": "发送", "phone.none": "还没有短信。",
    "ev.alert.raised": "预警发布", "ev.incident.opened": "事件开启", "ev.incident.closed": "事件结束",
    "ev.task.planned": "任务生成", "ev.assignment.offered": "发出邀请", "ev.assignment.accepted": "接受",
    "ev.assignment.declined": "谢绝", "ev.assignment.expired": "邀请过期", "ev.assignment.completed": "完成",
    "ev.assignment.cancelled": "取消", "ev.sms.sent": "短信发出", "ev.sms.received": "收到短信",
    "ev.sms.failed": "短信失败", "ev.shipment.dispatched": "物资发运", "ev.shipment.received": "物资签收",
    "ev.stock.changed": "库存变动", "ev.stock.low": "库存偏低", "ev.plan.proposed": "补给计划", "ev.plan.approved": "计划批准",
    "ev.discrepancy.recorded": "收货差异", "ev.distribution.recorded": "物资发放"
  };
  var I18N = {
    lang: (function () { try { return localStorage.getItem("nuanliu.lang") || "zh"; } catch (e) { return "zh"; } })(),
    t: function (key) {
      var table = I18N.lang === "en" ? EN : ZH;
      if (table[key] !== undefined) return table[key];
      return ZH[key] !== undefined ? ZH[key] : key;
    },
    apply: function () {
      var root = document.documentElement;
      root.lang = I18N.lang === "en" ? "en" : "zh-CN";
      root.classList.toggle("lang-en", I18N.lang === "en");
      document.querySelectorAll("[data-i18n]").forEach(function (el) {
        if (!el.hasAttribute("data-zh")) el.setAttribute("data-zh", el.textContent);
        var key = el.getAttribute("data-i18n");
        var table = I18N.lang === "en" ? EN : ZH;
        el.textContent = table[key] !== undefined ? table[key] : el.getAttribute("data-zh");
      });
      var button = document.getElementById("lang-toggle");
      if (button) button.textContent = I18N.lang === "en" ? "中文" : "EN";
    },
    toggle: function () {
      I18N.lang = I18N.lang === "en" ? "zh" : "en";
      try { localStorage.setItem("nuanliu.lang", I18N.lang); } catch (e) { /* private mode */ }
      I18N.apply();
      document.dispatchEvent(new CustomEvent("nuanliu:lang"));
    }
  };
  window.I18N = I18N;
})();
