"""The twin of one place: projects, the district model, scenarios, recompute, indicators.

``load_manifest(path) -> Project`` reads and checks a project manifest (``docs/projects.md``);
``district_inputs(path) -> DistrictInputs`` reads its sources (CityGML, OpenStreetMap, tree
registers, GeoJSON green areas and roads, traffic counts) into the typed inputs of the
district model (:mod:`greentwin.twin.district`). Scenario state and edit ops
(:mod:`~greentwin.twin.ops`), the scenario store's interface and rules
(:mod:`~greentwin.twin.scenarios`), the layer store's interface (:mod:`~greentwin.twin.layers`),
the incremental recompute (:mod:`~greentwin.twin.recompute_district`), indicators and
exports live here too. Imports core, citygml, green_model, kernels, tiles and traffic;
never the server (docs/architecture.md).
"""

from greentwin.twin.inputs import (
    DistrictInputs,
    building_citygml,
    district_inputs,
    write_osm_citygml,
)
from greentwin.twin.manifest import ManifestError, Project, load_manifest
from greentwin.twin.readers import BuildingRecord, Report

__all__ = [
    "BuildingRecord",
    "DistrictInputs",
    "ManifestError",
    "Project",
    "Report",
    "building_citygml",
    "district_inputs",
    "load_manifest",
    "write_osm_citygml",
]
