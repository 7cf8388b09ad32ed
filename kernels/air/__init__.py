"""Air-quality kernel: traffic emissions, Gaussian and SRM1 dispersion, NO2 chemistry,
foliage deposition, annual-mean NO2/PM10 maps with per-road incremental updates.

Method, emission factors and their sources: ``docs/air.md``.
"""

from greentwin.kernels.air.canyon import (
    SRM1_TYPES,
    dilution,
    srm1_increment,
    tree_factor_from_crowns,
)
from greentwin.kernels.air.chemistry import no2_empirical, no2_photostationary
from greentwin.kernels.air.compute import MAP_NAMES, AirConfig, AirMap, Backgrounds
from greentwin.kernels.air.deposition import deposition_velocity, mean_keep, removal_fraction
from greentwin.kernels.air.dispersion import (
    WindRose,
    gaussian_line_perpendicular,
    plume_sum,
    segment_single_wind,
    sigma_y,
    sigma_z,
)
from greentwin.kernels.air.emission import POLLUTANTS, EmissionFactors, road_emission

__all__ = [
    "MAP_NAMES",
    "POLLUTANTS",
    "SRM1_TYPES",
    "AirConfig",
    "AirMap",
    "Backgrounds",
    "EmissionFactors",
    "WindRose",
    "deposition_velocity",
    "dilution",
    "gaussian_line_perpendicular",
    "mean_keep",
    "no2_empirical",
    "no2_photostationary",
    "plume_sum",
    "removal_fraction",
    "road_emission",
    "segment_single_wind",
    "sigma_y",
    "sigma_z",
    "srm1_increment",
    "tree_factor_from_crowns",
]
