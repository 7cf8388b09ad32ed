"""Object-table columns: order, values and types, whether or not rows share their keys."""

from __future__ import annotations

from typing import Any

from greentwin.tiles.content import BASE_COLUMNS, _columns


def _naive(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    keys = list(BASE_COLUMNS)
    for row in rows:
        keys += [k for k in row if k not in keys]
    return {k: [row.get(k) for row in rows] for k in keys}


def _check(rows: list[dict[str, Any]]) -> dict[str, str]:
    cols = _columns(rows)
    want = _naive(rows)
    assert [c.description or c.name for c in cols] == list(want)
    return {c.name: c.type for c in cols}


def test_rows_with_the_same_keys() -> None:
    rows = [
        {"id": f"b{i}", "parent_id": None, "class": "Building", "height": 3.5 * i, "lod": 2}
        for i in range(5)
    ]
    types = _check(rows)
    assert types == {
        "id": "STRING",
        "parent_id": "STRING",
        "class": "STRING",
        "lod": "INT32",
        "height": "FLOAT64",
    }


def test_rows_with_different_keys() -> None:
    rows: list[dict[str, Any]] = [
        {"id": "a", "parent_id": None, "class": "Building", "storeys": 3, "lod": 2},
        {"id": "b", "parent_id": "a", "class": "BuildingPart", "roof": "flat"},
        {"id": "c", "parent_id": "a", "class": "BuildingPart", "storeys": 2**40, "ok": True},
    ]
    types = _check(rows)
    assert types["storeys"] == "FLOAT64"  # beyond INT32
    assert types["ok"] == "STRING"  # a boolean with gaps
    assert types["roof"] == "STRING" and types["lod"] == "INT32"
