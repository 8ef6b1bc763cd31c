"""The login, password and users pages in Debian's Chromium: every field labelled in Chinese
and English, the username pattern valid under the `v` flag (HTML compiles `pattern` with it)
and doing what the server's rule does, no role chosen for the admin, a station asked for a
station manager, disable and reset from the page, and the favicon. Screenshots in
tests/artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bench.serving import Served, serve
from coordinator.accounts import rules
from coordinator.accounts.models import User
from tests.board.browser import shot
from tests.board.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.integration]

#: what users.html had: a bare `-` ends the class, a syntax error under the `v` flag
OLD_PATTERN = "[A-Za-z0-9_.@-]+"

UNLABELLED = """() => Array.from(document.querySelectorAll("input, select, textarea"))
    .filter(el => el.type !== "hidden")
    .filter(el => !(el.labels && el.labels.length && el.labels[0].htmlFor === el.id
                    && el.labels[0].textContent.trim() && el.labels[0].offsetParent !== null))
    .map(el => el.name || el.id)"""

LABELS = """() => Array.from(document.querySelectorAll("label[for]"))
    .map(l => l.textContent.trim())"""


@pytest.fixture
def served(make_runtime: Any, users: Any) -> Iterator[Served]:
    s = serve(make_runtime(relay=False, consumers=()))
    yield s
    s.stop()


def _log_in(page: Any, url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{url}/login")
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("form.stack button[type=submit]")
    page.wait_for_load_state()


def _set_lang(page: Any, lang: str) -> None:
    page.evaluate("l => { if (I18N.lang !== l) I18N.toggle(); }", lang)


def _labels_in_both_languages(page: Any, name: str) -> dict[str, list[str]]:
    seen = {}
    for lang in ("zh", "en"):
        _set_lang(page, lang)
        assert page.evaluate(UNLABELLED) == [], f"{name} ({lang}): fields without a label"
        seen[lang] = page.evaluate(LABELS)
        shot(page, f"accounts-{name}-{lang}")
    assert seen["zh"] != seen["en"], f"{name}: the labels are not translated"
    _set_lang(page, "zh")
    return seen


def test_login_and_password_pages_are_labelled_and_the_favicon_loads(
    served: Served, chromium: Any
) -> None:
    page = chromium.new_page(viewport={"width": 1366, "height": 768})
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.goto(f"{served.url}/login")
    labels = _labels_in_both_languages(page, "login")
    assert labels == {"zh": ["用户名", "密码"], "en": ["Username", "Password"]}
    icon = page.evaluate(
        """async () => {
            const link = document.querySelector('link[rel=icon]');
            const img = new Image();
            img.src = link.href;
            await img.decode();
            const ico = await fetch('/favicon.ico');
            return [img.naturalWidth, ico.status, ico.headers.get('content-type')];
        }"""
    )
    assert icon[0] > 0 and icon[1] == 200 and icon[2].startswith("image/svg+xml")
    _log_in(page, served.url, "dora", "wrong password here")
    assert page.text_content("#login-error") == "用户名或密码错误"
    _set_lang(page, "en")
    assert page.text_content("#login-error") == "Wrong username or password"
    _set_lang(page, "zh")
    _log_in(page, served.url, "dora")
    page.goto(f"{served.url}/account/password")
    _labels_in_both_languages(page, "password")
    for field in ("#pw-current", "#pw-new", "#pw-repeat"):
        page.fill(field, PASSWORD if field == "#pw-current" else "1234567890")
    page.click("form.stack button[type=submit]")
    page.wait_for_selector("#form-error")
    assert "这是最常见的一百个密码之一" in page.text_content("#form-error")
    _set_lang(page, "en")
    assert "top-100 common password" in page.text_content("#form-error")
    shot(page, "accounts-password-refused-en")
    assert missing == [], missing
    page.close()


def test_the_users_page_in_chromium(served: Served, chromium: Any, engine: Engine) -> None:
    page = chromium.new_page(viewport={"width": 1366, "height": 768})
    _log_in(page, served.url, "ada")
    page.goto(f"{served.url}/admin/users")
    _labels_in_both_languages(page, "users")

    # the pattern compiles under the `v` flag (the old one did not), and means the server rule
    pattern = page.get_attribute("#new-username", "pattern")
    assert pattern == rules.USERNAME_PATTERN
    compiles = """p => { try { new RegExp(p, "v"); return true; } catch (e) { return false; } }"""
    assert page.evaluate(compiles, pattern) is True
    assert page.evaluate(compiles, OLD_PATTERN) is False
    for name, valid in [
        ("金阳站长", True),
        ("li_lei", True),
        ("Ünal.x@y-z", True),
        ("a" * 32, True),
        ("a", False),
        ("a" * 33, False),
        ("bad name!", False),
        ("a/b", False),
        ("😀😀", False),
    ]:
        page.fill("#new-username", name)
        assert page.evaluate("() => document.getElementById('new-username').checkValidity()") is (
            valid
        ), name

    # no role is chosen for the admin, and a station manager needs a station
    form_valid = "() => document.getElementById('new-user').checkValidity()"
    page.fill("#new-username", "金阳站长")
    assert page.input_value("#new-role") == ""
    assert page.evaluate(form_valid) is False
    page.select_option("#new-role", "station_manager")
    assert page.evaluate(form_valid) is False  # the station is now required
    shot(page, "accounts-users-needs-station")
    page.select_option("#new-station", index=1)
    assert page.evaluate(form_valid) is True
    page.click("#new-user button[type=submit]")
    page.wait_for_selector("#created")
    created = page.text_content("#one-time-password")
    assert created and len(created) == 16
    with Session(engine) as s:
        manager = s.exec(select(User).where(User.username == "金阳站长")).one()
        assert manager.role == "station_manager" and manager.station_ids
    shot(page, "accounts-users-created")

    # disable and enable dora, reset mia's password, from the buttons
    page.click('tr[data-username="dora"] button.disable')
    page.wait_for_selector('tr[data-username="dora"] button.enable')
    assert page.text_content('tr[data-username="dora"] .state').strip() == "停用"
    page.click('tr[data-username="mia"] button.reset')
    page.wait_for_selector("#reset")
    reset = page.text_content("#reset #one-time-password")
    assert reset and reset != created
    _set_lang(page, "en")
    assert page.text_content('tr[data-username="dora"] .state').strip() == "disabled"
    assert page.text_content("#reset span").startswith("Password reset.")
    shot(page, "accounts-users-reset-en")
    _set_lang(page, "zh")
    page.click('tr[data-username="dora"] button.enable')
    page.wait_for_selector('tr[data-username="dora"] button.disable')
    with Session(engine) as s:
        rows = {u.username: u for u in s.exec(select(User)).all()}
        assert not rows["dora"].disabled and rows["mia"].must_change_password
    # an admin's own row offers no disable button
    assert page.query_selector('tr[data-username="ada"] button.disable') is None
    page.close()
