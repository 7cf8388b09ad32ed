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

__all__ = [
    "FacadeReceivers",
    "NoiseMap",
    "NoiseParams",
    "NoiseScene",
    "RoadCoefficients",
    "facade_receivers",
    "grid_receivers",
    "source_powers",
]
