"""The tile store: content-addressed versions, atomic publish, manifest, display time."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from greentwin.core import ScenarioError, TilingError
from greentwin.server.store import VERSION_RE, TileStore, validate_time


def test_publish_is_content_addressed_and_idempotent(tmp_path: Path, fixture_tileset: Path) -> None:
    store = TileStore(tmp_path / "var")
    v1 = store.publish("baseline", "buildings", fixture_tileset, source="k1")
    assert VERSION_RE.fullmatch(v1)
    v2 = store.publish("baseline", "buildings", fixture_tileset, source="k1")
    assert v1 == v2
    assert store.revision("baseline") == 2
    info = store.layers("baseline")["buildings"]
    assert info.url == f"/tiles/baseline/{v1}/buildings/tileset.json"
    assert info.source == "k1"
    entry = store.lookup("baseline", v1, "buildings/content.glb")
    assert entry is not None
    assert entry.size == (fixture_tileset / "content.glb").stat().st_size
    assert entry.path.read_bytes() == (fixture_tileset / "content.glb").read_bytes()
    # the same content under another layer name is another version
    assert store.publish("baseline", "other", fixture_tileset) != v1
    # changed content -> new version; the old one stays on disk untouched
    (fixture_tileset / "tileset.json").write_text('{"asset": {"version": "1.1"}}')
    v3 = store.publish("baseline", "buildings", fixture_tileset)
    assert v3 != v1
    assert store.layers("baseline")["buildings"].version == v3
    assert store.lookup("baseline", v1, "buildings/tileset.json") is not None


def test_failed_publish_keeps_previous_version(tmp_path: Path, fixture_tileset: Path) -> None:
    store = TileStore(tmp_path / "var")
    good = store.publish("baseline", "buildings", fixture_tileset)
    manifest = (store.root / "baseline" / "manifest.json").read_bytes()
    bad = tmp_path / "bad"
    bad.mkdir()
    with pytest.raises(TilingError, match=r"no 'tileset\.json'"):
        store.publish("baseline", "buildings", bad)
    (bad / "tileset.json").write_text("{}")
    os.symlink("/etc/passwd", bad / "passwd.glb")
    with pytest.raises(TilingError, match="symbolic links"):
        store.publish("baseline", "buildings", bad)
    (bad / "passwd.glb").unlink()
    (bad / ".hidden").write_text("x")
    with pytest.raises(TilingError, match="cannot be served"):
        store.publish("baseline", "buildings", bad)
    assert store.layers("baseline")["buildings"].version == good
    assert (store.root / "baseline" / "manifest.json").read_bytes() == manifest
    leftovers = [p.name for p in (store.root / "baseline").iterdir() if p.name.startswith(".tmp")]
    assert leftovers == []


@pytest.mark.parametrize("bad", ["", "Baseline", "../x", "a/b", "a" * 65, "-x", "a\x00b", "é"])
def test_ids_are_validated(tmp_path: Path, fixture_tileset: Path, bad: str) -> None:
    store = TileStore(tmp_path / "var")
    with pytest.raises(ScenarioError):
        store.publish(bad, "buildings", fixture_tileset)
    with pytest.raises(ScenarioError):
        store.publish("baseline", bad, fixture_tileset)
    assert store.lookup(bad, "0123456789abcdef", "x") is None


def test_lookup_never_joins_request_text(tmp_path: Path, fixture_tileset: Path) -> None:
    store = TileStore(tmp_path / "var")
    v = store.publish("baseline", "buildings", fixture_tileset)
    for rel in ("../manifest.json", "buildings/../.index.json", ".index.json", "/etc/passwd"):
        assert store.lookup("baseline", v, rel) is None
    assert store.lookup("baseline", "../../etc", "passwd") is None


def test_concurrent_publishes_keep_manifest_consistent(
    tmp_path: Path, fixture_tileset: Path
) -> None:
    store = TileStore(tmp_path / "var")
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            store.publish("baseline", f"layer{i}", fixture_tileset)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert sorted(store.layers("baseline")) == [f"layer{i}" for i in range(8)]
    assert store.revision("baseline") == 8
    json.loads((store.root / "baseline" / "manifest.json").read_text())


def test_display_time_round_trip(tmp_path: Path) -> None:
    store = TileStore(tmp_path / "var")
    assert store.get_time("baseline")["year"] >= 2024
    assert store.set_time("baseline", {"year": 2040, "date": "2040-10-15"}) == {
        "year": 2040,
        "date": "2040-10-15",
    }
    assert TileStore(tmp_path / "var").get_time("baseline") == {"year": 2040, "date": "2040-10-15"}
    assert store.layers("baseline") == {}


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        {"date": "2040-13-01"},
        {"date": "2040-02-30"},
        {"year": 2041, "date": "2040-06-01"},
        {"year": "2040", "date": "2040-06-01"},
        {"year": 1800, "date": "1800-06-01"},
        {"date": "2040-06-01", "extra": 1},
        {"date": "20400601"},
    ],
)
def test_invalid_times_are_refused(bad: object) -> None:
    with pytest.raises(ScenarioError):
        validate_time(bad)


def test_a_store_pickles_as_a_handle_on_its_folder(tmp_path: Path) -> None:
    """Builds run in child processes with the store they publish into."""
    import pickle

    store = TileStore(tmp_path, index_cache=7)
    again = pickle.loads(pickle.dumps(store))
    assert isinstance(again, TileStore)
    assert again.data_dir == store.data_dir
    assert again._index_cache == 7
