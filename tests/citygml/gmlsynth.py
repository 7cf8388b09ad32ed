"""Build larger CityGML files by replicating a real sample (for speed and memory tests).

Every copy gets fresh ``gml:id`` values (suffix ``_r<k>``), with ``xlink:href`` and
appearance targets renamed to match, so the geometry stays real while the size grows.
"""

from __future__ import annotations

import re
from pathlib import Path

_MEMBER = re.compile(r"<(?:\w+:)?cityObjectMember[\s>]")
_CLOSE = re.compile(r"</(?:\w+:)?CityModel>\s*$")
_IDS = re.compile(r'((?:gml:id|xlink:href|uri|ring)=")(#?)([^"]+)(")')


def replicate(sample: Path, out: Path, copies: int) -> Path:
    """Write ``sample``'s city objects ``copies`` times into ``out``.

    Parameters
    ----------
    sample : a CityGML file whose members are ``cityObjectMember`` elements.
    out : the file to write.
    copies : how many times the members are repeated (>= 1).
    """
    text = sample.read_text(encoding="utf-8")
    first = _MEMBER.search(text)
    close = _CLOSE.search(text)
    if first is None or close is None:
        raise ValueError(f"{sample} has no cityObjectMember or no closing CityModel tag")
    head, body, tail = (
        text[: first.start()],
        text[first.start() : close.start()],
        text[close.start() :],
    )
    with out.open("w", encoding="utf-8") as fh:
        fh.write(head)
        for k in range(copies):

            def rename(m: re.Match[str], k: int = k) -> str:
                if m.group(1) in ('xlink:href="', 'uri="', 'ring="') and not m.group(2):
                    return m.group(0)
                return f"{m.group(1)}{m.group(2)}{m.group(3)}_r{k}{m.group(4)}"

            fh.write(_IDS.sub(rename, body))
        fh.write(tail)
    return out
