"""Heat and shade: shadows, sky view factor, mean radiant temperature, UTCI.

Modules
-------
- :mod:`.design_day`: the clear-sky summer design day (sun, irradiance, air).
- :mod:`.shadow`: shadows of buildings and tree crowns on a raster (numpy, numba, CUDA).
- :mod:`.svf`: sky view factor from horizon angles (numpy, numba, CUDA).
- :mod:`.tmrt`: short- and long-wave fluxes from six directions and Tmrt (SOLWEIG).
- :mod:`.utci`: UTCI and its heat-stress classes (pythermalcomfort).
- :mod:`.compute`: :class:`HeatScene` and :class:`HeatMap` (full and windowed updates).

The method and its sources are described in ``docs/heat.md``.
"""

from greentwin.kernels.heat.compute import HeatMap, HeatParams, HeatScene
from greentwin.kernels.heat.design_day import DesignDay, design_day
from greentwin.kernels.heat.utci import UTCI_CLASSES, utci

__all__ = [
    "UTCI_CLASSES",
    "DesignDay",
    "HeatMap",
    "HeatParams",
    "HeatScene",
    "design_day",
    "utci",
]
