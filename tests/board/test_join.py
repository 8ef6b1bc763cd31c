"""The public sign-up page (issue 15, item 1) over HTTP: the form, the one-time SMS code, the
approval queue it lands in, and every way a form can be wrong (the code, the number, the
name, the district, a number known already, a flood from one number or one address), each
answered with a clear message and nothing stored that should not be. The sign-up posters'
routes too; the browser test (`test_join_browser.py`) decodes their QR codes."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from coordinator.accounts.models import AuditLog
from coordinator.common import utcnow
from coordinator.sms.models import SmsMessage
from coordinator.sms.templates import length
from coordinator.volunteers.models import JoinCode, Volunteer
from tests.board.conftest import login

pytestmark = pytest.mark.usefixtures("demo")

PHONE = "+8613900008801"
YUNYAN = "520103"


def _csrf(client: Any, path: str = "/join") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return str(page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0])


def _form(token: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "csrf_token": token,
        "name": "张三",
        "phone": "13900008801",
        "district": YUNYAN,
        "skills": ["first_aid"],
        "lang": "zh",
    }
    base.update(fields)
    return base


def _texts(engine: Engine, phone: str = PHONE, kind: str | None = None) -> list[SmsMessage]:
    with Session(engine) as s:
        query = select(SmsMessage).where(
            SmsMessage.phone == phone, SmsMessage.direction == "outbound"
        )
        if kind:
            query = query.where(SmsMessage.kind == kind)
        return list(s.exec(query.order_by(col(SmsMessage.id))).all())


def _code(engine: Engine, phone: str = PHONE) -> str:
    """The code in the newest text to `phone`, as the person reads it."""
    body = _texts(engine, phone, "join_code")[-1].body
    found = re.search(r"\d{6}", body)
    assert found, body
    return found.group()


def _codes(engine: Engine, phone: str = PHONE) -> list[JoinCode]:
    with Session(engine) as s:
        return list(s.exec(select(JoinCode).where(JoinCode.phone == phone)).all())


def _person(engine: Engine, phone: str = PHONE) -> Volunteer | None:
    with Session(engine) as s:
        return s.exec(select(Volunteer).where(Volunteer.phone == phone)).first()


def _error(html: str) -> str:
    found = re.search(r'id="join-error"[^>]*>([^<]*)<', html)
    return found.group(1) if found else ""


def _wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_the_page_is_public_phone_sized_and_prefilled_from_a_poster(
    web: Any, stations: list[int], engine: Engine
) -> None:
    page = web.get("/join")
    assert page.status_code == 200
    assert 'name="viewport"' in page.text and "加入暖流志愿者" in page.text
    assert 'data-en="Join Nuanliu' in page.text  # the English toggle has its words
    assert page.text.count('<option value="52') == 10  # the ten districts, by Chinese name
    assert "云岩区" in page.text and "nuanliu_join_csrf" in page.headers["set-cookie"]
    chosen = web.get(f"/join?district={YUNYAN}").text
    assert f'value="{YUNYAN}" data-en="Yunyan District" selected' in chosen
    from coordinator.logistics.models import Place

    with Session(engine) as s:
        station = s.get(Place, stations[0])
        assert station is not None and station.district_code
        code = station.district_code
    by_station = web.get(f"/join?station={stations[0]}").text
    assert re.search(rf'value="{code}" [^>]*selected', by_station)
    for junk in ("?station=999999", "?station=abc", "?district=999999", "?district=<b>"):
        assert " selected" not in web.get("/join" + junk).text


def test_a_code_then_the_sign_up_lands_in_the_approval_queue(
    web: Any, engine: Engine, users: Any
) -> None:
    token = _csrf(web)
    sent = web.post("/join/code", data=_form(token))
    assert sent.status_code == 200, sent.text
    assert 'id="join-code"' in sent.text and "+86 139****8801" in sent.text
    assert PHONE not in sent.text  # the page shows the number masked
    [text] = _texts(engine, kind="join_code")
    assert text.body.startswith("【暖流】") and length(text.body)[1] == 1
    code = _code(engine)
    [row] = _codes(engine)
    assert code not in row.code_hash and row.used_at is None and row.attempts == 0
    assert _person(engine) is None  # nothing in the queue before the code
    done = web.post("/join", data=_form(token, code=code))
    assert done.status_code == 200, done.text
    assert 'id="join-done"' in done.text and "张三" in done.text
    person = _person(engine)
    assert person is not None
    assert (person.status, person.active, person.source) == ("pending", False, "web")
    assert (person.district_code, person.skills, person.language) == (YUNYAN, ["first_aid"], "zh")
    with Session(engine) as s:
        audit = s.exec(select(AuditLog).where(AuditLog.action == "volunteer.signed_up")).all()
        assert [a.detail["via"] for a in audit] == ["web"]
    assert _codes(engine)[0].used_at is not None
    # the dispatcher's queue and approval are the SMS path's: the person is told by SMS
    assert login(web, "dora").status_code == 303
    from tests.board.conftest import csrf_of

    headers = {"X-CSRF-Token": csrf_of(web)}
    queue = web.get("/api/volunteers/pending").json()
    assert [(p["name"], p["phone"], p["source"]) for p in queue["items"]] == [
        ("张三", "+86 139****8801", "web")
    ]
    approved = web.post(f"/api/volunteers/{person.id}/approve", headers=headers, json={})
    assert approved.status_code == 200, approved.text
    assert [t.kind for t in _texts(engine)] == ["join_code", "signup_approved"]
    # the code is spent: using it again is no second sign-up
    again = web.post("/join", data=_form(token, code=code))
    assert again.status_code == 422 and "请先获取" in _error(again.text)


def test_english_form_gets_english_texts(web: Any, engine: Engine) -> None:
    token = _csrf(web)
    assert web.post("/join/code", data=_form(token, lang="en")).status_code == 200
    [text] = _texts(engine, kind="join_code")
    assert text.body.startswith("Nuanliu: your Nuanliu sign-up code is")
    done = web.post("/join", data=_form(token, lang="en", code=_code(engine)))
    assert done.status_code == 200
    assert (_person(engine) or Volunteer()).language == "en"


def test_without_the_csrf_token_nothing_is_sent_or_stored(web: Any, engine: Engine) -> None:
    _csrf(web)
    for path in ("/join/code", "/join"):
        answer = web.post(path, data=_form("forged-token-0123456789", code="123456"))
        assert answer.status_code == 403
        assert _error(answer.text) == "页面已过期，请重新提交。"  # the form again, kept
        assert 'value="张三"' in answer.text
    assert _texts(engine) == [] and _codes(engine) == [] and _person(engine) is None


def test_a_wrong_code_counts_and_too_many_spend_it(web: Any, engine: Engine) -> None:
    token = _csrf(web)
    web.post("/join/code", data=_form(token))
    code = _code(engine)
    for left in (4, 3, 2, 1):
        wrong = web.post("/join", data=_form(token, code=_wrong(code)))
        assert wrong.status_code == 422
        assert _error(wrong.text) == f"验证码不正确，还可以再试{left}次"
    fifth = web.post("/join", data=_form(token, code=_wrong(code)))
    assert fifth.status_code == 410 and "错误次数过多" in _error(fifth.text)
    right = web.post("/join", data=_form(token, code=code))
    assert right.status_code == 410 and "错误次数过多" in _error(right.text)
    assert _person(engine) is None and _codes(engine)[0].attempts == 5
    # not a code at all: refused without counting a try (and without the page breaking)
    for typed in ("", "12345", "abcdef", "1234567", "１２３４５"):
        assert "6位验证码" in _error(web.post("/join", data=_form(token, code=typed)).text)
    assert _codes(engine)[0].attempts == 5


def test_full_width_digits_and_spaces_in_the_code_and_number_are_read(
    web: Any, engine: Engine
) -> None:
    token = _csrf(web)
    typed = "（+86）１３９ ００００－８８０１"
    assert web.post("/join/code", data=_form(token, phone=typed)).status_code == 200
    code = _code(engine)
    wide = " ".join(chr(ord(c) + 0xFEE0) for c in code)  # "４ ８ ２ …"
    done = web.post("/join", data=_form(token, phone="139 0000 8801", code=wide))
    assert done.status_code == 200, _error(done.text)
    assert (_person(engine) or Volunteer()).phone == PHONE


def test_an_expired_code_is_refused(web: Any, engine: Engine) -> None:
    token = _csrf(web)
    web.post("/join/code", data=_form(token))
    code = _code(engine)
    with Session(engine) as s:
        row = s.exec(select(JoinCode)).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        s.add(row)
        s.commit()
    late = web.post("/join", data=_form(token, code=code))
    assert late.status_code == 410 and _error(late.text) == "验证码已过期，请重新获取"
    assert _person(engine) is None


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": ""}, "name", "请填写姓名"),
        ({"name": "   "}, "name", "请填写姓名"),
        ({"name": "张" * 65}, "name", "姓名过长或含有无效字符"),
        ({"name": "张\x07三"}, "name", "姓名过长或含有无效字符"),
        ({"phone": "12345"}, "phone", "请填写正确的手机号码（11位）"),
        ({"phone": "085185551234"}, "phone", "请填写正确的手机号码（11位）"),  # a landline
        ({"phone": "1390000880１x"}, "phone", "请填写正确的手机号码（11位）"),
        ({"phone": ""}, "phone", "请填写正确的手机号码（11位）"),
        ({"district": ""}, "district", "请选择所在区县"),
        ({"district": "999999"}, "district", "请选择所在区县"),
        ({"district": "火星区"}, "district", "请选择所在区县"),
        ({"skills": ["hacking"]}, "skills", "请从列表中选择技能"),
    ],
)
def test_bad_fields_are_refused_before_any_code_is_sent(
    web: Any, engine: Engine, fields: dict[str, Any], field: str, message: str
) -> None:
    token = _csrf(web)
    answer = web.post("/join/code", data=_form(token, **fields))
    assert answer.status_code == 422
    assert _error(answer.text) == message
    assert 'aria-invalid="true"' in answer.text
    with Session(engine) as s:
        assert s.exec(select(JoinCode)).all() == []
        assert s.exec(select(SmsMessage).where(SmsMessage.kind == "join_code")).all() == []
    # the same fields at the second step change nothing either
    assert web.post("/join", data=_form(token, code="123456", **fields)).status_code == 422
    assert _person(engine) is None


def test_a_number_known_already_is_refused_politely_after_its_code(
    web: Any, engine: Engine
) -> None:
    with Session(engine) as s:
        known = s.exec(select(Volunteer).where(Volunteer.status == "active")).first()
        assert known is not None
        phone, name, count = known.phone, known.name, len(s.exec(select(Volunteer)).all())
    token = _csrf(web)
    national = phone.removeprefix("+86")
    sent = web.post("/join/code", data=_form(token, phone=national, name="冒名者"))
    # the page says the same as for a stranger: it is no way to find who is on the roster
    assert sent.status_code == 200 and 'id="join-code"' in sent.text
    refused = web.post("/join", data=_form(token, phone=national, code=_code(engine, phone)))
    assert refused.status_code == 409
    assert _error(refused.text) == "这个号码已经报过名，无需重复报名。如有疑问请联系工会。"
    with Session(engine) as s:
        assert len(s.exec(select(Volunteer)).all()) == count
        assert s.exec(select(Volunteer).where(Volunteer.phone == phone)).one().name == name
    # a pending sign-up is answered with the same words
    token = _csrf(web)
    web.post("/join/code", data=_form(token))
    web.post("/join", data=_form(token, code=_code(engine)))
    assert (_person(engine) or Volunteer()).status == "pending"
    with Session(engine) as s:  # the next code may be asked for a minute later
        for row in s.exec(select(JoinCode).where(JoinCode.phone == PHONE)).all():
            row.created_at -= timedelta(minutes=2)
            s.add(row)
        s.commit()
    web.post("/join/code", data=_form(token, name="张三二"))
    again = web.post("/join", data=_form(token, name="张三二", code=_code(engine)))
    assert again.status_code == 409 and "已经报过名" in _error(again.text)
    assert (_person(engine) or Volunteer()).name == "张三"


def test_one_code_a_minute_and_five_a_day_per_number(web: Any, engine: Engine) -> None:
    token = _csrf(web)
    assert web.post("/join/code", data=_form(token)).status_code == 200
    soon = web.post("/join/code", data=_form(token, step="code"))
    assert soon.status_code == 429 and re.fullmatch(
        r"验证码刚刚已发送，请\d+秒后再试", _error(soon.text)
    )
    assert 'id="join-code"' in soon.text  # still asking for the code already sent
    assert len(_codes(engine)) == 1 and len(_texts(engine)) == 1
    # four more over the day are allowed (each a minute or more after the last) ...
    for _ in range(4):
        with Session(engine) as s:
            for row in s.exec(select(JoinCode)).all():
                row.created_at -= timedelta(minutes=2)
                s.add(row)
            s.commit()
        assert web.post("/join/code", data=_form(token)).status_code == 200
    with Session(engine) as s:
        for row in s.exec(select(JoinCode)).all():
            row.created_at -= timedelta(minutes=2)
            s.add(row)
        s.commit()
    # ... the sixth in 24 hours is not
    sixth = web.post("/join/code", data=_form(token))
    assert sixth.status_code == 429 and "今天获取验证码的次数已达上限" in _error(sixth.text)
    assert len(_codes(engine)) == 5 and len(_texts(engine)) == 5
    # the newest code is the one that works; an older one is wrong
    codes = [re.search(r"\d{6}", t.body).group() for t in _texts(engine)]  # type: ignore[union-attr]
    if codes[0] != codes[-1]:
        assert web.post("/join", data=_form(token, code=codes[0])).status_code == 422
    assert web.post("/join", data=_form(token, code=codes[-1])).status_code == 200


def test_a_flood_from_one_address_is_limited(web: Any, engine: Engine) -> None:
    token = _csrf(web)
    for n in range(10):
        phone = f"1390000{n:04d}"
        assert web.post("/join/code", data=_form(token, phone=phone)).status_code == 200
    eleventh = web.post("/join/code", data=_form(token, phone="13900009999"))
    assert eleventh.status_code == 429
    assert _error(eleventh.text) == "此网络请求验证码过于频繁，请一小时后再试"
    with Session(engine) as s:
        assert len(s.exec(select(JoinCode)).all()) == 10
        sent = s.exec(select(SmsMessage).where(SmsMessage.kind == "join_code")).all()
        assert len(sent) == 10 and "+8613900009999" not in {m.phone for m in sent}
    # another address is not held up by this one
    from fastapi.testclient import TestClient

    other = TestClient(web.app, client=("203.0.113.9", 50000), follow_redirects=False)
    token = _csrf(other)
    assert other.post("/join/code", data=_form(token, phone="13900009999")).status_code == 200


def test_two_requests_for_one_number_at_once_send_one_code(
    web: Any, engine: Engine, on_postgres: None
) -> None:
    """PostgreSQL: the count and the insert are serialised per number (an advisory lock), so
    two requests racing past the one-a-minute limit still store and send one code."""
    token = _csrf(web)
    barrier = threading.Barrier(4)
    codes: list[int] = []

    def ask() -> None:
        barrier.wait()
        codes.append(web.post("/join/code", data=_form(token)).status_code)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(codes) == [200, 429, 429, 429]
    assert len(_codes(engine)) == 1 and len(_texts(engine)) == 1


def test_posters_are_for_dispatchers_and_point_at_the_join_page(
    web: Any, engine: Engine, users: Any, stations: list[int]
) -> None:
    assert web.get("/board/posters/district/520103").status_code == 401
    page = web.get("/board/posters/district/520103", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    login(web, "mia")  # a station manager
    assert web.get("/board/posters/district/520103").status_code == 403
    login(web, "dora")
    listing = web.get("/board/posters").text
    assert listing.count('href="/board/posters/district/') == 10
    assert f'href="/board/posters/station/{stations[0]}"' in listing
    web.app.state.services.settings.public_base_url = "https://nuanliu.example.org/"
    try:
        district = web.get("/board/posters/district/520103")
        assert district.status_code == 200
        assert "云岩区" in district.text and "<svg" in district.text
        assert "https://nuanliu.example.org/join?district=520103" in district.text
        station = web.get(f"/board/posters/station/{stations[0]}")
        assert f"https://nuanliu.example.org/join?station={stations[0]}" in station.text
    finally:
        web.app.state.services.settings.public_base_url = None
    assert (
        "http://testserver/join?district=520103" in web.get("/board/posters/district/520103").text
    )
    for bad in ("district/999999", "station/999999", "station/abc", "nation/1"):
        assert web.get(f"/board/posters/{bad}").status_code in (404, 422), bad


def test_rows_past_every_window_are_pruned(web: Any, engine: Engine) -> None:
    token = _csrf(web)
    with Session(engine) as s:
        s.add(
            JoinCode(
                phone="+8613900000001",
                salt="x",
                code_hash="y",
                created_at=utcnow() - timedelta(days=3),
                expires_at=utcnow() - timedelta(days=3),
            )
        )
        s.commit()
    assert web.post("/join/code", data=_form(token)).status_code == 200
    with Session(engine) as s:
        assert [r.phone for r in s.exec(select(JoinCode)).all()] == [PHONE]


def test_the_code_is_redacted_from_the_log_once_handed_over() -> None:
    """What the sender keeps of a code text after handing it over (`templates.redacted`):
    the text and parameters with the code replaced; texts without secrets are untouched."""
    from coordinator.sms.templates import redacted, render

    params = {"code": "482913", "minutes": "10"}
    assert "482913" in render("join_code", "zh", **params)
    hidden = redacted("join_code", params)
    assert hidden == (
        "【暖流】您的暖流志愿者报名验证码：******，10分钟内有效。如非本人操作请忽略。",
        {"code": "******", "minutes": "10"},
    )
    english = redacted("join_code.en", params)
    assert english is not None and english[0].startswith(
        "Nuanliu: your Nuanliu sign-up code is ******"
    )
    assert redacted("signup_approved", {"person": "张三"}) is None
    assert redacted(None, params) is None and redacted("join_code", None) is None
