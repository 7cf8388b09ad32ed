"""The recompute interface: what an edit changes in the published layers.

The hub calls :meth:`Recompute.apply` after each durable log append, with the ops
whose effect changed and the scenario's new state, and broadcasts the layers it
returns (each a new immutable version with its own URL). :meth:`Recompute.snapshot`
gives the current layer URLs for a subscriber's snapshot.

:class:`VersionedLayersRecompute`, the default, publishes the scenario's own changes
(trees planted, replaced, pruned or removed, green areas, road overrides, barriers,
building volumes) as one small GeoJSON layer per kind, stored as immutable versions
in the scenario store; an op touching trees publishes only a new ``trees`` version.
The heavier layers (vegetation tiles, noise and air overlays) plug in through the
same interface, e.g. by wrapping this class and adding their own layers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol, TypedDict

from greentwin.twin.ops import OP_LAYER, EditOp, ScenarioState
from greentwin.twin.protocol import ChangeSummary, LayerInfo
from greentwin.twin.scenarios import ScenarioLog

__all__ = [
    "FEATURE_LAYERS",
    "LayerChanges",
    "Recompute",
    "VersionedLayersRecompute",
    "fold_variants",
    "layer_geojson",
]

log = logging.getLogger(__name__)

FEATURE_LAYERS = ("trees", "green_areas", "roads", "barriers", "buildings")
GEOJSON = "application/geo+json"
#: Store layers announced as a variant of another layer: name suffix -> variant name.
VARIANTS: Final = {"_baked": "baked"}


def fold_variants(layers: Mapping[str, LayerInfo]) -> dict[str, LayerInfo]:
    """Announce each ``<layer>_baked`` as ``variants.baked`` of ``<layer>``.

    A variant is the same content in another encoding (the vegetation tiles with every mesh
    baked in, for engines without ``EXT_mesh_gpu_instancing``): folded into its layer's
    entry, a client that draws every 3D Tiles layer it is given does not draw the trees
    twice, and one that needs the variant finds it beside the layer
    (``{"url", "version"}``). A variant whose layer is absent stays a layer of its own.
    The mapping is not changed; the entries returned are copies where they differ.
    """
    out = dict(layers)
    for name in list(out):
        for suffix, variant in VARIANTS.items():
            base = name.removesuffix(suffix)
            if base == name or base not in out:
                continue
            info = out.pop(name)
            variants = dict(out[base].get("variants", {}))
            variants[variant] = {"url": info["url"], "version": info["version"]}
            entry: LayerInfo = {**out[base], "variants": variants}
            out[base] = entry
    return out


class LayerChanges(TypedDict):
    """Layers that got a new version (name -> url and version), and what changed."""

    layers: dict[str, LayerInfo]
    changes: list[ChangeSummary]


class Recompute(Protocol):
    """Recomputes the layers an edit touches and publishes new immutable versions."""

    async def apply(
        self, scenario: str, seq: int, ops: Sequence[EditOp], state: ScenarioState
    ) -> LayerChanges:
        """Publish new versions of the layers ``ops`` touch; ``state`` is after step ``seq``."""
        ...

    async def snapshot(self, scenario: str, seq: int) -> dict[str, LayerInfo]:
        """Every layer's current URL and version for the scenario at ``seq``."""
        ...

    def close(self) -> None:
        """Stop what it runs in the background (the live channel closes it on shutdown)."""
        ...


def _point(pos: Sequence[float] | None) -> dict[str, Any] | None:
    return {"type": "Point", "coordinates": list(pos)} if pos else None


def _polygon(ring: Sequence[Sequence[float]]) -> dict[str, Any]:
    closed = [list(p) for p in ring] + [list(ring[0])]
    return {"type": "Polygon", "coordinates": [closed]}


def _feature(fid: str, geometry: dict[str, Any] | None, props: dict[str, Any]) -> dict[str, Any]:
    clean = {k: v for k, v in props.items() if v is not None}
    return {"type": "Feature", "id": fid, "geometry": geometry, "properties": clean}


def layer_geojson(state: ScenarioState, layer: str) -> dict[str, Any]:
    """One layer of the scenario's changes as a GeoJSON FeatureCollection (RFC 7946).

    Removed baseline objects appear with ``"status": "removed"`` and a null geometry
    (the baseline's geometry lives in the city tiles).
    """
    feats: list[dict[str, Any]] = []
    if layer == "trees":
        for tid, t in state.trees.items():
            props = {k: v for k, v in t.items() if k != "position"}
            feats.append(_feature(tid, _point(t.get("position")), props))
        for tid, how in state.removed_trees.items():
            feats.append(_feature(tid, None, {"status": how}))
        for tid, cut in state.pruned.items():
            feats.append(_feature(tid, None, {"status": "pruned", "crown_reduction": cut}))
    elif layer == "green_areas":
        for aid, a in state.green_areas.items():
            feats.append(
                _feature(
                    aid, _polygon(a["polygon"]), {"cover": a["cover"], "height_m": a["height_m"]}
                )
            )
        feats += [_feature(i, None, {"status": "removed"}) for i in state.removed_green_areas]
    elif layer == "roads":
        feats += [_feature(rid, None, dict(r)) for rid, r in state.roads.items()]
    elif layer == "barriers":
        for bid, b in state.barriers.items():
            geom = {"type": "LineString", "coordinates": b["line"]}
            props = {"height_m": b["height_m"], "absorptive": b["absorptive"]}
            feats.append(_feature(bid, geom, props))
        feats += [_feature(i, None, {"status": "removed"}) for i in state.removed_barriers]
    elif layer == "buildings":
        for bid, b in state.buildings.items():
            feats.append(_feature(bid, _polygon(b["footprint"]), {"height_m": b["height_m"]}))
        feats += [_feature(i, None, {"status": "removed"}) for i in state.removed_buildings]
    else:
        raise KeyError(layer)
    return {"type": "FeatureCollection", "name": layer, "features": feats}


def _encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


class VersionedLayersRecompute:
    """Default :class:`Recompute`: per-scenario GeoJSON layers of the scenario's changes.

    A layer version is the seq that produced it, served (immutable) at
    ``{base_url}/{scenario}/layers/{layer}/{version}.geojson``.
    """

    def __init__(self, store: ScenarioLog, *, base_url: str = "/api/scenarios") -> None:
        self.store = store
        self.base_url = base_url.rstrip("/")
        self._snapshots: dict[str, tuple[int, dict[str, LayerInfo]]] = {}

    def close(self) -> None:
        """Nothing runs in the background."""

    def url(self, scenario: str, layer: str, version: int) -> str:
        return f"{self.base_url}/{scenario}/layers/{layer}/{version}.geojson"

    def _info(self, scenario: str, layer: str, version: int) -> LayerInfo:
        return {"url": self.url(scenario, layer, version), "version": version, "kind": "geojson"}

    async def apply(
        self, scenario: str, seq: int, ops: Sequence[EditOp], state: ScenarioState
    ) -> LayerChanges:
        touched = sorted({OP_LAYER[op.op] for op in ops})
        layers: dict[str, LayerInfo] = {}
        for layer in touched:
            await self.store.put_layer(
                scenario, layer, seq, _encode(layer_geojson(state, layer)), GEOJSON
            )
            layers[layer] = self._info(scenario, layer, seq)
        changes: list[ChangeSummary] = []
        for op in ops:
            n = {"plant_tree": 1, "replace_tree": 2}.get(op.op, 1)
            changes.append({"op": op.op, "id": op.id, "affected": {OP_LAYER[op.op]: n}})
        cached = self._snapshots.get(scenario)
        if cached is not None and cached[0] < seq:
            self._snapshots[scenario] = (seq, {**cached[1], **layers})
        return {"layers": layers, "changes": changes}

    async def snapshot(self, scenario: str, seq: int) -> dict[str, LayerInfo]:
        cached = self._snapshots.get(scenario)
        if cached is not None and cached[0] == seq:
            return dict(cached[1])
        # Rebuild: publish any layer whose newest stored version differs from the state
        # (first subscription, or a crash between an edit's commit and its layers).
        state = await self.store.state(scenario)
        latest = await self.store.latest_layers(scenario)
        out: dict[str, LayerInfo] = {}
        for layer in FEATURE_LAYERS:
            body = _encode(layer_geojson(state, layer))
            have = latest.get(layer)
            if have is not None and have[1] == body:
                out[layer] = self._info(scenario, layer, have[0])
            else:
                await self.store.put_layer(scenario, layer, seq, body, GEOJSON)
                out[layer] = self._info(scenario, layer, seq)
        self._snapshots[scenario] = (seq, out)
        return dict(out)
