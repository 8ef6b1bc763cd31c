"""The template registry: every kind with its variables, both texts under their length limit
with real data (the demo's longest names), the provider forms, the codes file."""

from __future__ import annotations

import string
import tomllib
from pathlib import Path

import pytest

from coordinator.sms import templates
from coordinator.sms.service import segments
from coordinator.sms.templates import (
    LANGUAGES,
    TEMPLATES,
    TemplateCodesError,
    codes_for,
    load_codes,
    provider_text,
    render,
    toml_skeleton,
)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_template_with_real_data_fits_its_limit(name: str, lang: str) -> None:
    template = TEMPLATES[name]
    text = render(name, lang, **template.example_in(lang))
    assert text.startswith(templates.SIGNATURE[lang])  # the signature counts
    parts, encoding = segments(text)
    assert parts <= template.max_segments, (text, parts)
    assert encoding == ("UCS-2" if lang == "zh" else "GSM-7"), text
    assert templates.length(text)[1] == parts  # the listing counts as the sender does
    assert "{" not in text and "$" not in text


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_both_languages_name_the_same_variables(name: str) -> None:
    template = TEMPLATES[name]
    for lang in LANGUAGES:
        fields = {f for _, f, _, _ in string.Formatter().parse(template.text(lang)) if f}
        assert fields == set(template.variables), (name, lang)
    assert set(template.example) == set(template.variables), name
    assert template.purpose


def test_the_one_segment_texts_stay_one_segment() -> None:
    """Answers that cost nothing to read stay one part; only texts that carry a task, a place
    and a time (or a shipment's lines) may take more."""
    multi = {k for k, t in TEMPLATES.items() if t.max_segments > 1}
    assert multi == {
        "offer",
        "accepted",
        "assigned",
        "reminder",
        "shipment",
        "receipt_question",
        "gave_back",
        "give_back_too_late",
    }


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_station_manager_s_usual_texts_fit_one_part(lang: str) -> None:
    """A shipment of the usual four lines and every booked receipt (five lines, the longest
    codes) cost the manager one part, signature included."""
    usual = {**TEMPLATES["shipment"].example_in(lang), "code": "S10240"}
    shipment = render("shipment", lang, **usual)
    assert segments(shipment)[0] == 1, shipment
    for name in ("receipt_booked", "receipt_booked_short"):
        text = render(name, lang, **TEMPLATES[name].example_in(lang))
        assert segments(text)[0] == 1, text


def test_provider_texts_mark_variables_their_way() -> None:
    assert provider_text("expired", "aliyun") == "“${task}”的邀请已过期，已转给其他志愿者。谢谢！"
    assert provider_text("expired", "tencent") == "“{1}”的邀请已过期，已转给其他志愿者。谢谢！"
    offer = TEMPLATES["offer"]
    tencent = provider_text("offer", "tencent")
    for i, _ in enumerate(offer.variables, 1):
        assert "{" + str(i) + "}" in tencent
    assert "{" + str(len(offer.variables) + 1) + "}" not in tencent
    assert "【暖流】" not in provider_text("offer", "aliyun")  # the provider adds the signature
    with pytest.raises(ValueError):
        provider_text("offer", "twilio")


def test_values_keep_only_the_templates_variables_in_order() -> None:
    got = templates.values("offer", "zh", **TEMPLATES["offer"].example, extra="dropped")
    assert list(got) == list(TEMPLATES["offer"].variables)
    with pytest.raises(KeyError, match="needs"):
        templates.values("offer", "zh", task="x")


def test_the_skeleton_is_a_complete_codes_file(tmp_path: Path) -> None:
    text = toml_skeleton()
    path = tmp_path / "codes.toml"
    path.write_text(text, encoding="utf-8")
    codes = load_codes(path)
    for provider, placeholder in templates.PLACEHOLDER_CODES.items():
        by_id = codes_for(codes, provider)
        assert set(by_id) == set(templates.template_ids())
        assert set(by_id.values()) == {placeholder}
    assert "# aliyun: " + provider_text("offer", "aliyun") in text
    assert tomllib.loads(text)["offer"]["en"]["tencent"] == "000000"


def test_a_missing_code_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "codes.toml"
    path.write_text(toml_skeleton().replace('[help]\naliyun = "SMS_000000"\n', "[help]\n"))
    codes = load_codes(path)
    codes_for(codes, "tencent")  # tencent's is still there
    with pytest.raises(TemplateCodesError) as info:
        codes_for(codes, "aliyun")
    message = str(info.value)
    assert "\n" not in message and "aliyun" in message and "help" in message
    assert "offer" not in message


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("[offer\naliyun = 1", "not TOML"),
        ('[nonsense]\naliyun = "SMS_1"', "unknown message kind"),
        ('[offer]\ntwilio = "SMS_1"', "unknown provider"),
        ("[offer]\naliyun = 12", "must be a template code"),
        ('[offer]\naliyun = ""', "must be a template code"),
        ('offer = "SMS_1"', "must be a table"),
        ('[offer.en]\ntencent = "' + "9" * 40 + '"', "must be a template code"),
    ],
)
def test_a_bad_codes_file_is_refused_with_the_reason(
    tmp_path: Path, content: str, needle: str
) -> None:
    path = tmp_path / "codes.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TemplateCodesError, match=needle):
        load_codes(path)
    with pytest.raises(TemplateCodesError, match="cannot read"):
        load_codes(tmp_path / "missing.toml")
    path.write_bytes(b"\xff\xfe[offer]")
    with pytest.raises(TemplateCodesError, match="not TOML"):
        load_codes(path)


def test_listing_counts_the_signature() -> None:
    rows = {row["kind"]: row for row in templates.listing()}
    assert set(rows) == set(TEMPLATES)
    chars, parts = rows["help"]["zh_example"]
    assert chars == len(render("help")) and parts == 1
    assert rows["help"]["zh_fixed"][0] == len("【暖流】" + TEMPLATES["help"].zh)
    assert rows["offer"]["zh_example"][1] == 2


def test_the_cli_lists_every_template_and_prints_the_file(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from nuanliu.cli import app

    runner = CliRunner()
    listed = runner.invoke(app, ["sms", "templates"], env={"COLUMNS": "250"})
    assert listed.exit_code == 0, listed.output
    for kind in TEMPLATES:
        assert kind in listed.output
    assert "75/2" in listed.output  # the offer with the demo's longest names: two parts
    skeleton = runner.invoke(app, ["sms", "templates", "--toml"])
    assert skeleton.exit_code == 0
    path = tmp_path / "codes.toml"
    path.write_text(skeleton.output, encoding="utf-8")
    assert set(codes_for(load_codes(path), "tencent")) == set(templates.template_ids())


def test_a_provider_without_every_code_refuses_to_start_in_one_line(tmp_path: Path) -> None:
    """`nuanliu worker notify` (the process that sends) stops before it starts anything."""
    import os
    import subprocess
    import sys

    path = tmp_path / "codes.toml"
    path.write_text(toml_skeleton().replace('[reminder]\naliyun = "SMS_000000"\n', "[reminder]\n"))
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "NUANLIU_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path}/n.db",
        "NUANLIU_SMS_GATEWAY": "aliyun",
        "NUANLIU_SMS_TEMPLATES": str(path),
        "ALIYUN_ACCESS_KEY_ID": "LTAI-test",
        "ALIYUN_ACCESS_KEY_SECRET": "secret-that-must-not-show",
        "ALIYUN_SMS_SIGN_NAME": "暖流",
    }
    done = subprocess.run(
        [sys.executable, "-m", "nuanliu", "worker", "notify"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "no aliyun template code for reminder " in lines[0]
    assert "secret-that-must-not-show" not in done.stderr + done.stdout
    assert not (tmp_path / "n.db").exists()  # nothing was started
