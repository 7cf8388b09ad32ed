"""CityGML reader throughput against a bare lxml iterparse pass over the same file.

Builds a large input by replicating a real sample over a grid (bench/make_city.py),
then measures the CPU time (best of ``--repeat``) of

* a bare ``iterparse`` over every element,
* an ``iterparse`` on the member elements that frees each one (the reader's floor),
* :class:`~greentwin.citygml.reader.CityGMLReader` yielding every feature,

and prints buildings/s, MB/s and the ratios. ``--profile`` adds a cProfile listing of
one reader pass.

    python bench/reader.py --buildings 10000 --source citygml4j
    python bench/reader.py --buildings 2000 --source berlin --profile
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from greentwin.citygml.namespaces import MEMBER_TAGS
from greentwin.citygml.reader import CityGMLReader
from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_city import SOURCES, write_city


def best_cpu(fn: Callable[[], object], repeat: int) -> float:
    """Smallest CPU time (s) of ``repeat`` calls."""
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--buildings", type=int, default=10_000)
    parser.add_argument("--source", default="citygml4j", help=f"one of {sorted(SOURCES)} or a path")
    parser.add_argument("--repeat", type=int, default=3, help="passes per measurement")
    parser.add_argument("--profile", action="store_true", help="cProfile one reader pass")
    parser.add_argument("--tmp", type=Path, help="scratch folder (default: a temporary one)")
    args = parser.parse_args(argv)
    source = SOURCES.get(args.source, Path(args.source))
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        path = Path(tmp) / "city.gml"
        size = write_city(source, args.buildings, path)
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

        t_all = best_cpu(bare_all, args.repeat)
        t_mem = best_cpu(bare_members, args.repeat)
        t_read = best_cpu(read, args.repeat)
        mb = size / 1e6
        top = sum(counts.get(c, 0) for c in ("Building", "Bridge", "Tunnel"))
        objects = sum(counts.values())
        print(f"{args.source}: {mb:.1f} MB, {top} buildings, {objects} city objects")
        print(f"bare iterparse, all events:       {t_all:.3f} s CPU")
        print(f"bare iterparse, members + clear:  {t_mem:.3f} s CPU")
        print(
            f"CityGMLReader:                    {t_read:.3f} s CPU  {top / t_read:.0f} buildings/s  "
            f"{objects / t_read:.0f} objects/s  {mb / t_read:.1f} MB/s  "
            f"{1e6 * t_read / max(objects, 1):.0f} us per object"
        )
        print(
            f"ratio to bare pass: {t_read / t_all:.2f} (all events), {t_read / t_mem:.2f} (members)"
        )
        if args.profile:
            prof = cProfile.Profile()
            prof.runcall(read)
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
