"""CityGML Vegetation <-> green model records.

Import (CityGML 2.0 and 3.0, via :mod:`greentwin.citygml.reader` features):

- ``SolitaryVegetationObject`` -> :class:`Tree`: position from the implicit
  geometry's reference point, else generic attributes ``X``/``Y``/``Z``, else the
  lowest explicit vertex; ``species`` resolved by the library (unknown or missing:
  the configurable default species, Tilia for Berlin data); ``height`` and
  ``crownDiameter`` (m) as the survey; ``trunkDiameter`` (m) -> ``dbh_cm``. Without a
  height the implicit transformation's vertical scale is used. Other attributes
  (generic ones included, e.g. ``h_crown``/``h_trunk``) are carried through.
- ``PlantCover`` -> :class:`PlantCover`: the largest polygon of the lowest LoD;
  cover type from ``class``/``function``/``usage`` words (meadow, shrub, else lawn).

Export (CityGML 2.0 or 3.0 via :func:`greentwin.citygml.writer.write_citygml`): the
plants that exist on a date, with ``height``, ``trunkDiameter`` (m) and
``crownDiameter`` updated to that date, the species' scientific name, generic
attributes ``age_years``, ``carbon_kg``, ``leaf_phase`` and ``alive``, and an implicit
geometry: the imported one rescaled to the new size when there was one, otherwise a
library object ``urn:greentwin:plant:<species>`` scaled (crown, crown, height).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from greentwin.citygml.model import AttributeValue, Feature, ImplicitGeometry, Polygon, SourceCRS
from greentwin.core import GreenModelError
from greentwin.green_model.climate import Climate
from greentwin.green_model.growth import TreeTable
from greentwin.green_model.services import carbon_kg
from greentwin.green_model.species import SpeciesLibrary
from greentwin.green_model.state import PlantCover, Tree, trees_to_table

__all__ = [
    "VegetationData",
    "cover_type_for",
    "features_from_vegetation",
    "read_vegetation",
    "vegetation_from_features",
    "write_vegetation",
]

log = logging.getLogger(__name__)

#: Attribute key under which an imported implicit geometry travels with a tree.
IMPLICIT_KEY = "_implicit"
_OWN = frozenset({"species", "height", "crownDiameter", "trunkDiameter", "X", "Y", "Z"})


@dataclass(slots=True)
class VegetationData:
    """Plants read from CityGML and what was left out.

    Attributes
    ----------
    trees, covers : the plants.
    crs : the document's CRS (None when it names none).
    skipped : (feature id, reason) of objects that could not be used.
    defaulted_species : ids of trees given the default species.
    """

    trees: list[Tree] = field(default_factory=list)
    covers: list[PlantCover] = field(default_factory=list)
    crs: SourceCRS | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    defaulted_species: list[str] = field(default_factory=list)


def _num(v: AttributeValue | None) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if np.isfinite(x) and x > 0 else None


def cover_type_for(attributes: dict[str, AttributeValue]) -> str:
    """Cover type key from CityGML ``class``/``function``/``usage``/``name`` words."""
    words = " ".join(str(attributes.get(k, "")) for k in ("class", "function", "usage", "name"))
    w = words.lower()
    if any(t in w for t in ("meadow", "wiese", "niitty", "niit", "grassland")):
        return "meadow"
    if any(t in w for t in ("shrub", "bush", "gebüsch", "strauch", "pensas", "põõsas")):
        return "shrub_bed"
    return "lawn"


def vegetation_from_features(
    features: Iterable[Feature],
    survey_date: dt.date,
    *,
    library: SpeciesLibrary | None = None,
) -> VegetationData:
    """Map CityGML vegetation features to trees and plant covers.

    Parameters
    ----------
    features : features of any class (non-vegetation ones are ignored).
    survey_date : the date the attributes describe (e.g. the data set's date).
    library : resolves species names; its ``default_species`` is used for trees whose
        species is missing or unknown.
    """
    lib = library or SpeciesLibrary.default()
    data = VegetationData()
    for f in features:
        if data.crs is None and f.crs is not None:
            data.crs = f.crs
        if f.cls == "SolitaryVegetationObject":
            _tree(f, survey_date, lib, data)
        elif f.cls == "PlantCover":
            _cover(f, data)
    return data


def _tree(f: Feature, survey_date: dt.date, lib: SpeciesLibrary, data: VegetationData) -> None:
    a = f.attributes
    imp = f.implicit[max(f.implicit)] if f.implicit else None
    if imp is not None:
        x, y, z = (float(v) for v in np.asarray(imp.reference_point).ravel()[:3])
    elif all(_num(a.get(k)) is not None for k in ("X", "Y")):
        x, y = float(a["X"]), float(a["Y"])
        z = float(a.get("Z", 0.0) or 0.0)
    else:
        pts = [p.exterior for polys in f.lods.values() for p in polys]
        if not pts:
            data.skipped.append((f.id, "no position: no implicit geometry, X/Y or geometry"))
            return
        allp = np.concatenate(pts)
        low = allp[np.argmin(allp[:, 2])]
        x, y, z = float(allp[:, 0].mean()), float(allp[:, 1].mean()), float(low[2])
    name = a.get("species")
    species_name = str(name) if name not in (None, "") else None
    key = lib.resolve(species_name, strict=False) if species_name else None
    if key is None:
        data.defaulted_species.append(f.id)
        key = lib.default_species
    height = _num(a.get("height"))
    crown = _num(a.get("crownDiameter"))
    trunk = _num(a.get("trunkDiameter"))
    if height is None and imp is not None:
        height = _num(float(np.asarray(imp.transformation)[2, 2]))
    if height is None and crown is None and trunk is None:
        data.skipped.append((f.id, "no height, crown or trunk diameter to size the tree"))
        return
    attrs: dict[str, Any] = {k: v for k, v in a.items() if k not in _OWN}
    if species_name:
        attrs["species_source"] = species_name
    if imp is not None and imp.prototype:
        attrs[IMPLICIT_KEY] = (imp, height, crown)
    data.trees.append(
        Tree(
            f.id,
            key,
            x,
            y,
            z,
            dbh_cm=None if trunk is None else trunk * 100.0,
            height_m=height,
            crown_diameter_m=crown,
            survey_date=survey_date,
            attributes=attrs,
        )
    )


def _cover(f: Feature, data: VegetationData) -> None:
    polys = []
    for lod in sorted(f.lods):
        if f.lods[lod]:
            polys = f.lods[lod]
            break
    if not polys:
        data.skipped.append((f.id, "plant cover without explicit geometry"))
        return

    def area(p: Polygon) -> float:
        x, y = p.exterior[:, 0], p.exterior[:, 1]
        return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)

    best = max(polys, key=area)
    ring = np.asarray(best.exterior, dtype=np.float64)
    z = float(ring[:, 2].min()) if ring.shape[1] > 2 else 0.0
    data.covers.append(
        PlantCover(f.id, cover_type_for(f.attributes), ring, z=z, attributes=dict(f.attributes))
    )


def read_vegetation(
    path: str | os.PathLike[str],
    survey_date: dt.date,
    *,
    crs: str | None = None,
    library: SpeciesLibrary | None = None,
) -> VegetationData:
    """Read the vegetation of a CityGML 2.0/3.0 file (see the module notes).

    Raises
    ------
    CityGMLError, InputFileError, UnsafeInputError, CRSError
        From the reader, for broken or unsafe files.
    """
    from greentwin.citygml.reader import CityGMLReader

    reader = CityGMLReader(path, crs=crs)
    data = vegetation_from_features(reader.features(), survey_date, library=library)
    data.crs = reader.crs or data.crs
    data.skipped.extend((s.id, s.reason) for s in reader.skipped)
    if data.defaulted_species:
        lib = library or SpeciesLibrary.default()
        log.info(
            "%d trees without a known species use the default %s",
            len(data.defaulted_species),
            lib.default_species,
        )
    return data


def features_from_vegetation(
    trees: Sequence[Tree],
    covers: Sequence[PlantCover],
    date: dt.date,
    *,
    crs: SourceCRS,
    climate: Climate | None = None,
    library: SpeciesLibrary | None = None,
    version: Literal["2.0", "3.0"] = "2.0",
) -> list[Feature]:
    """CityGML features of the plants that exist on ``date``, sized for that date."""
    lib = library or SpeciesLibrary.default()
    clim = climate or Climate.for_city("Berlin")
    out: list[Feature] = []
    if trees:
        table: TreeTable = trees_to_table(trees, lib)
        st = table.states(date, clim)
        carbon = carbon_kg(table, st)
        for i, t in enumerate(trees):
            if not st.present[i]:
                continue
            key = lib.keys[int(st.species[i])]
            sp = lib.species[key]
            h = float(st.height_m[i])
            cd = float(st.crown_diameter_m[i])
            attrs: dict[str, AttributeValue] = {
                k: v
                for k, v in t.attributes.items()
                if k != IMPLICIT_KEY and isinstance(v, str | int | float | bool)
            }
            attrs.update(
                {
                    "species": sp.scientific_name,
                    "height": round(h, 3),
                    "crownDiameter": round(cd, 3),
                    "age_years": round(float(st.age_years[i]), 1),
                    "carbon_kg": round(float(carbon[i]), 2),
                    "leaf_phase": ["bare", "bud_burst", "full_leaf", "autumn_colour", "leaf_fall"][
                        int(st.leaf_phase[i])
                    ],
                    "alive": bool(st.alive[i]),
                }
            )
            if "h_crown" in attrs or "h_trunk" in attrs:  # Berlin register fields, kept current
                attrs["h_crown"] = round(float(st.crown_height_m[i]), 3)
                attrs["h_trunk"] = round(h - float(st.crown_height_m[i]), 3)
            if st.dbh_cm[i] > 0:
                attrs["trunkDiameter"] = round(float(st.dbh_cm[i]) / 100.0, 4)
            imp = _implicit_for(t, key, h, cd, sp.shape["width"])
            out.append(
                Feature(
                    t.id, "SolitaryVegetationObject", crs, attrs, implicit={2: imp}, version=version
                )
            )
    for c in covers:
        cs = c.state_at(date, clim, lib)
        if (c.planted and date < c.planted) or (c.removed and date >= c.removed):
            continue
        ring = np.asarray(c.polygon, dtype=np.float64)
        if ring.shape[1] == 2:
            ring = np.column_stack((ring, np.full(ring.shape[0], c.z)))
        cattrs: dict[str, AttributeValue] = {
            k: v for k, v in c.attributes.items() if isinstance(v, str | int | float | bool)
        }
        cattrs["averageHeight"] = round(cs.height_m, 3)
        cattrs["lai"] = round(cs.lai, 2)
        cattrs.setdefault("class", c.cover)
        out.append(
            Feature(c.id, "PlantCover", crs, cattrs, lods={1: [Polygon(ring)]}, version=version)
        )
    return out


def _implicit_for(t: Tree, key: str, h: float, cd: float, width: float) -> ImplicitGeometry:
    """The imported implicit geometry rescaled to (cd, h), or a library object."""
    ref = np.array([t.x, t.y, t.z])
    orig = t.attributes.get(IMPLICIT_KEY)
    if orig is not None:
        imp: ImplicitGeometry = orig[0]
        h0, c0 = orig[1], orig[2]
        m = np.array(imp.transformation, dtype=np.float64)
        kh = h / h0 if h0 else 1.0
        kc = cd / c0 if c0 else kh
        m[:3, :2] *= kc
        m[:3, 2] *= kh
        return replace(imp, transformation=m, reference_point=np.asarray(imp.reference_point))
    m = np.diag([cd / width, cd / width, h, 1.0])
    return ImplicitGeometry(m, ref, library_object=f"urn:greentwin:plant:{key}")


def write_vegetation(
    path: str | os.PathLike[str],
    trees: Sequence[Tree],
    covers: Sequence[PlantCover],
    date: dt.date,
    *,
    version: Literal["2.0", "3.0"],
    crs: SourceCRS,
    climate: Climate | None = None,
    library: SpeciesLibrary | None = None,
) -> int:
    """Write the vegetation of ``date`` as CityGML 2.0 or 3.0; returns objects written."""
    from greentwin.citygml.writer import write_citygml

    if version not in ("2.0", "3.0"):
        raise GreenModelError(f"CityGML version {version!r}: choose '2.0' or '3.0'")
    feats = features_from_vegetation(
        trees, covers, date, crs=crs, climate=climate, library=library, version=version
    )
    return write_citygml(feats, path, version=version, crs=crs)
