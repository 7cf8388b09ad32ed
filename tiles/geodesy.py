"""Reprojection to ECEF (EPSG:4978) and local east-north-up frames.

Source coordinates go through pyproj to WGS 84 geographic 3D (EPSG:4979: longitude,
latitude, ellipsoidal height), then to Earth-centred Earth-fixed coordinates with the
closed formula below, so that heights are available for ``--height-mode ground``.
"""

from __future__ import annotations

import logging
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
    "to_geodetic",
    "transformer_for",
]

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]

#: WGS 84 semi-major axis (m) and first eccentricity squared (NGA.STND.0036, table 3.1).
WGS84_A = 6378137.0
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)

_warned_heights: set[str] = set()


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
    if len(src.axis_info) >= 3 and definition not in _warned_heights:
        # a vertical datum without its geoid grid: PROJ passes heights through unchanged
        x, y = _area_point(src)
        _, _, h = tr.transform(x, y, 100.0)
        if abs(h - 100.0) < 1e-9 and not src.is_geographic:
            _warned_heights.add(definition)
            log.warning(
                "%s has a vertical datum but no geoid grid is installed: its heights are "
                "used as ellipsoidal heights (off by the local geoid undulation, up to "
                "~50 m). Install the PROJ grid (projsync) or use --height-mode ground.",
                definition,
            )
    return tr


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


def to_geodetic(definition: str, xyz: F64) -> F64:
    """Source coordinates to WGS 84 longitude, latitude (degrees) and ellipsoidal height.

    Parameters
    ----------
    definition : pyproj CRS definition of the source (e.g. ``"EPSG:25833+5783"``).
    xyz : (n, 3) float64, source CRS, axis order (easting/lon, northing/lat, height).

    Returns
    -------
    (n, 3) float64 (lon deg, lat deg, h metres).
    """
    tr = transformer_for(definition)
    x, y, z = tr.transform(xyz[:, 0], xyz[:, 1], xyz[:, 2])
    out = np.stack((np.asarray(x), np.asarray(y), np.asarray(z)), axis=1)
    if not np.isfinite(out).all():
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
