"""Streaming: peak memory does not grow with the file size; reader speed vs. bare iterparse."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from gmlsynth import replicate

HERE = Path(__file__).parent

_PEAK = textwrap.dedent(
    """
    import json, resource, sys
    from greentwin.citygml.reader import CityGMLReader
    n = 0
    for feature in CityGMLReader(sys.argv[1]).features():
        n += 1
    # peak resident set size of this process, KiB on Linux: counts libxml2's C heap too
    print(json.dumps({"n": n, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
    """
)


def _peak(path: Path) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", _PEAK, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result: dict[str, int] = json.loads(out.stdout)
    return result


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_file_size(tmp_path: Path, citygml_dir: Path) -> None:
    sample = citygml_dir / "berlin_testarea_lod2_buildings.gml"
    small = replicate(sample, tmp_path / "x2.gml", 2)
    big = replicate(sample, tmp_path / "x20.gml", 20)
    a, b = _peak(small), _peak(big)
    assert (a["n"], b["n"]) == (34, 340)
    # 10x the file, (almost) the same peak: the largest single building dominates
    print("peak memory (bytes):", a, b)
    assert b["peak"] < 1.5 * a["peak"] + 2_000_000, (a, b)


def test_replicated_file_has_unique_ids(tmp_path: Path, citygml_dir: Path) -> None:
    from greentwin.citygml.reader import CityGMLReader

    shutil.copytree(citygml_dir / "appearances", tmp_path / "appearances")
    path = replicate(citygml_dir / "citygml4j_lod3_building_v2.gml", tmp_path / "x2.gml", 2)
    reader = CityGMLReader(path)
    features = list(reader.features())
    assert [f.id for f in features] == [
        "UUID_4d4d75e4-83e7-46c1-9c1a-1faee756fcd4_r0",
        "UUID_4d4d75e4-83e7-46c1-9c1a-1faee756fcd4_r1",
    ]
    assert reader.skipped == []
    textured = sum(p.texture is not None for f in features for ps in f.lods.values() for p in ps)
    assert textured == 2 * 3092
