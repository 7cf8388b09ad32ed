"""Configuration: defaults < TOML < environment < command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from greentwin.core import ServerError
from greentwin.server.config import Config, load_config


def test_defaults() -> None:
    cfg = load_config(env={})
    assert (cfg.host, cfg.port, cfg.data_dir, cfg.demo) == ("127.0.0.1", 8765, Path("var"), False)
    assert (cfg.cesium_dir / "Cesium.js").is_file()
    assert (cfg.web_dir / "viewer").is_dir()


def test_precedence(tmp_path: Path) -> None:
    toml = tmp_path / "gt.toml"
    toml.write_text('[server]\nhost = "0.0.0.0"\nport = 9000\ndata_dir = "store"\ndemo = true\n')
    cfg = load_config(toml, env={})
    assert (cfg.host, cfg.port, cfg.data_dir, cfg.demo) == (
        "0.0.0.0",
        9000,
        tmp_path / "store",
        True,
    )
    cfg = load_config(toml, env={"GREENTWIN_PORT": "9100", "GREENTWIN_DEMO": "off"})
    assert (cfg.port, cfg.demo) == (9100, False)
    cfg = load_config(toml, env={"GREENTWIN_PORT": "9100"}, overrides={"port": 9200, "host": None})
    assert (cfg.host, cfg.port) == ("0.0.0.0", 9200)
    cfg = load_config(env={"GREENTWIN_CONFIG": str(toml)})
    assert cfg.port == 9000


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("port = 'x'", "port"),
        ("port = 70000", "out of range"),
        ("colour = 1", "unknown configuration key"),
        ("port = = 1", "not valid TOML"),
        ("demo = 'maybe'", "demo"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, match: str) -> None:
    toml = tmp_path / "gt.toml"
    toml.write_text(text)
    with pytest.raises(ServerError, match=match):
        load_config(toml, env={})


def test_missing_file_and_bad_env(tmp_path: Path) -> None:
    with pytest.raises(ServerError, match="cannot read"):
        load_config(tmp_path / "nope.toml", env={})
    with pytest.raises(ServerError, match="port"):
        load_config(env={"GREENTWIN_PORT": "eighty"})


def test_replace_is_a_copy() -> None:
    base = Config()
    changed = base.replace(port="9001", demo=None)
    assert changed.port == 9001 and base.port == 8765 and changed.demo is False
