"""XML namespaces of CityGML 1.0, 2.0 and 3.0 and helpers to read tags fast.

The reader dispatches on local names (``Polygon``, ``RoofSurface``, ``lod2Solid``),
which are the same across the three versions; namespaces only decide the version
and tell the two ``boundedBy`` properties apart (GML envelope vs. boundary surface).
"""

from __future__ import annotations

from typing import Final

from greentwin.citygml.model import CityGMLVersion

__all__ = [
    "CORE",
    "GML",
    "MEMBER_TAGS",
    "XLINK_HREF",
    "gml_id_attr",
    "local_name",
    "split_tag",
    "version_from_namespaces",
]

CORE: Final[dict[CityGMLVersion, str]] = {
    "1.0": "http://www.opengis.net/citygml/1.0",
    "2.0": "http://www.opengis.net/citygml/2.0",
    "3.0": "http://www.opengis.net/citygml/3.0",
}
GML: Final[dict[CityGMLVersion, str]] = {
    "1.0": "http://www.opengis.net/gml",
    "2.0": "http://www.opengis.net/gml",
    "3.0": "http://www.opengis.net/gml/3.2",
}
GML_NAMESPACES: Final = frozenset(GML.values())
XLINK: Final = "http://www.w3.org/1999/xlink"
XLINK_HREF: Final = "{" + XLINK + "}href"

#: Elements whose end closes one top-level city object (streaming unit).
MEMBER_TAGS: Final[tuple[str, ...]] = (
    *(f"{{{ns}}}cityObjectMember" for ns in CORE.values()),
    *(f"{{{ns}}}featureMember" for ns in sorted(GML_NAMESPACES)),
    "{http://www.opengis.net/wfs/2.0}member",
)
#: Global appearance members (children of CityModel).
APPEARANCE_MEMBER_TAGS: Final[tuple[str, ...]] = tuple(
    f"{{{ns.replace('citygml/', 'citygml/appearance/')}}}appearanceMember" for ns in CORE.values()
) + tuple(f"{{{ns}}}appearanceMember" for ns in CORE.values())

_SPLIT_CACHE: dict[str, tuple[str, str]] = {}


def split_tag(tag: str) -> tuple[str, str]:
    """``"{ns}local"`` -> ``("ns", "local")``, cached (tags repeat millions of times)."""
    hit = _SPLIT_CACHE.get(tag)
    if hit is None:
        if tag[:1] == "{":
            ns, _, local = tag[1:].partition("}")
            hit = (ns, local)
        else:
            hit = ("", tag)
        if len(_SPLIT_CACHE) < 100_000:
            _SPLIT_CACHE[tag] = hit
    return hit


def local_name(tag: str) -> str:
    """The local part of a Clark-notation tag."""
    return split_tag(tag)[1]


def gml_id_attr(version: CityGMLVersion) -> str:
    """Clark name of the ``gml:id`` attribute for a CityGML version."""
    return "{" + GML[version] + "}id"


def version_from_namespaces(namespaces: dict[str | None, str]) -> CityGMLVersion | None:
    """The CityGML version declared by a root element's namespace map, newest first.

    Parameters
    ----------
    namespaces : prefix -> URI, as lxml's ``element.nsmap`` gives it.
    """
    uris = set(namespaces.values())
    for version in ("3.0", "2.0", "1.0"):
        core = CORE[version]
        if core in uris or any(u.startswith(core[:-4]) and u.endswith(version) for u in uris):
            return version
    return None
