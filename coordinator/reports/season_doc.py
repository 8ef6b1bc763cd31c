"""A travel rush's campaign report as a `Document`, in Chinese (the default) or English, with
the same figures of the season before beside this one's.

About 550 lines, most of them the labels in two languages and the tables' declarations; the
figures themselves are computed in `seasons.py`."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from coordinator.reports import charts
from coordinator.reports.document import (
    Cell,
    Chart,
    Document,
    Kind,
    Table,
    count,
    local_time,
    yuan,
)
from coordinator.reports.forecast import Proposal
from coordinator.reports.seasons import GROUPS, SeasonReport

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "title": "{year}年春运“平安返乡”服务总结报告",
        "subtitle": "春运期间 {first} 至 {last}（春节 {lny}） · 生成时间 {generated}",
        "summary": (
            "{year}年春运期间，各服务站共发放{food_names}食品饮料{food}件，{med_names}"
            "常见药品{medicine}盒，为困难农民工购买返乡车票{tickets}张，使用专项资金{spent}元。"
        ),
        "names_tail": "等",
        "previous": (
            "上一年度（{year}年）同期：食品饮料{food}件，常见药品{medicine}盒，"
            "返乡车票{tickets}张，专项资金{spent}元。"
        ),
        "volunteers": "共有{volunteers}名志愿者参与服务，服务时长{hours}小时。",
        "comparison": "与上一年度对比",
        "measure": "指标",
        "food_drink": "食品饮料（件）",
        "medicine": "常见药品（盒）",
        "tickets": "返乡车票（张）",
        "ticket_cost": "购票金额（元）",
        "spent": "使用专项资金（元）",
        "budget": "专项资金预算（元）",
        "discrepancies": "到货差异（笔）",
        "stockout": "缺货时长（小时）",
        "volunteer_count": "志愿者（人）",
        "hours": "服务时长（小时）",
        "change": "增减",
        "stations": "各服务站",
        "station": "服务站",
        "items": "物资",
        "first_stocked": "首次到货",
        "short": "短少（件）",
        "per_day": "每日发放",
        "day": "日期",
        "lny_day": "距春节（天）",
        "station_day": "各站每日发放物资（件，不含车票）",
        "by_item": "各类物资",
        "item": "物资",
        "unit": "单位",
        "quantity": "数量",
        "destinations": "返乡车票去向",
        "destination": "目的地",
        "fund": "专项资金",
        "kind": "用途",
        "amount": "金额（元）",
        "ticket": "购买车票",
        "purchase": "采购物资",
        "adjustment": "调整",
        "left": "余额",
        "discrepancy_table": "到货差异",
        "sent": "发出",
        "received": "实收",
        "when": "时间",
        "short_kind": "短少",
        "over_kind": "多出",
        "damaged_kind": "损坏",
        "stockouts": "缺货时长",
        "chart_days": "每日发放（按类别）",
        "chart_stock": "各服务站库存",
        "x_days": "距春节天数",
        "y_items": "件数",
        "lny": "春节",
        "forecast": "下一季客流建议（按距春节天数对齐）",
        "forecast_chart": "客流：本季实际、本季预测与下季建议",
        "served": "本季服务旅客（估算）",
        "travellers_axis": "旅客（人）",
        "said": "本季预测",
        "proposed": "{year}年建议",
        "this_day": "本季日期",
        "next_day": "下季日期",
        "total": "合计",
    },
    "en": {
        "title": "Travel rush {year}: the homeward-journey stations' campaign report",
        "subtitle": "rush {first} to {last} (Lunar New Year {lny}) · generated {generated}",
        "summary": (
            "In the {year} travel rush the stations handed out {food} items of food and drink"
            "{food_names}, {medicine} boxes of common medicine{med_names}, bought {tickets} "
            "tickets home for migrant workers in need and spent {spent} yuan of the fund."
        ),
        "names_tail": "",
        "previous": (
            "The season before ({year}): {food} items of food and drink, {medicine} boxes of "
            "medicine, {tickets} tickets home, {spent} yuan."
        ),
        "volunteers": "{volunteers} volunteers served {hours} hours.",
        "comparison": "Against the season before",
        "measure": "measure",
        "food_drink": "food and drink (items)",
        "medicine": "medicine (boxes)",
        "tickets": "tickets home",
        "ticket_cost": "tickets' cost (yuan)",
        "spent": "fund spent (yuan)",
        "budget": "fund budget (yuan)",
        "discrepancies": "discrepancies at receipt",
        "stockout": "stock-out hours",
        "volunteer_count": "volunteers",
        "hours": "hours served",
        "change": "change",
        "stations": "Stations",
        "station": "station",
        "items": "goods",
        "first_stocked": "first delivery",
        "short": "units short",
        "per_day": "Hand-outs per day",
        "day": "day",
        "lny_day": "days from LNY",
        "station_day": "Goods handed out per station and day (tickets aside)",
        "by_item": "Items",
        "item": "item",
        "unit": "unit",
        "quantity": "quantity",
        "destinations": "Tickets home by destination",
        "destination": "destination",
        "fund": "The fund",
        "kind": "spent on",
        "amount": "yuan",
        "ticket": "tickets",
        "purchase": "purchases",
        "adjustment": "adjustments",
        "left": "left",
        "discrepancy_table": "Discrepancies at receipt",
        "sent": "sent",
        "received": "received",
        "when": "when",
        "short_kind": "short",
        "over_kind": "over",
        "damaged_kind": "damaged",
        "stockouts": "Stock-out hours",
        "chart_days": "Hand-outs per day, by category",
        "chart_stock": "Stock at each station",
        "x_days": "days from Lunar New Year",
        "y_items": "units",
        "lny": "LNY",
        "forecast": "Next season's travellers, proposed (aligned by days from LNY)",
        "forecast_chart": "Travellers: served and forecast this season, proposed for the next",
        "served": "served this season (estimated)",
        "travellers_axis": "travellers",
        "said": "this season's forecast",
        "proposed": "proposed for {year}",
        "this_day": "this season",
        "next_day": "next season",
        "total": "total",
    },
}


def _names(report: SeasonReport, group: str, zh: bool, n: int) -> list[str]:
    return [
        (i.name_zh if zh else i.name_en) for i in report.items if i.group == group and i.quantity
    ][:n]


def summary(report: SeasonReport, lang: str) -> str:
    """The union's own sentence: 各服务站共发放方便面、饼干、蛋糕等食品饮料8,296件，…"""
    t = TEXT[lang]
    zh = lang == "zh"
    food, med = _names(report, "food_drink", zh, 3), _names(report, "medicine", zh, 2)
    if zh:
        food_names = "、".join(food) + t["names_tail"] if food else ""
        med_names = "、".join(med) + t["names_tail"] if med else ""
    else:
        food_names = f" ({', '.join(food)})" if food else ""
        med_names = f" ({', '.join(med)})" if med else ""
    return t["summary"].format(
        year=report.year,
        food_names=food_names,
        med_names=med_names,
        food=count(report.total("food_drink")),
        medicine=count(report.total("medicine")),
        tickets=count(report.tickets),
        spent=yuan(report.spent_fen, whole=True),
    )


def _measures(report: SeasonReport) -> list[int | float]:
    return [
        report.total("food_drink"),
        report.total("medicine"),
        report.tickets,
        report.ticket_fen,
        report.spent_fen,
        report.budget_fen,
        sum(s.discrepancies for s in report.stations),
        sum(sum(s.stockout_hours.values()) for s in report.stations),
        report.volunteers,
        report.hours_served,
    ]


MEASURES: list[tuple[str, Kind]] = [
    ("food_drink", "int"),
    ("medicine", "int"),
    ("tickets", "int"),
    ("ticket_cost", "yuan"),
    ("spent", "yuan"),
    ("budget", "yuan"),
    ("discrepancies", "int"),
    ("stockout", "number"),
    ("volunteer_count", "int"),
    ("hours", "number"),
]


def document(
    report: SeasonReport,
    previous: SeasonReport,
    proposal: Proposal,
    *,
    lang: str,
    font_path: Path,
) -> Document:
    t = TEXT[lang]
    zh = lang == "zh"
    tz = report.tz
    doc = Document(
        title=t["title"].format(year=report.year),
        subtitle=t["subtitle"].format(
            first=report.first_day,
            last=report.last_day,
            lny=report.lunar_new_year,
            generated=local_time(report.generated_at, tz),
        ),
    )
    doc.paragraphs.append(summary(report, lang))
    doc.paragraphs.append(
        t["previous"].format(
            year=previous.year,
            food=count(previous.total("food_drink")),
            medicine=count(previous.total("medicine")),
            tickets=count(previous.tickets),
            spent=yuan(previous.spent_fen, whole=True),
        )
    )
    doc.paragraphs.append(
        t["volunteers"].format(
            volunteers=count(report.volunteers), hours=f"{report.hours_served:,.1f}"
        )
    )
    now, before = _measures(report), _measures(previous)
    doc.tables.append(
        Table(
            name="comparison",
            title=t["comparison"],
            columns=[
                (t["measure"], "text"),
                (str(report.year), "int"),
                (str(previous.year), "int"),
                (t["change"], "int"),
            ],
            rows=[
                [t[key], a, b, a - b] for (key, _), a, b in zip(MEASURES, now, before, strict=True)
            ],
            row_kinds=[kind for _, kind in MEASURES],
        )
    )
    doc.tables.append(
        Table(
            name="stations",
            title=t["stations"],
            columns=[
                (t["station"], "text"),
                (t["food_drink"], "int"),
                (t["medicine"], "int"),
                (t["tickets"], "int"),
                (t["ticket_cost"], "yuan"),
                (t["discrepancies"], "int"),
                (t["short"], "int"),
                (t["stockout"], "number"),
                (t["first_stocked"], "text"),
            ],
            rows=[
                [
                    s.name_zh if zh else s.name_en,
                    s.handed_out["food_drink"],
                    s.handed_out["medicine"],
                    s.handed_out["tickets"],
                    s.ticket_fen,
                    s.discrepancies,
                    s.short_units,
                    sum(s.stockout_hours.values()),
                    local_time(s.first_stocked_at, tz) or "",
                ]
                for s in report.stations
            ],
            total=[
                t["total"],
                report.total("food_drink"),
                report.total("medicine"),
                report.tickets,
                report.ticket_fen,
                sum(s.discrepancies for s in report.stations),
                sum(s.short_units for s in report.stations),
                sum(sum(s.stockout_hours.values()) for s in report.stations),
                "",
            ],
        )
    )
    active = [d for d in report.days if d in report.per_day]
    doc.tables.append(
        Table(
            name="per_day",
            title=t["per_day"],
            columns=[
                (t["day"], "text"),
                (t["lny_day"], "int"),
                *[(t[g], "int") for g in GROUPS],
            ],
            rows=[
                [
                    d.isoformat(),
                    report.day_number(d),
                    *[report.per_day[d][g] for g in GROUPS],
                ]
                for d in active
            ],
            total=[t["total"], None, *[report.total(g) for g in GROUPS]],
        )
    )
    ids = [s.station_id for s in report.stations]
    doc.tables.append(
        Table(
            name="station_day",
            title=t["station_day"],
            columns=[
                (t["day"], "text"),
                *[(s.code.removeprefix("ST-")[:10], "int") for s in report.stations],
            ],
            rows=[
                [d.isoformat(), *[report.per_station_day.get((i, d), 0) for i in ids]]
                for d in active
            ],
            total=[t["total"], *[s.items for s in report.stations]],
        )
    )
    doc.tables.append(
        Table(
            name="items",
            title=t["by_item"],
            columns=[
                (t["item"], "text"),
                ("SKU", "text"),
                (t["unit"], "text"),
                (t["quantity"], "int"),
            ],
            rows=[
                [i.name_zh if zh else i.name_en, i.sku, i.unit, i.quantity] for i in report.items
            ],
        )
    )
    doc.tables.append(
        Table(
            name="tickets",
            title=t["destinations"],
            columns=[(t["destination"], "text"), (t["tickets"], "int"), (t["amount"], "yuan")],
            rows=[[where, n, fen] for where, (n, fen) in report.destinations.items()],
            total=[t["total"], report.tickets, report.ticket_fen],
        )
    )
    fund_rows: list[list[Cell]] = [
        [t.get(kind, kind), fen] for kind, fen in report.spent_by_kind.items()
    ]
    fund_rows += [
        [t["budget"], report.budget_fen],
        [t["left"], report.budget_fen - report.spent_fen],
    ]
    doc.tables.append(
        Table(
            name="fund",
            title=t["fund"] + (f" · {'、'.join(report.fund_names)}" if report.fund_names else ""),
            columns=[(t["kind"], "text"), (t["amount"], "yuan")],
            rows=fund_rows,
            total=[t["spent"], report.spent_fen],
        )
    )
    doc.tables.append(
        Table(
            name="discrepancies",
            title=t["discrepancy_table"],
            columns=[
                (t["station"], "text"),
                (t["item"], "text"),
                (t["kind"], "text"),
                (t["sent"], "int"),
                (t["received"], "int"),
                (t["quantity"], "int"),
                (t["when"], "text"),
            ],
            rows=[
                [
                    x.station_zh if zh else x.station_en,
                    x.item_zh if zh else x.item_en,
                    t.get(f"{x.kind}_kind", x.kind),
                    x.sent,
                    x.received,
                    x.quantity,
                    local_time(x.at, tz),
                ]
                for x in report.discrepancy_lines
            ],
        )
    )
    doc.tables.append(
        Table(
            name="stockouts",
            title=t["stockouts"],
            columns=[(t["station"], "text"), ("SKU", "text"), (t["stockout"], "number")],
            rows=[
                [s.name_zh if zh else s.name_en, sku, hours]
                for s in report.stations
                for sku, hours in sorted(s.stockout_hours.items())
            ],
        )
    )
    if active:
        # every day of the rush, the quiet ones too: the shape of the season is the point
        days = report.days
        empty = dict.fromkeys(GROUPS, 0)
        doc.charts.append(
            Chart(
                t["chart_days"],
                lambda: charts.bars(
                    font_path=font_path,
                    categories=[str(report.day_number(d)) for d in days],
                    series={
                        t[g]: [report.per_day.get(d, empty)[g] for d in days] for g in GROUPS[:2]
                    },
                    xlabel=t["x_days"],
                    ylabel=t["y_items"],
                    stacked=True,
                ),
            )
        )
    _forecast(doc, proposal, t, font_path)
    lny = report.lunar_new_year
    moving = {
        s.name_zh if zh else s.name_en: report.stock_series[s.station_id]
        for s in report.stations
        if len({n for _, n in report.stock_series[s.station_id]}) > 1
    }
    if moving:
        doc.charts.append(
            Chart(
                t["chart_stock"],
                lambda: charts.steps(
                    font_path=font_path,
                    series={
                        name: (
                            [_days_from(at, lny, tz) for at, _ in points],
                            [float(n) for _, n in points],
                        )
                        for name, points in moving.items()
                    },
                    xlabel=t["x_days"],
                    ylabel=t["y_items"],
                    origin=False,
                ),
            )
        )
    return doc


def _forecast(doc: Document, proposal: Proposal, t: dict[str, str], font_path: Path) -> None:
    """Next season's proposal beside this season's days: the table and its chart."""
    proposed = t["proposed"].format(year=proposal.next_year)
    doc.tables.append(
        Table(
            name="forecast",
            title=t["forecast"],
            columns=[
                (t["lny_day"], "int"),
                (t["this_day"], "text"),
                (t["served"], "number"),
                (t["said"], "int"),
                (t["next_day"], "text"),
                (proposed, "int"),
            ],
            rows=[
                [
                    d.offset,
                    d.this_day.isoformat(),
                    d.served,
                    d.forecast,
                    d.next_day.isoformat(),
                    d.proposed,
                ]
                for d in proposal.days
            ],
            total=[
                None,
                t["total"],
                sum(d.served for d in proposal.days),
                sum(d.forecast or 0 for d in proposal.days),
                "",
                sum(d.proposed for d in proposal.days),
            ],
        )
    )
    if not any(d.served or d.forecast for d in proposal.days):
        return
    series: dict[str, list[float]] = {
        t["served"]: [d.served for d in proposal.days],
        proposed: [float(d.proposed) for d in proposal.days],
    }
    if any(d.forecast is not None for d in proposal.days):
        series[t["said"]] = [float(d.forecast or 0) for d in proposal.days]
    doc.charts.append(
        Chart(
            t["forecast_chart"],
            lambda: charts.lines(
                font_path=font_path,
                x=[float(d.offset) for d in proposal.days],
                series=series,
                xlabel=t["x_days"],
                ylabel=t["travellers_axis"],
                marks={0.0: t["lny"]},
            ),
        )
    )


def _days_from(at: datetime, lny: date, tz: str) -> float:
    """Days (fractional) from the first moment of Lunar New Year, on the union's clock."""
    start = datetime.combine(lny, time(0), tzinfo=ZoneInfo(tz))
    return (at - start).total_seconds() / 86_400.0
