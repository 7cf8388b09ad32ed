"""The demo's example proposal: street trees and a noise barrier along one street, published.

So that the citizens' hub of a fresh demo is not empty, the demo builds one proposal
with real edits on its first start: a row of young trees along one side of the
district's main street and a 3 m noise barrier along the other side. The edits go
through the live channel's ``apply_edit`` (:class:`EditChannel`), the path of every planner's edit
(validation, durable log, recompute of the maps, broadcast), and the scenario is then
published like any other.

It is idempotent across restarts: a published example is left alone, one archived by
an admin stays archived, and a start interrupted half-way continues with the edits the
log does not hold yet.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import numpy as np
import shapely
from greentwin.twin.district import District, _transformer
from greentwin.twin.scenarios import ScenarioLog, Status, UnknownScenarioError
from shapely.ops import substring

__all__ = ["EXAMPLE_ID", "EXAMPLE_NAME", "EXAMPLE_TITLES", "ensure_example", "example_ops"]

log = logging.getLogger(__name__)

EXAMPLE_ID = "example-street-trees"
EXAMPLE_NAME = "Street trees and a noise barrier on Main street (example)"
#: The example's title and summary in the hub's languages (the scenario's titles map).
EXAMPLE_TITLES = {
    "en": {
        "title": EXAMPLE_NAME,
        "summary": "A row of young trees along one side of the main street and a 3 m high "
        "noise barrier along the other side.",
    },
    "fi": {
        "title": "Katupuita ja meluseinä pääkadulle (esimerkki)",
        "summary": "Rivi nuoria puita pääkadun toiselle puolelle ja 3 metriä korkea "
        "meluseinä toiselle puolelle.",
    },
    "et": {
        "title": "Tänavapuud ja müratõke peatänaval (näide)",
        "summary": "Rida noori puid peatänava ühele küljele ja 3 m kõrgune müratõke "
        "teisele küljele.",
    },
}
#: Who the example's edits are logged as.
AUTHOR = "planner#demo"
#: Along the street: a tree every TREE_SPACING_M metres, TREE_OFFSET_M from the
#: centreline (outside the carriageway) on its right, the barrier BARRIER_OFFSET_M on its
#: left (offsets are to the left of the street's digitised direction).
TREE_SPACING_M = 30.0
TREE_OFFSET_M = 10.0
BARRIER_OFFSET_M = 11.0
BARRIER_HEIGHT_M = 3.0
#: The species planted in turn (keys of the green model's species table).
SPECIES = ("tilia-cordata", "acer-platanoides")


def _street(district: District) -> Any:
    """The street the example follows: the main street, else the longest road."""
    roads = list(district.roads.roads)
    if not roads:
        raise ValueError("the district has no roads")
    named = [r for r in roads if r.id == "main-ew"]
    return named[0] if named else max(roads, key=lambda r: shapely.LineString(r.coords).length)


def example_ops(district: District) -> list[dict[str, Any]]:
    """The example's edits, as a planner would send them (``plant_tree`` x n, one
    ``add_barrier``), positions in WGS 84 degrees. Trees that would stand inside a
    building or outside the analysis grid are left out."""
    road = _street(district)
    line = shapely.LineString(np.asarray(road.coords, dtype=np.float64)[:, :2])
    # the barrier on the side where it shields more homes (north of the main street:
    # a dwelling-mean L_den 0.9 dB lower there, against 0.1 dB higher on the south side,
    # where it mostly reflects), the trees on the other side
    trees_side = line.offset_curve(-TREE_OFFSET_M)
    barrier_side = line.offset_curve(BARRIER_OFFSET_M)
    buildings = shapely.union_all(
        [
            shapely.Polygon(f.exterior[:, :2], [h[:, :2] for h in f.interiors])
            for f in district.footprints
        ]
    )
    x0, y0, x1, y1 = district.grid.bounds
    area = shapely.box(x0, y0, x1, y1)
    to_wgs84 = _transformer(district.crs, "EPSG:4326")

    def lonlat(x: float, y: float) -> list[float]:
        lon, lat = to_wgs84.transform(x, y)
        return [round(float(lon), 7), round(float(lat), 7)]

    ops: list[dict[str, Any]] = []
    steps = np.arange(TREE_SPACING_M / 2, trees_side.length, TREE_SPACING_M)
    for d in steps:
        p = trees_side.interpolate(float(d))
        if buildings.buffer(1.0).contains(p) or not area.contains(p):
            continue
        ops.append(
            {
                "op": "plant_tree",
                "id": f"example-tree-{len(ops) + 1}",
                "species": SPECIES[len(ops) % len(SPECIES)],
                "position": lonlat(p.x, p.y),
                "age_years": 8,
            }
        )
    # the barrier along the middle half of the street's other side
    mid = substring(barrier_side, 0.25 * barrier_side.length, 0.75 * barrier_side.length)
    ops.append(
        {
            "op": "add_barrier",
            "line": [lonlat(x, y) for x, y in mid.coords],
            "height_m": BARRIER_HEIGHT_M,
        }
    )
    return ops


class EditChannel(Protocol):
    """What the example needs of the live channel: its store and the planner edit path."""

    store: ScenarioLog

    async def apply_edit(self, scenario: str, raw_op: Any, *, role: str, author: str) -> Any: ...


async def ensure_example(hub: EditChannel, district: District) -> Status:
    """Create, complete and publish the example proposal unless it exists; returns its
    status (``published``, or ``archived`` when an admin archived it). Its titles per
    language are (re)written on every start."""
    try:
        info = await hub.store.get(EXAMPLE_ID)
    except UnknownScenarioError:
        info = await hub.store.create(EXAMPLE_NAME, author=AUTHOR, sid=EXAMPLE_ID)
        log.info("demo: building the example proposal %s", EXAMPLE_ID)
    await hub.store.set_titles(EXAMPLE_ID, EXAMPLE_TITLES)
    if info.status != "draft":
        return info.status
    ops = example_ops(district)
    for op in ops[info.seq :]:  # after an interrupted start: only what the log lacks
        await hub.apply_edit(EXAMPLE_ID, op, role="planner", author=AUTHOR)
    published = await hub.store.set_status(EXAMPLE_ID, "published")
    log.info("demo: example proposal %s published (%d edits)", EXAMPLE_ID, len(ops))
    return published.status
