"""Streaming CityGML 1.0/2.0/3.0 reader.

Reads one top-level city object at a time (lxml ``iterparse`` filtered on the
``cityObjectMember``/``featureMember`` elements) and frees it before the next, so
memory stays bounded by the largest single object, not by the file.

>>> reader = CityGMLReader("city.gml")                      # doctest: +SKIP
>>> reader.version, reader.crs                              # doctest: +SKIP
('2.0', SourceCRS(srs_name='urn:ogc:def:crs:EPSG::25833', horizontal_epsg=25833, ...))
>>> for feature in reader.features():                       # doctest: +SKIP
...     print(feature.id, feature.cls, feature.available_lods())

:meth:`CityGMLReader.chunks` cuts a file into byte ranges of whole members that
:meth:`CityGMLReader.from_chunk` reads on their own (parallel parsing of one file; see
docs/convert.md for when that falls back to the single stream).

Broken parts (unclosed ring, too few points, NaN, unknown reference) are left out and
listed in :attr:`CityGMLReader.skipped` with the object's id, the line and the reason;
a file that is not XML, not CityGML, truncated or unsafe stops with
:class:`~greentwin.core.errors.InputFileError`,
:class:`~greentwin.core.errors.CityGMLError` or
:class:`~greentwin.core.errors.UnsafeInputError`.
"""

from __future__ import annotations

import logging
import mmap
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from greentwin.citygml.appearance import AppearanceIndex, AppearanceParser, apply_appearance
from greentwin.citygml.crs import (
    axis_swap,
    envelope_problem,
    parse_srs_name,
    parse_vertical_crs,
    with_vertical,
)
from greentwin.citygml.gml import (
    GeometryContext,
    PendingRef,
    finish_rings,
    parse_geometry,
    parse_implicit,
)
from greentwin.citygml.model import (
    SURFACE_TYPES,
    AttributeValue,
    CityGMLVersion,
    Feature,
    Polygon,
    SkippedFeature,
    SourceCRS,
)
from greentwin.citygml.namespaces import (
    APPEARANCE_MEMBER_TAGS,
    CORE,
    GML,
    GML_NAMESPACES,
    MEMBER_TAGS,
    XLINK_HREF,
    gml_id_attr,
    split_tag,
    version_from_namespaces,
)
from greentwin.citygml.xmlsafe import check_prolog, safe_fromstring, safe_iterparse, xml_error
from greentwin.core.errors import CityGMLError, CRSError, InputFileError
from lxml import etree

__all__ = ["ChunkFallback", "ChunkSpec", "CityGMLReader"]

log = logging.getLogger(__name__)

Element = Any  # lxml.etree._Element

#: Prototype geometries (implicit geometry) kept for later ``xlink:href`` use.
MAX_PROTOTYPES: Final = 1024
#: Start elements scanned after the root for the document CRS and srsDimension.
CRS_SCAN_ELEMENTS: Final = 5000
#: Attributes kept per city object (generic and ADE ones beyond it are cut and
#: reported): a hostile file with 400,000 generic attributes on one building would
#: otherwise take some 800 MB and one property-table column each.
MAX_ATTRIBUTES: Final = 1000
#: Namespace prefixes of CityGML, GML, xAL and W3C: other namespaces are ADEs.
_STANDARD_NS: Final = (
    "http://www.opengis.net/",
    "urn:oasis:names:tc:ciq:",
    "http://www.w3.org/",
)

# kinds of child elements of a city object
(
    _K_IGNORE,
    _K_NAME,
    _K_BOUNDED,
    _K_BOUNDARY,
    _K_CODE,
    _K_FLOAT,
    _K_INT,
    _K_STR,
    _K_GENERIC,
    _K_GENERIC3,
    _K_ADDRESS,
    _K_PART,
    _K_MERGE,
    _K_APPEARANCE,
    _K_GEOMETRY,
    _K_IMPLICIT,
    _K_HEIGHT,
    _K_DATE,
    _K_ADE,
) = range(19)

_FIXED_KINDS: Final[dict[str, int]] = {
    "name": _K_NAME,
    "boundedBy": _K_BOUNDED,
    "boundary": _K_BOUNDARY,
    "class": _K_CODE,
    "function": _K_CODE,
    "usage": _K_CODE,
    "measuredHeight": _K_FLOAT,
    "height": _K_HEIGHT,
    "trunkDiameter": _K_FLOAT,
    "crownDiameter": _K_FLOAT,
    "rootBallDiameter": _K_FLOAT,
    "maxRootBallDepth": _K_FLOAT,
    "averageHeight": _K_FLOAT,
    "minHeight": _K_FLOAT,
    "maxHeight": _K_FLOAT,
    "storeysAboveGround": _K_INT,
    "storeysBelowGround": _K_INT,
    "yearOfConstruction": _K_INT,
    "yearOfDemolition": _K_INT,
    "roofType": _K_STR,
    "species": _K_STR,
    "dateOfConstruction": _K_DATE,
    "dateOfDemolition": _K_DATE,
    "stringAttribute": _K_GENERIC,
    "intAttribute": _K_GENERIC,
    "doubleAttribute": _K_GENERIC,
    "dateAttribute": _K_GENERIC,
    "uriAttribute": _K_GENERIC,
    "measureAttribute": _K_GENERIC,
    "genericAttributeSet": _K_GENERIC,
    "genericAttribute": _K_GENERIC3,
    "address": _K_ADDRESS,
    "consistsOfBuildingPart": _K_PART,
    "buildingPart": _K_PART,
    "consistsOfBridgePart": _K_PART,
    "bridgePart": _K_PART,
    "consistsOfTunnelPart": _K_PART,
    "tunnelPart": _K_PART,
    "outerBuildingInstallation": _K_MERGE,
    "interiorBuildingInstallation": _K_MERGE,
    "buildingInstallation": _K_MERGE,
    "buildingConstructiveElement": _K_MERGE,
    "outerBridgeConstruction": _K_MERGE,
    "outerBridgeInstallation": _K_MERGE,
    "bridgeConstructiveElement": _K_MERGE,
    "bridgeInstallation": _K_MERGE,
    "outerTunnelInstallation": _K_MERGE,
    "tunnelInstallation": _K_MERGE,
    "trafficArea": _K_MERGE,
    "auxiliaryTrafficArea": _K_MERGE,
    "reliefComponent": _K_MERGE,
    "appearance": _K_APPEARANCE,
}

#: Surface class names that map onto :data:`SURFACE_TYPES` under another name.
_SURFACE_ALIASES: Final[dict[str, str]] = {
    "WindowSurface": "Window",
    "DoorSurface": "Door",
    "InteriorWallSurface": "InteriorWallSurface",
}
_KNOWN_SURFACES: Final = frozenset(SURFACE_TYPES) - {""}
#: Children of a boundary surface that hold further surfaces (openings, fillings).
_SURFACE_NESTING: Final = frozenset({"opening", "fillingSurface"})
_STYPE_BY_TAG: dict[str, str] = {}


_KIND_BY_TAG: dict[str, tuple[int, int, str, str]] = {}
#: ``gml:boundedBy`` (the envelope, which may name the object's srsName).
_ENVELOPE_TAGS: Final = frozenset(f"{{{ns}}}boundedBy" for ns in GML_NAMESPACES)


def _kind(tag: str) -> tuple[int, int, str, str]:
    """(kind, lod, surface type, local name) of a child element's Clark tag, cached."""
    hit = _KIND_BY_TAG.get(tag)
    if hit is not None:
        return hit
    ns, loc = split_tag(tag)
    kind = _FIXED_KINDS.get(loc, _K_IGNORE)
    lod = -1
    stype = ""
    if kind == _K_BOUNDED and ns in GML_NAMESPACES:
        kind = _K_IGNORE  # gml:boundedBy is the envelope, bldg:boundedBy a surface
    elif kind == _K_BOUNDED:
        kind = _K_BOUNDARY
    if kind == _K_IGNORE and loc.startswith("adeOf"):
        kind = _K_ADE  # CityGML 3.0 wraps ADE properties in adeOf<Class>
    elif kind == _K_IGNORE and len(loc) > 4 and loc.startswith("lod") and loc[3].isdigit():
        lod = int(loc[3])
        rest = loc[4:]
        if rest.endswith("ImplicitRepresentation"):
            kind = _K_IMPLICIT
        elif "TerrainIntersection" in rest or "Curve" in rest or rest == "Point":
            kind = _K_IGNORE
        else:
            kind = _K_GEOMETRY
            if rest == "FootPrint":
                stype = "GroundSurface"
            elif rest == "RoofEdge":
                stype = "RoofSurface"
    elif kind == _K_IGNORE and ns and not ns.startswith(_STANDARD_NS):
        kind = _K_ADE  # a property of an Application Domain Extension (e.g. PLATEAU uro:)
    hit = (kind, lod, stype, loc)
    if len(_KIND_BY_TAG) < 100_000:
        _KIND_BY_TAG[tag] = hit
    return hit


def _text(el: Element) -> str:
    return (el.text or "").strip()


def _number(text: str, typ: type[int] | type[float]) -> AttributeValue:
    try:
        return typ(text)
    except ValueError:
        try:
            return float(text) if typ is int else text
        except ValueError:
            return text


def _generic_value(kind: str, text: str) -> AttributeValue:
    k = kind.lower()
    if k.startswith("int"):
        return _number(text, int)
    if k.startswith(("double", "measure")):
        return _number(text, float)
    return text


def _format_address(address: Element) -> str:
    """street number, postcode city (xAL 2.0 of CityGML 1.0/2.0 and xAL 3 of CityGML 3.0)."""
    street = number = postcode = city = ""
    for el in address.iter():
        tag = el.tag
        if not isinstance(tag, str):
            continue
        loc = split_tag(tag)[1]
        text = _text(el)
        if not text:
            continue
        parent = el.getparent()
        ploc = split_tag(parent.tag)[1] if parent is not None else ""
        if loc == "ThoroughfareName" or (loc == "NameElement" and ploc == "Thoroughfare"):
            street = street or text
        elif loc == "ThoroughfareNumber" or (loc == "Number" and ploc == "Thoroughfare"):
            number = number or text
        elif loc == "PostalCodeNumber" or (loc == "Identifier" and ploc == "PostCode"):
            postcode = postcode or text
        elif loc == "LocalityName" or (loc == "NameElement" and ploc == "Locality"):
            city = city or text
    first = " ".join(p for p in (street, number) if p)
    second = " ".join(p for p in (postcode, city) if p)
    return ", ".join(p for p in (first, second) if p)


def _has_bytes(path: Path, needle: bytes) -> bool:
    """Whether ``needle`` occurs in the file (chunked scan, bounded memory)."""
    overlap = len(needle) - 1
    tail = b""
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            if needle in tail + chunk[: overlap + 1] or needle in chunk:
                return True
            tail = chunk[-overlap:]
    return False


# -- byte ranges of one file ------------------------------------------------------------


class ChunkFallback(CityGMLError):
    """A byte range cannot be read on its own exactly as the whole stream would read it
    (a shared implicit-geometry prototype, a chunk that is not well-formed on its own,
    ...); the caller reads the file as one stream instead."""


@dataclass(frozen=True, slots=True)
class ChunkSpec:
    """One byte range of a CityGML file, readable on its own (see :meth:`CityGMLReader.chunks`).

    Attributes
    ----------
    path : the file.
    index : position of the range in the file (0 first).
    start, end : byte offsets; ``start`` is the ``<`` of a member start tag.
    head : XML declaration (if any) and the root start tag, verbatim but on one line.
    tail : the root end tag.
    version, crs, override, dim, theme, stem, vertical : the reader state of the whole
        document.
    """

    path: Path
    index: int
    start: int
    end: int
    head: bytes
    tail: bytes
    version: CityGMLVersion
    crs: SourceCRS | None
    override: SourceCRS | None
    dim: int
    theme: str | None
    stem: str
    vertical: int | None = None


#: Encodings (as declared) in which ASCII markup is found byte for byte.
_ASCII_SAFE = re.compile(rb"(?i)utf-?8|us-ascii|ascii|iso-8859-\d+|latin-?1|windows-125\d|cp125\d")
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([^"']+)["']""")
_START_TAG = re.compile(rb"""<([^\s>/!?]+)(?:\s+[^\s=>/]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*(/?)>""")
_XMLNS = re.compile(rb"""xmlns(?::([^\s=]+))?\s*=\s*(["'])(.*?)\2""", re.S)
#: Namespace URI -> local name of the elements that hold one top-level city object.
_MEMBER_ELEMENTS: Final[tuple[tuple[str, str], ...]] = (
    *((ns, "cityObjectMember") for ns in CORE.values()),
    *((ns, "featureMember") for ns in sorted(set(GML.values()))),
    ("http://www.opengis.net/wfs/2.0", "member"),
)


def _root_tag(mm: mmap.mmap) -> tuple[bytes, bytes, int] | str:
    """(XML declaration, root start tag, offset after it) or why the file cannot be split."""
    if mm[:4].startswith((b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<")):
        return "UTF-16 document"
    pos = 3 if mm[:3] == b"\xef\xbb\xbf" else 0
    decl = b""
    limit = min(len(mm), 4 * 1024 * 1024)
    while True:
        lt = mm.find(b"<", pos, limit)
        if lt < 0:
            return "no root element found"
        if mm[lt : lt + 2] == b"<?" or mm[lt : lt + 4] == b"<!--":
            closer = b"?>" if mm[lt + 1] == ord("?") else b"-->"
            end = mm.find(closer, lt, limit)
            if end < 0:
                return "unterminated prolog"
            if mm[lt : lt + 6] == b"<?xml " and not decl:
                decl = mm[lt : end + 2]
            pos = end + len(closer)
            continue
        if mm[lt : lt + 2] == b"<!":
            end = mm.find(b">", lt, limit)
            if end < 0:
                return "unterminated DOCTYPE"
            pos = end + 1
            continue
        tag_end = mm.find(b">", lt, limit)
        m = _START_TAG.match(mm[lt : min(limit, lt + 1024 * 1024)])
        if m is None or tag_end < 0:
            return "root start tag not understood"
        if m.group(2):
            return "empty root element"
        enc = _ENCODING.search(decl)
        if enc is not None and not _ASCII_SAFE.fullmatch(enc.group(1)):
            return f"encoding {enc.group(1).decode('ascii', 'replace')}"
        return decl, m.group(0), lt + m.end()


def _member_pattern(root: bytes) -> re.Pattern[bytes] | None:
    """Regex for the member start tags with the prefixes the root element declares."""
    names: list[bytes] = []
    for m in _XMLNS.finditer(root):
        prefix, uri = m.group(1), m.group(3).decode("utf-8", "replace")
        for ns, local in _MEMBER_ELEMENTS:
            if uri == ns:
                names.append((prefix + b":" if prefix else b"") + local.encode("ascii"))
    if not names:
        return None
    alt = b"|".join(re.escape(n) for n in sorted(set(names)))
    return re.compile(b"<(?:" + alt + rb")[\s/>]")


_APPEARANCE_MEMBER: Final = b"appearanceMember"
_GLOBAL_APPEARANCES: Final = "global appearances (appearanceMember)"


def _one_line(raw: bytes) -> bytes:
    return raw.replace(b"\r", b" ").replace(b"\n", b" ")


_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def id_stem(path: Path) -> str:
    """Prefix of the ids invented for city objects without ``gml:id``.

    The file name's stem, reduced to the characters every consumer accepts as they are
    (``A-Z a-z 0-9 _ . -``: an XML NCName, a URL path segment and a ``greentwin/1``
    object id alike), starting with a letter and at most 48 characters, so the invented
    ids ``<stem>_<n>`` are stable across reads and need no escaping anywhere.

    >>> id_stem(Path("Berlin trees (2023).gml"))
    'Berlin_trees_2023'
    """
    stem = _ID_UNSAFE.sub("_", path.stem).strip("_.-")
    if not stem or not stem[0].isalpha():
        stem = f"f{stem}"
    return stem[:48]


class CityGMLReader:
    """Stream the city objects of a CityGML 1.0/2.0/3.0 document.

    Parameters
    ----------
    path : the ``.gml`` file.
    crs : CRS override (any form :func:`~greentwin.citygml.crs.parse_srs_name` reads,
        e.g. ``"EPSG:25833"``); wins over the document's ``srsName``.
    appearance_theme : appearance theme to use; None = the first theme in the file.
    vertical_crs : EPSG vertical CRS of the heights (e.g. ``"EPSG:3900"``, N2000),
        added to every CRS the document or ``crs`` names (replacing a vertical part).

    Attributes
    ----------
    version : "1.0" | "2.0" | "3.0", from the root element's namespaces.
    crs : the document CRS (root ``boundedBy`` or first ``srsName``; the override wins),
        None when the document names none.
    skipped : objects or parts left out, with id, line and reason (filled while reading).
    stats : number of city objects read per class (children included).

    Raises
    ------
    InputFileError
        Missing, empty, non-XML or truncated file.
    UnsafeInputError
        DOCTYPE with entities, internal subset or external DTD.
    CityGMLError
        XML that is not CityGML.
    CRSError
        Unknown ``crs`` override or document CRS.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        crs: str | None = None,
        appearance_theme: str | None = None,
        vertical_crs: str | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputFileError(f"{self.path}: no such file; give the path of a CityGML file")
        check_prolog(self.path)
        self._vertical = parse_vertical_crs(vertical_crs) if vertical_crs else None
        self._override: SourceCRS | None = (
            with_vertical(parse_srs_name(crs), self._vertical) if crs else None
        )
        self.skipped: list[SkippedFeature] = []
        self.stats: dict[str, int] = {}
        self._anonymous = 0
        self._prototypes: dict[str, list[Polygon]] = {}
        self._appearances = AppearanceParser(self.path.parent, appearance_theme)
        self._global_app = AppearanceIndex()
        self._local_app = AppearanceIndex()
        version, doc_crs, dim = self._scan_head()
        self.version: CityGMLVersion = version
        self._id_attr = gml_id_attr(version)
        self._dim = dim
        self.crs: SourceCRS | None = self._override or doc_crs
        self._stem = id_stem(self.path)
        self._srs_cache: dict[str, SourceCRS] = {}
        self._cut = 0
        self._chunk: ChunkSpec | None = None
        #: newlines in the byte range read (chunk mode; lines are relative to its start)
        self.newlines = 0

    @classmethod
    def from_chunk(cls, spec: ChunkSpec) -> CityGMLReader:
        """A reader of one byte range planned by :meth:`chunks`.

        The range is parsed as a small document: ``spec.head`` + the bytes + ``spec.tail``,
        with the same safe parser settings. Lines in :attr:`skipped` and
        ``Feature.line`` count from the range's first line (line 1): add the number of
        newlines before ``spec.start`` to get file lines. Ids invented for objects
        without ``gml:id`` count from 1 within the range (see :attr:`anonymous`).

        Raises
        ------
        ChunkFallback
            (while reading) The range cannot be read exactly as the whole stream would.
        """
        self = cls.__new__(cls)
        self.path = spec.path
        self._vertical = spec.vertical
        self._override = spec.override
        self._cut = 0
        self.skipped = []
        self.stats = {}
        self._anonymous = 0
        self._prototypes = {}
        self._appearances = AppearanceParser(spec.path.parent, spec.theme)
        self._global_app = AppearanceIndex()
        self._local_app = AppearanceIndex()
        self.version = spec.version
        self._id_attr = gml_id_attr(spec.version)
        self._dim = spec.dim
        self.crs = spec.crs
        self._stem = spec.stem
        self._srs_cache = {}
        self._chunk = spec
        self.newlines = 0
        return self

    @property
    def anonymous(self) -> int:
        """City objects read so far that had no gml:id (ids ``<stem>_1`` ... were given: see :func:`id_stem`)."""
        return self._anonymous

    @property
    def theme(self) -> str | None:
        """The appearance theme in use (None until the first appearance is met)."""
        return self._appearances.theme

    def chunks(self, target_bytes: int) -> list[ChunkSpec] | str:
        """Split the document into byte ranges of whole top-level members.

        A fast byte scan (``mmap`` and a regex on the member start tags with the
        prefixes the root element declares) cuts the member list into ranges of about
        ``target_bytes``; each range, wrapped in the root start and end tags, is a
        well-formed document that :meth:`from_chunk` reads.

        Returns
        -------
        The ranges in document order, or the reason the file must be read as one
        stream: global appearances (``appearanceMember``) before the first member, no
        document CRS, a root start tag or encoding the scan cannot handle, no members,
        no root end tag. Global appearances between members are found by the range
        that holds them (:class:`ChunkFallback` while reading).

        Notes
        -----
        The scan touches only the file head, the bytes around each cut and the end,
        so the mapping adds little to this process's resident memory.
        A member start tag the scan misses (a prefix declared below the root) only
        makes a range larger; a false match (inside a comment or CDATA) makes that
        range fail to parse, and :class:`ChunkFallback` sends the caller back to the
        single stream.
        """
        if self.crs is None:
            return "the document names no CRS before its first features"
        try:
            fh = self.path.open("rb")
        except OSError as exc:
            raise InputFileError(f"cannot open {self.path}: {exc.strerror or exc}") from exc
        with fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            got = _root_tag(mm)
            if isinstance(got, str):
                return got
            decl, root, body = got
            qname = _START_TAG.match(root)
            assert qname is not None
            tail = b"</" + qname.group(1) + b">"
            stop = mm.rfind(b"</" + qname.group(1), body)
            if stop < 0:
                return "no root end tag (truncated file?)"
            pattern = _member_pattern(root)
            if pattern is None:
                return "the root element declares no member namespace"
            first = pattern.search(mm, body, stop)
            if first is None:
                return "no cityObjectMember"
            # only the bytes before the first member: each range checks its own (reading
            # the whole mapped file here would count it all in this process's memory)
            if mm.find(_APPEARANCE_MEMBER, body, first.start()) >= 0:
                return _GLOBAL_APPEARANCES
            head = _one_line(decl) + _one_line(root)
            specs: list[ChunkSpec] = []
            start = first.start()
            while start < stop:
                nxt = pattern.search(mm, min(start + target_bytes, stop), stop)
                end = nxt.start() if nxt is not None else stop
                specs.append(
                    ChunkSpec(
                        self.path, len(specs), start, end, head, tail, self.version, self.crs,
                        self._override, self._dim, self._appearances.theme, self._stem,
                        self._vertical,
                    )
                )  # fmt: skip
                start = end
            return specs

    def newlines_before(self, offset: int) -> int:
        """Newlines in the file before byte ``offset`` (reads that prefix once)."""
        count = 0
        with self.path.open("rb") as fh:
            left = offset
            while left > 0:
                block = fh.read(min(left, 1 << 22))
                if not block:
                    break
                count += block.count(b"\n")
                left -= len(block)
        return count

    # -- document head ----------------------------------------------------------------

    def _scan_head(self) -> tuple[CityGMLVersion, SourceCRS | None, int]:
        version: CityGMLVersion | None = None
        srs: str | None = None
        dim = 3
        seen = 0
        envelope: Element | None = None
        corners: dict[str, str] = {}
        try:
            events = safe_iterparse(self.path, events=("start", "end"))
            for ev, el in events:
                if envelope is not None:
                    # the envelope that named the CRS: read its corners, then stop
                    if ev == "end":
                        if el is envelope:
                            break
                        corners[split_tag(el.tag)[1]] = el.text or ""
                    continue
                if ev == "end":
                    continue
                if version is None:
                    version = version_from_namespaces(dict(el.nsmap))
                    if version is None:
                        ns, loc = split_tag(el.tag)
                        raise CityGMLError(
                            f"{self.path}: not a CityGML document: the root element is "
                            f"{loc!r} in namespace {ns or '(none)'!r}, and no CityGML 1.0, 2.0 "
                            "or 3.0 namespace is declared"
                        )
                srs_attr = el.get("srsName")
                if srs_attr:
                    srs = srs_attr
                    d = el.get("srsDimension")
                    if d and d.isdigit():
                        dim = int(d)
                    if split_tag(el.tag)[1] != "Envelope":
                        break
                    envelope = el
                    continue
                seen += 1
                if seen > CRS_SCAN_ELEMENTS:
                    break
        except etree.XMLSyntaxError as exc:
            if version is None:
                raise xml_error(self.path, exc) from exc
            # errors past the head surface again (with context) when reading features
        if version is None:
            raise InputFileError(f"{self.path}: no XML root element; not a CityGML document")
        doc_crs = None
        if srs is not None and self._override is None:
            doc_crs = with_vertical(parse_srs_name(srs), self._vertical)
        self._check_envelope(self._override or doc_crs, corners)
        return version, doc_crs, dim

    def _check_envelope(self, crs: SourceCRS | None, corners: dict[str, str]) -> None:
        """Warn when the document envelope lies outside the CRS's area of use."""
        try:
            lower = [float(v) for v in corners.get("lowerCorner", "").split()[:2]]
            upper = [float(v) for v in corners.get("upperCorner", "").split()[:2]]
        except ValueError:
            return
        if crs is None or len(lower) != 2 or len(upper) != 2:
            return
        if axis_swap(crs):
            lower.reverse()
            upper.reverse()
        why = envelope_problem(crs, (lower[0], lower[1]), (upper[0], upper[1]))
        if why is not None:
            log.warning("%s: %s", self.path, why)

    # -- streaming --------------------------------------------------------------------

    def features(self) -> Iterator[Feature]:
        """Yield the top-level city objects one by one, in document order.

        Buildings come with their BuildingParts in ``children``; installations and
        openings are merged into their building's LoD geometry. A file with global
        appearances (``appearanceMember``) is first scanned once for those only.

        Raises
        ------
        InputFileError
            The XML breaks off or is malformed (objects before that point were yielded).
        CRSError
            Neither the document nor the override names a CRS.
        """
        doc: bytes | None = None
        spec = self._chunk
        if spec is not None:
            with self.path.open("rb") as fh:
                fh.seek(spec.start)
                data = fh.read(spec.end - spec.start)
            if _APPEARANCE_MEMBER in data:
                raise ChunkFallback(f"{self.path}: {_GLOBAL_APPEARANCES}")
            self.newlines = data.count(b"\n")
            doc = b"".join((spec.head, data, spec.tail))
            del data
        elif _has_bytes(self.path, b"appearanceMember"):
            self._prescan_appearances()
        invented = 0
        try:
            # indentation between elements is dropped (the reader strips every text)
            members: Iterator[tuple[str, Element]]
            if doc is not None:
                # a byte range is small: one parse of the whole range, then the same
                # member events over the tree (cheaper than parsing incrementally)
                root = safe_fromstring(doc, remove_blank_text=True)
                doc = None
                members = etree.iterwalk(root, events=("end",), tag=MEMBER_TAGS)
            else:
                members = safe_iterparse(
                    self.path, events=("end",), tag=MEMBER_TAGS, remove_blank_text=True
                )
            for _ev, member in members:
                for obj in (member[0],) if len(member) == 1 else member:
                    if not isinstance(obj.tag, str):
                        continue
                    anonymous_before = self._anonymous
                    feature = self._read_top(obj)
                    invented += self._anonymous - anonymous_before
                    if feature is not None:
                        yield feature
                # drop the last child's proxy first: clearing a parent while a proxy of a
                # child is alive makes lxml copy that child's subtree (slow)
                obj = feature = None
                member.clear()
                parent = member.getparent()
                if parent is not None:
                    while member.getprevious() is not None:
                        del parent[0]
        except etree.XMLSyntaxError as exc:
            if spec is not None:
                raise ChunkFallback(
                    f"{self.path}: bytes {spec.start}-{spec.end} are not well-formed on their "
                    f"own: {exc}"
                ) from exc
            raise xml_error(self.path, exc) from exc
        if invented and spec is None:
            log.info(
                "%s: %d city objects had no gml:id; ids %s#<n> were given",
                self.path,
                invented,
                self._stem,
            )

    def _prescan_appearances(self) -> None:
        try:
            for _ev, member in safe_iterparse(
                self.path, events=("end",), tag=APPEARANCE_MEMBER_TAGS
            ):
                for app in member:
                    if isinstance(app.tag, str):
                        self._appearances.parse(app, self._global_app)
                member.clear()
                parent = member.getparent()
                if parent is not None:
                    while member.getprevious() is not None:
                        del parent[0]
        except etree.XMLSyntaxError as exc:
            raise xml_error(self.path, exc) from exc
        self._flush_appearance_problems()

    def _flush_appearance_problems(self) -> None:
        for pid, line, why in self._appearances.problems:
            self.skipped.append(SkippedFeature(pid, line, why))
        self._appearances.problems.clear()

    # -- one top-level object ---------------------------------------------------------

    def _feature_crs(self, obj: Element) -> SourceCRS | None:
        if self._override is not None:
            return self._override
        for child in obj.iterchildren(*_ENVELOPE_TAGS):  # gml:boundedBy, not bldg:boundedBy
            for env in child:
                srs = env.get("srsName")
                if srs:
                    crs = self._srs_cache.get(srs)
                    if crs is None:
                        try:
                            crs = with_vertical(parse_srs_name(srs), self._vertical)
                        except CRSError:
                            if self.crs is None:
                                raise
                            self.skipped.append(
                                SkippedFeature(
                                    obj.get(self._id_attr) or "?",
                                    env.sourceline or 0,
                                    f"unknown srsName {srs!r}; the document CRS is used",
                                )
                            )
                            return self.crs
                        if len(self._srs_cache) < 64:
                            self._srs_cache[srs] = crs
                    if self.crs is None:
                        self.crs = crs
                    return crs
            break
        return self.crs

    def _read_top(self, obj: Element) -> Feature | None:
        crs = self._feature_crs(obj)
        swap = axis_swap(crs) if crs is not None else False
        ctx = GeometryContext(self._id_attr, swap, self._dim)
        local_app = self._local_app
        local_app.clear()
        feature = self._object(obj, ctx, crs, None, local_app, None)
        finish_rings(ctx)
        ctx.owner = feature.id
        if ctx.refs:
            self._resolve(ctx)
        if self._global_app:
            apply_appearance(self._global_app, ctx, feature.id, self._appearances.problems)
        if local_app:
            apply_appearance(local_app, ctx, feature.id, self._appearances.problems)
        if self._appearances.problems:
            self._flush_appearance_problems()
        for owner, line, why in ctx.problems:
            self.skipped.append(SkippedFeature(owner, line, why))
        if len(self._prototypes) > MAX_PROTOTYPES:
            for key in list(self._prototypes)[: len(self._prototypes) - MAX_PROTOTYPES]:
                del self._prototypes[key]
        if not _has_geometry(feature):
            self.skipped.append(
                SkippedFeature(
                    feature.id, feature.line, f"{feature.cls} has no usable geometry; left out"
                )
            )
            return None
        if crs is None:
            raise CRSError(
                f"{self.path} names no coordinate reference system (no srsName); "
                "pass one, e.g. --crs EPSG:25833"
            )
        self._count(feature)
        return feature

    def _count(self, feature: Feature) -> None:
        stats = self.stats
        stats[feature.cls] = stats.get(feature.cls, 0) + 1
        for child in feature.children:
            self._count(child)

    def _resolve(self, ctx: GeometryContext) -> None:
        members: dict[int, set[int]] = {}
        for ref in ctx.refs:
            href = ref.target
            if not href.startswith("#"):
                ctx.problems.append(
                    (ctx.owner, ref.line, f"reference {href!r} to another file is not supported")
                )
                continue
            target = href[1:]
            poly = ctx.polygons.get(target)
            polys = [poly] if poly is not None else ctx.aggregates.get(target)
            if polys is None:
                ctx.problems.append(
                    (
                        ctx.owner,
                        ref.line,
                        f"unknown reference xlink:href={href!r}; surface left out",
                    )
                )
                continue
            out = ref.out
            present = members.get(id(out))
            if present is None:
                present = {id(p) for p in out}
                members[id(out)] = present
            for p in polys:
                if ref.surface_type and not p.surface_type:
                    p.surface_type = ref.surface_type
                    p.surface_id = ref.surface_id
                if id(p) not in present:
                    out.append(p)
                    present.add(id(p))

    def _object(
        self,
        obj: Element,
        ctx: GeometryContext,
        crs: SourceCRS | None,
        parent_id: str | None,
        app: AppearanceIndex,
        into: Feature | None,
    ) -> Feature:
        """Parse a city object; with ``into``, merge its geometry into that feature."""
        cls = split_tag(obj.tag)[1]
        fid = obj.get(self._id_attr)
        if into is not None:
            feature = Feature(fid or "", cls, crs, lods=into.lods, implicit=into.implicit)
            feature.children = into.children
        else:
            if not fid:
                self._anonymous += 1
                fid = f"{self._stem}_{self._anonymous}"
            feature = Feature(
                fid, cls, crs, parent_id=parent_id, line=obj.sourceline or 0, version=self.version
            )
        owner_before = ctx.owner
        ctx.owner = feature.id or owner_before
        cut_before = self._cut
        self._cut = 0
        attrs = feature.attributes
        lods = feature.lods
        kinds = _KIND_BY_TAG
        for child in obj:
            tag = child.tag
            hit = kinds.get(tag)
            kind, lod, stype, loc = hit if hit is not None else _kind(tag)
            if kind == _K_IGNORE:
                continue
            if kind == _K_BOUNDARY:
                # one child is the rule: an index is cheaper than an lxml iterator
                if len(child) == 1:
                    self._surface(child[0], ctx, feature, app)
                else:
                    for surf in child:
                        self._surface(surf, ctx, feature, app)
            elif kind == _K_GEOMETRY:
                out = lods.get(lod)
                if out is None:
                    out = lods[lod] = []
                href = child.get(XLINK_HREF)
                if href is not None:
                    ctx.refs.append(_ref(href, stype, None, out, child))
                    continue
                for geom in child:
                    parse_geometry(ctx, geom, stype, None, out)
            elif kind == _K_GENERIC:
                self._generic(child, loc, attrs)
            elif kind == _K_GENERIC3:
                for g in child:
                    if isinstance(g.tag, str):
                        self._generic3(g, attrs)
            elif kind == _K_ADE:
                self._ade(child, attrs)
            elif kind == _K_NAME:
                if "name" not in attrs and child.text:
                    attrs["name"] = child.text.strip()
            elif kind == _K_CODE:
                text = _text(child)
                old = attrs.get(loc)
                attrs[loc] = f"{old};{text}" if isinstance(old, str) and old else text
            elif kind == _K_FLOAT:
                attrs[loc] = _number(_text(child), float)
            elif kind == _K_INT:
                attrs[loc] = _number(_text(child), int)
            elif kind == _K_STR:
                attrs[loc] = _text(child)
            elif kind == _K_HEIGHT:
                if len(child):
                    self._height3(child, attrs)
                else:
                    attrs["height"] = _number(_text(child), float)
            elif kind == _K_DATE:
                text = _text(child)
                attrs[loc] = text
                year = text[:4]
                if year.isdigit():
                    attrs["yearOf" + loc[6:]] = int(year)
            elif kind == _K_IMPLICIT:
                self._implicit(child, lod, ctx, feature)
            elif kind == _K_ADDRESS:
                formatted = _format_address(child)
                if formatted:
                    old = attrs.get("address")
                    attrs["address"] = f"{old}; {formatted}" if old else formatted
            elif kind == _K_PART:
                for part in child:
                    if isinstance(part.tag, str):
                        feature.children.append(self._object(part, ctx, crs, feature.id, app, None))
            elif kind == _K_MERGE:
                for sub in child:
                    if isinstance(sub.tag, str):
                        self._object(sub, ctx, crs, feature.id, app, feature)
            elif kind == _K_APPEARANCE:
                for a in child:
                    if isinstance(a.tag, str):
                        self._appearances.parse(a, app)
        if self._cut:
            ctx.problems.append(
                (
                    ctx.owner,
                    obj.sourceline or 0,
                    f"{self._cut} attributes beyond the first {MAX_ATTRIBUTES} of {cls} left out",
                )
            )
        self._cut = cut_before
        ctx.owner = owner_before
        return feature

    def _put(self, attrs: dict[str, AttributeValue], name: str, value: AttributeValue) -> None:
        """Set an attribute unless it is set already; at most MAX_ATTRIBUTES (counted)."""
        if name in attrs:
            return
        if len(attrs) >= MAX_ATTRIBUTES:
            self._cut += 1
            return
        attrs[name] = value

    def _ade(self, el: Element, attrs: dict[str, AttributeValue]) -> None:
        """ADE properties (e.g. PLATEAU ``uro:buildingIDAttribute``): every leaf with text
        becomes an attribute under its qualified name as written (``uro:buildingID``);
        repeated leaves are joined with ``;``. GML geometry inside is not read here."""
        stack = [el]
        while stack:
            node = stack.pop()
            tag = node.tag
            if not isinstance(tag, str):
                continue
            ns, loc = split_tag(tag)
            if ns in GML_NAMESPACES:
                continue
            if len(node):
                stack.extend(reversed(node))
                continue
            text = _text(node)
            if not text:
                continue
            name = f"{node.prefix}:{loc}" if node.prefix else loc
            old = attrs.get(name)
            if isinstance(old, str):
                if len(old) < 4096:
                    attrs[name] = f"{old};{text}"
            else:
                self._put(attrs, name, text)

    def _surface(
        self, surf: Element, ctx: GeometryContext, feature: Feature, app: AppearanceIndex
    ) -> None:
        stype = _STYPE_BY_TAG.get(surf.tag)
        if stype is None:
            loc = split_tag(surf.tag)[1]
            stype = loc if loc in _KNOWN_SURFACES else _SURFACE_ALIASES.get(loc, "")
            _STYPE_BY_TAG[surf.tag] = stype
        sid = surf.get(self._id_attr)
        lods = feature.lods
        kinds = _KIND_BY_TAG
        # one child is common: a tuple is cheaper to loop over than an lxml iterator
        for prop in (surf[0],) if len(surf) == 1 else surf:
            tag = prop.tag
            hit = kinds.get(tag)
            kind, lod, _, ploc = hit if hit is not None else _kind(tag)
            if kind == _K_GEOMETRY:
                out = lods.get(lod)
                if out is None:
                    out = lods[lod] = []
                href = prop.get(XLINK_HREF)
                if href is not None:
                    ctx.refs.append(_ref(href, stype, sid, out, prop))
                    continue
                if len(prop) == 1:
                    parse_geometry(ctx, prop[0], stype, sid, out)
                else:
                    for geom in prop:
                        parse_geometry(ctx, geom, stype, sid, out)
            elif kind == _K_BOUNDARY or ploc in _SURFACE_NESTING:
                for sub in prop:
                    if isinstance(sub.tag, str):
                        self._surface(sub, ctx, feature, app)
            elif kind == _K_APPEARANCE:
                for a in prop:
                    if isinstance(a.tag, str):
                        self._appearances.parse(a, app)

    def _implicit(self, prop: Element, lod: int, ctx: GeometryContext, feature: Feature) -> None:
        for geom in prop:
            if not isinstance(geom.tag, str):
                continue
            if self._chunk is not None and _shared_prototype(geom):
                raise ChunkFallback(
                    f"{self.path}: implicit geometry refers to a prototype of another feature"
                )
            got = parse_implicit(ctx, geom, self._prototypes)
            if isinstance(got, str):
                ctx.problems.append((ctx.owner, geom.sourceline or 0, f"lod{lod} implicit: {got}"))
            else:
                feature.implicit[lod] = got
            return
        if prop.get(XLINK_HREF) is not None:
            ctx.problems.append(
                (
                    ctx.owner,
                    prop.sourceline or 0,
                    f"lod{lod} implicit geometry by reference {prop.get(XLINK_HREF)!r} "
                    "is not supported",
                )
            )

    def _generic(self, el: Element, loc: str, attrs: dict[str, AttributeValue]) -> None:
        if loc == "genericAttributeSet":
            for sub in el:
                if isinstance(sub.tag, str):
                    sloc = split_tag(sub.tag)[1]
                    if sloc.endswith("Attribute") or sloc == "genericAttributeSet":
                        self._generic(sub, sloc, attrs)
            return
        name = el.get("name")
        if not name:
            return
        for value in el:
            if isinstance(value.tag, str) and split_tag(value.tag)[1] == "value":
                self._put(attrs, name, _generic_value(loc, _text(value)))
                return

    def _generic3(self, el: Element, attrs: dict[str, AttributeValue]) -> None:
        loc = split_tag(el.tag)[1]
        name = ""
        value: Element | None = None
        for child in el:
            if not isinstance(child.tag, str):
                continue
            cloc = split_tag(child.tag)[1]
            if cloc == "name":
                name = _text(child)
            elif cloc == "value":
                value = child
        if value is None or not name:
            return
        if loc == "GenericAttributeSet":
            for ga in value:
                for g in ga:
                    if isinstance(g.tag, str):
                        self._generic3(g, attrs)
            return
        self._put(attrs, name, _generic_value(loc, _text(value)))

    def _height3(self, prop: Element, attrs: dict[str, AttributeValue]) -> None:
        """CityGML 3.0 ``con:height/con:Height``: the first value is measuredHeight."""
        for height in prop:
            for part in height:
                if isinstance(part.tag, str) and split_tag(part.tag)[1] == "value":
                    if "measuredHeight" not in attrs:
                        attrs["measuredHeight"] = _number(_text(part), float)
                    return


def _ref(href: str, stype: str, sid: str | None, out: list[Polygon], el: Element) -> PendingRef:
    return PendingRef(href, stype, sid, out, el.sourceline or 0)


def _shared_prototype(implicit: Element) -> bool:
    """Whether an ImplicitGeometry refers to its prototype by ``xlink:href``."""
    for child in implicit:
        tag = child.tag
        if isinstance(tag, str) and tag.endswith(("relativeGMLGeometry", "relativeGeometry")):
            if child.get(XLINK_HREF) is not None:
                return True
    return False


def _has_geometry(feature: Feature) -> bool:
    if feature.implicit:
        return True
    for polys in feature.lods.values():
        if polys:
            return True
    return any(_has_geometry(c) for c in feature.children)
