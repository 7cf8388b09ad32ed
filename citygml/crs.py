"""Coordinate reference systems named by GML ``srsName`` attributes.

Understood forms (EPSG codes are checked against pyproj's database)::

    EPSG:25833                       EPSG:3068+5783
    urn:ogc:def:crs:EPSG::25833      urn:ogc:def:crs:EPSG:6.12:25833
    urn:x-ogc:def:crs:EPSG:25833     urn:ogc:def:crs,crs:EPSG::25833,crs:EPSG::5783
    urn:ogc:def:crs,crs:EPSG:6.12:25833,crs:EPSG:6.12:5783
    http://www.opengis.net/def/crs/EPSG/0/25833
    http://www.opengis.net/def/crs-compound?1=http://www.opengis.net/def/crs/EPSG/0/25833&2=...
    http://www.opengis.net/gml/srs/epsg.xml#25833
    http://www.opengis.net/def/crs/EPSG/0/6697   (a compound CRS: split into 6668 + 6695)
    urn:adv:crs:ETRS89_UTM32*DE_DHHN92_NH   (and the other AdV names in :data:`ADV_CRS`)

Every function here is cached, so calling it for every geometry costs a dict look-up.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

import pyproj
import pyproj.exceptions
from greentwin.citygml.model import SourceCRS
from greentwin.core.errors import CRSError

__all__ = [
    "ADV_CRS",
    "axis_swap",
    "envelope_problem",
    "parse_srs_name",
    "parse_vertical_crs",
    "with_vertical",
]

#: AdV (German surveying authorities) CRS names used in ALKIS/CityGML exports, mapped
#: to EPSG codes. Source: AdV, "Dokumentation zur Modellierung der Geoinformationen
#: des amtlichen Vermessungswesens (GeoInfoDok)", CRS code list "Koordinatenreferenzsysteme".
ADV_CRS: dict[str, int] = {
    "ETRS89_UTM31": 25831,
    "ETRS89_UTM32": 25832,
    "ETRS89_UTM33": 25833,
    "ETRS89_LAT-LON": 4258,
    "ETRS89_LAT-LON_H": 4937,
    "DE_DHDN_3GK2": 31466,
    "DE_DHDN_3GK3": 31467,
    "DE_DHDN_3GK4": 31468,
    "DE_DHDN_3GK5": 31469,
    "DE_DHHN92_NH": 5783,
    "DE_DHHN2016_NH": 7837,
    "DE_DHHN12_NOH": 5784,
}

_EPSG_PLAIN = re.compile(r"^(?:EPSG|epsg):\s*(\d+)(?:\s*\+\s*(\d+))?$")
_EPSG_URN = re.compile(r"^urn:(?:x-)?ogc:def:crs:EPSG:[\d.]*:(\d+)$", re.IGNORECASE)
_EPSG_URN_COMPOUND = re.compile(
    r"^urn:(?:x-)?ogc:def:crs,crs:EPSG:[\d.]*:(\d+),crs:EPSG:[\d.]*:(\d+)$", re.IGNORECASE
)
_EPSG_HTTP = re.compile(r"^https?://www\.opengis\.net/def/crs/EPSG/[\d.]+/(\d+)$", re.IGNORECASE)
_EPSG_HTTP_COMPOUND = re.compile(
    r"^https?://www\.opengis\.net/def/crs-compound\?1=https?://www\.opengis\.net/def/crs/EPSG/"
    r"[\d.]+/(\d+)&2=https?://www\.opengis\.net/def/crs/EPSG/[\d.]+/(\d+)$",
    re.IGNORECASE,
)
_EPSG_GML_SRS = re.compile(r"^https?://www\.opengis\.net/gml/srs/epsg\.xml#(\d+)$", re.IGNORECASE)
_ADV = re.compile(r"^urn:adv:crs:(.+)$", re.IGNORECASE)


def _unknown(srs_name: str, why: str) -> CRSError:
    return CRSError(
        f"unknown coordinate reference system {srs_name!r} ({why}); "
        "pass the CRS explicitly, e.g. --crs EPSG:25833 (or EPSG:25833+5783 with heights)"
    )


@lru_cache(maxsize=256)
def _epsg_crs(code: int) -> pyproj.CRS:
    return pyproj.CRS.from_epsg(code)


def _check(srs_name: str, code: int, *, vertical: bool) -> tuple[int, int | None]:
    """Check an EPSG code for its slot; a compound CRS is split into its two parts.

    pyproj's ``is_vertical`` is also true for compound CRSs (it looks into their
    parts), so a compound code such as EPSG:6697 (JGD2011 + JGD2011 height, the CRS
    of Japan's PLATEAU models) is told apart by ``is_compound``.

    Returns
    -------
    (horizontal or vertical code, the vertical code of a compound CRS or None)
    """
    try:
        crs = _epsg_crs(code)
    except pyproj.exceptions.CRSError as exc:
        raise _unknown(srs_name, f"EPSG:{code} is not in the EPSG database") from exc
    if crs.is_compound:
        if vertical:
            raise _unknown(srs_name, f"EPSG:{code} is a compound CRS, a vertical one is needed")
        parts = [sub.to_epsg() for sub in crs.sub_crs_list]
        if len(parts) != 2 or parts[0] is None or parts[1] is None:
            raise _unknown(
                srs_name, f"the parts of the compound CRS EPSG:{code} have no EPSG codes"
            )
        return parts[0], parts[1]
    if vertical and not crs.is_vertical:
        raise _unknown(srs_name, f"EPSG:{code} is not a vertical CRS")
    if not vertical and crs.is_vertical:
        raise _unknown(srs_name, f"EPSG:{code} is a vertical CRS, a horizontal one is needed")
    return code, None


def _parse_adv(srs_name: str, body: str) -> tuple[int, int | None]:
    parts = body.split("*")
    if len(parts) > 2:
        raise _unknown(srs_name, "an AdV name has at most two parts joined by '*'")
    codes: list[int] = []
    for part in parts:
        code = ADV_CRS.get(part.strip().upper())
        if code is None:
            raise _unknown(srs_name, f"AdV name {part!r} is not known")
        codes.append(code)
    return codes[0], (codes[1] if len(codes) == 2 else None)


@lru_cache(maxsize=256)
def parse_srs_name(srs_name: str) -> SourceCRS:
    """Parse a GML ``srsName`` (or a ``--crs`` value) into a :class:`SourceCRS`.

    Parameters
    ----------
    srs_name : the attribute value as written.

    Returns
    -------
    SourceCRS with the horizontal (or 3D) EPSG code and, for compound CRSs, the
    vertical one. Both are checked against the EPSG database of pyproj.

    Raises
    ------
    CRSError
        When the string is empty, not in a known form, or names unknown codes; the
        message names the string and suggests ``--crs EPSG:xxxx``.

    Examples
    --------
    >>> parse_srs_name("urn:ogc:def:crs,crs:EPSG:6.12:25833,crs:EPSG:6.12:5783")
    SourceCRS(srs_name='urn:ogc:def:crs,crs:EPSG:6.12:25833,crs:EPSG:6.12:5783', \
horizontal_epsg=25833, vertical_epsg=5783)
    """
    text = srs_name.strip()
    if not text:
        raise CRSError("no coordinate reference system given; pass one, e.g. --crs EPSG:25833")
    horizontal: int
    vertical: int | None = None
    for pattern in (_EPSG_PLAIN, _EPSG_URN_COMPOUND, _EPSG_HTTP_COMPOUND):
        m = pattern.match(text)
        if m:
            horizontal = int(m.group(1))
            vertical = int(m.group(2)) if m.group(2) else None
            break
    else:
        for pattern in (_EPSG_URN, _EPSG_HTTP, _EPSG_GML_SRS):
            m = pattern.match(text)
            if m:
                horizontal = int(m.group(1))
                break
        else:
            m = _ADV.match(text)
            if not m:
                raise _unknown(text, "not an EPSG or AdV name")
            horizontal, vertical = _parse_adv(text, m.group(1))
    horizontal, inner = _check(text, horizontal, vertical=False)
    if inner is not None and vertical is not None:
        raise _unknown(text, f"EPSG:{horizontal}+{inner} is already compound")
    if vertical is not None:
        _check(text, vertical, vertical=True)
    return SourceCRS(srs_name, horizontal, vertical if inner is None else inner)


@lru_cache(maxsize=64)
def parse_vertical_crs(text: str) -> int:
    """The EPSG code of a vertical CRS given as ``EPSG:3900``, ``3900`` or a URN/URL.

    Raises
    ------
    CRSError
        When it is not an EPSG vertical CRS.
    """
    value = text.strip()
    code: int | None = int(value) if value.isdigit() else None
    if code is None:
        for pattern in (_EPSG_PLAIN, _EPSG_URN, _EPSG_HTTP, _EPSG_GML_SRS):
            m = pattern.match(value)
            if m and not (pattern is _EPSG_PLAIN and m.group(2)):
                code = int(m.group(1))
                break
    if code is None:
        raise CRSError(
            f"vertical CRS {text!r} is not an EPSG code; pass e.g. --vertical-crs EPSG:3900"
        )
    _check(value, code, vertical=True)
    return code


def with_vertical(crs: SourceCRS, vertical_epsg: int | None) -> SourceCRS:
    """``crs`` with its heights in ``vertical_epsg`` (None: ``crs`` unchanged).

    Raises
    ------
    CRSError
        When ``crs`` is a 3D CRS (its heights are ellipsoidal already).
    """
    if vertical_epsg is None or crs.vertical_epsg == vertical_epsg:
        return crs
    if len(_epsg_crs(crs.horizontal_epsg).axis_info) > 2:
        raise CRSError(
            f"EPSG:{crs.horizontal_epsg} ({crs.srs_name}) is a 3D CRS with ellipsoidal "
            f"heights; a vertical CRS (EPSG:{vertical_epsg}) cannot be added to it"
        )
    return SourceCRS(crs.srs_name, crs.horizontal_epsg, vertical_epsg)


def envelope_problem(
    crs: SourceCRS, lower: tuple[float, float], upper: tuple[float, float]
) -> str | None:
    """Why an envelope cannot lie in ``crs``'s area of use (None when it can).

    Parameters
    ----------
    crs : the CRS the envelope is written in.
    lower, upper : the corners' first two coordinates, axis order normalised
        (easting or longitude first; see :func:`axis_swap`).

    Notes
    -----
    The corners are transformed to longitude and latitude and compared with the
    EPSG area of use widened by 2 degrees (files often reach a little beyond a
    projection zone); a corner that cannot be transformed counts as outside.
    """
    cr = _epsg_crs(crs.horizontal_epsg)
    area = cr.area_of_use
    if area is None:
        return None
    if cr.is_geographic:
        lons, lats = [lower[0], upper[0]], [lower[1], upper[1]]
    else:
        to_geo = _to_lonlat(crs.horizontal_epsg)
        if to_geo is None:
            return None
        lons, lats = [], []
        for x in (lower[0], upper[0]):
            for y in (lower[1], upper[1]):
                lon, lat = to_geo.transform(x, y, errcheck=False)
                lons.append(lon)
                lats.append(lat)
    margin = 2.0
    west, east = area.west - margin, area.east + margin
    if area.west > area.east:  # the area crosses the antimeridian
        east += 360.0
        lons = [lon + 360.0 if lon < west else lon for lon in lons]
    inside = (
        all(math.isfinite(v) for v in (*lons, *lats))
        and all(west <= lon <= east for lon in lons)
        and all(area.south - margin <= lat <= area.north + margin for lat in lats)
    )
    if inside:
        return None
    return (
        f"the envelope {lower[0]:.6g} {lower[1]:.6g} .. {upper[0]:.6g} {upper[1]:.6g} lies "
        f"outside the area of use of EPSG:{crs.horizontal_epsg} ({area.name}): wrong CRS or "
        "axis order? Pass the right one with --crs"
    )


@lru_cache(maxsize=64)
def _to_lonlat(code: int) -> pyproj.Transformer | None:
    cr = _epsg_crs(code)
    geog = cr.geodetic_crs
    if geog is None:
        return None
    return pyproj.Transformer.from_crs(cr, geog, always_xy=True)


@lru_cache(maxsize=256)
def axis_swap(crs: SourceCRS) -> bool:
    """Whether coordinates in ``crs`` are written latitude first (geographic CRSs).

    GML writes coordinates in the axis order the CRS defines; EPSG's geographic CRSs
    (4326, 4258, 4979, ...) define latitude first. The reader swaps those to
    (longitude, latitude). Projected CRSs are left as written, even where EPSG defines
    northing first (e.g. 3068, 31467), because files in practice write easting first.
    """
    cr = _epsg_crs(crs.horizontal_epsg)
    if not cr.is_geographic:
        return False
    axes = cr.axis_info
    return bool(axes) and axes[0].direction.lower() == "north"
