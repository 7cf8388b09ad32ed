"""The green layer's public API in one place (what the server imports).

>>> import datetime as dt
>>> from greentwin.green_model.api import Climate, SpeciesLibrary, Tree
>>> lib = SpeciesLibrary.default()
>>> tree = Tree.from_survey("t1", "Tilia", 0.0, 0.0, 40.0, 12.0, 7.0, dt.date(2020, 6, 1), lib=lib)
>>> state = tree.state_at(dt.date(2020, 6, 1), climate=Climate.for_city("Berlin"))
>>> round(state.height_m, 2), state.leaf_phase
(12.0, 'full_leaf')

Vegetation tilesets are written by :func:`greentwin.tiles.vegetation.build_vegetation_tileset`
(the ``tiles`` package builds on this one, not the other way round).
"""

from __future__ import annotations

from greentwin.green_model.climate import Climate
from greentwin.green_model.events import Death, Event, Plant, Prune, Remove, nursery_dbh_cm
from greentwin.green_model.growth import StateArrays, TreeTable
from greentwin.green_model.io import (
    VegetationData,
    features_from_vegetation,
    read_vegetation,
    vegetation_from_features,
    write_vegetation,
)
from greentwin.green_model.phenology import LEAF_PHASES, LeafPhase, leaf_phase_at, phenology_year
from greentwin.green_model.plant_mesh import LODS, TRIANGLE_BUDGET, Look, PlantMesh, plant_mesh
from greentwin.green_model.services import (
    AreaServices,
    ShadeFootprint,
    TreeServices,
    services_for_area,
    shade_footprint,
)
from greentwin.green_model.species import CoverType, Species, SpeciesLibrary
from greentwin.green_model.state import CoverState, PlantCover, PlantState, Tree, trees_to_table

__all__ = [
    "LEAF_PHASES",
    "LODS",
    "TRIANGLE_BUDGET",
    "AreaServices",
    "Climate",
    "CoverState",
    "CoverType",
    "Death",
    "Event",
    "LeafPhase",
    "Look",
    "Plant",
    "PlantCover",
    "PlantMesh",
    "PlantState",
    "Prune",
    "Remove",
    "ShadeFootprint",
    "Species",
    "SpeciesLibrary",
    "StateArrays",
    "Tree",
    "TreeServices",
    "TreeTable",
    "VegetationData",
    "features_from_vegetation",
    "leaf_phase_at",
    "nursery_dbh_cm",
    "phenology_year",
    "plant_mesh",
    "read_vegetation",
    "services_for_area",
    "shade_footprint",
    "trees_to_table",
    "vegetation_from_features",
    "write_vegetation",
]
