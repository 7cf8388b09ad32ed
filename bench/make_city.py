"""Build a large CityGML file by replicating a real sample over a grid.

Every copy of every city object gets fresh gml:ids (and its xlink references follow)
and its coordinates are translated to its grid cell, so the geometry stays real while
the file grows. Streams its output: memory does not grow with the size.

    python bench/make_city.py --source berlin --buildings 10000 OUT.gml
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {
    "berlin": ROOT / "data" / "citygml" / "berlin_testarea_lod2_buildings.gml",
    "citygml4j": ROOT / "data" / "citygml" / "citygml4j_lod2_buildings_v3.gml",
    "potsdam": ROOT / "data" / "citygml" / "3dcitydb_Potsdam_LoD1.gml",
}

_MEMBER = re.compile(
    r"(<(?:\w+:)?(?:cityObjectMember|featureMember)\b[^>]*>.*?</(?:\w+:)?(?:cityObjectMember|featureMember)>)",
    re.S,
)
_SLOT = re.compile(
    r"(?P<coord><(?:\w+:)?(?:posList|pos|lowerCorner|upperCorner)\b[^>]*>)(?P<num>[^<]*)"
    r'|(?P<id>gml:id="|xlink:href="#)(?P<ref>[^"]*)"'
)


class Template:
    """A member element split into literal text, coordinate slots and id slots."""

    def __init__(self, text: str) -> None:
        self.literals: list[str] = []
        self.slots: list[np.ndarray | str] = []
        pos = 0
        for m in _SLOT.finditer(text):
            if m.group("coord"):
                self.literals.append(text[pos : m.end("coord")])
                self.slots.append(np.array(m.group("num").split(), dtype=np.float64).reshape(-1, 3))
                pos = m.end("num")
            else:
                self.literals.append(text[pos : m.end("id")])
                self.slots.append(m.group("ref"))
                pos = m.end()
        self.tail = text[pos:]

    def render(self, suffix: str, dx: float, dy: float) -> str:
        off = np.array([dx, dy, 0.0])
        parts: list[str] = []
        for lit, slot in zip(self.literals, self.slots, strict=True):
            parts.append(lit)
            if isinstance(slot, str):
                parts.append(f'{slot}{suffix}"')
            else:
                parts.append(" ".join(map("{:.3f}".format, (slot + off).ravel())))
        parts.append(self.tail)
        return "".join(parts)


def split_source(path: Path) -> tuple[str, list[Template], str, float]:
    """Header, member templates, footer and the grid spacing (metres) of a sample."""
    text = path.read_text(encoding="utf-8")
    members = _MEMBER.findall(text)
    if not members:
        raise SystemExit(f"{path}: no cityObjectMember found")
    head = text[: text.index(members[0])]
    foot = text[text.rindex(members[-1]) + len(members[-1]) :]
    templates = [Template(m) for m in members]
    coords = np.concatenate([s for t in templates for s in t.slots if not isinstance(s, str)])
    span = coords[:, :2].max(axis=0) - coords[:, :2].min(axis=0)
    return head, templates, foot, float(span.max()) + 20.0


def generate(source: Path, buildings: int) -> Iterator[str]:
    """Chunks of the replicated document with at least ``buildings`` top-level objects."""
    head, templates, foot, spacing = split_source(source)
    copies = -(-buildings // len(templates))
    side = int(np.ceil(np.sqrt(copies)))
    yield head
    made = 0
    for k in range(copies):
        dx, dy = (k % side) * spacing, (k // side) * spacing
        for t in templates:
            if made >= buildings:
                break
            yield t.render(f"_c{k}", dx, dy)
            made += 1
    yield foot


def write_city(source: Path, buildings: int, out: Path) -> int:
    """Write the replicated file; returns its size in bytes."""
    with open(out, "w", encoding="utf-8") as fh:
        for chunk in generate(source, buildings):
            fh.write(chunk)
    return out.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--source", default="berlin", help=f"one of {sorted(SOURCES)} or a path")
    parser.add_argument("--buildings", type=int, default=10_000)
    args = parser.parse_args(argv)
    source = SOURCES.get(args.source, Path(args.source))
    size = write_city(source, args.buildings, args.out)
    print(f"{args.out}: {args.buildings} top-level objects, {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
