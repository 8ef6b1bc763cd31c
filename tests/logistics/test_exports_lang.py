"""The board's download buttons (issue 14): stock, movements and discrepancies with column
headers, names and kinds in Chinese (`lang=zh`) or English words (`lang=en`); without `lang`
the machine column names scripts read, as before; a `lang` that is neither is refused."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from tests.conftest import bearer


def _short_delivery(api, tokens, places) -> None:
    r = api.post(
        "/api/shipments",
        json={
            "from_id": places["warehouse"],
            "to_id": places["a"],
            "lines": [{"item": "FOOD-NOODLE", "quantity": 10}],
        },
        headers=bearer(tokens["dispatcher"]),
    )
    assert r.status_code == 201, r.text
    r = api.post(
        f"/api/shipments/{r.json()['id']}/receipt",
        json={"lines": [{"item": "FOOD-NOODLE", "received": 7, "note": "箱子破了"}]},
        headers=bearer(tokens["manager_a"]),
    )
    assert r.status_code == 200, r.text


def _csv(api, path, token):
    r = api.get(path, headers=bearer(token))
    assert r.status_code == 200, r.text
    return list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))


def test_chinese_headers_names_and_kinds(api, tokens, places):
    _short_delivery(api, tokens, places)
    token = tokens["dispatcher"]
    stock = _csv(api, "/api/exports/stock.csv?lang=zh", token)
    assert stock[0] == ["地点编码", "地点", "物资编码", "物资", "单位", "数量"]
    assert any(row[3] == "方便面" for row in stock[1:])
    moves = _csv(api, "/api/exports/movements.csv?lang=zh", token)
    assert moves[0][:7] == ["编号", "时间", "地点编码", "地点", "物资编码", "物资", "类型"]
    kinds = {row[6] for row in moves[1:]}
    assert "调出" in kinds and "transfer_out" not in kinds
    x = api.get("/api/exports/discrepancies.xlsx?lang=zh", headers=bearer(token))
    assert x.status_code == 200
    assert "discrepancies-zh.xlsx" in x.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(x.content)).active
    assert sheet is not None and sheet.title == "收货差异"
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0][:7] == ["编号", "运单编号", "服务站编号", "地点", "物资编码", "物资", "类型"]
    assert rows[1][5] == "方便面" and rows[1][6] == "短收" and "箱子破了" in rows[1]


def test_english_words_and_the_machine_names_without_lang(api, tokens, places):
    _short_delivery(api, tokens, places)
    token = tokens["dispatcher"]
    stock = _csv(api, "/api/exports/stock.csv?lang=en", token)
    assert stock[0] == ["Place code", "Place", "SKU", "Item", "Unit", "Quantity"]
    assert any(row[3] == "Instant noodles" for row in stock[1:])
    discrepancies = _csv(api, "/api/exports/discrepancies.csv?lang=en", token)
    assert discrepancies[1][6] == "short"
    plain = _csv(api, "/api/exports/stock.csv", token)
    assert plain[0] == ["place_code", "place", "sku", "item", "unit", "quantity"]


@pytest.mark.parametrize("lang", ["fr", "ZH", "", "zh-CN"])
def test_unknown_lang_is_422(api, tokens, lang):
    r = api.get(f"/api/exports/stock.csv?lang={lang}", headers=bearer(tokens["dispatcher"]))
    assert r.status_code == 422
