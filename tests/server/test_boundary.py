"""Bad input at the HTTP boundary: one strict JSON decoder, one error shape, no 500s.

Every JSON route of the full application (``create_app``, with its error middleware)
answers non-finite numbers, out-of-range numbers and deep nesting with 400 ``bad_json`` in
the one error shape ``{"error": {"status", "code", "message"}}`` (the code readable, not
a JSON text inside the message); integers past SQLite's range in URLs are 400/404;
request lines HTTP parsing refuses are a 400 and one short log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from greentwin.server.app import create_app
from greentwin.server.config import Config
from greentwin.server.jsonio import MAX_DEPTH, JsonInputError, loads

Client = TestClient[Any, Any]
MakeClient = Callable[[Any], Awaitable[Client]]
PLANNER = {"Authorization": "Bearer tok-planner-0123456789"}
ADMIN = {"Authorization": "Bearer tok-admin-0123456789ab"}

#: Bodies Python's json module accepts that the boundary must refuse, and why.
BAD_BODIES = {
    "nan": '{"name": "x", "op": {"op": "prune_tree", "id": "t1", "crown_reduction": NaN}}',
    "infinity": '{"name": "x", "base_seq": Infinity}',
    "minus_infinity": '{"name": "x", "n": -Infinity}',
    "float_overflow": '{"name": "x", "n": 1e999}',
    "huge_int": '{"name": "x", "base_seq": 123456789012345678901234567890}',
    "deep_500": "[" * 500 + "]" * 500,  # parses, but deeper than any message needs
    "deep_20000": "[" * 20_000 + "]" * 20_000,  # a RecursionError in json.loads
}


@pytest.fixture
def config(tmp_path: Path) -> Config:
    tokens = tmp_path / "tokens"
    tokens.write_text("planner tok-planner-0123456789\nadmin tok-admin-0123456789ab\n")
    tokens.chmod(0o600)
    return Config(data_dir=tmp_path / "var", access_log=False, tokens_file=tokens)


@pytest_asyncio.fixture
async def client(aiohttp_client: MakeClient, config: Config) -> Client:
    return await aiohttp_client(create_app(config))


async def _error(resp: Any, status: int) -> dict[str, Any]:
    text = await resp.text()
    assert resp.status == status, text
    assert resp.content_type == "application/json", text
    error: dict[str, Any] = json.loads(text)["error"]
    assert error["status"] == status
    assert isinstance(error["code"], str) and not error["message"].startswith("{"), error
    return error


async def _draft(client: Client) -> str:
    r = await client.post("/api/scenarios", json={"name": "Draft"}, headers=PLANNER)
    assert r.status == 201, await r.text()
    sid: str = (await r.json())["id"]
    return sid


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
@pytest.mark.asyncio
async def test_every_json_route_refuses_bad_json_with_400(client: Client, case: str) -> None:
    sid = await _draft(client)
    body = BAD_BODIES[case].encode()
    routes = [
        ("POST", "/api/scenarios", PLANNER),
        ("POST", f"/api/scenarios/{sid}/edits", PLANNER),
        ("POST", f"/api/scenarios/{sid}/duplicate", PLANNER),
        ("PUT", "/api/time?scenario=baseline", PLANNER),
        ("POST", "/api/green/area", {}),
        ("POST", "/api/hub/identity", {}),
    ]
    for method, path, headers in routes:
        big = {**headers, "Content-Type": "application/json"}
        resp = await client.request(method, path, data=body, headers=big)
        if resp.status == 413:  # a route whose body limit is below the deep case
            continue
        error = await _error(resp, 400)
        assert error["code"] == "bad_json", (path, error)
    events = await (await client.get(f"/api/scenarios/{sid}/events", headers=PLANNER)).json()
    assert events["events"] == []  # nothing was logged


@pytest.mark.asyncio
async def test_the_message_names_the_problem(client: Client) -> None:
    sid = await _draft(client)
    cases = {
        "NaN": BAD_BODIES["nan"],
        "out of range": BAD_BODIES["float_overflow"],
        "nested deeper": BAD_BODIES["deep_20000"],
    }
    for words, body in cases.items():
        r = await client.post(
            f"/api/scenarios/{sid}/edits",
            data=body,
            headers={**PLANNER, "Content-Type": "application/json"},
        )
        assert words in (await _error(r, 400))["message"]


@pytest.mark.asyncio
async def test_scenario_errors_carry_a_readable_code(client: Client) -> None:
    """The scenario API's codes reach the client once encoded (they were a JSON text
    inside ``message`` behind the error middleware)."""
    r = await client.get("/api/scenarios/nope")
    assert (await _error(r, 404))["code"] == "unknown_scenario"
    sid = await _draft(client)
    r = await client.post(f"/api/scenarios/{sid}/edits", json={"op": {"op": "x"}}, headers=PLANNER)
    assert (await _error(r, 422))["code"] == "invalid_op"
    r = await client.post("/api/scenarios/baseline/undo", headers=PLANNER)
    assert (await _error(r, 409))["code"] == "conflict"
    r = await client.get("/no/such/thing")
    assert (await _error(r, 404))["code"] == "not_found"


@pytest.mark.asyncio
async def test_huge_numbers_in_urls_are_not_a_500(client: Client) -> None:
    sid = await _draft(client)
    huge = "9" * 40
    r = await client.get(f"/api/scenarios/{sid}/layers/trees/{huge}.geojson", headers=PLANNER)
    await _error(r, 404)
    r = await client.get(f"/api/scenarios/{sid}/layers/trees/{2**63}.geojson", headers=PLANNER)
    await _error(r, 404)
    r = await client.get(f"/api/scenarios/{sid}/events?after={huge}", headers=PLANNER)
    assert (await _error(r, 400))["code"] == "schema"
    r = await client.get(f"/api/scenarios/baseline/comments?after={huge}")
    assert (await _error(r, 400))["code"] == "schema"


@pytest.mark.asyncio
async def test_a_bad_request_line_is_one_short_log_line(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    assert client.server.port is not None
    caplog.set_level(logging.DEBUG, logger="aiohttp.server")
    lines = (b"GET /\xc3\xa4\xff HTTP/1.1", b"G\xc3T / HTTP/1.1", b"GET /x\x01y HTTP/1.1")
    for line in lines:
        reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
        writer.write(line + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert data.startswith(b"HTTP/1.") and b" 400 " in data.split(b"\r\n", 1)[0]
    records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert len(records) <= len(lines)
    for record in records:
        assert record.levelno < logging.WARNING and record.exc_info is None
        assert "\n" not in record.getMessage() and len(record.getMessage()) < 300


def test_the_decoder_keeps_what_json_allows() -> None:
    doc = '{"a": [1.5, -2, 9007199254740991, -9007199254740991, 1e308, "\\u00e4"], "b": null}'
    assert loads(doc) == json.loads(doc)
    assert loads(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    for bad in (
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
        "[9007199254740992]",
        '["\\ud800"]',  # a lone surrogate cannot be stored or sent as UTF-8
        b'["\xff"]',
        "[1, 2",
    ):
        with pytest.raises(JsonInputError):
            loads(bad)
