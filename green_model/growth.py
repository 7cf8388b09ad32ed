"""Vectorised growth of many trees: a columnar tree table and its states at a date.

Every tree has a *reference*: a date and its growth age then (from planting stock,
a known age, a measured dbh, or a surveyed height and crown diameter). Its growth age
at another date is ``ref_age + years * growth_factor`` (see
:meth:`Climate.growth_factor_for`), frozen at death. Sizes then follow the species
chain (:meth:`Species.sizes`), evaluated for all trees of one species at once.
Surveyed trees keep the ratio between their measured and modelled height and crown
(``h_scale``, ``c_scale``, clamped to 0.5..2), so a state at the survey date
reproduces the survey and growth continues proportionally from it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from greentwin.core import GreenModelError
from greentwin.green_model.climate import Climate, day_of_year
from greentwin.green_model.events import Death, Event, Plant, Prune, Remove
from greentwin.green_model.phenology import LEAF_PHASES, leaf_phase_at
from greentwin.green_model.species import SpeciesLibrary

__all__ = ["StateArrays", "TreeTable"]

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
_YEAR = 365.2425
_SCALE_RANGE = (0.5, 2.0)


@dataclass(frozen=True, slots=True)
class StateArrays:
    """States of ``n`` plants at one date (all arrays (n,), float64 unless noted).

    Attributes
    ----------
    date : the date.
    species : (n,) int16 index into ``library.keys``.
    present : (n,) bool, planted and not removed.
    alive : (n,) bool, present and not dead.
    growth_age : growth years on the species curve (calibrated).
    age_years : calendar age estimate, ``growth_age / growth_factor``.
    dbh_cm, height_m, crown_diameter_m, crown_height_m : dimensions (cm, m).
    leaf_area_full_m2 : one-sided leaf area in full leaf (m^2).
    leaf_area_m2 : leaf area on this date (m^2): full-leaf area x leaf fraction.
    lai : leaf area index over the crown projection (m^2/m^2).
    leaf_fraction : 0..1.
    leaf_phase : (n,) uint8 index into :data:`LEAF_PHASES`.
    colour : (n, 3) float32 foliage (or bark when bare) colour, sRGB 0..1.
    growth_factor : growth years per calendar year.
    """

    date: dt.date
    species: npt.NDArray[np.int16]
    present: npt.NDArray[np.bool_]
    alive: npt.NDArray[np.bool_]
    growth_age: F64
    age_years: F64
    dbh_cm: F64
    height_m: F64
    crown_diameter_m: F64
    crown_height_m: F64
    leaf_area_full_m2: F64
    leaf_area_m2: F64
    lai: F64
    leaf_fraction: F64
    leaf_phase: npt.NDArray[np.uint8]
    colour: npt.NDArray[np.float32]
    growth_factor: F64

    def __len__(self) -> int:
        return int(self.species.size)


class TreeTable:
    """Columnar store of trees: what growth, services and tiling work on.

    Parameters
    ----------
    ids : tree ids (n).
    species : (n,) int16 indices into ``library.keys``.
    xyz : (n, 3) float64 position of the stem base in the source CRS (m).
    ref_ord : (n,) reference date as a proleptic ordinal (``date.toordinal()``).
    ref_growth_age : (n,) growth age at the reference (NaN: use ``ref_calendar_age``).
    ref_calendar_age : (n,) calendar age at the reference (NaN when unknown).
    h_scale, c_scale : (n,) survey scale factors (1 when not surveyed).
    planted_ord, removed_ord, died_ord : (n,) ordinals, NaN when no such event.
    prunes : pruning events per row.
    library : the species library.
    """

    def __init__(
        self,
        ids: Sequence[str],
        species: npt.NDArray[np.int16],
        xyz: F64,
        ref_ord: F64,
        ref_growth_age: F64,
        ref_calendar_age: F64,
        h_scale: F64,
        c_scale: F64,
        planted_ord: F64,
        removed_ord: F64,
        died_ord: F64,
        prunes: dict[int, tuple[Prune, ...]] | None,
        library: SpeciesLibrary,
    ) -> None:
        n = len(ids)
        self.ids = list(ids)
        self.species = np.asarray(species, dtype=np.int16)
        self.xyz = np.asarray(xyz, dtype=np.float64).reshape(n, 3)
        self.ref_ord = np.asarray(ref_ord, dtype=np.float64)
        self.ref_growth_age = np.asarray(ref_growth_age, dtype=np.float64)
        self.ref_calendar_age = np.asarray(ref_calendar_age, dtype=np.float64)
        self.h_scale = np.asarray(h_scale, dtype=np.float64)
        self.c_scale = np.asarray(c_scale, dtype=np.float64)
        self.planted_ord = np.asarray(planted_ord, dtype=np.float64)
        self.removed_ord = np.asarray(removed_ord, dtype=np.float64)
        self.died_ord = np.asarray(died_ord, dtype=np.float64)
        self.prunes = dict(prunes or {})
        self.library = library
        for name in ("species", "ref_ord", "ref_growth_age", "h_scale", "planted_ord"):
            if getattr(self, name).shape != (n,):
                raise GreenModelError(f"tree table column {name} must have {n} rows")

    def __len__(self) -> int:
        return len(self.ids)

    # -- construction ------------------------------------------------------------
    @classmethod
    def from_survey(
        cls,
        ids: Sequence[str],
        species: Sequence[str | None] | npt.NDArray[np.str_],
        xyz: npt.ArrayLike,
        height_m: npt.ArrayLike,
        crown_diameter_m: npt.ArrayLike,
        survey_date: dt.date,
        library: SpeciesLibrary | None = None,
    ) -> TreeTable:
        """Trees known by surveyed height and crown diameter (e.g. a tree register).

        Growth age and dbh are estimated by inverting the species curves
        (:meth:`Species.age_from_survey`); unknown species use the library default.

        Parameters
        ----------
        ids : n ids.
        species : n species names (any name the library resolves; None: default).
        xyz : (n, 3) stem base positions (source CRS, m).
        height_m, crown_diameter_m : (n,) surveyed sizes (m); NaN when not measured.
        survey_date : date of the survey.
        """
        lib = library or SpeciesLibrary.default()
        n = len(ids)
        sp_idx = species_indices(species, lib)
        h = np.asarray(height_m, dtype=np.float64).reshape(n)
        c = np.asarray(crown_diameter_m, dtype=np.float64).reshape(n)
        age = np.zeros(n)
        hs = np.ones(n)
        cs = np.ones(n)
        for s in np.unique(sp_idx):
            m = sp_idx == s
            sp = lib.species[lib.keys[int(s)]]
            a = sp.age_from_survey(h[m], c[m])
            sz = sp.sizes(a)
            age[m] = a
            with np.errstate(divide="ignore", invalid="ignore"):
                hs[m] = np.where(np.isfinite(h[m]) & (h[m] > 0), h[m] / sz.height_m, 1.0)
                cs[m] = np.where(np.isfinite(c[m]) & (c[m] > 0), c[m] / sz.crown_diameter_m, 1.0)
        nan = np.full(n, np.nan)
        return cls(
            ids,
            sp_idx,
            np.asarray(xyz, dtype=np.float64),
            np.full(n, float(survey_date.toordinal())),
            age,
            nan,
            np.clip(hs, *_SCALE_RANGE),
            np.clip(cs, *_SCALE_RANGE),
            nan.copy(),
            nan.copy(),
            nan.copy(),
            None,
            lib,
        )

    @classmethod
    def concat(cls, tables: Sequence[TreeTable]) -> TreeTable:
        """One table from several with the same library."""
        if not tables:
            raise GreenModelError("nothing to concatenate")
        lib = tables[0].library
        prunes: dict[int, tuple[Prune, ...]] = {}
        offset = 0
        for t in tables:
            for k, v in t.prunes.items():
                prunes[k + offset] = v
            offset += len(t)

        def cat(name: str) -> F64:
            return np.concatenate([getattr(t, name) for t in tables])

        return cls(
            [i for t in tables for i in t.ids],
            np.concatenate([t.species for t in tables]),
            np.concatenate([t.xyz for t in tables]),
            cat("ref_ord"),
            cat("ref_growth_age"),
            cat("ref_calendar_age"),
            cat("h_scale"),
            cat("c_scale"),
            cat("planted_ord"),
            cat("removed_ord"),
            cat("died_ord"),
            prunes,
            lib,
        )

    # -- states ------------------------------------------------------------------
    def growth_factors(self, climate: Climate) -> F64:
        """(n_species,) growth years per calendar year in ``climate`` per library species."""
        lib = self.library
        return np.array([climate.growth_factor_for(lib.species[k].region) for k in lib.keys])

    def states(self, date: dt.date, climate: Climate | None = None) -> StateArrays:
        """Every tree's state on ``date`` (vectorised per species).

        Parameters
        ----------
        date : the date.
        climate : growth calibration and phenology (default: Berlin, no anomaly).
        """
        clim = climate or Climate.for_city("Berlin")
        lib = self.library
        n = len(self)
        t = float(date.toordinal())
        gf_sp = self.growth_factors(clim)
        gf = gf_sp[self.species]
        t_eval = np.where(np.isfinite(self.died_ord), np.minimum(t, self.died_ord), t)
        ref_age = np.where(
            np.isfinite(self.ref_growth_age),
            self.ref_growth_age,
            np.nan_to_num(self.ref_calendar_age) * gf,
        )
        growth_age = np.maximum(ref_age + (t_eval - self.ref_ord) / _YEAR * gf, 0.0)
        present = (~(self.planted_ord > t)) & (~(self.removed_ord <= t))
        alive = present & ~(self.died_ord <= t)

        dbh = np.zeros(n)
        h = np.zeros(n)
        cd = np.zeros(n)
        ch = np.zeros(n)
        la = np.zeros(n)
        frac = np.zeros(n)
        phase = np.zeros(n, dtype=np.uint8)
        colour = np.zeros((n, 3), dtype=np.float32)
        dead_colour = np.zeros((n, 3), dtype=np.float32)
        for s in np.unique(self.species):
            m = self.species == s
            sp = lib.species[lib.keys[int(s)]]
            sz = sp.sizes(growth_age[m])
            dbh[m] = sz.dbh_cm
            h[m] = sz.height_m
            cd[m] = sz.crown_diameter_m
            ch[m] = sz.crown_height_m
            la[m] = sz.leaf_area_m2
            ph, f, col = leaf_phase_at(sp, clim, date)
            frac[m] = f
            phase[m] = LEAF_PHASES.index(ph)
            colour[m] = col
            dead_colour[m] = sp.colours["bark"]
        h *= self.h_scale
        ch *= self.h_scale
        cd *= self.c_scale
        la *= self.c_scale**2
        for row, prunes in self.prunes.items():
            for p in prunes:
                p_ord = float(p.date.toordinal())
                if p_ord > t:
                    continue
                left = max(0.0, 1.0 - (t - p_ord) / _YEAR / p.recovery_years)
                kc = 1.0 - p.crown_reduction * left
                kh = 1.0 - p.height_reduction * left
                cd[row] *= kc
                la[row] *= kc * kc
                h[row] *= kh
                ch[row] *= kh
        dead = present & ~alive
        frac = np.where(alive, frac, 0.0)
        phase = np.where(alive, phase, 0).astype(np.uint8)
        colour = np.where(dead[:, None], dead_colour, colour).astype(np.float32)
        leaf_area = la * frac
        crown_area = np.pi * (cd / 2.0) ** 2
        lai = np.where(crown_area > 0, leaf_area / np.maximum(crown_area, 1e-9), 0.0)
        return StateArrays(
            date,
            self.species,
            present,
            alive,
            growth_age,
            growth_age / gf,
            dbh,
            h,
            cd,
            ch,
            la,
            leaf_area,
            lai,
            frac,
            phase,
            colour,
            gf,
        )


def species_indices(
    species: Sequence[str | None] | npt.NDArray[np.str_], library: SpeciesLibrary
) -> npt.NDArray[np.int16]:
    """(n,) int16 library indices for species names (unknown: the default species)."""
    names = list(species)
    uniq = {name: library.keys.index(library.resolve_or_default(name)) for name in set(names)}
    return np.fromiter((uniq[name] for name in names), dtype=np.int16, count=len(names))


def event_ordinals(events: Sequence[Event]) -> tuple[float, float, float, tuple[Prune, ...]]:
    """Planting, removal and death ordinals (NaN when absent) and the prunings."""
    planted = removed = died = float("nan")
    prunes: list[Prune] = []
    for e in sorted(events, key=lambda ev: ev.date):
        o = float(e.date.toordinal())
        if isinstance(e, Plant):
            planted = o
        elif isinstance(e, Remove):
            removed = o if np.isnan(removed) else min(removed, o)
        elif isinstance(e, Death):
            died = o if np.isnan(died) else min(died, o)
        else:
            prunes.append(e)
    return planted, removed, died, tuple(prunes)


def doy_of(date: dt.date) -> int:
    """Day of year on a 365-day calendar."""
    return day_of_year(date)
