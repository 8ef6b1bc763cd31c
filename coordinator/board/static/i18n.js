/* Chinese by default, English with one click (remembered in localStorage). Server-rendered
   text carries data-i18n keys; scripts call I18N.t(key). */
(function () {
  "use strict";
  var EN = {
    "role.admin": "admin", "role.dispatcher": "dispatcher", "role.station_manager": "station manager",
    "nav.users": "Users", "nav.logout": "Log out", "nav.home": "Home", "nav.board": "Board", "nav.phone": "Demo phone",
    "nav.season": "Travel rush report", "incident.report": "report", "nav.volunteers": "Volunteers",
    "nav.exports": "Download:", "nav.export.stock": "stock", "nav.export.movements": "movements",
    "nav.export.discrepancies": "discrepancies", "nav.export.volunteers": "volunteers",
    "login.title": "Log in", "login.username": "Username", "login.password": "Password", "login.submit": "Log in",
    "password.title": "Choose a new password", "password.onetime": "The one-time password must be replaced at first login.",
    "password.current": "Current password", "password.new": "New password (10+ characters; no common password, name or year)", "password.repeat": "Repeat it",
    "password.submit": "Save",
    "users.title": "Users", "users.created": "Created. One-time password (shown only now):", "users.role": "Role",
    "users.stations": "Stations", "users.state": "State", "users.disabled": "disabled", "users.locked": "locked",
    "users.mustchange": "must change password", "users.active": "active", "users.unlock": "Unlock", "users.new": "New user",
    "users.create": "Create", "users.actions": "Actions", "users.enable": "Enable", "users.disable": "Disable",
    "users.reset": "Reset password", "users.resetdone": "Password reset. New one-time password (shown only now, to be changed at login):",
    "users.displayname": "Name (optional)", "users.chooserole": "Choose a role", "users.station": "Station (required for a station manager)",
    "users.nostation": "—",
    "conn.live": "Live", "conn.behind": "Live · {s} s behind", "conn.connecting": "Connecting…", "conn.stale": "Stale — reconnecting…",
    "board.incidents": "Open incidents", "board.loading": "Loading…", "board.map": "Guiyang", "board.feed": "Live feed",
    "board.stations": "Station stock", "board.plans": "Supply plans to approve", "board.discrepancies": "Receipt discrepancies",
    "board.transit": "Shipments on the road", "board.signups": "Sign-ups to approve", "board.sms": "SMS traffic", "board.none": "Nothing here.",
    "board.noincidents": "No open incidents.",
    "nav.history": "Past incidents", "alert.raise": "Raise an alert", "alert.kind": "Kind", "alert.level": "Level",
    "alert.choose": "Choose…", "alert.districts": "Districts", "alert.headline": "Headline", "alert.starts": "Starts",
    "alert.ends": "Ends (optional)", "alert.zone": "Times are entered and shown in {zone}.", "alert.preview": "Preview",
    "alert.confirm": "Confirm and raise", "alert.back": "Back", "alert.previewing": "Planning…",
    "alert.summary": "The playbook will create {tasks} tasks with {slots} slots in all.",
    "alert.expired": "This alert's end has passed: it would be recorded, but nobody would be sent out.",
    "alert.stale": "The form changed: preview it again before raising.", "alert.raised": "Alert raised: incident #{id}.",
    "alert.nodistrict": "Choose at least one district.", "alert.nokind": "Choose a kind.", "alert.nolevel": "Choose a level.",
    "alert.noheadline": "Write a headline.", "alert.endbeforestart": "The end must be after the start.",
    "alert.window": "from {start}", "alert.until": "until {end}",
    "preview.district": "District", "preview.tasks": "Tasks", "preview.slots": "Slots", "preview.task": "Task",
    "preview.place": "Place", "preview.when": "When", "preview.total": "In all",
    "kind.ice_storm": "Road icing", "kind.freezing_rain": "Freezing rain", "kind.snow": "Snow", "kind.cold_wave": "Cold wave",
    "kind.travel_rush": "Travel rush", "kind.other": "Other",
    "close.button": "Close incident", "close.title": "Close this incident?", "close.reason": "Why is it closed? (kept and shown in the history)",
    "close.warn": "Every volunteer still on it is stood down by SMS.", "close.confirm": "Confirm: close it",
    "close.noreason": "Write why the incident is closed.", "close.done": "Incident #{id} closed.",
    "history.title": "Past incidents", "history.incident": "Incident", "history.kind": "Kind", "history.level": "Level",
    "history.districts": "Districts", "history.opened": "Opened", "history.closed": "Closed", "history.slots": "Slots",
    "history.filled": "Filled", "history.volunteers": "Volunteers", "history.hours": "Hours served", "history.reason": "Why closed",
    "history.report": "Report", "history.count": "{n} closed incidents", "history.prev": "Previous", "history.next": "Next",
    "history.none": "No closed incidents yet.", "history.page": "page {p} of {n}",
    "plan.station": "Station", "plan.item": "Item", "plan.allocate": "Send", "plan.purchase": "Buy", "plan.cost": "Cost (¥)",
    "plan.total": "Purchases in all: ¥{n}", "plan.nolines": "This plan moves nothing.",
    "code.invalid_alert_period": "The end must be after the start.", "code.incident_closed": "The incident is already closed.",
    "code.idempotency_key_reused": "This alert was sent before with other contents: preview it again.",
    "err.too_short": "needs at least {min_length}", "err.string_pattern_mismatch": "must not be blank",
    "err.datetime_parsing": "is not a valid time", "err.datetime_from_date_parsing": "is not a valid time",
    "f.starts_at": "Start", "f.ends_at": "End",
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
    "station.sure": "Are you sure? This is far from what was sent or what the station holds:", "station.other": "Another amount",
    "station.handout": "Hand out", "station.wholenumber": "the amount must be a whole number of at least 1",
    "station.correct": "Correct", "station.corrected": "corrected", "station.savecorrection": "Save the correction",
    "station.correctiondone": "Correction saved.",
    "station.undo": "Undo", "station.undone": "undone", "station.undonedone": "Taken back:",
    "station.fillall": "enter the count received on every line (0 if nothing came).",
    "rota.title": "Travel-rush station rota", "rota.phone": "Mobile number", "rota.send": "Text me a code",
    "rota.code": "Code from the SMS", "rota.verify": "Sign in", "rota.logout": "Sign out", "rota.mine": "My shifts",
    "rota.open": "Shifts to pick", "rota.giveback": "Give back", "rota.toolate": "starts within {h} h: call the dispatcher to change it",
    "rota.ref": "ref {code}", "rota.none": "No shifts yet.", "rota.full": "full", "rota.blocked.busy": "you have another shift then",
    "rota.blocked.skill": "needs a skill you are not certified for", "rota.pick": "Take it", "rota.free": "{n} of {of} free",
    "rota.noshifts": "No shifts published yet.", "rota.sent": "If the number is a volunteer's, a code is on its way by SMS.",
    "rota.welcome": "Signed in.", "rota.bye": "Signed out.", "rota.picked": "Yours: confirmation by SMS (ref {code}).",
    "rota.sure": "Give this shift back? It goes to another volunteer.", "rota.givenback": "Given back; it goes to the next volunteer.",
    "rota.err.rota_wrong_code": "Wrong or expired code.", "rota.err.rota_too_many_codes": "Too many codes asked for: try again in an hour.",
    "rota.err.invalid_phone": "Not a mobile number.", "rota.err.give_back_too_late": "Too late to give it back: it starts within 24 h. Call the dispatcher.",
    "rota.err.task_full": "Just taken: this shift is full.", "rota.err.shift_taken": "You have another shift at that time.",
    "rota.err.missing_skill": "This shift needs a skill you are not certified for then.", "rota.err.already_in_task": "You hold this shift already.",
    "rota.err.401": "Please sign in again.",
    "phone.hint": "Console SMS gateway: one phone per volunteer who got a message. Replies go to the inbound SMS API.",
    "phone.reply": "Reply", "phone.send": "Send", "phone.none": "No messages yet.",
    "phone.some": "the {n} phones texted last of {total}; search a name or number for the others", "phone.all": "{n} phones",
    "ev.alert.raised": "Alert raised", "ev.alert.arrived_expired": "Alert already expired on arrival (nobody sent)", "ev.incident.opened": "Incident opened", "ev.incident.closed": "Incident closed",
    "ev.task.planned": "Task planned", "ev.rota.week_opened": "Rota week offered", "ev.assignment.offered": "Offer sent", "ev.assignment.accepted": "Accepted",
    "ev.assignment.declined": "Declined", "ev.assignment.expired": "Offer expired", "ev.assignment.completed": "Completed",
    "ev.assignment.cancelled": "Cancelled", "ev.sms.sent": "SMS sent", "ev.sms.received": "SMS received",
    "ev.sms.failed": "SMS failed", "ev.shipment.dispatched": "Shipment dispatched", "ev.shipment.received": "Shipment received",
    "ev.stock.changed": "Stock changed", "ev.stock.low": "Stock low", "ev.plan.proposed": "Plan proposed",
    "ev.plan.approved": "Plan approved", "ev.discrepancy.recorded": "Discrepancy", "ev.distribution.recorded": "Handed out", "ev.distribution.undone": "Hand-out undone",
    "ev.attendance.checked_in": "Checked in", "ev.attendance.checked_out": "Checked out",
    "s.checked_in": "{who} checked in at {task}", "s.checked_out": "{who} checked out of {task}",
    "level.blue": "Blue warning", "level.yellow": "Yellow warning", "level.orange": "Orange warning", "level.red": "Red warning",
    "disc.short": "short", "disc.over": "over", "disc.damaged": "damaged",
    "s.offered": "Offer sent to {who}: {task}", "s.accepted": "{who} accepted {task}", "s.declined": "{who} declined {task}",
    "s.expired": "{who}'s offer expired: {task}", "s.completed": "{who} completed {task}", "s.cancelled": "{who}'s assignment cancelled: {task}",
    "s.planned": "Task planned: {task}", "s.alert": "Alert: {what}", "s.incident.opened": "Incident opened: {what}",
    "s.incident.closed": "Incident closed: {what}", "s.sms": "{who}: {what}", "s.sms.sent": "SMS to {who}: {what}",
    "s.sms.failed": "SMS to {who} failed: {what}", "s.stock": "{place} · {item}: {n} left", "s.stock.low": "{place} · {item} low: {n} left",
    "s.shipment.dispatched": "Shipment {code} on its way to {place}", "s.shipment.received": "Shipment {code} received at {place}",
    "s.plan.proposed": "Supply plan proposed for {n} stations", "s.plan.approved": "Supply plan approved by {who}",
    "s.discrepancy": "Discrepancy at {place}", "s.handed": "{place} handed out {item} ×{n}", "s.handed.undone": "{place} took back a hand-out of {item} ×{n}",
    "someone": "volunteer #{id}", "sometask": "task #{id}", "plan.lines": "{place} {item} {n} {unit}", "plan.buy": "buy {n}",
    "unit.piece": "pcs", "unit.bottle": "bottles", "unit.box": "boxes", "unit.pack": "packs", "unit.ticket": "tickets",
    "err.int_parsing": "must be a whole number", "err.missing": "is required", "err.string_too_long": "is too long",
    "err.string_too_short": "is too short", "err.greater_than_equal": "must be at least {ge}", "err.greater_than": "must be more than {gt}",
    "err.less_than_equal": "must be at most {le}", "err.literal_error": "is not one of the choices", "err.extra_forbidden": "is not a field here",
    "err.float_parsing": "must be a number", "err.json_invalid": "the request is not valid JSON", "err.value_error": "is not valid",
    "f.volunteer_id": "Volunteer", "f.quantity": "Quantity", "f.reason": "Reason", "f.districts": "Districts", "f.headline": "Headline",
    "trigger.manual": "by hand", "trigger.travel_rush": "travel rush", "trigger.ice_storm": "storm", "trigger.low_stock": "low stock",
    "f.kind": "Kind", "f.level": "Level", "f.phone": "Phone", "f.name": "Name", "f.item": "Item", "f.lines": "Lines"
  };
  var ZH = {
    "role.admin": "管理员", "role.dispatcher": "调度员", "role.station_manager": "站长",
    "conn.live": "实时", "conn.behind": "实时 · 落后 {s} 秒", "conn.connecting": "连接中…", "conn.stale": "数据可能过时 · 正在重连…",
    "board.none": "暂无。", "board.noincidents": "没有进行中的事件。",
    "nav.history": "历史事件", "alert.raise": "发布预警", "alert.kind": "预警类型", "alert.level": "预警级别",
    "alert.choose": "请选择…", "alert.districts": "区县", "alert.headline": "标题", "alert.starts": "开始时间",
    "alert.ends": "结束时间（可不填）", "alert.zone": "时间按 {zone} 时区填写和显示。", "alert.preview": "预览",
    "alert.confirm": "确认发布", "alert.back": "返回", "alert.previewing": "正在计算…",
    "alert.summary": "预案将生成 {tasks} 项任务，共 {slots} 个名额。",
    "alert.expired": "该预警的结束时间已过：只会记录，不会派出任何人。",
    "alert.stale": "表单已修改，请重新预览后再发布。", "alert.raised": "预警已发布：事件 #{id}。",
    "alert.nodistrict": "请至少选择一个区县。", "alert.nokind": "请选择预警类型。", "alert.nolevel": "请选择预警级别。",
    "alert.noheadline": "请填写标题。", "alert.endbeforestart": "结束时间必须晚于开始时间。",
    "alert.window": "自 {start}", "alert.until": "至 {end}",
    "preview.district": "区县", "preview.tasks": "任务数", "preview.slots": "名额", "preview.task": "任务",
    "preview.place": "地点", "preview.when": "时间", "preview.total": "合计",
    "kind.ice_storm": "道路结冰", "kind.freezing_rain": "冻雨", "kind.snow": "暴雪", "kind.cold_wave": "寒潮",
    "kind.travel_rush": "春运", "kind.other": "其他",
    "close.button": "结束事件", "close.title": "确定结束此事件？", "close.reason": "结束原因（会保存并显示在历史记录中）",
    "close.warn": "仍在岗的志愿者都会收到短信，通知撤回。", "close.confirm": "确认结束",
    "close.noreason": "请填写结束原因。", "close.done": "事件 #{id} 已结束。",
    "history.title": "历史事件", "history.incident": "事件", "history.kind": "类型", "history.level": "级别",
    "history.districts": "区县", "history.opened": "开始", "history.closed": "结束", "history.slots": "名额",
    "history.filled": "到位", "history.volunteers": "志愿者", "history.hours": "服务时长（小时）", "history.reason": "结束原因",
    "history.report": "报告", "history.count": "共 {n} 个已结束的事件", "history.prev": "上一页", "history.next": "下一页",
    "history.none": "还没有已结束的事件。", "history.page": "第 {p} / {n} 页",
    "plan.station": "服务站", "plan.item": "物资", "plan.allocate": "调拨", "plan.purchase": "采购", "plan.cost": "费用（元）",
    "plan.total": "采购合计 {n} 元", "plan.nolines": "此计划不调拨任何物资。",
    "code.invalid_alert_period": "结束时间必须晚于开始时间。", "code.incident_closed": "该事件已经结束。",
    "code.idempotency_key_reused": "此预警之前以不同内容发送过，请重新预览。",
    "err.too_short": "至少需要 {min_length} 项", "err.string_pattern_mismatch": "不能为空白",
    "err.datetime_parsing": "不是有效的时间", "err.datetime_from_date_parsing": "不是有效的时间",
    "f.starts_at": "开始时间", "f.ends_at": "结束时间",
    "nav.season": "春运总结报告", "incident.report": "总结报告",
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
    "station.sure": "确定吗？这与发出的数量或站点的目标相差很大：", "station.other": "其他数量",
    "station.handout": "发放", "station.wholenumber": "数量应为不小于 1 的整数",
    "station.correct": "更正", "station.corrected": "已更正", "station.savecorrection": "保存更正",
    "station.correctiondone": "更正已保存。",
    "station.undo": "撤销", "station.undone": "已撤销", "station.undonedone": "已撤销发放：",
    "station.fillall": "请填写每一行的实收数量（没收到填 0）。",
    "phone.reply": "回复", "phone.send": "发送", "phone.none": "还没有短信。",
    "rota.title": "春运服务站排班", "rota.phone": "手机号", "rota.send": "发送验证码", "rota.code": "短信验证码", "rota.verify": "登录",
    "rota.logout": "退出", "rota.mine": "我的班次", "rota.open": "可选班次", "rota.giveback": "退班",
    "rota.toolate": "{h}小时内开始，如需调整请联系调度员", "rota.ref": "编号 {code}", "rota.none": "还没有班次。", "rota.full": "已满",
    "rota.blocked.busy": "该时段您已有班次", "rota.blocked.skill": "需要您届时未持证的技能", "rota.pick": "选这个班", "rota.free": "空 {n} / 共 {of}",
    "rota.noshifts": "暂未发布班次。", "rota.sent": "如该号码已登记为志愿者，验证码已通过短信发出。", "rota.welcome": "已登录。", "rota.bye": "已退出。",
    "rota.picked": "已选上，确认短信随后发出（编号 {code}）。", "rota.sure": "确定退班吗？岗位将转给其他志愿者。", "rota.givenback": "已退班，岗位将转给下一位志愿者。",
    "rota.err.rota_wrong_code": "验证码错误或已过期。", "rota.err.rota_too_many_codes": "验证码请求过多，请一小时后再试。",
    "rota.err.invalid_phone": "不是有效的手机号。", "rota.err.give_back_too_late": "开始前24小时内不能退班，确实来不了请联系调度员。",
    "rota.err.task_full": "刚被选走，这个班已满。", "rota.err.shift_taken": "该时段您已有其他班次。",
    "rota.err.missing_skill": "这个班需要您届时未持证的技能。", "rota.err.already_in_task": "您已在这个班次中。", "rota.err.401": "请重新登录。",
    "phone.some": "显示最近收发短信的 {n} 部手机，共 {total} 部；搜索姓名或号码查看其他", "phone.all": "共 {n} 部手机",
    "ev.alert.raised": "预警发布", "ev.alert.arrived_expired": "预警到达时已过期（未派人）", "ev.incident.opened": "事件开启", "ev.incident.closed": "事件结束",
    "ev.task.planned": "任务生成", "ev.rota.week_opened": "排班周开放", "ev.assignment.offered": "发出邀请", "ev.assignment.accepted": "接受",
    "ev.assignment.declined": "谢绝", "ev.assignment.expired": "邀请过期", "ev.assignment.completed": "完成",
    "ev.assignment.cancelled": "取消", "ev.sms.sent": "短信发出", "ev.sms.received": "收到短信",
    "ev.sms.failed": "短信失败", "ev.shipment.dispatched": "物资发运", "ev.shipment.received": "物资签收",
    "ev.stock.changed": "库存变动", "ev.stock.low": "库存偏低", "ev.plan.proposed": "补给计划", "ev.plan.approved": "计划批准",
    "ev.discrepancy.recorded": "收货差异", "ev.distribution.recorded": "物资发放", "ev.distribution.undone": "撤销发放",
    "ev.attendance.checked_in": "签到", "ev.attendance.checked_out": "签退",
    "s.checked_in": "{who} 签到 {task}", "s.checked_out": "{who} 签退 {task}",
    "level.blue": "蓝色预警", "level.yellow": "黄色预警", "level.orange": "橙色预警", "level.red": "红色预警",
    "disc.short": "短收", "disc.over": "多收", "disc.damaged": "破损",
    "s.offered": "向 {who} 发出邀请：{task}", "s.accepted": "{who} 接受了 {task}", "s.declined": "{who} 谢绝了 {task}",
    "s.expired": "{who} 的邀请已过期：{task}", "s.completed": "{who} 完成了 {task}", "s.cancelled": "{who} 的任务已取消：{task}",
    "s.planned": "生成任务：{task}", "s.alert": "预警：{what}", "s.incident.opened": "事件开启：{what}",
    "s.incident.closed": "事件结束：{what}", "s.sms": "{who}：{what}", "s.sms.sent": "发给 {who}：{what}",
    "s.sms.failed": "发给 {who} 的短信失败：{what}", "s.stock": "{place} {item} 余 {n}", "s.stock.low": "{place} {item} 库存偏低：余 {n}",
    "s.shipment.dispatched": "物资 {code} 发往 {place}", "s.shipment.received": "{place} 签收物资 {code}",
    "s.plan.proposed": "补给计划：{n} 个服务站", "s.plan.approved": "{who} 批准了补给计划",
    "s.discrepancy": "{place} 收货有差异", "s.handed": "{place} 发放 {item} {n}", "s.handed.undone": "{place} 撤销发放 {item} {n}",
    "someone": "志愿者 #{id}", "sometask": "任务 #{id}", "plan.lines": "{place} {item} {n} {unit}", "plan.buy": "采购 {n}",
    "unit.piece": "件", "unit.bottle": "瓶", "unit.box": "盒", "unit.pack": "包", "unit.ticket": "张",
    "err.int_parsing": "应为整数", "err.missing": "不能为空", "err.string_too_long": "太长", "err.string_too_short": "太短",
    "err.greater_than_equal": "不能小于 {ge}", "err.greater_than": "应大于 {gt}", "err.less_than_equal": "不能大于 {le}",
    "err.literal_error": "不在可选范围内", "err.extra_forbidden": "不是这里的字段", "err.float_parsing": "应为数字",
    "err.json_invalid": "请求不是有效的 JSON", "err.value_error": "无效",
    "f.volunteer_id": "志愿者", "f.quantity": "数量", "f.reason": "原因", "f.districts": "区县", "f.headline": "标题",
    "trigger.manual": "手动", "trigger.travel_rush": "春运", "trigger.ice_storm": "灾害", "trigger.low_stock": "库存不足",
    "f.kind": "类型", "f.level": "级别", "f.phone": "手机号", "f.name": "姓名", "f.item": "物资", "f.lines": "明细"
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
      // server-rendered texts with words of their own (an error naming what was refused)
      // carry their English in data-en beside the Chinese content
      document.querySelectorAll("[data-en]:not([data-i18n])").forEach(function (el) {
        if (!el.hasAttribute("data-zh")) el.setAttribute("data-zh", el.textContent);
        el.textContent = I18N.lang === "en" ? el.getAttribute("data-en") : el.getAttribute("data-zh");
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
  // a page's own words, from its own script (loaded before I18N.apply runs): I18N.add(en, zh)
  I18N.add = function (en, zh) { Object.assign(EN, en); Object.assign(ZH, zh); };
  // I18N.f("s.accepted", {who: "张三", task: "路面除冰"}): a sentence with its blanks filled
  I18N.f = function (key, values) {
    return I18N.t(key).replace(/\{(\w+)\}/g, function (m, name) {
      return values && values[name] !== undefined && values[name] !== null ? values[name] : m;
    });
  };
  window.I18N = I18N;
})();
