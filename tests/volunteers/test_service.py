"""Roster logic: phone numbers, field cleaning, creation, listing."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from coordinator.geo.models import District
from coordinator.volunteers import service
from coordinator.volunteers.models import VolunteerCreate
from coordinator.volunteers.service import InvalidPhone, InvalidVolunteer, normalise_phone


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("13800138000", "+8613800138000"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("138-0013-8000", "+8613800138000"),
        ("008613800138000", "+8613800138000"),
        ("+44 7911 123456", "+447911123456"),
    ],
)
def test_normalise_mobile(raw: str, e164: str) -> None:
    assert normalise_phone(raw) == e164


@pytest.mark.parametrize(
    "raw", ["", "  ", "abc", "12345", "0851-86812345", "1380013800", "+86" + "1" * 40, "1" * 33]
)
def test_refuse_non_mobile(raw: str) -> None:
    with pytest.raises(InvalidPhone):
        normalise_phone(raw)


def test_landline_is_valid_when_mobile_not_required() -> None:
    assert normalise_phone("0851-86812345", mobile_only=False) == "+8685186812345"


def test_skills_language_cleaning() -> None:
    assert service.clean_skills(["除冰", " First Aid ", "de_icing", "急救", ""]) == [
        "de_icing",
        "first_aid",
    ]
    assert service.split_skills("除冰、急救，driving; traffic") == [
        "除冰",
        "急救",
        "driving",
        " traffic",
    ]
    assert service.clean_language("中文") == "zh"
    assert service.clean_language("EN-us") == "en"
    assert service.clean_language("") == "zh"
    with pytest.raises(InvalidVolunteer) as err:
        service.clean_language("klingon")
    assert err.value.column == "language"


def test_create_defaults_home_near_district_centre(session: Session, districts: None) -> None:
    v = service.create_volunteer(
        session=session,
        data=VolunteerCreate(name="王芳", phone="13800138000", district="云岩", team="云岩一队"),
    )
    yunyan = session.get(District, "520103")
    assert yunyan is not None and v.district_code == "520103"
    assert abs(v.lat - yunyan.lat) < 0.02 and abs(v.lon - yunyan.lon) < 0.02
    assert v.team_id is not None and v.language == "zh"
    again = service.create_volunteer(
        session=session,
        data=VolunteerCreate(name="李", phone="13900139000", district="520103", team="云岩一队"),
    )
    assert again.team_id == v.team_id  # the team is reused, not created twice
    assert (again.lat, again.lon) != (v.lat, v.lon)  # spread, not stacked


@pytest.mark.parametrize(
    ("data", "column"),
    [
        ({"name": "", "phone": "13800138000", "district": "云岩"}, "name"),
        ({"name": "x" * 65, "phone": "13800138000", "district": "云岩"}, "name"),
        ({"name": "a\x00b", "phone": "13800138000", "district": "云岩"}, "name"),
        ({"name": "x", "phone": "085186812345", "district": "云岩"}, "phone"),
        ({"name": "x", "phone": "13800138000", "district": "火星区"}, "district"),
        ({"name": "x", "phone": "13800138000"}, "district"),
        ({"name": "x", "phone": "13800138000", "lat": 26.6}, "lon"),
        ({"name": "x", "phone": "13800138000", "lat": 91, "lon": 106}, "lat"),
        ({"name": "x", "phone": "13800138000", "lat": 26, "lon": float("nan")}, "lon"),
        ({"name": "x", "phone": "13800138000", "district": "云岩", "language": "fr"}, "language"),
        (
            {
                "name": "x",
                "phone": "13800138000",
                "district": "云岩",
                "skills": [f"s{i}" for i in range(21)],
            },
            None,
        ),
    ],
)
def test_create_refuses_bad_fields(
    session: Session, districts: None, data: dict[str, object], column: str | None
) -> None:
    with pytest.raises(InvalidVolunteer) as err:
        service.create_volunteer(session=session, data=VolunteerCreate(**data))  # type: ignore[arg-type]
    if column is not None:
        assert err.value.column == column


def test_duplicate_phone_refused(session: Session, districts: None) -> None:
    data = VolunteerCreate(name="x", phone="13800138000", district="云岩")
    service.create_volunteer(session=session, data=data)
    with pytest.raises(InvalidVolunteer, match="already on the roster"):
        service.create_volunteer(
            session=session, data=data.model_copy(update={"phone": "+86 138 0013 8000"})
        )


def test_list_filters(session: Session, districts: None) -> None:
    for i, (district, skills) in enumerate(
        [("云岩", ["de_icing"]), ("南明", ["first_aid", "de_icing"]), ("南明", ["driving"])]
    ):
        service.create_volunteer(
            session=session,
            data=VolunteerCreate(
                name=f"张{i}", phone=f"1380013800{i}", district=district, skills=skills
            ),
        )
    rows, total = service.list_volunteers(session=session, district="520102")
    assert total == 2 and {r.name for r in rows} == {"张1", "张2"}
    rows, total = service.list_volunteers(session=session, skill="de_icing")
    assert total == 2
    rows, total = service.list_volunteers(session=session, skill="de")  # whole skill names only
    assert total == 0
    rows, total = service.list_volunteers(session=session, q="张2")
    assert [r.name for r in rows] == ["张2"]
    rows, total = service.list_volunteers(session=session, q="13800138001")
    assert [r.name for r in rows] == ["张1"]
    rows, total = service.list_volunteers(session=session, offset=1, limit=1)
    assert total == 3 and [r.name for r in rows] == ["张1"]
