"""The task details an SMS names: what, where, when (in the city's time zone)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from coordinator.common import aware
from coordinator.dispatch.models import Task


def window(start: datetime, end: datetime, lang: str, tz: str) -> str:
    """ "1月5日07:00-11:00" / "5 Jan 07:00-11:00" in local time."""
    zone = ZoneInfo(tz)
    s, e = start.astimezone(zone), end.astimezone(zone)
    until = e.strftime("%H:%M") if e.date() == s.date() else f"{e.month}/{e.day} {e:%H:%M}"
    if lang == "en":
        return f"{s.day} {s:%b} {s:%H:%M}-{until}"
    return f"{s.month}月{s.day}日{s:%H:%M}-{until}"


def task_params(task: Task, lang: str, tz: str) -> dict[str, str]:
    """`task`, `place` and `window` for the SMS templates, in the volunteer's language."""
    en = lang == "en"
    start, end = aware(task.starts_at), aware(task.ends_at)
    assert start is not None and end is not None
    return {
        "task": (task.title_en or task.title) if en else task.title,
        "place": (task.place_en or task.place) if en else task.place,
        "window": window(start, end, "en" if en else "zh", tz),
    }
