"""Road-traffic emissions of NOx, direct NO2, PM10 and PM2.5 per metre of road.

Emission of a road (MODELS.md, "Air"; Regeling beoordeling luchtkwaliteit 2007,
Annex 1, SRM1)::

    E [ug/(m s)] = sum_m N_m * EF_m / 86.4

with N_m vehicles/day of category m and EF_m in g/km (1 g/km per vehicle/day =
1e6 ug / 1000 m / 86 400 s = 1 / 86.4 ug/(m s)).

Emission factors
----------------
Anchor values are the Dutch 2007 reference-situation factors quoted in MODELS.md
(NOx: light 0.62, heavy 15.25 g/km; PM10: light 0.065, heavy 0.515 g/km). They
hold at the anchor speed :data:`ANCHOR_SPEED_KMH`. Away from it the factor follows
the functional form used by COPERT/HBEFA::

    EF(v) = EF_anchor * S(v) / S(v_anchor),
    S(v)  = (a v^2 + b v + c + d / v) / (e v^2 + f v + g) * (1 - RF)

The *shape* coefficients in :data:`LIGHT_SHAPE` and :data:`HEAVY_SHAPE` are **not**
COPERT values: they are a documented assumption (higher emission in stop-and-go
traffic, a minimum near 60-80 km/h, a rise at motorway speed) chosen for this
project; see ``docs/air.md``. Direct NO2 fractions and the PM2.5/PM10 ratio of
traffic emission are configurable assumptions too (:class:`EmissionFactors`).

Light vehicles are CNOSSOS categories 1, 4a, 4b; medium heavy is category 2 and heavy
category 3, each with its own factors (:class:`EmissionFactors`; by default medium
takes the heavy factors, as MODELS.md gives one heavy-vehicle factor).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from greentwin.core.errors import KernelError
from greentwin.kernels.roads import PERIOD_HOURS, Road

__all__ = [
    "ANCHOR_SPEED_KMH",
    "HEAVY",
    "HEAVY_SHAPE",
    "LIGHT",
    "LIGHT_SHAPE",
    "MEDIUM",
    "POLLUTANTS",
    "EmissionFactors",
    "SpeedShape",
    "emission_rate",
    "road_emission",
    "vehicles_per_day_from_flows",
]

F64 = npt.NDArray[np.float64]

#: Pollutants emitted, in the order of every (..., 4) emission/concentration array.
#: ``no2_direct`` is the NO2 emitted as NO2 (part of NOx, counted as NO2 mass).
POLLUTANTS: tuple[str, ...] = ("nox", "no2_direct", "pm10", "pm25")
#: Category columns (CNOSSOS order 1, 2, 3, 4a, 4b) that are light / heavy vehicles.
LIGHT: tuple[int, ...] = (0, 3, 4)
MEDIUM: tuple[int, ...] = (1,)
HEAVY: tuple[int, ...] = (2,)
#: Speed at which the MODELS.md factors apply, km/h (urban traffic; an assumption).
ANCHOR_SPEED_KMH = 30.0
#: Speed range of the speed scaling, km/h; speeds outside are clamped.
SPEED_CLAMP_KMH: tuple[float, float] = (5.0, 130.0)


@dataclass(frozen=True, slots=True)
class SpeedShape:
    """Coefficients of the COPERT-form speed function ``S(v)``.

    ``S(v) = (a v^2 + b v + c + d / v) / (e v^2 + f v + g) * (1 - rf)``, v in km/h.
    Only ratios ``S(v) / S(v_anchor)`` are used, so the shape sets how the factor
    changes with speed, not its level.
    """

    a: float
    b: float
    c: float
    d: float
    e: float = 0.0
    f: float = 0.0
    g: float = 1.0
    rf: float = 0.0

    def __call__(self, v: F64) -> F64:
        """S(v) for speeds ``v`` (any shape, km/h, clamped to 5..130)."""
        vv = np.clip(np.asarray(v, dtype=np.float64), *SPEED_CLAMP_KMH)
        num = self.a * vv**2 + self.b * vv + self.c + self.d / vv
        den = self.e * vv**2 + self.f * vv + self.g
        return np.asarray(num / den * (1.0 - self.rf), dtype=np.float64)


#: Assumed speed shape for light vehicles (not COPERT coefficients; docs/air.md).
LIGHT_SHAPE = SpeedShape(a=1.5e-4, b=-0.018, c=1.2, d=10.0)
#: Assumed speed shape for heavy vehicles (not COPERT coefficients; docs/air.md).
HEAVY_SHAPE = SpeedShape(a=5.0e-5, b=-0.010, c=1.0, d=15.0)


@dataclass(frozen=True, slots=True)
class EmissionFactors:
    """Emission factors at the anchor speed and how they scale.

    Attributes
    ----------
    light, heavy : g/km per vehicle at :attr:`anchor_speed_kmh`, per pollutant
        ``{"nox", "pm10"}`` (defaults: Dutch 2007 reference-situation factors, MODELS.md);
        ``light`` for categories 1, 4a, 4b, ``heavy`` for category 3.
    medium : the same for medium heavy vehicles (category 2); None: ``heavy``'s factors.
    f_no2_light, f_no2_medium, f_no2_heavy : direct NO2 share of NOx emission (mass as
        NO2), 0..1 (assumption, typical fleet values 0.05-0.3); medium None: heavy's.
    pm25_share_light, pm25_share_medium, pm25_share_heavy : PM2.5 / PM10 of the traffic
        emission, 0..1 (assumption: exhaust is nearly all PM2.5, wear and resuspension
        mostly coarse); medium None: heavy's.
    anchor_speed_kmh : speed at which the factors hold, km/h.
    light_shape, medium_shape, heavy_shape : speed functions (:class:`SpeedShape`);
        medium None: heavy's.
    scale_with_speed : when false the factors are used at every speed (SRM1 check).
    """

    light: dict[str, float] = field(default_factory=lambda: {"nox": 0.62, "pm10": 0.065})
    heavy: dict[str, float] = field(default_factory=lambda: {"nox": 15.25, "pm10": 0.515})
    medium: dict[str, float] | None = None
    f_no2_light: float = 0.15
    f_no2_heavy: float = 0.10
    f_no2_medium: float | None = None
    pm25_share_light: float = 0.5
    pm25_share_heavy: float = 0.6
    pm25_share_medium: float | None = None
    anchor_speed_kmh: float = ANCHOR_SPEED_KMH
    light_shape: SpeedShape = LIGHT_SHAPE
    heavy_shape: SpeedShape = HEAVY_SHAPE
    medium_shape: SpeedShape | None = None
    scale_with_speed: bool = True

    def __post_init__(self) -> None:
        for name in (
            "f_no2_light",
            "f_no2_medium",
            "f_no2_heavy",
            "pm25_share_light",
            "pm25_share_medium",
            "pm25_share_heavy",
        ):
            v = getattr(self, name)
            if v is not None and not 0.0 <= v <= 1.0:
                raise KernelError(f"EmissionFactors.{name}={v} must lie in 0..1")
        for group in (self.light, self.medium, self.heavy):
            if group is None:
                continue
            for key in ("nox", "pm10"):
                if key not in group or not group[key] >= 0:
                    raise KernelError(f"EmissionFactors: factor {key!r} missing or negative")

    def _groups(
        self,
    ) -> tuple[tuple[tuple[int, ...], dict[str, float], SpeedShape, float, float], ...]:
        """(categories, factors, shape, direct NO2 share, PM2.5 share) per vehicle class."""
        med = self.medium if self.medium is not None else self.heavy
        return (
            (LIGHT, self.light, self.light_shape, self.f_no2_light, self.pm25_share_light),
            (
                MEDIUM,
                med,
                self.medium_shape or self.heavy_shape,
                self.f_no2_heavy if self.f_no2_medium is None else self.f_no2_medium,
                self.pm25_share_heavy if self.pm25_share_medium is None else self.pm25_share_medium,
            ),
            (HEAVY, self.heavy, self.heavy_shape, self.f_no2_heavy, self.pm25_share_heavy),
        )

    def per_category(self, speeds: F64) -> F64:
        """Emission factors per category and pollutant at the given speeds.

        Parameters
        ----------
        speeds : (5,) float64, km/h, per CNOSSOS category (1, 2, 3, 4a, 4b).

        Returns
        -------
        (5, 4) float64, g/km per vehicle, columns as :data:`POLLUTANTS`.
        """
        v = np.asarray(speeds, dtype=np.float64).reshape(5)
        out = np.zeros((5, 4))
        for cats, base, shape, f_no2, pm25 in self._groups():
            idx = list(cats)
            if self.scale_with_speed:
                ratio = shape(v[idx]) / shape(np.array([self.anchor_speed_kmh]))[0]
            else:
                ratio = np.ones(len(idx))
            nox = base["nox"] * ratio
            pm10 = base["pm10"] * ratio
            out[idx, 0] = nox
            out[idx, 1] = f_no2 * nox
            out[idx, 2] = pm10
            out[idx, 3] = pm25 * pm10
        return out


def vehicles_per_day_from_flows(flows: F64) -> F64:
    """Vehicles per day per category from hourly flows.

    Parameters
    ----------
    flows : (3, 5) float64, vehicles/h, periods day (12 h), evening (4 h), night (8 h).

    Returns
    -------
    (5,) float64, vehicles/day: ``12 Q_day + 4 Q_evening + 8 Q_night``.
    """
    hours = np.asarray(PERIOD_HOURS, dtype=np.float64)
    return np.asarray(hours @ np.asarray(flows, dtype=np.float64).reshape(3, 5))


def emission_rate(vehicles_per_day: F64, ef_g_km: F64) -> F64:
    """Emission per metre of road, ``E = sum_m N_m EF_m / 86.4`` (MODELS.md, SRM1).

    Parameters
    ----------
    vehicles_per_day : (5,) float64, vehicles/day per category.
    ef_g_km : (5, k) float64, g/km per vehicle per category and pollutant.

    Returns
    -------
    (k,) float64, ug/(m s).
    """
    n = np.asarray(vehicles_per_day, dtype=np.float64).reshape(5)
    return np.asarray(n @ np.asarray(ef_g_km, dtype=np.float64) / 86.4)


def road_emission(road: Road, factors: EmissionFactors | None = None) -> F64:
    """Emission of one road per metre of centreline.

    Parameters
    ----------
    road : the road (flows (3, 5) veh/h, speeds (5,) km/h); a closed road emits nothing.
    factors : emission factors (default :class:`EmissionFactors`).

    Returns
    -------
    (4,) float64, ug/(m s), in :data:`POLLUTANTS` order.
    """
    if road.closed:
        return np.zeros(4)
    ef = (factors or EmissionFactors()).per_category(road.speeds)
    return emission_rate(vehicles_per_day_from_flows(road.flows), ef)
