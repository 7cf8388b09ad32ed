"""Reprojection to ECEF (EPSG:4978) and local east-north-up frames.

Source coordinates go through pyproj to WGS 84 geographic 3D (EPSG:4979: longitude,
latitude, ellipsoidal height), then to Earth-centred Earth-fixed coordinates with the
closed formula below, so that heights are available for ``--height-mode ground``.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from greentwin.core import CRSError
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError as PyprojCRSError
from pyproj.exceptions import ProjError

__all__ = [
    "WGS84_A",
    "WGS84_E2",
    "ecef_to_enu_matrix",
    "ecef_to_geodetic",
    "enu_rotation",
    "enu_to_ecef_matrix",
    "geodetic_to_ecef",
    "height_problem",
    "outside_bounds",
    "say_height_problem",
    "source_bounds",
    "to_geodetic",
    "transformer_for",
    "use_system_grids",
]

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]

#: WGS 84 semi-major axis (m) and first eccentricity squared (NGA.STND.0036, table 3.1).
WGS84_A = 6378137.0
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)

_warned_heights: set[str] = set()

#: Where Linux distributions install PROJ's data and grids (Debian's ``proj-data``).
#: pyproj's wheels search only their own data folder, which holds no geoid grids.
SYSTEM_PROJ_DIRS: tuple[str, ...] = ("/usr/share/proj", "/usr/local/share/proj")


def use_system_grids() -> list[str]:
    """Let pyproj find the grids of the system's PROJ data folders (geoid models).

    The folders are appended to pyproj's search path, after its own folder, so
    pyproj keeps its own ``proj.db``; only files it lacks (grids) come from them.
    ``PROJ_DATA``/``PROJ_LIB`` set by the user win as usual (pyproj reads them).

    Returns
    -------
    The folders added.
    """
    import pyproj.datadir

    current = pyproj.datadir.get_data_dir().split(os.pathsep)
    added = []
    for folder in SYSTEM_PROJ_DIRS:
        if folder not in current and os.path.isfile(os.path.join(folder, "proj.db")):
            pyproj.datadir.append_data_dir(folder)
            added.append(folder)
    return added


use_system_grids()


@lru_cache(maxsize=32)
def transformer_for(definition: str) -> Transformer:
    """A cached transformer from ``definition`` to EPSG:4979 (lon, lat, h; always_xy).

    Raises
    ------
    CRSError
        When pyproj does not know the CRS or cannot transform it.
    """
    try:
        src = CRS.from_user_input(definition)
        tr = Transformer.from_crs(src, CRS.from_epsg(4979), always_xy=True)
    except (PyprojCRSError, ProjError) as exc:
        raise CRSError(
            f"unknown or unusable CRS {definition!r}: {exc}; pass --crs EPSG:<code>"
        ) from exc
    return tr


def say_height_problem(definition: str) -> None:
    """Log once per CRS (and process) why its heights cannot become ellipsoidal heights.

    Called where absolute heights matter (``--height-mode crs``); a model moved onto
    the ellipsoid (``ground``) needs no datum. See :func:`height_problem`.
    """
    if definition in _warned_heights:
        return
    _warned_heights.add(definition)
    why = height_problem(CRS.from_user_input(definition), transformer_for(definition))
    if why is not None:
        log.warning("%s %s", definition, why)


def height_problem(src: CRS, tr: Transformer) -> str | None:
    """Why heights in ``src`` cannot become ellipsoidal heights (None when they can).

    * a 2D CRS (e.g. EPSG:3879) names no vertical datum: its heights are taken as
      ellipsoidal heights, though survey heights are orthometric (N2000, DHHN2016);
    * a compound CRS (projected or geographic, e.g. EPSG:6697) without its geoid grid:
      PROJ's ballpark transformation passes the heights through unchanged.
    A 3D geographic CRS (EPSG:4979, 4937) has ellipsoidal heights: no problem.
    """
    if len(src.axis_info) < 3:
        return (
            "names no vertical datum: its heights are taken as ellipsoidal heights above "
            "WGS 84. Survey heights are usually above a geoid (off by its undulation, up "
            "to ~50 m): name their datum with --vertical-crs (e.g. EPSG:3900 for N2000, "
            "EPSG:7837 for DHHN2016) or use --height-mode ground."
        )
    if not src.is_vertical:
        return None
    x, y = _area_point(src)
    _, _, h = tr.transform(x, y, 100.0)
    if abs(h - 100.0) < 1e-9:
        return (
            "has a vertical datum but PROJ has no geoid grid for it here: its heights "
            "cannot be converted and are used as ellipsoidal heights (off by the local "
            "geoid undulation, up to ~50 m). Install the grid (the proj-data package or "
            "projsync) or use --height-mode ground."
        )
    return None


#: Largest believable |height| (m): no city object is 1000 km above or below the datum.
MAX_ABS_HEIGHT = 1.0e6


@lru_cache(maxsize=32)
def source_bounds(definition: str) -> tuple[float, float, float, float] | None:
    """Believable (xmin, ymin, xmax, ymax) of source coordinates (always_xy order).

    The CRS's EPSG area of use in its own coordinates, widened on every side by its
    larger side: files reach beyond a projection zone, but a point several zone
    widths away (a typo, 1e308, metres declared as degrees) cannot be placed. PROJ
    does not always refuse such points: an inverse transverse Mercator of a northing
    of 1e308 gives a finite latitude.

    Returns None when the CRS has no area of use.
    """
    src = CRS.from_user_input(definition)
    if src.is_compound:  # the horizontal part gives the area and the axes
        src = src.sub_crs_list[0]
    area = src.area_of_use
    if area is None:
        return None
    west, south, east, north = area.west, area.south, area.east, area.north
    if east < west:  # across the antimeridian
        east += 360.0
    if src.is_geographic:
        x0, y0, x1, y1 = west, south, east, north
    else:
        geog = src.geodetic_crs or CRS.from_epsg(4326)
        fwd = Transformer.from_crs(geog, src, always_xy=True)
        x0, y0, x1, y1 = fwd.transform_bounds(west, south, east, north, densify_pts=21)
    if not all(np.isfinite((x0, y0, x1, y1))):
        return None
    pad = max(x1 - x0, y1 - y0)
    return (x0 - pad, y0 - pad, x1 + pad, y1 + pad)


def outside_bounds(definition: str, xyz: F64) -> npt.NDArray[np.bool_]:
    """(n,) True for points that cannot lie in ``definition`` (see :func:`source_bounds`).

    Parameters
    ----------
    xyz : (n, 3) float64 source coordinates, always_xy order.
    """
    bad = ~np.isfinite(xyz).all(axis=1) | (np.abs(xyz[:, 2]) > MAX_ABS_HEIGHT)
    box = source_bounds(definition)
    if box is not None:
        x, y = xyz[:, 0], xyz[:, 1]
        bad |= (x < box[0]) | (x > box[2]) | (y < box[1]) | (y > box[3])
    return bad


def _area_point(src: CRS) -> tuple[float, float]:
    """A point inside the CRS's area of use, in its own coordinates (always_xy)."""
    area = src.area_of_use
    lon, lat = (
        (0.0, 0.0) if area is None else ((area.west + area.east) / 2, (area.south + area.north) / 2)
    )
    geog = src.geodetic_crs or CRS.from_epsg(4326)
    fwd = Transformer.from_crs(geog, src, always_xy=True)
    x, y = fwd.transform(lon, lat)
    return float(x), float(y)


def to_geodetic(
    definition: str, xyz: F64, *, check: bool = True, check_heights: bool = False
) -> F64:
    """Source coordinates to WGS 84 longitude, latitude (degrees) and ellipsoidal height.

    Parameters
    ----------
    definition : pyproj CRS definition of the source (e.g. ``"EPSG:25833+5783"``).
    xyz : (n, 3) float64, source CRS, axis order (easting/lon, northing/lat, height).
    check : raise CRSError when a point cannot be transformed (False: its row is
        not finite, for the caller to handle).
    check_heights : warn once when the heights cannot be converted
        (:func:`say_height_problem`).

    Returns
    -------
    (n, 3) float64 (lon deg, lat deg, h metres).
    """
    tr = transformer_for(definition)
    if check_heights:
        say_height_problem(definition)
    x, y, z = tr.transform(xyz[:, 0], xyz[:, 1], xyz[:, 2])
    out = np.stack((np.asarray(x), np.asarray(y), np.asarray(z)), axis=1)
    if check and not np.isfinite(out).all():
        raise CRSError(
            f"coordinates could not be transformed from {definition}: wrong CRS or axis order? "
            "pass --crs"
        )
    return out


def geodetic_to_ecef(lon_lat_h: F64) -> F64:
    """WGS 84 geodetic to ECEF (EPSG:4978).

    ``X = (N + h) cos(phi) cos(lam)``, ``Y = (N + h) cos(phi) sin(lam)``,
    ``Z = (N (1 - e^2) + h) sin(phi)``, ``N = a / sqrt(1 - e^2 sin^2 phi)``
    (NGA.STND.0036 eq. 4-14/4-15; IOGP Guidance Note 7-2, EPSG method 9602).

    Parameters
    ----------
    lon_lat_h : (n, 3) float64, degrees, degrees, metres.

    Returns
    -------
    (n, 3) float64 metres, ECEF.
    """
    lam = np.radians(lon_lat_h[:, 0])
    phi = np.radians(lon_lat_h[:, 1])
    h = lon_lat_h[:, 2]
    with np.errstate(invalid="ignore", over="ignore"):  # points PROJ could not place
        sphi = np.sin(phi)
        cphi = np.cos(phi)
        n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * sphi * sphi)
        return np.stack(
            (
                (n + h) * cphi * np.cos(lam),
                (n + h) * cphi * np.sin(lam),
                (n * (1 - WGS84_E2) + h) * sphi,
            ),
            axis=1,
        )


def ecef_to_geodetic(xyz: F64) -> F64:
    """ECEF to WGS 84 (lon deg, lat deg, h m) via pyproj (EPSG:4978 -> EPSG:4979).

    Parameters
    ----------
    xyz : (n, 3) float64 metres.
    """
    tr = _ecef_transformer()
    lon, lat, h = tr.transform(xyz[:, 0], xyz[:, 1], xyz[:, 2])
    return np.stack((np.asarray(lon), np.asarray(lat), np.asarray(h)), axis=1)


@lru_cache(maxsize=1)
def _ecef_transformer() -> Any:
    return Transformer.from_crs(4978, 4979, always_xy=True)


def enu_rotation(lon: float, lat: float) -> F64:
    """(3, 3) float64 rotation from ECEF axes to east-north-up at (lon, lat) degrees.

    Rows are the east, north and up unit vectors (IOGP Guidance Note 7-2, EPSG 9836).
    """
    lam, phi = np.radians(lon), np.radians(lat)
    sl, cl, sp, cp = np.sin(lam), np.cos(lam), np.sin(phi), np.cos(phi)
    return np.array([[-sl, cl, 0.0], [-sp * cl, -sp * sl, cp], [cp * cl, cp * sl, sp]])


def enu_to_ecef_matrix(origin_ecef: F64) -> F64:
    """The 4x4 matrix from the local east-north-up frame at ``origin_ecef`` to ECEF.

    The axes are the geodetic east, north and up (ellipsoid normal) unit vectors at
    the origin (IOGP Guidance Note 7-2, EPSG method 9836).

    Parameters
    ----------
    origin_ecef : (3,) float64 metres.

    Returns
    -------
    (4, 4) float64, row-major (columns: east, north, up, origin).
    """
    lon, lat, _ = ecef_to_geodetic(origin_ecef.reshape(1, 3))[0]
    m = np.eye(4)
    m[:3, :3] = enu_rotation(lon, lat).T
    m[:3, 3] = origin_ecef
    return m


def ecef_to_enu_matrix(origin_ecef: F64) -> F64:
    """Inverse of :func:`enu_to_ecef_matrix` (a rigid transform), (4, 4) float64."""
    m = enu_to_ecef_matrix(origin_ecef)
    inv = np.eye(4)
    inv[:3, :3] = m[:3, :3].T
    inv[:3, 3] = -m[:3, :3].T @ m[:3, 3]
    return inv


def up_vector(origin_ecef: F64) -> F64:
    """(3,) float64 unit ellipsoid normal at ``origin_ecef``."""
    return enu_to_ecef_matrix(origin_ecef)[:3, 2].copy()
