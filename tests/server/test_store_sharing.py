"""Versions of a layer share their unchanged files: a new version writes only new content."""

from __future__ import annotations

import os
from pathlib import Path

from greentwin.server.store import TileStore


def _layer(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_unchanged_files_are_shared_between_versions(tmp_path: Path) -> None:
    store = TileStore(tmp_path / "var")
    files = {"meta.json": b"{}", "14/1/2.png": b"tile-a", "14/1/3.png": b"tile-b"}
    v1 = store.publish(
        "s1", "noise", _layer(tmp_path / "a", files), kind="overlay", entry="meta.json"
    )
    files["14/1/3.png"] = b"tile-b changed"
    v2 = store.publish(
        "s1", "noise", _layer(tmp_path / "b", files), kind="overlay", entry="meta.json"
    )
    assert v1 != v2
    e1, e2 = store.load_index("s1", v1), store.load_index("s1", v2)
    assert e1 is not None and e2 is not None
    same = os.stat(e1["noise/14/1/2.png"].path), os.stat(e2["noise/14/1/2.png"].path)
    assert same[0].st_ino == same[1].st_ino  # one file on disk, in both versions
    new = os.stat(e1["noise/14/1/3.png"].path), os.stat(e2["noise/14/1/3.png"].path)
    assert new[0].st_ino != new[1].st_ino
    assert e2["noise/14/1/3.png"].path.read_bytes() == b"tile-b changed"
    assert e1["noise/14/1/3.png"].path.read_bytes() == b"tile-b"  # the old version is intact
    assert e2["noise/14/1/2.png"].path.read_bytes() == b"tile-a"


def test_same_size_other_content_is_copied(tmp_path: Path) -> None:
    store = TileStore(tmp_path / "var")
    v1 = store.publish("s1", "l", _layer(tmp_path / "a", {"tileset.json": b"{}", "x.bin": b"AAAA"}))
    v2 = store.publish("s1", "l", _layer(tmp_path / "b", {"tileset.json": b"{}", "x.bin": b"BBBB"}))
    a, b = store.lookup("s1", v1, "l/x.bin"), store.lookup("s1", v2, "l/x.bin")
    assert a is not None and b is not None
    assert a.path.read_bytes() == b"AAAA" and b.path.read_bytes() == b"BBBB"
    assert os.stat(a.path).st_ino != os.stat(b.path).st_ino


def test_publish_from_memory_equals_publishing_the_folder(tmp_path: Path) -> None:
    store = TileStore(tmp_path / "var")
    files = {"meta.json": b"{}", "14/1/2.png": b"tile-a", "14/1/3.png": b"tile-b"}
    from_dir = store.publish("s1", "noise", _layer(tmp_path / "a", files), entry="meta.json")
    again = store.publish_files("s2", "noise", files, entry="meta.json")
    assert again == from_dir  # same content, same version
    files["14/1/3.png"] = b"tile-b changed"
    v2 = store.publish_files("s2", "noise", files, kind="overlay", entry="meta.json")
    e1, e2 = store.load_index("s2", again), store.load_index("s2", v2)
    assert e1 is not None and e2 is not None
    assert (
        os.stat(e1["noise/14/1/2.png"].path).st_ino == os.stat(e2["noise/14/1/2.png"].path).st_ino
    )
    assert e2["noise/14/1/3.png"].path.read_bytes() == b"tile-b changed"
    assert store.layers("s2")["noise"].version == v2


def test_publish_from_memory_refuses_unservable_names(tmp_path: Path) -> None:
    import pytest
    from greentwin.core import TilingError

    store = TileStore(tmp_path / "var")
    for bad in ({"meta.json": b"{}", "../x.png": b"x"}, {"other.json": b"{}"}):
        with pytest.raises(TilingError):
            store.publish_files("s1", "noise", bad, entry="meta.json")
    assert store.layers("s1") == {}
