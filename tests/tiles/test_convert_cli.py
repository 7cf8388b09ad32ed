"""The convert command: exit codes, atomic output, determinism across --jobs."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest
from greentwin.cli.main import main
from greentwin.core import ExitCode, TilingError
from greentwin.tiles import content
from greentwin.tiles.convert import convert
from gt_testing import CITYGML, assert_valid_gltf

BERLIN = CITYGML / "berlin_testarea_lod2_buildings.gml"
POTSDAM = CITYGML / "3dcitydb_Potsdam_LoD1.gml"


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_cli_ok_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "convert",
            str(BERLIN),
            str(out),
            "--no-progress",
            "--summary-json",
            str(tmp_path / "s.json"),
        ]
    )
    assert code == ExitCode.OK
    text = capsys.readouterr().out
    assert "features converted: 17" in text and "tiles:" in text
    assert (out / "tileset.json").is_file()
    assert '"features": 17' in (tmp_path / "s.json").read_text()


def test_cli_truncated_input(tmp_path: Path) -> None:
    bad = tmp_path / "cut.gml"
    bad.write_bytes(BERLIN.read_bytes()[:200_000])
    out = tmp_path / "out"
    assert main(["convert", str(bad), str(out), "--no-progress"]) == ExitCode.INPUT
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["cut.gml"]  # no temporary leftovers


def test_cli_missing_file_and_bad_crs(tmp_path: Path) -> None:
    assert main(["convert", str(tmp_path / "nope.gml"), str(tmp_path / "o")]) == ExitCode.INPUT
    code = main(
        ["convert", str(BERLIN), str(tmp_path / "o"), "--crs", "EPSG:999999", "--no-progress"]
    )
    assert code == ExitCode.CRS
    with pytest.raises(SystemExit) as exc:
        main(["convert", str(BERLIN), str(tmp_path / "o"), "--lod", "7"])
    assert exc.value.code == ExitCode.USAGE


def test_failed_run_keeps_previous_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    convert([BERLIN], out)
    before = _digest(out)

    def broken(*args: object, **kwargs: object) -> object:
        raise TilingError("injected failure while writing a tile")

    monkeypatch.setattr("greentwin.tiles.convert.build_tile", broken)
    with pytest.raises(TilingError):
        convert([POTSDAM], out)
    assert _digest(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert content.build_tile is not broken


def test_jobs_give_identical_output(tmp_path: Path) -> None:
    a = convert([POTSDAM, BERLIN], tmp_path / "a", jobs=1, max_features_per_tile=20)
    b = convert([POTSDAM, BERLIN], tmp_path / "b", jobs=2, max_features_per_tile=20)
    assert a.features == b.features == 97 + 17
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert_valid_gltf(sorted((tmp_path / "a").glob("tiles/*.glb")))


def test_unwritable_output(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = main(["convert", str(BERLIN), str(blocker / "out"), "--no-progress"])
    assert code == ExitCode.OUTPUT


def test_out_dir_with_other_files_is_refused(tmp_path: Path) -> None:
    """A folder with a user's files is not replaced without --overwrite (it was)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    args = ["convert", str(POTSDAM), str(out), "--no-progress"]
    assert main(args) == ExitCode.OUTPUT
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing left beside it
    # a file in the way is refused the same way
    (tmp_path / "file").write_text("x")
    assert main(["convert", str(POTSDAM), str(tmp_path / "file"), "--no-progress"]) == (
        ExitCode.OUTPUT
    )
    # an empty folder and an earlier output are fine; --overwrite replaces anything
    (tmp_path / "empty").mkdir()
    assert main(["convert", str(POTSDAM), str(tmp_path / "empty"), "--no-progress"]) == 0
    assert main(["convert", str(BERLIN), str(tmp_path / "empty"), "--no-progress"]) == 0
    assert main([*args, "--overwrite"]) == ExitCode.OK
    assert sorted(p.name for p in out.iterdir()) == ["tiles", "tileset.json"]


@pytest.mark.parametrize(
    ("umask", "folder", "file"), [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)]
)
def test_output_permissions_follow_the_umask(
    tmp_path: Path, umask: int, folder: int, file: int
) -> None:
    """The tileset folder was left 0700 (mkdtemp): a web server running as another
    user could not read it."""
    old = os.umask(umask)
    try:
        convert([POTSDAM], tmp_path / "out")
    finally:
        os.umask(old)
    out = tmp_path / "out"
    assert stat.S_IMODE(out.stat().st_mode) == folder
    assert stat.S_IMODE((out / "tiles").stat().st_mode) == folder
    assert stat.S_IMODE((out / "tileset.json").stat().st_mode) == file
    assert {stat.S_IMODE(p.stat().st_mode) for p in out.glob("tiles/*.glb")} == {file}
