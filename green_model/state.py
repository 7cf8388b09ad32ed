"""Single plants: :class:`Tree`, :class:`PlantCover` and their states at a date.

These are the object API for one plant (a scenario edit, a popup in the viewer). Bulk
work (a whole city) goes through :class:`~greentwin.green_model.growth.TreeTable`,
which these objects build on, so both give identical numbers.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from greentwin.core import GreenModelError
from greentwin.green_model.climate import Climate, day_of_year
from greentwin.green_model.events import Event, Plant, nursery_dbh_cm, sort_events
from greentwin.green_model.growth import TreeTable, event_ordinals
from greentwin.green_model.phenology import LEAF_PHASES, LeafPhase
from greentwin.green_model.species import RGB, SpeciesLibrary

__all__ = ["CoverState", "PlantCover", "PlantState", "Tree", "trees_to_table"]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PlantState:
    """One plant on one date.

    Attributes
    ----------
    id, species : tree id and library key.
    date : the date.
    present : planted and not removed; alive: present and not dead.
    growth_age : years on the species growth curve; age_years: calendar age estimate.
    dbh_cm : stem diameter at breast height (cm).
    height_m, crown_diameter_m, crown_height_m : m.
    leaf_area_m2 : one-sided leaf area on the date (m^2); leaf_area_full_m2 in full leaf.
    lai : leaf area index over the crown projection (m^2/m^2).
    leaf_phase : bare, bud_burst, full_leaf, autumn_colour or leaf_fall.
    leaf_fraction : 0..1 of full leaf.
    colour : foliage colour (bark colour when bare), sRGB 0..1.
    """

    id: str
    species: str
    date: dt.date
    present: bool
    alive: bool
    growth_age: float
    age_years: float
    dbh_cm: float
    height_m: float
    crown_diameter_m: float
    crown_height_m: float
    leaf_area_m2: float
    leaf_area_full_m2: float
    lai: float
    leaf_phase: LeafPhase
    leaf_fraction: float
    colour: RGB

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (date as ISO string)."""
        d = {k: getattr(self, k) for k in self.__slots__}
        d["date"] = self.date.isoformat()
        d["colour"] = list(self.colour)
        return d


@dataclass(frozen=True, slots=True)
class Tree:
    """A solitary tree or shrub with what is known about it.

    Attributes
    ----------
    id : unique id.
    species : species name (any name the library resolves; "" or unknown: default).
    x, y, z : stem base in the source CRS (m).
    planted : planting date (nursery stock of ``girth_class``).
    age_at : (date, calendar age in years) when the age is known.
    dbh_cm : measured stem diameter (cm) at ``survey_date`` / ``age_at`` date / planting.
    height_m, crown_diameter_m : surveyed sizes (m) at ``survey_date``.
    survey_date : date of the measurements.
    girth_class : nursery girth class at planting (e.g. "16-18").
    events : management events (planting, pruning, removal, death), any order.
    attributes : other attributes carried through (e.g. CityGML generic attributes).
    """

    id: str
    species: str
    x: float
    y: float
    z: float = 0.0
    planted: dt.date | None = None
    age_at: tuple[dt.date, float] | None = None
    dbh_cm: float | None = None
    height_m: float | None = None
    crown_diameter_m: float | None = None
    survey_date: dt.date | None = None
    girth_class: str = "16-18"
    events: tuple[Event, ...] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "events", sort_events(self.events))
        if self.planted is None:
            for e in self.events:
                if isinstance(e, Plant):
                    object.__setattr__(self, "planted", e.date)
                    object.__setattr__(self, "girth_class", e.girth_class)
        has_survey = self.height_m is not None or self.crown_diameter_m is not None
        if has_survey and self.survey_date is None:
            raise GreenModelError(f"tree {self.id}: surveyed sizes need a survey_date")
        if self.planted is None and self.age_at is None and self.dbh_cm is None and not has_survey:
            raise GreenModelError(
                f"tree {self.id}: give planted=, age_at=, dbh_cm= or surveyed height/crown"
            )

    @classmethod
    def from_survey(
        cls,
        id: str,
        species: str,
        x: float,
        y: float,
        z: float,
        height_m: float | None,
        crown_diameter_m: float | None,
        survey_date: dt.date,
        *,
        lib: SpeciesLibrary | None = None,
        city: str | None = None,
        dbh_cm: float | None = None,
        events: Sequence[Event] = (),
        attributes: Mapping[str, Any] | None = None,
    ) -> Tree:
        """A tree known by surveyed height and crown diameter (age and dbh by inversion).

        ``lib`` resolves the species now (unknown names raise); ``city`` names the
        climate the survey was made in and is only checked here (the climate is given
        again to :meth:`state_at`).
        """
        if lib is not None:
            lib.resolve_or_default(species)
        if city is not None:
            Climate.for_city(city)
        return cls(
            id,
            species,
            x,
            y,
            z,
            dbh_cm=dbh_cm,
            height_m=height_m,
            crown_diameter_m=crown_diameter_m,
            survey_date=survey_date,
            events=tuple(events),
            attributes=dict(attributes or {}),
        )

    def with_event(self, event: Event) -> Tree:
        """A copy with one more management event."""
        return replace(self, events=(*self.events, event))

    def table(self, lib: SpeciesLibrary | None = None) -> TreeTable:
        """This tree as a one-row :class:`TreeTable`."""
        return trees_to_table([self], lib)

    def state_at(
        self,
        date: dt.date,
        climate: Climate | None = None,
        lib: SpeciesLibrary | None = None,
    ) -> PlantState:
        """The tree's state on ``date`` in ``climate`` (default Berlin)."""
        table = self.table(lib)
        return state_row(table, table.states(date, climate), 0)

    def services_at(
        self,
        date: dt.date,
        climate: Climate | None = None,
        lib: SpeciesLibrary | None = None,
    ) -> Any:
        """Ecosystem services on ``date`` (:class:`~greentwin.green_model.services.TreeServices`)."""
        from greentwin.green_model.services import tree_services

        return tree_services(self.table(lib), 0, date, climate)


def state_row(table: TreeTable, s: Any, i: int) -> PlantState:
    """The :class:`PlantState` of row ``i`` of a states array."""
    lib = table.library
    return PlantState(
        table.ids[i],
        lib.keys[int(s.species[i])],
        s.date,
        bool(s.present[i]),
        bool(s.alive[i]),
        float(s.growth_age[i]),
        float(s.age_years[i]),
        float(s.dbh_cm[i]),
        float(s.height_m[i]),
        float(s.crown_diameter_m[i]),
        float(s.crown_height_m[i]),
        float(s.leaf_area_m2[i]),
        float(s.leaf_area_full_m2[i]),
        float(s.lai[i]),
        LEAF_PHASES[int(s.leaf_phase[i])],
        float(s.leaf_fraction[i]),
        (float(s.colour[i, 0]), float(s.colour[i, 1]), float(s.colour[i, 2])),
    )


def trees_to_table(trees: Iterable[Tree], lib: SpeciesLibrary | None = None) -> TreeTable:
    """A :class:`TreeTable` from tree objects (references resolved per tree)."""
    lib = lib or SpeciesLibrary.default()
    tl = list(trees)
    n = len(tl)
    sp = np.zeros(n, dtype=np.int16)
    xyz = np.zeros((n, 3))
    cols = {k: np.full(n, np.nan) for k in ("ref", "gage", "cage", "pl", "rm", "die")}
    hs = np.ones(n)
    cs = np.ones(n)
    prunes = {}
    for i, t in enumerate(tl):
        key = lib.resolve_or_default(t.species)
        sp[i] = lib.keys.index(key)
        species = lib.species[key]
        xyz[i] = (t.x, t.y, t.z)
        planted, removed, died, pr = event_ordinals(t.events)
        if t.planted is not None:
            planted = float(t.planted.toordinal())
        cols["pl"][i], cols["rm"][i], cols["die"][i] = planted, removed, died
        if pr:
            prunes[i] = pr
        surveyed = t.height_m is not None or t.crown_diameter_m is not None
        h = math.nan if t.height_m is None else float(t.height_m)
        c = math.nan if t.crown_diameter_m is None else float(t.crown_diameter_m)
        if surveyed and t.survey_date is not None:
            cols["ref"][i] = t.survey_date.toordinal()
            if t.dbh_cm is not None:
                age = float(species.age_from_dbh(np.array([t.dbh_cm]))[0])
            else:
                age = float(species.age_from_survey(np.array([h]), np.array([c]))[0])
            cols["gage"][i] = age
            sz = species.sizes(np.array([age]))
            if np.isfinite(h) and h > 0:
                hs[i] = np.clip(h / sz.height_m[0], 0.5, 2.0)
            if np.isfinite(c) and c > 0:
                cs[i] = np.clip(c / sz.crown_diameter_m[0], 0.5, 2.0)
        elif t.dbh_cm is not None:
            when = t.survey_date or (t.age_at[0] if t.age_at else None) or t.planted
            if when is None:
                raise GreenModelError(f"tree {t.id}: dbh_cm needs a date (survey_date=)")
            cols["ref"][i] = when.toordinal()
            cols["gage"][i] = float(species.age_from_dbh(np.array([t.dbh_cm]))[0])
        elif t.age_at is not None:
            cols["ref"][i] = t.age_at[0].toordinal()
            cols["cage"][i] = float(t.age_at[1])
        elif t.planted is not None:
            cols["ref"][i] = t.planted.toordinal()
            dbh = nursery_dbh_cm(t.girth_class)
            cols["gage"][i] = float(species.age_from_dbh(np.array([dbh]))[0])
    return TreeTable(
        [t.id for t in tl],
        sp,
        xyz,
        cols["ref"],
        cols["gage"],
        cols["cage"],
        hs,
        cs,
        cols["pl"],
        cols["rm"],
        cols["die"],
        prunes,
        lib,
    )


@dataclass(frozen=True, slots=True)
class CoverState:
    """A plant cover on a date.

    Attributes
    ----------
    height_m : average height (m); lai : leaf area index (m^2/m^2);
    leaf_area_m2 : ``lai * area`` (m^2); greenness : 0..1; colour : sRGB 0..1.
    """

    height_m: float
    lai: float
    leaf_area_m2: float
    greenness: float
    colour: RGB


@dataclass(frozen=True, slots=True)
class PlantCover:
    """An area of lawn, meadow or shrub bed (CityGML PlantCover).

    Attributes
    ----------
    id : unique id.
    cover : cover type key (``lawn``, ``meadow``, ``shrub_bed``).
    polygon : (n, 2) or (n, 3) outline in the source CRS (m), open ring.
    z : ground height (m) when the outline is 2D.
    planted, removed : optional dates bounding its existence.
    attributes : carried-through attributes.
    """

    id: str
    cover: str
    polygon: F64
    z: float = 0.0
    planted: dt.date | None = None
    removed: dt.date | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def area_m2(self) -> float:
        """Horizontal area of the outline (shoelace formula), m^2."""
        p = np.asarray(self.polygon, dtype=np.float64)
        x, y = p[:, 0], p[:, 1]
        return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)

    def state_at(
        self, date: dt.date, climate: Climate | None = None, lib: SpeciesLibrary | None = None
    ) -> CoverState:
        """Height, LAI and colour on a date.

        Greenness follows the daily mean temperature of the climatology,
        ``g = clip((T - 2) / 8, 0, 1)`` (grass growth starts near 5 degC; library
        assumption), LAI ``= winter_lai + (lai_max - winter_lai) g`` and height
        ``= h_min + (h_max - h_min) g``.
        """
        lib = lib or SpeciesLibrary.default()
        ct = lib.cover(self.cover)
        clim = climate or Climate.for_city("Berlin")
        exists = not (self.planted and date < self.planted) and not (
            self.removed and date >= self.removed
        )
        if not exists:
            return CoverState(0.0, 0.0, 0.0, 0.0, ct.colours["winter"])
        temp = float(clim.daily[day_of_year(date) - 1])
        g = min(max((temp - 2.0) / 8.0, 0.0), 1.0)
        lai = ct.winter_lai + (ct.lai_max - ct.winter_lai) * g
        h = ct.height_range_m[0] + (ct.height_range_m[1] - ct.height_range_m[0]) * g
        w, s = ct.colours["winter"], ct.colours["summer"]
        colour = (w[0] + (s[0] - w[0]) * g, w[1] + (s[1] - w[1]) * g, w[2] + (s[2] - w[2]) * g)
        return CoverState(h, lai, lai * self.area_m2, g, colour)
