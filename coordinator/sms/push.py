"""What Aliyun and Tencent Cloud push to us, read into delivery reports and received texts.

The shapes are the providers' documented ones, batched:

- Aliyun SmsReport (HTTP 批量推送): a JSON array of `{phone_number, send_time, report_time,
  success, err_code, err_msg, sms_size, biz_id, out_id}`; SmsUp: a JSON array of
  `{phone_number, send_time, content, sign_name, dest_code, sequence_id}`. Both may come to
  the one URL: an item is a report if it has `biz_id`, a text if it has `content`.
  Aliyun wants `{"code": 0, "msg": "接收成功"}` back.
- Tencent 短信回执 (status callback): a JSON array of `{user_receive_time, nationcode, mobile,
  report_status, errmsg, description, sid}`; 回复短信 (reply callback): one JSON object
  `{extend, mobile, nationcode, sign, text, time}` (an array of them is read too). Tencent
  wants `{"result": 0, "errmsg": "OK"}` back.

Providers add fields without notice, so unknown fields are accepted; a body that is none of
these shapes raises `PushRefused` (answered 4xx, logged, never a 5xx). Every item keeps the id
that makes it idempotent: a report names the message it is about (`biz_id`, `sid`), a text
gets a provider id of its own (Aliyun's `sequence_id`; Tencent sends none, so a digest of
number, time and text stands in: a retried push carries the same three).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

#: the most items one push may carry (Aliyun sends batches of up to a few hundred)
MAX_ITEMS = 1000


class PushRefused(ValueError):
    """A push body that is not one of the provider's documented shapes; says why."""


@dataclass(frozen=True)
class Report:
    """A delivery report: which message (any of `provider_sids`), "delivered" or
    "undelivered", and the provider's code and text when it failed."""

    provider_sids: tuple[str, ...]
    status: str
    error: str | None = None
    code: str | None = None


@dataclass(frozen=True)
class Uplink:
    """A text a phone sent us, with the number as the provider wrote it."""

    phone: str
    body: str
    provider_sid: str


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)


class _AliyunReport(_Shape):
    phone_number: str = Field(min_length=1, max_length=32)
    success: StrictBool
    biz_id: str = Field(min_length=1, max_length=48)
    err_code: str = Field(default="", max_length=64)
    err_msg: str = Field(default="", max_length=200)


class _AliyunUp(_Shape):
    phone_number: str = Field(min_length=1, max_length=32)
    content: str = Field(max_length=1600)
    sequence_id: int | str
    send_time: str = Field(default="", max_length=32)


class _TencentReport(_Shape):
    mobile: str = Field(min_length=1, max_length=32)
    nationcode: str = Field(default="86", max_length=8)
    report_status: str = Field(pattern="^(SUCCESS|FAIL)$")
    sid: str = Field(min_length=1, max_length=64)
    errmsg: str = Field(default="", max_length=64)
    description: str = Field(default="", max_length=200)


class _TencentUp(_Shape):
    mobile: str = Field(min_length=1, max_length=32)
    nationcode: str = Field(default="86", max_length=8)
    text: str = Field(max_length=1600)
    time: int
    sign: str = Field(default="", max_length=64)


def decode(raw: bytes) -> Any:
    """The JSON of a push body; raises PushRefused for anything else."""
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise PushRefused("body is not UTF-8 JSON") from None


def _items(data: Any) -> list[dict[str, Any]]:
    items = data if isinstance(data, list) else [data]
    if not items:
        raise PushRefused("empty batch")
    if len(items) > MAX_ITEMS:
        raise PushRefused(f"more than {MAX_ITEMS} items in one push")
    if not all(isinstance(item, dict) for item in items):
        raise PushRefused("every item must be a JSON object")
    return items


def _why(exc: ValidationError, index: int) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"item {index}: {where}: {first['msg']}"


def aliyun(data: Any) -> tuple[list[Report], list[Uplink]]:
    """Aliyun's SmsReport and SmsUp items (in one batch or two)."""
    reports: list[Report] = []
    uplinks: list[Uplink] = []
    for index, item in enumerate(_items(data)):
        try:
            if "biz_id" in item:
                r = _AliyunReport.model_validate(item)
                number = r.phone_number[-11:]
                error = None if r.success else f"{r.err_code}: {r.err_msg}".strip(": ")
                reports.append(
                    Report(
                        (r.biz_id, f"{r.biz_id}:{number}"),
                        "delivered" if r.success else "undelivered",
                        error or (None if r.success else "undelivered"),
                        None if r.success else (r.err_code or None),
                    )
                )
            elif "content" in item:
                u = _AliyunUp.model_validate(item)
                uplinks.append(Uplink(u.phone_number, u.content, f"aliyun-up:{u.sequence_id}"))
            else:
                raise PushRefused(f"item {index}: neither a delivery report nor a text")
        except ValidationError as exc:
            raise PushRefused(_why(exc, index)) from None
    return reports, uplinks


def tencent(data: Any) -> tuple[list[Report], list[Uplink]]:
    """Tencent's status callback items or reply callback object(s)."""
    reports: list[Report] = []
    uplinks: list[Uplink] = []
    for index, item in enumerate(_items(data)):
        try:
            if "report_status" in item:
                r = _TencentReport.model_validate(item)
                ok = r.report_status == "SUCCESS"
                error = None if ok else f"{r.errmsg}: {r.description}".strip(": ") or "FAIL"
                status = "delivered" if ok else "undelivered"
                code = None if ok else (r.errmsg or "FAIL")
                reports.append(Report((r.sid,), status, error, code))
            elif "text" in item:
                u = _TencentUp.model_validate(item)
                phone = f"+{u.nationcode.lstrip('+')}{u.mobile}"
                digest = hashlib.sha256(f"{phone}\n{u.time}\n{u.text}".encode()).hexdigest()
                uplinks.append(Uplink(phone, u.text, f"tencent-up:{digest[:40]}"))
            else:
                raise PushRefused(f"item {index}: neither a status report nor a reply")
        except ValidationError as exc:
            raise PushRefused(_why(exc, index)) from None
    return reports, uplinks


#: what each provider wants back when it may stop pushing
ACCEPTED = {
    "aliyun": {"code": 0, "msg": "接收成功"},
    "tencent": {"result": 0, "errmsg": "OK"},
}


def refused(provider: str, reason: str) -> dict[str, Any]:
    if provider == "aliyun":
        return {"code": 1, "msg": reason}
    return {"result": 1, "errmsg": reason}
