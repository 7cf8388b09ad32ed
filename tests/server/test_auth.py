"""Operator role tokens: the tokens file, the demo's generated planner token, the extent."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from greentwin.core import ServerError
from greentwin.server.auth import (
    DEMO_ADMIN_TOKEN_FILE,
    DEMO_TOKEN_FILE,
    demo_planner_token,
    live_config_for,
    load_tokens,
)
from greentwin.server.config import Config
from greentwin.twin.ops import WORLD


def test_tokens_file_grants_roles(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(
        "# role token\nplanner aaaaaaaaaaaaaaaaaaaa\nadmin   bbbbbbbbbbbbbbbbbbbb  # ops\n"
    )
    path.chmod(0o600)
    tokens = load_tokens(path)
    assert tokens == {"aaaaaaaaaaaaaaaaaaaa": "planner", "bbbbbbbbbbbbbbbbbbbb": "admin"}
    live = live_config_for(Config(data_dir=tmp_path / "var", tokens_file=path))
    assert live.role_for_token("aaaaaaaaaaaaaaaaaaaa") == "planner"
    assert live.role_for_token("bbbbbbbbbbbbbbbbbbbb") == "admin"
    assert live.role_for_token("cccccccccccccccccccc") is None
    assert live.extent == WORLD


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("wizard aaaaaaaaaaaaaaaaaaaa\n", "unknown role"),
        ("planner short\n", "shorter than"),
        ("planner\n", "expected 'role token'"),
        ("planner aaaaaaaaaaaaaaaaaaaa\nadmin aaaaaaaaaaaaaaaaaaaa\n", "twice"),
    ],
)
def test_bad_tokens_file_names_the_line_not_the_token(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "tokens"
    path.write_text(text)
    with pytest.raises(ServerError, match=message) as info:
        load_tokens(path)
    assert "aaaaaaaaaaaaaaaaaaaa" not in str(info.value)
    assert f"{path}:" in str(info.value)


def test_missing_tokens_file(tmp_path: Path) -> None:
    with pytest.raises(ServerError, match="cannot read tokens file"):
        load_tokens(tmp_path / "absent")


def test_demo_planner_token_is_private_and_stable(tmp_path: Path) -> None:
    first = demo_planner_token(tmp_path)
    path = tmp_path / DEMO_TOKEN_FILE
    assert len(first) >= 16
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert demo_planner_token(tmp_path) == first


def test_demo_config_limits_edits_to_the_district(tmp_path: Path) -> None:
    live = live_config_for(Config(data_dir=tmp_path, demo=True))
    token = (tmp_path / DEMO_TOKEN_FILE).read_text().strip()
    assert live.role_for_token(token) == "planner"
    admin = tmp_path / DEMO_ADMIN_TOKEN_FILE  # the demo's moderator
    assert stat.S_IMODE(admin.stat().st_mode) == 0o600
    assert live.role_for_token(admin.read_text().strip()) == "admin"
    assert admin.read_text() != (tmp_path / DEMO_TOKEN_FILE).read_text()
    lons = [p[0] for p in live.extent.ring]
    lats = [p[1] for p in live.extent.ring]
    # The Berlin test area (Lichtenberg) lies near 13.50 E, 52.51 N.
    assert 13.45 < min(lons) < max(lons) < 13.55
    assert 52.49 < min(lats) < max(lats) < 52.53
    assert max(lons) - min(lons) < 0.02


def test_explicit_extent_and_bad_extent(tmp_path: Path) -> None:
    live = live_config_for(Config(data_dir=tmp_path, extent="24.9,60.1,25.0,60.2"))
    assert live.extent.ring[0] == (24.9, 60.1)
    with pytest.raises(ServerError, match="extent"):
        live_config_for(Config(data_dir=tmp_path, extent="24.9,60.1"))
