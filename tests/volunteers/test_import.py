"""Roster import: CSV in every encoding Excel writes, XLSX, and bad data of every kind."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from coordinator.accounts.models import AuditLog
from coordinator.volunteers.importer import ImportFileError, import_volunteers
from coordinator.volunteers.models import Team, Volunteer
from tests.volunteers.conftest import Api

GOOD = (
    "name,phone,district,skills,language,team,lat,lon\n"
    '王芳,13800138000,云岩区,"除冰,急救",zh,云岩一队,,\n'
    "李强,+86 139 0013 9000,南明,driving、traffic,en,,26.57,106.71\n"
    "赵敏,13700137000,520111,,,,,\n"
)


def roster(engine: Engine) -> list[Volunteer]:
    with Session(engine) as s:
        return list(s.exec(select(Volunteer).order_by(Volunteer.id)).all())


def run(engine: Engine, data: bytes, filename: str = "roster.csv", **kw: Any) -> Any:
    with Session(engine) as s:
        result = import_volunteers(session=s, data=data, filename=filename, **kw)
        s.commit()
    return result


def test_good_csv(engine: Engine, districts: None) -> None:
    result = run(engine, GOOD.encode())
    assert (result.rows, result.created, result.rejected) == (3, 3, 0)
    wang, li, zhao = roster(engine)
    assert wang.phone == "+8613800138000" and wang.skills == ["de_icing", "first_aid"]
    assert wang.team_id is not None and wang.district_code == "520103"
    assert (li.language, li.lat, li.lon, li.skills) == ("en", 26.57, 106.71, ["driving", "traffic"])
    assert zhao.district_code == "520111" and zhao.language == "zh"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_encodings(engine: Engine, districts: None, encoding: str) -> None:
    assert run(engine, GOOD.encode(encoding)).created == 3
    assert roster(engine)[0].name == "王芳"


def test_chinese_headers_semicolons_and_crlf(engine: Engine, districts: None) -> None:
    text = "姓名;手机号;区县;技能\r\n王芳;13800138000;云岩;除冰\r\n"
    assert run(engine, text.encode("gb18030")).created == 1


def test_valid_rows_imported_bad_rows_reported(engine: Engine, districts: None) -> None:
    text = (
        "name,phone,district\n"
        "好人,13800138000,云岩\n"  # row 2
        "座机,0851-86812345,云岩\n"  # row 3: landline
        ",13900139000,云岩\n"  # row 4: no name
        "重复,138 0013 8000,南明\n"  # row 5: repeats row 2
        "太长,+86138001380001380013800,云岩\n"  # row 6
        "火星,13700137000,火星区\n"  # row 7
        "\n"
        "又好,13600136000,南明\n"  # row 9 (blank line 8 is skipped, still counted)
    )
    result = run(engine, text.encode())
    assert result.created == 2 and result.rows == 7
    assert [(e.row, e.column) for e in result.errors] == [
        (3, "phone"),
        (4, "name"),
        (5, "phone"),
        (6, "phone"),
        (7, "district"),
    ]
    assert "mobile" in result.errors[0].message
    assert "repeats row 2" in result.errors[2].message
    assert [v.name for v in roster(engine)] == ["好人", "又好"]


def test_duplicates_with_the_roster_are_reported_not_duplicated(
    engine: Engine, districts: None
) -> None:
    run(engine, GOOD.encode())
    again = run(engine, GOOD.encode())
    assert again.created == 0 and again.rejected == 3
    assert all("already on the roster" in e.message for e in again.errors)
    assert len(roster(engine)) == 3


def test_formula_strings_are_stored_as_text(engine: Engine, districts: None) -> None:
    text = 'name,phone,district,team\n"=HYPERLINK(""http://x"",""y"")",13800138000,云岩,@SUM(A1)\n'
    assert run(engine, text.encode()).created == 1
    [v] = roster(engine)
    assert v.name == '=HYPERLINK("http://x","y")'
    with Session(engine) as s:
        assert s.get(Team, v.team_id).name == "@SUM(A1)"  # type: ignore[union-attr]


def test_dry_run_stores_nothing(engine: Engine, districts: None) -> None:
    result = run(engine, GOOD.encode(), dry_run=True)
    assert result.created == 3 and result.dry_run
    assert roster(engine) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\xff\xfe\xff\xfename\n", "neither UTF-8 nor GB18030"),
        (b"name,phone\x00,district\n", "NUL"),
        (b"nom,telephone\nx,13800138000\n", "missing column"),
        (
            "name,phone,district,salary\nx,13800138000,云岩,1\n".encode(),
            r"unknown column\(s\): salary",
        ),
        (b"name,phone,phone,district\n", "repeated column"),
        (b"name,phone\nx,13800138000\n", "need a district column"),
        (b'name,phone,district\n"unterminated,13800138000,\xe4\xba\x91\n', "malformed CSV"),
        (b"PK\x03\x04garbage", "XLSX"),
    ],
)
def test_file_level_problems_import_nothing(
    engine: Engine, districts: None, data: bytes, message: str
) -> None:
    with pytest.raises(ImportFileError, match=message), Session(engine) as s:
        import_volunteers(session=s, data=data, filename="x.csv")
    assert roster(engine) == []


def test_too_many_rows(engine: Engine, districts: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("coordinator.volunteers.importer.MAX_ROWS", 5)
    text = "name,phone,district\n" + "".join(f"x,1380013800{i},云岩\n" for i in range(6))
    with pytest.raises(ImportFileError, match="more than 5 rows"), Session(engine) as s:
        import_volunteers(session=s, data=text.encode())
    assert roster(engine) == []


def test_row_level_junk(engine: Engine, districts: None) -> None:
    text = (
        "name,phone,district,lat,lon,language\n"
        "a,13800138000,云岩,north,106,zh\n"
        "b,13800138001,云岩,26.6,,zh\n"
        "c,13800138002,云岩,,,klingon\n"
        "d,13800138003,云岩,,,zh,extra\n"
        "e,13800138004,云岩,inf,106,zh\n" + "f," + "9" * 2000 + ",云岩,,,zh\n"
    )
    result = run(engine, text.encode())
    assert result.created == 0
    assert [(e.row, e.column) for e in result.errors] == [
        (2, "lat"),
        (3, "lon"),
        (4, "language"),
        (5, None),
        (6, "lat"),
        (7, "phone"),
    ]


def xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_with_numeric_phones_and_formulas(engine: Engine, districts: None) -> None:
    data = xlsx(
        [
            ["姓名", "手机", "区县", "技能", "纬度", "经度"],
            ["王芳", 13800138000, "云岩", "除冰、急救", 26.6, 106.72],
            ['=HYPERLINK("http://evil","x")', 13900139000.0, "南明", None, None, None],
            ["座机", "085186812345", "南明", None, None, None],
        ]
    )
    result = run(engine, data, filename="roster.xlsx")
    assert result.created == 2 and [(e.row, e.column) for e in result.errors] == [(4, "phone")]
    wang, evil = roster(engine)
    assert wang.phone == "+8613800138000" and wang.skills == ["de_icing", "first_aid"]
    assert evil.name == '=HYPERLINK("http://evil","x")'


def test_xlsx_wrong_columns(engine: Engine, districts: None) -> None:
    with pytest.raises(ImportFileError, match="missing column"), Session(engine) as s:
        import_volunteers(session=s, data=xlsx([["who", "where"]]), filename="r.xlsx")


# -- through HTTP --------------------------------------------------------------------------
def test_import_route_multipart_and_audit(api: Api, engine: Engine) -> None:
    response = api.client.post(
        "/api/volunteers/import",
        files={"file": ("名单.csv", GOOD.encode("gb18030"), "text/csv")},
        headers=api.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 3
    with Session(engine) as s:
        [audit] = s.exec(select(AuditLog).where(AuditLog.action == "volunteers.imported")).all()
    assert audit.detail["created"] == 3 and audit.subject == "名单.csv"


def test_import_route_raw_xlsx_body(api: Api, engine: Engine) -> None:
    data = xlsx([["name", "phone", "district"], ["王芳", 13800138000, "云岩"]])
    response = api.client.post(
        "/api/volunteers/import",
        content=data,
        headers={
            **api.headers,
            "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        },
    )
    assert response.status_code == 200 and response.json()["created"] == 1


def test_import_route_reports_rejected_rows(api: Api, engine: Engine) -> None:
    text = "name,phone,district\n好人,13800138000,云岩\n座机,0851-86812345,云岩\n"
    response = api.client.post(
        "/api/volunteers/import",
        content=text.encode(),
        headers={**api.headers, "Content-Type": "text/csv"},
    )
    body = response.json()
    assert response.status_code == 200 and body["created"] == 1 and body["rejected"] == 1
    assert body["errors"][0]["row"] == 3 and body["errors"][0]["column"] == "phone"


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"content": b""}, 422),
        ({"content": b"\xff\xfe\xff"}, 422),
        ({"content": b"who,where\n"}, 422),
        ({"files": {"other": ("a.csv", b"x", "text/csv")}}, 422),
        # larger than the general body limit but within the import's: refused for its rows
        ({"content": b"name,phone,district\n" + b"x,13800138000,yunyan\n" * 60_000}, 422),
    ],
)
def test_import_route_bad_files(
    api: Api, engine: Engine, kwargs: dict[str, Any], status: int
) -> None:
    response = api.client.post("/api/volunteers/import", headers=api.headers, **kwargs)
    assert response.status_code == status, response.text
    assert roster(engine) == []


def test_import_route_dry_run(api: Api, engine: Engine) -> None:
    response = api.client.post(
        "/api/volunteers/import?dry_run=true", content=GOOD.encode(), headers=api.headers
    )
    assert response.json()["created"] == 3 and roster(engine) == []


def test_import_needs_a_dispatcher(api: Api, engine: Engine) -> None:
    assert api.client.post("/api/volunteers/import", content=GOOD.encode()).status_code == 401
    assert roster(engine) == []


def test_xlsx_zip_bomb_is_refused(
    engine: Engine, districts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("coordinator.volunteers.importer.MAX_XLSX_UNCOMPRESSED", 1000)
    data = xlsx([["name", "phone", "district"], ["x" * 5000, 13800138000, "云岩"]])
    with pytest.raises(ImportFileError, match="inflates"), Session(engine) as s:
        import_volunteers(session=s, data=data, filename="r.xlsx")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(lambda t: ("name,phone,district,lat,lon\n" + t).encode()),
        st.lists(st.lists(st.text(max_size=12), min_size=0, max_size=7), max_size=6).map(
            lambda rows: "\n".join(
                ["name,phone,district,skills,lat,lon"] + [",".join(r) for r in rows]
            ).encode()
        ),
    )
)
def test_any_bytes_either_import_or_fail_cleanly(
    engine: Engine, districts: None, data: bytes
) -> None:
    with Session(engine) as s:
        try:
            result = import_volunteers(session=s, data=data, filename="fuzz.csv")
        except ImportFileError as exc:
            assert str(exc)
        else:
            assert result.created + result.rejected <= result.rows
            assert all(e.row >= 2 for e in result.errors)
        s.rollback()


def test_rows_go_in_by_chunks_and_bad_rows_are_still_reported(
    engine: Engine, districts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("coordinator.volunteers.importer.INSERT_ROWS", 3)
    lines = ["name,phone,district"]
    for i in range(10):
        lines.append(f"v{i},1380013800{i},云岩" if i % 4 else f"v{i},0851-8681234{i},云岩")
    result = run(engine, ("\n".join(lines) + "\n").encode())
    assert (result.created, result.rejected) == (7, 3)
    assert [(e.row, e.column) for e in result.errors] == [(2, "phone"), (6, "phone"), (10, "phone")]
    assert all("mobile" in e.message for e in result.errors)
    assert [v.name for v in roster(engine)] == [f"v{i}" for i in range(10) if i % 4]


def test_a_chunk_failing_late_leaves_nothing_from_the_earlier_ones(
    api: Api, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One transaction for the whole file: a number another writer added meanwhile fails
    the last chunk's insert, and the chunks before it are not kept (409, nothing stored)."""
    assert run(engine, "name,phone,district\nfirst,13800138009,云岩\n".encode()).created == 1
    monkeypatch.setattr("coordinator.volunteers.importer.INSERT_ROWS", 2)
    monkeypatch.setattr("coordinator.volunteers.importer.existing_phones", lambda **_: {})
    text = "name,phone,district\n" + "".join(f"v{i},1380013800{i},云岩\n" for i in range(10))
    response = api.client.post(
        "/api/volunteers/import",
        content=text.encode(),
        headers={**api.headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 409, response.text
    assert [v.name for v in roster(engine)] == ["first"]
