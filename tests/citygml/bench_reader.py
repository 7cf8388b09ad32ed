"""Reader throughput vs. a bare lxml iterparse pass (run by hand, not a test).

Usage: .venv/bin/python tests/citygml/bench_reader.py [copies]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from greentwin.citygml.namespaces import MEMBER_TAGS
from greentwin.citygml.reader import CityGMLReader
from lxml import etree

sys.path.insert(0, str(Path(__file__).parent))
from gmlsynth import replicate

SAMPLE = Path(__file__).parents[2] / "data" / "citygml" / "berlin_testarea_lod2_buildings.gml"


def _cpu(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def main() -> None:
    copies = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    with tempfile.TemporaryDirectory() as tmp:
        path = replicate(SAMPLE, Path(tmp) / "bench.gml", copies)
        name = str(path)

        def bare_all() -> None:
            for _ev, _el in etree.iterparse(name):
                pass

        def bare_members() -> None:
            for _ev, el in etree.iterparse(name, events=("end",), tag=MEMBER_TAGS):
                el.clear()
                while el.getprevious() is not None:
                    del el.getparent()[0]

        counts: dict[str, int] = {}

        def read() -> None:
            reader = CityGMLReader(path)
            for _f in reader.features():
                pass
            counts.update(reader.stats)

        t_all, t_mem, t_read = _cpu(bare_all), _cpu(bare_members), _cpu(read)
        mb = os.path.getsize(path) / 1e6
        b = counts.get("Building", 0)
        print(f"file {mb:.1f} MB, {b} Building + {counts.get('BuildingPart', 0)} BuildingPart")
        print(f"bare iterparse, all events:           {t_all:.3f} s CPU")
        print(f"bare iterparse, members + clear:      {t_mem:.3f} s CPU")
        print(
            f"CityGMLReader:                        {t_read:.3f} s CPU  "
            f"{b / t_read:.0f} buildings/s  {(b + counts.get('BuildingPart', 0)) / t_read:.0f} "
            f"objects/s  {mb / t_read:.1f} MB/s"
        )
        print(
            f"ratio to bare pass: {t_read / t_all:.2f} (all events), {t_read / t_mem:.2f} (members)"
        )


if __name__ == "__main__":
    main()
