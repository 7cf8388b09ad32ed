"""The species library: growth curves, biomass equations, looks and phenology per species.

The bundled library (``species.json`` beside this module) holds the trees of Nordic
and Central European streets and parks, two shrubs and three plant covers. Tree
growth coefficients are copied verbatim from the USDA Urban Tree Database (TS6,
public domain) for one reference region each; species missing from the database use
a documented proxy (``source.proxy`` and ``source.note``). Biomass equations come
from TS7/TS8 and wood densities from TS9. Beyond these curated entries, every
broadleaf-deciduous and conifer species of the database with all seven growth relations
is included (``scripts/species_from_utd.py``: its best-sampled region, looks borrowed from
a curated entry of the same genus or kind), and European street species that the database
lacks are aliases of their closest fitted species (``european_proxies``, with the reason).
See ``docs/green_model.md``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt
from greentwin.core import GreenModelError
from greentwin.green_model.allometry import Curve, Relation
from greentwin.green_model.climate import CITY_NORMALS, daily_climatology

__all__ = ["CoverType", "PlantKind", "Species", "SpeciesLibrary"]

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
RGB = tuple[float, float, float]
PlantKind = Literal["deciduous", "conifer", "shrub"]

_DATA = Path(__file__).with_name("species.json")

#: Genus used for trees whose species is unknown (Berlin's most common street-tree
#: genus is Tilia, about a third of the street trees in the Berlin tree register).
DEFAULT_SPECIES = "tilia_cordata"


def _rgb(v: Any) -> RGB:
    return (float(v[0]), float(v[1]), float(v[2]))


@dataclass(frozen=True, slots=True)
class Sizes:
    """Plant dimensions for an array of plants (all (n,) float64).

    Attributes
    ----------
    dbh_cm : stem diameter at breast height, cm (0 for shrubs).
    height_m : total height, m.
    crown_diameter_m : crown diameter, m.
    crown_height_m : crown length (base of the crown to the top), m.
    leaf_area_m2 : one-sided leaf area in full leaf, m^2.
    """

    dbh_cm: F64
    height_m: F64
    crown_diameter_m: F64
    crown_height_m: F64
    leaf_area_m2: F64


class Species:
    """One species (or genus) of the library with its growth chain.

    Attributes
    ----------
    key : library key, e.g. ``"tilia_cordata"``.
    scientific_name, common_names, aliases : names the library resolves.
    kind : ``deciduous``, ``conifer`` or ``shrub``.
    habit : crown form for the meshes (oval, rounded, weeping, spreading, pine, conical,
        columnar, vase, shrub).
    region, spcode, proxy, note : the Urban Tree Database source (region, species code)
        and whether it is a proxy for another species.
    colours : bark, spring, summer and autumn colours (sRGB 0..1).
    leaf_out_gdd : degree-days above 5 degC from 1 January to leaf-out (degC day).
    autumn_offset_days : species offset of the autumn phases from the city dates.
    shape : mesh parameters (crown_base fraction, branches, angle deg, droop, width).
    max_age : the oldest growth age the curves describe (years).
    """

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.key: str = raw["key"]
        self.scientific_name: str = raw["scientific_name"]
        self.common_names: dict[str, str] = dict(raw.get("common_names", {}))
        self.aliases: tuple[str, ...] = tuple(raw.get("aliases", ()))
        self.kind: PlantKind = cast(PlantKind, raw["kind"])
        self.habit: str = raw["habit"]
        src = raw.get("source", {})
        self.region: str = src.get("region", "")
        self.spcode: str = src.get("spcode", "")
        self.proxy: bool = bool(src.get("proxy", False))
        self.note: str = src.get("note", "")
        cols = raw["colours"]
        self.colours: dict[str, RGB] = {k: _rgb(v) for k, v in cols.items()}
        phen = raw.get("phenology", {})
        self.autumn_offset_days: float = float(phen.get("autumn_offset_days", 0.0))
        target = phen.get("leaf_out_target_doy_tallinn")
        self.leaf_out_gdd: float = _gdd_at_doy("Tallinn", float(target)) if target else 0.0
        self.shape: dict[str, float] = {k: float(v) for k, v in raw["shape"].items()}
        self.biomass: dict[str, Any] = dict(raw.get("biomass", {}))
        self._curves: dict[str, Curve] = {}
        if self.kind == "shrub":
            g = raw["growth"]
            self.growth: dict[str, float] = {k: float(v) for k, v in g.items()}
            self.max_age = self.growth["max_age"]
            self.min_age = 0.0
        else:
            self.growth = {}
            rel = raw["relations"]
            age_rng = (float(rel["dbh_age"]["apps_min"]), float(rel["dbh_age"]["apps_max"]))
            dbh_rng = (float(rel["age_dbh"]["apps_min"]), float(rel["age_dbh"]["apps_max"]))
            self.min_age, self.max_age = age_rng
            for name, rng in (
                ("age_dbh", age_rng),
                ("dbh_height", dbh_rng),
                ("dbh_crown_diameter", dbh_rng),
                ("dbh_crown_height", dbh_rng),
                ("dbh_leaf_area", dbh_rng),
            ):
                r = rel[name]
                coef = tuple(float(c) for c in r["coef"])
                relation = Relation(r["form"], cast(Any, coef), rng[0], rng[1])
                self._curves[name] = Curve(
                    relation,
                    floor=0.01 if name != "age_dbh" else 0.1,
                    y_range=(float(r["apps_min"]), float(r["apps_max"])),
                )

    def __repr__(self) -> str:
        return f"Species({self.key!r}, {self.scientific_name!r}, {self.region}/{self.spcode})"

    @property
    def evergreen(self) -> bool:
        """True for conifers, which keep their foliage all year."""
        return self.kind == "conifer"

    def curve(self, name: str) -> Curve:
        """The monotone curve ``age_dbh``, ``dbh_height``, ``dbh_crown_diameter``,
        ``dbh_crown_height`` or ``dbh_leaf_area`` (trees only)."""
        try:
            return self._curves[name]
        except KeyError:
            raise GreenModelError(f"{self.key} has no growth curve {name!r}") from None

    # -- growth ------------------------------------------------------------------
    def sizes(self, age: npt.ArrayLike) -> Sizes:
        """Dimensions at growth age ``age`` ((n,) years, already calibrated).

        Trees follow the USDA chain age -> dbh -> height, crown diameter, crown
        height, leaf area (GTR-253), each clamped and monotone. Shrubs follow a
        Chapman-Richards curve ``H = H_max (1 - exp(-k t))^p`` with crown diameter
        ``r H`` and leaf area ``LAI pi (d/2)^2`` (library assumption, documented).
        """
        a = np.clip(np.asarray(age, dtype=np.float64), 0.0, self.max_age)
        if self.kind == "shrub":
            g = self.growth
            h = g["max_height_m"] * (1.0 - np.exp(-g["rate_per_year"] * a)) ** g["shape"]
            h = np.maximum(h, 0.05)
            cd = g["crown_to_height"] * h
            return Sizes(np.zeros_like(h), h, cd, 0.95 * h, g["lai"] * np.pi * (cd / 2.0) ** 2)
        dbh = self._curves["age_dbh"](a)
        return self.sizes_from_dbh(dbh)

    def sizes_from_dbh(self, dbh_cm: npt.ArrayLike) -> Sizes:
        """Dimensions of trees with stem diameter ``dbh_cm`` ((n,) cm)."""
        d = np.asarray(dbh_cm, dtype=np.float64)
        h = self._curves["dbh_height"](d)
        cd = self._curves["dbh_crown_diameter"](d)
        ch = np.minimum(self._curves["dbh_crown_height"](d), 0.95 * h)
        la = self._curves["dbh_leaf_area"](d)
        return Sizes(d, h, cd, ch, la)

    def age_from_dbh(self, dbh_cm: npt.ArrayLike) -> F64:
        """Growth age (years) at which the tree reaches ``dbh_cm`` (inverse of age -> dbh)."""
        if self.kind == "shrub":
            return np.zeros_like(np.asarray(dbh_cm, dtype=np.float64))
        return self._curves["age_dbh"].inverse(dbh_cm)

    def dbh_from_survey(self, height_m: npt.ArrayLike, crown_diameter_m: npt.ArrayLike) -> F64:
        """Estimate dbh (cm) from surveyed height and crown diameter by inversion.

        Inverts the monotone dbh -> height and dbh -> crown diameter curves and takes
        the mean of both estimates; where one measurement is missing (NaN or <= 0) or
        falls outside its curve's range, the other one is used alone.
        """
        h = np.asarray(height_m, dtype=np.float64)
        c = np.asarray(crown_diameter_m, dtype=np.float64)
        ch = self._curves["dbh_height"]
        cc = self._curves["dbh_crown_diameter"]
        dh = ch.inverse(np.nan_to_num(h, nan=0.0))
        dc = cc.inverse(np.nan_to_num(c, nan=0.0))
        ok_h = np.isfinite(h) & (h > 0) & (h >= ch.y_min) & (h <= ch.y_max)
        ok_c = np.isfinite(c) & (c > 0) & (c >= cc.y_min) & (c <= cc.y_max)
        both = ok_h & ok_c
        out = np.where(both, 0.5 * (dh + dc), np.where(ok_h, dh, np.where(ok_c, dc, 0.0)))
        # neither inside its range: use the one that exists (clamped by inversion)
        has_h = np.isfinite(h) & (h > 0)
        has_c = np.isfinite(c) & (c > 0)
        none = ~(ok_h | ok_c)
        out = np.where(none & has_h & has_c, 0.5 * (dh + dc), out)
        out = np.where(none & has_h & ~has_c, dh, out)
        out = np.where(none & ~has_h & has_c, dc, out)
        return np.where(none & ~has_h & ~has_c, ch.x[0], out)

    def age_from_survey(self, height_m: npt.ArrayLike, crown_diameter_m: npt.ArrayLike) -> F64:
        """Growth age (years) of plants of the surveyed height and crown diameter."""
        if self.kind == "shrub":
            g = self.growth
            h = np.clip(np.asarray(height_m, dtype=np.float64), 0.05, 0.999 * g["max_height_m"])
            frac = (h / g["max_height_m"]) ** (1.0 / g["shape"])
            return np.asarray(-np.log1p(-frac) / g["rate_per_year"], dtype=np.float64)
        return self.age_from_dbh(self.dbh_from_survey(height_m, crown_diameter_m))

    # -- biomass ---------------------------------------------------------------
    def dry_weight_kg(self, dbh_cm: npt.ArrayLike, height_m: npt.ArrayLike) -> F64:
        """Above-ground dry weight (kg) from dbh and height.

        Volume form (TS7, urban trees): ``V = a dbh^b h^c`` (m^3, dbh cm, h m), dry
        weight ``= V * density`` (TS9, kg/m^3). Biomass form (TS8, rural trees):
        ``DW = a dbh^b - exp(f0 + f1 / dbh)`` (Ter-Mikaelian & Korzukhin 1997 minus the
        Jenkins et al. 2004 foliage fraction) times 0.8 for open-grown urban trees
        (i-Tree Eco, Nowak 1994). Shrubs: not modelled (0).
        """
        d = np.maximum(np.asarray(dbh_cm, dtype=np.float64), 0.0)
        h = np.maximum(np.asarray(height_m, dtype=np.float64), 0.1)
        bm = self.biomass
        if not bm:
            return np.zeros_like(d)
        a, b, c = float(bm["a"]), float(bm["b"]), float(bm["c"])
        factor = float(bm.get("open_grown_factor", 1.0))
        if bm["kind"] == "volume":
            dw = a * d**b * h**c * float(bm["density_kg_m3"])
        else:
            f0, f1 = (float(v) for v in bm["foliage"])
            ds = np.maximum(d, 0.5)
            dw = a * ds**b - np.exp(f0 + f1 / ds)
        return np.asarray(np.maximum(dw * factor, 0.0) * (d > 0), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class CoverType:
    """A plant cover type (CityGML PlantCover): lawn, meadow, shrub bed.

    Attributes
    ----------
    key, name : library key and description.
    kind : ``grass`` or ``shrub``.
    height_range_m : (winter/mown, summer) average height, m.
    lai_max, winter_lai : leaf area index in full leaf and in winter (m^2/m^2).
    colours : ``summer`` and ``winter`` sRGB colours.
    """

    key: str
    name: str
    kind: str
    height_range_m: tuple[float, float]
    lai_max: float
    winter_lai: float
    colours: dict[str, RGB]


@cache
def _gdd_at_doy(city: str, doy: float) -> float:
    """Degree-days above 5 degC from 1 January to ``doy`` in a city's climatology."""
    daily = daily_climatology(CITY_NORMALS[city][1])
    cum = np.cumsum(np.maximum(daily - 5.0, 0.0))
    return float(np.interp(doy, np.arange(1, 366), cum))


class SpeciesLibrary:
    """Species, shrubs and cover types by key, with name resolution.

    Parameters
    ----------
    doc : the parsed library document (``species.json`` layout).
    default_species : key used for trees of unknown species.
    """

    def __init__(self, doc: dict[str, Any], default_species: str = DEFAULT_SPECIES) -> None:
        self.source: str = doc.get("source", "")
        self.species: dict[str, Species] = {}
        for raw in [*doc.get("trees", []), *doc.get("shrubs", [])]:
            sp = Species(raw)
            self.species[sp.key] = sp
        self.covers: dict[str, CoverType] = {}
        for c in doc.get("covers", []):
            self.covers[c["key"]] = CoverType(
                c["key"],
                c["name"],
                c["kind"],
                (float(c["height_m"][0]), float(c["height_m"][1])),
                float(c["lai_max"]),
                float(c["winter_lai"]),
                {k: _rgb(v) for k, v in c["colours"].items()},
            )
        if default_species not in self.species:
            raise GreenModelError(f"default species {default_species!r} is not in the library")
        self.default_species = default_species
        self._names: dict[str, str] = {}
        for sp in self.species.values():
            for name in (sp.key, sp.scientific_name, *sp.aliases, *sp.common_names.values()):
                self._names.setdefault(_norm(name), sp.key)
        self.keys: tuple[str, ...] = tuple(self.species)

    @classmethod
    def default(cls, default_species: str = DEFAULT_SPECIES) -> SpeciesLibrary:
        """The bundled library (``species.json``), parsed once per process."""
        return _bundled(default_species)

    @classmethod
    def from_file(cls, path: str | Path, default_species: str = DEFAULT_SPECIES) -> SpeciesLibrary:
        """A library from a JSON file with the bundled layout."""
        with open(path, encoding="utf-8") as fh:
            return cls(json.load(fh), default_species)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.resolve(name, strict=False) is not None

    def __getitem__(self, name: str) -> Species:
        return self.get(name)

    def resolve(self, name: str | None, *, strict: bool = True) -> str | None:
        """Library key for a species name (key, scientific, alias, common, genus).

        Unknown names: the genus (first word) is tried; then ``None`` (``strict=False``)
        or :class:`GreenModelError`.
        """
        if name is None or not name.strip():
            return self.default_species if strict else None
        n = _norm(name)
        key = self._names.get(n)
        if key is None:
            key = self._names.get(n.split(" ")[0])
        if key is None and strict:
            raise GreenModelError(
                f"species {name!r} is not in the library; known: {', '.join(self.keys)}"
            )
        return key

    def match(self, name: str | None) -> tuple[str | None, str]:
        """How a register's species name maps to the library.

        Returns ``(key, how)``: ``how`` is ``"name"`` (key, scientific, alias or common
        name, the cultivar dropped: ``"Tilia cordata 'Greenspire'"``), ``"genus"`` (only
        the first word is known) or ``"none"`` (``key`` None).
        """
        if name is None or not name.strip():
            return None, "none"
        n = _norm(name.split("'")[0].split('"')[0])
        key = self._names.get(n)
        if key is not None:
            return key, "name"
        key = self._names.get(n.split(" ")[0])
        if key is not None:
            return key, "genus"
        return None, "none"

    def get(self, name: str | None) -> Species:
        """The species for a name (None or "" gives the default species)."""
        key = self.resolve(name)
        assert key is not None
        return self.species[key]

    def resolve_or_default(self, name: str | None) -> str:
        """Library key for a name, or the default species when unknown (logged)."""
        key = self.resolve(name, strict=False)
        if key is None:
            if name:
                log.info("species %r not in the library: using %s", name, self.default_species)
            return self.default_species
        return key

    def cover(self, name: str | None) -> CoverType:
        """A cover type by key (None: ``lawn``)."""
        key = _norm(name or "lawn").replace(" ", "_")
        if key not in self.covers:
            raise GreenModelError(f"cover type {name!r} unknown; known: {sorted(self.covers)}")
        return self.covers[key]


def _norm(name: str) -> str:
    return " ".join(name.replace("_", " ").replace("×", "x").lower().split())


@cache
def _bundled(default_species: str) -> SpeciesLibrary:
    with open(_DATA, encoding="utf-8") as fh:
        return SpeciesLibrary(json.load(fh), default_species)
