"""CNOSSOS-EU road traffic noise: emission, propagation and the map kernel."""

from greentwin.kernels.noise.compute import (
    FacadeReceivers,
    NoiseMap,
    NoiseParams,
    NoiseScene,
    facade_receivers,
    grid_receivers,
)
from greentwin.kernels.noise.emission import RoadCoefficients, source_powers
from greentwin.kernels.noise.foliage import NOISE_MODES, crown_raster, crowns_from_states

__all__ = [
    "NOISE_MODES",
    "FacadeReceivers",
    "NoiseMap",
    "NoiseParams",
    "NoiseScene",
    "RoadCoefficients",
    "crown_raster",
    "crowns_from_states",
    "facade_receivers",
    "grid_receivers",
    "source_powers",
]
