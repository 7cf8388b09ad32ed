"""Tree crowns for the noise map's foliage term, on a date, and the two noise modes.

Foliage attenuation (ISO 9613-2:1996, Annex A, Table A.1) applies to sound that travels
through *dense foliage*: over a curved path (a 5 km radius arc) the length d_f through
crowns gives, per octave band 63 Hz .. 8 kHz,

- 10 m <= d_f < 20 m: 0, 0, 1, 1, 1, 1, 2, 3 dB;
- 20 m <= d_f <= 200 m: 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.09, 0.12 dB/m (200 m for
  longer paths); nothing below 10 m.

The kernels take crowns as a :class:`~greentwin.kernels.raster.CrownRaster`: per cell the
crown base and top (m above ground) and a *density* that weighs the length through the
cell (1 = dense foliage). This module builds that raster from the trees' state on a date
(green model): crown from ``height - crown_height`` to ``height``, radius half the crown
diameter, density from the leaf fraction on the date::

    density = b + (1 - b) * leaf_fraction,   b = LEAFLESS_DENSITY = 0.2

so evergreens (leaf fraction 1 all year) and deciduous trees in full leaf count as dense
foliage, and a leafless deciduous crown counts with its branches only, as 0.2 of dense
foliage. ISO 9613-2 gives no value for leafless crowns; the factor is this project's
assumption, the share of woody (branch and stem) area in the plant area of a deciduous
broadleaf canopy in leaf: woody area indices of about 0.5-1 against leaf area indices of
3-6 (Breda 2003, J. Exp. Bot. 54: 2403-2417, review of ground-based LAI methods, on the
woody contribution to plant area in leafless stands), i.e. roughly 0.1-0.25. Scattering
by branches is taken to scale with their area like that of leaves; measured winter
attenuation of deciduous belts would be the better basis where a study is at hand.

Noise modes (:data:`NOISE_MODES`):

- ``"cnossos"``: CNOSSOS-EU as Directive (EU) 2015/996 defines it, which has no foliage
  term: the mode for END strategic noise maps and reporting;
- ``"vegetation"``: the same plus the ISO 9613-2 foliage term through the crowns on the
  date: the planning view (the viewer's default), where planting, pruning and removing
  trees and the seasons change the map.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import numpy.typing as npt
from greentwin.core.errors import KernelError
from greentwin.kernels.raster import Crown, CrownRaster, Grid, crown_grid

__all__ = [
    "LEAFLESS_DENSITY",
    "NOISE_MODES",
    "NoiseMode",
    "crown_raster",
    "crowns_from_states",
    "foliage_density",
]

F64 = npt.NDArray[np.float64]

#: Foliage density of a leafless deciduous crown (branches only), share of dense foliage.
LEAFLESS_DENSITY = 0.2
#: The noise modes: CNOSSOS-EU without foliage (END), and with vegetation (planning).
NoiseMode = Literal["cnossos", "vegetation"]
NOISE_MODES: tuple[str, ...] = ("cnossos", "vegetation")


def foliage_density(leaf_fraction: npt.ArrayLike) -> F64:
    """Density of a crown for Table A.1: ``b + (1 - b) * leaf_fraction``, b = 0.2.

    Parameters
    ----------
    leaf_fraction : 0..1 of full leaf on the date (1 for evergreens).
    """
    f = np.clip(np.asarray(leaf_fraction, dtype=np.float64), 0.0, 1.0)
    return np.asarray(LEAFLESS_DENSITY + (1.0 - LEAFLESS_DENSITY) * f, dtype=np.float64)


def crowns_from_states(
    xy: npt.ArrayLike,
    height_m: npt.ArrayLike,
    crown_height_m: npt.ArrayLike,
    crown_diameter_m: npt.ArrayLike,
    leaf_fraction: npt.ArrayLike,
    standing: npt.ArrayLike,
) -> list[Crown]:
    """Crowns of trees on a date (arrays of the green model's ``TreeTable.states``).

    Parameters
    ----------
    xy : (n, 2) stem positions, m (the grid's CRS).
    height_m, crown_height_m, crown_diameter_m : (n,) sizes on the date, m.
    leaf_fraction : (n,) 0..1 of full leaf on the date.
    standing : (n,) bool, the tree stands on the date (present; a dead tree keeps its
        branches, give it leaf fraction 0).

    Returns
    -------
    One :class:`~greentwin.kernels.raster.Crown` per standing tree with a crown.
    """
    p = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    h = np.asarray(height_m, dtype=np.float64).reshape(-1)
    ch = np.asarray(crown_height_m, dtype=np.float64).reshape(-1)
    cd = np.asarray(crown_diameter_m, dtype=np.float64).reshape(-1)
    st = np.asarray(standing, dtype=bool).reshape(-1)
    dens = foliage_density(np.asarray(leaf_fraction, dtype=np.float64).reshape(-1))
    if not len(p) == len(h) == len(ch) == len(cd) == len(st) == len(dens):
        raise KernelError("crowns_from_states: arrays of different lengths")
    out: list[Crown] = []
    for i in np.flatnonzero(st & (cd > 0) & (ch > 0) & (h > 0)):
        top = float(h[i])
        base = max(0.0, top - float(ch[i]))
        out.append(Crown(float(p[i, 0]), float(p[i, 1]), float(cd[i]) / 2.0, base, top, dens[i]))
    return out


def crown_raster(grid: Grid, crowns: Iterable[Crown]) -> CrownRaster:
    """The crowns rasterised on ``grid`` (see :func:`~greentwin.kernels.raster.crown_grid`)."""
    return crown_grid(grid, crowns)
