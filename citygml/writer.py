"""Streaming CityGML 2.0/3.0 writer for vegetation, plant covers, buildings, furniture.

Writes with :class:`lxml.etree.xmlfile`, one city object at a time, so memory stays
bounded however many trees are exported. What it writes reads back with
:class:`~greentwin.citygml.reader.CityGMLReader` to the same ids, attributes and
coordinates (coordinates are written with ``repr``, the shortest exact decimal form).

Schemas followed: OGC 08-007r2 (CityGML 2.0) modules core, building, vegetation,
generics, cityfurniture; OGC 20-010 (CityGML 3.0 conceptual model) with its GML
encoding (OGC 21-006r2) modules core, construction, building, vegetation, generics,
cityfurniture.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from greentwin.citygml.model import (
    AttributeValue,
    Feature,
    ImplicitGeometry,
    Polygon,
    SourceCRS,
)
from greentwin.core.errors import CityGMLError, InputFileError
from lxml import etree

__all__ = ["write_citygml"]

F64 = npt.NDArray[np.float64]
Element = Any

_NS: dict[str, dict[str, str]] = {
    "2.0": {
        "core": "http://www.opengis.net/citygml/2.0",
        "gml": "http://www.opengis.net/gml",
        "bldg": "http://www.opengis.net/citygml/building/2.0",
        "veg": "http://www.opengis.net/citygml/vegetation/2.0",
        "gen": "http://www.opengis.net/citygml/generics/2.0",
        "frn": "http://www.opengis.net/citygml/cityfurniture/2.0",
        "xlink": "http://www.w3.org/1999/xlink",
    },
    "3.0": {
        "core": "http://www.opengis.net/citygml/3.0",
        "gml": "http://www.opengis.net/gml/3.2",
        "bldg": "http://www.opengis.net/citygml/building/3.0",
        "con": "http://www.opengis.net/citygml/construction/3.0",
        "veg": "http://www.opengis.net/citygml/vegetation/3.0",
        "gen": "http://www.opengis.net/citygml/generics/3.0",
        "frn": "http://www.opengis.net/citygml/cityfurniture/3.0",
        "xlink": "http://www.w3.org/1999/xlink",
    },
}

_VEG_FIELDS_2 = (
    "class",
    "function",
    "usage",
    "species",
    "height",
    "trunkDiameter",
    "crownDiameter",
)
_VEG_FIELDS_3 = (*_VEG_FIELDS_2, "rootBallDiameter", "maxRootBallDepth")
_COVER_FIELDS_2 = ("class", "function", "usage", "averageHeight")
_COVER_FIELDS_3 = (*_COVER_FIELDS_2, "minHeight", "maxHeight")
_FRN_FIELDS = ("class", "function", "usage")
_BLDG_FIELDS_2 = (
    "class",
    "function",
    "usage",
    "yearOfConstruction",
    "yearOfDemolition",
    "roofType",
    "measuredHeight",
    "storeysAboveGround",
    "storeysBelowGround",
)
_BLDG_FIELDS_3 = (
    "class",
    "function",
    "usage",
    "roofType",
    "storeysAboveGround",
    "storeysBelowGround",
)
_LENGTHS = frozenset(
    {
        "height",
        "trunkDiameter",
        "crownDiameter",
        "rootBallDiameter",
        "maxRootBallDepth",
        "averageHeight",
        "minHeight",
        "maxHeight",
        "measuredHeight",
    }
)
#: Attributes written as CityGML properties (or derived), never as generic attributes.
_STANDARD = frozenset(
    {
        "name",
        "address",
        *_VEG_FIELDS_3,
        *_COVER_FIELDS_3,
        *_BLDG_FIELDS_2,
        "dateOfConstruction",
        "dateOfDemolition",
    }
)
_NCNAME_BAD = re.compile(r"[^\w.\-]")


def _ncname(value: str) -> str:
    """A valid xml NCName for gml:id (invented ids like ``file#3`` become ``file_3``)."""
    out = _NCNAME_BAD.sub("_", value)
    if not out or not (out[0].isalpha() or out[0] == "_"):
        out = "id_" + out
    return out


def _num(value: AttributeValue) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _coords(ring: F64, close: bool) -> str:
    pts = ring.tolist()
    if close:
        pts.append(pts[0])
    return " ".join(repr(float(v)) for p in pts for v in p)


class _Writer:
    def __init__(self, xf: Any, version: Literal["2.0", "3.0"], crs: SourceCRS) -> None:
        self.xf = xf
        self.v = version
        self.ns = _NS[version]
        self.crs = crs
        self.gml_id = "{" + self.ns["gml"] + "}id"

    def q(self, prefix: str, local: str) -> str:
        return "{" + self.ns[prefix] + "}" + local

    def text(self, prefix: str, local: str, value: str, **attrib: str) -> None:
        el = etree.Element(self.q(prefix, local), attrib)
        el.text = value
        self.xf.write(el)

    # -- geometry ---------------------------------------------------------------------

    def polygon(self, parent: Element, poly: Polygon) -> None:
        member = etree.SubElement(parent, self.q("gml", "surfaceMember"))
        attrib = {self.gml_id: _ncname(poly.id)} if poly.id else {}
        pe = etree.SubElement(member, self.q("gml", "Polygon"), attrib)
        for i, ring in enumerate([poly.exterior, *poly.interiors]):
            prop = etree.SubElement(pe, self.q("gml", "exterior" if i == 0 else "interior"))
            lr = etree.SubElement(prop, self.q("gml", "LinearRing"))
            pl = etree.SubElement(lr, self.q("gml", "posList"), srsDimension="3")
            pl.text = _coords(ring, close=True)

    def multisurface(self, prefix: str, prop: str, polys: list[Polygon], srs: bool = True) -> None:
        el = etree.Element(self.q(prefix, prop))
        attrib = {"srsName": self.crs.srs_name, "srsDimension": "3"} if srs else {}
        ms = etree.SubElement(el, self.q("gml", "MultiSurface"), attrib)
        for poly in polys:
            self.polygon(ms, poly)
        self.xf.write(el)

    def implicit(self, prefix: str, lod: int, imp: ImplicitGeometry) -> None:
        prop = etree.Element(self.q(prefix, f"lod{lod}ImplicitRepresentation"))
        ig = etree.SubElement(prop, self.q("core", "ImplicitGeometry"))
        if imp.mime_type:
            etree.SubElement(ig, self.q("core", "mimeType")).text = imp.mime_type
        tm = etree.SubElement(ig, self.q("core", "transformationMatrix"))
        tm.text = " ".join(repr(float(v)) for v in np.asarray(imp.transformation).ravel())
        if imp.library_object:
            etree.SubElement(ig, self.q("core", "libraryObject")).text = imp.library_object
        if imp.prototype:
            rel = "relativeGMLGeometry" if self.v == "2.0" else "relativeGeometry"
            holder = etree.SubElement(ig, self.q("core", rel))
            ms = etree.SubElement(holder, self.q("gml", "MultiSurface"), srsDimension="3")
            for poly in imp.prototype:
                self.polygon(ms, poly)
        rp = etree.SubElement(ig, self.q("core", "referencePoint"))
        point = etree.SubElement(
            rp, self.q("gml", "Point"), srsName=self.crs.srs_name, srsDimension="3"
        )
        etree.SubElement(point, self.q("gml", "pos")).text = " ".join(
            repr(float(v)) for v in np.asarray(imp.reference_point).ravel()
        )
        self.xf.write(prop)

    # -- attributes -------------------------------------------------------------------

    def generic(self, attrs: dict[str, AttributeValue]) -> None:
        for name, value in attrs.items():
            if name in _STANDARD:
                continue
            if isinstance(value, bool):
                kind, text = "string", "true" if value else "false"
            elif isinstance(value, int):
                kind, text = "int", str(value)
            elif isinstance(value, float):
                if not math.isfinite(value):
                    continue
                kind, text = "double", repr(value)
            else:
                kind, text = "string", str(value)
            if self.v == "2.0":
                el = etree.Element(self.q("gen", f"{kind}Attribute"), name=name)
                etree.SubElement(el, self.q("gen", "value")).text = text
            else:
                el = etree.Element(self.q("core", "genericAttribute"))
                ga = etree.SubElement(el, self.q("gen", f"{kind.capitalize()}Attribute"))
                etree.SubElement(ga, self.q("gen", "name")).text = name
                etree.SubElement(ga, self.q("gen", "value")).text = text
            self.xf.write(el)

    def fields(self, prefix: str, attrs: dict[str, AttributeValue], names: tuple[str, ...]) -> None:
        for name in names:
            value = attrs.get(name)
            if value is None or value == "":
                continue
            extra = {"uom": "m"} if name in _LENGTHS else {}
            for part in str(value).split(";") if name in ("function", "usage") else [value]:
                self.text(prefix, name, _num(part), **extra)

    # -- objects ----------------------------------------------------------------------

    def feature(self, f: Feature) -> None:
        if f.cls == "SolitaryVegetationObject":
            self.vegetation(f)
        elif f.cls == "PlantCover":
            self.plant_cover(f)
        elif f.cls in ("Building", "BuildingPart"):
            self.building(f)
        elif f.cls == "CityFurniture":
            self.city_furniture(f)
        else:
            raise CityGMLError(
                f"cannot write {f.cls} {f.id!r}: the writer supports SolitaryVegetationObject, "
                "PlantCover, Building, BuildingPart and CityFurniture"
            )

    def head(self, f: Feature) -> None:
        name = f.attributes.get("name")
        if name:
            self.text("gml", "name", str(name))

    def vegetation(self, f: Feature) -> None:
        with self.xf.element(
            self.q("veg", "SolitaryVegetationObject"), {self.gml_id: _ncname(f.id)}
        ):
            self.head(f)
            if self.v == "2.0":
                self.generic(f.attributes)
                self.fields("veg", f.attributes, _VEG_FIELDS_2)
                for lod in sorted(f.lods):
                    if f.lods[lod] and 1 <= lod <= 4:
                        self.multisurface("veg", f"lod{lod}Geometry", f.lods[lod])
                for lod in sorted(f.implicit):
                    if 1 <= lod <= 4:
                        self.implicit("veg", lod, f.implicit[lod])
            else:
                self.generic(f.attributes)
                for lod in sorted(f.lods):
                    if f.lods[lod] and 0 <= lod <= 3:
                        self.multisurface("core", f"lod{lod}MultiSurface", f.lods[lod])
                for lod in sorted(f.implicit, reverse=True):
                    if 1 <= lod <= 3:
                        self.implicit("core", lod, f.implicit[lod])
                self.fields("veg", f.attributes, _VEG_FIELDS_3)

    def plant_cover(self, f: Feature) -> None:
        with self.xf.element(self.q("veg", "PlantCover"), {self.gml_id: _ncname(f.id)}):
            self.head(f)
            self.generic(f.attributes)
            if self.v == "2.0":
                self.fields("veg", f.attributes, _COVER_FIELDS_2)
                for lod in sorted(f.lods):
                    if f.lods[lod] and 1 <= lod <= 4:
                        self.multisurface("veg", f"lod{lod}MultiSurface", f.lods[lod])
            else:
                for lod in sorted(f.lods):
                    if f.lods[lod] and 0 <= lod <= 3:
                        self.multisurface("core", f"lod{lod}MultiSurface", f.lods[lod])
                self.fields("veg", f.attributes, _COVER_FIELDS_3)

    def city_furniture(self, f: Feature) -> None:
        """A CityFurniture object (a noise barrier, say): explicit surfaces per LoD.

        2.0 writes ``frn:lodXGeometry`` (LoD 1-4), 3.0 ``core:lodXMultiSurface`` (the
        space's LoD 0, 2 and 3 surface properties; LoD 1 has only a solid there and is
        written as LoD 2).
        """
        with self.xf.element(self.q("frn", "CityFurniture"), {self.gml_id: _ncname(f.id)}):
            self.head(f)
            self.generic(f.attributes)
            if self.v == "2.0":
                self.fields("frn", f.attributes, _FRN_FIELDS)
                for lod in sorted(f.lods):
                    if f.lods[lod] and 1 <= lod <= 4:
                        self.multisurface("frn", f"lod{lod}Geometry", f.lods[lod])
            else:
                for lod in sorted(f.lods):
                    out = 2 if lod == 1 else lod
                    if f.lods[lod] and out in (0, 2, 3):
                        self.multisurface("core", f"lod{out}MultiSurface", f.lods[lod])
                self.fields("frn", f.attributes, _FRN_FIELDS)

    def _surfaces(self, lod: int, polys: list[Polygon]) -> None:
        """Boundary surfaces: polygons grouped by (surface class, surface id)."""
        groups: dict[tuple[str, str | None], list[Polygon]] = {}
        for p in polys:
            groups.setdefault((p.surface_type, p.surface_id), []).append(p)
        prop_ns, prop = ("bldg", "boundedBy") if self.v == "2.0" else ("core", "boundary")
        surf_ns = "bldg" if self.v == "2.0" else "con"
        geom_ns = "bldg" if self.v == "2.0" else "core"
        for (stype, sid), group in groups.items():
            attrib = {self.gml_id: _ncname(sid)} if sid else {}
            with self.xf.element(self.q(prop_ns, prop)):
                if stype in ("Window", "Door"):
                    opening = "opening" if self.v == "2.0" else "fillingSurface"
                    cls = stype if self.v == "2.0" else f"{stype}Surface"
                    wall_id = {self.gml_id: _ncname(f"{sid}_wall")} if sid else {}
                    with self.xf.element(self.q(surf_ns, "WallSurface"), wall_id):
                        with self.xf.element(self.q(surf_ns, opening)):
                            with self.xf.element(self.q(surf_ns, cls), attrib):
                                self.multisurface(geom_ns, f"lod{lod}MultiSurface", group)
                else:
                    with self.xf.element(self.q(surf_ns, stype), attrib):
                        self.multisurface(geom_ns, f"lod{lod}MultiSurface", group)

    def building(self, f: Feature) -> None:
        with self.xf.element(self.q("bldg", f.cls), {self.gml_id: _ncname(f.id)}):
            self.head(f)
            self.generic(f.attributes)
            a = f.attributes
            if self.v == "2.0":
                self.fields("bldg", a, _BLDG_FIELDS_2)
            plain = {lod: [p for p in ps if not p.surface_type] for lod, ps in f.lods.items()}
            semantic = {lod: [p for p in ps if p.surface_type] for lod, ps in f.lods.items()}
            geom_ns = "bldg" if self.v == "2.0" else "core"
            for lod in sorted(plain):
                if plain[lod]:
                    if lod == 0 and self.v == "2.0":
                        self.multisurface("bldg", "lod0FootPrint", plain[lod])
                    else:
                        self.multisurface(geom_ns, f"lod{lod}MultiSurface", plain[lod])
            for lod in sorted(semantic):
                if semantic[lod]:
                    self._surfaces(lod, semantic[lod])
            if self.v == "3.0":
                year = a.get("yearOfConstruction")
                if "dateOfConstruction" in a:
                    self.text("con", "dateOfConstruction", str(a["dateOfConstruction"]))
                elif isinstance(year, int):
                    self.text("con", "dateOfConstruction", f"{year:04d}-01-01")
                height = a.get("measuredHeight")
                if isinstance(height, (int, float)):
                    with self.xf.element(self.q("con", "height")):
                        with self.xf.element(self.q("con", "Height")):
                            self.text("con", "highReference", "highestRoofEdge")
                            self.text("con", "lowReference", "lowestGroundPoint")
                            self.text("con", "status", "measured")
                            self.text("con", "value", _num(float(height)), uom="m")
                self.fields("bldg", a, _BLDG_FIELDS_3)
            part = "consistsOfBuildingPart" if self.v == "2.0" else "buildingPart"
            for child in f.children:
                with self.xf.element(self.q("bldg", part)):
                    self.building(child)


def write_citygml(
    features: Iterable[Feature],
    path: str | os.PathLike[str],
    *,
    version: Literal["2.0", "3.0"],
    crs: SourceCRS,
    envelope: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None,
) -> int:
    """Write city objects as a CityGML 2.0 or 3.0 document, streaming.

    Parameters
    ----------
    features : SolitaryVegetationObject, PlantCover, Building (with BuildingPart
        children) and CityFurniture features; coordinates in ``crs``, axis order (x/lon, y/lat, z).
    path : output file (written to a temporary name, then renamed into place).
    version : "2.0" or "3.0".
    crs : written as ``srsName`` on the envelope and on every geometry.
    envelope : ((min x, min y, min z), (max x, max y, max z)) for the root boundedBy;
        omitted when None (a streaming writer does not know it in advance).

    Returns
    -------
    Number of top-level city objects written.

    Raises
    ------
    CityGMLError
        A feature of a class the writer does not support.
    InputFileError
        The output cannot be written.
    """
    if version not in _NS:
        raise CityGMLError(f"cannot write CityGML {version!r}; choose '2.0' or '3.0'")
    ns = _NS[version]
    out = Path(path)
    tmp = out.with_name(out.name + ".part")
    count = 0
    try:
        with etree.xmlfile(str(tmp), encoding="UTF-8") as xf:
            xf.write_declaration()
            w = _Writer(xf, version, crs)
            nsmap = {k: v for k, v in ns.items() if k != "core"}
            nsmap[None] = ns["core"]  # type: ignore[index]
            with xf.element(w.q("core", "CityModel"), nsmap=nsmap):
                if envelope is not None:
                    bb = etree.Element(w.q("gml", "boundedBy"))
                    env = etree.SubElement(
                        bb, w.q("gml", "Envelope"), srsName=crs.srs_name, srsDimension="3"
                    )
                    lo, hi = envelope
                    etree.SubElement(env, w.q("gml", "lowerCorner")).text = " ".join(
                        map(repr, map(float, lo))
                    )
                    etree.SubElement(env, w.q("gml", "upperCorner")).text = " ".join(
                        map(repr, map(float, hi))
                    )
                    xf.write(bb)
                for feature in features:
                    with xf.element(w.q("core", "cityObjectMember")):
                        w.feature(feature)
                    count += 1
                    xf.flush()
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputFileError(f"cannot write {out}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count
