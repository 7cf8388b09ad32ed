"""The layer store the twin publishes into: its interface and its record of a layer.

Builds, the demo builder and the live recompute publish every layer (city tiles,
vegetation, overlays) as a new immutable version through a :class:`LayerStore`; the
server implements it on the filesystem (:class:`greentwin.server.store.TileStore`:
content-addressed versions that share unchanged files) and serves what it holds.
A store must pickle as a handle on the same storage (a build may run in a child
process).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

__all__ = ["LayerKind", "LayerStore", "PublishedLayer"]

LayerKind = Literal["3dtiles", "overlay"]


@dataclass(frozen=True, slots=True)
class PublishedLayer:
    """A layer's current version and the URL of its entry point."""

    name: str
    version: str
    kind: LayerKind
    url: str
    #: Free text recorded with the layer (builds store their input hash here).
    source: str


class LayerStore(Protocol):
    """Immutable layer versions per scenario; publishing one makes it current."""

    #: The data directory; ``data_dir / "tmp"`` is scratch space on the same filesystem.
    data_dir: Path

    def ensure(self) -> None:
        """Create the storage if it does not exist yet."""
        ...

    def layers(self, scenario: str) -> dict[str, PublishedLayer]:
        """Every current layer of a scenario, by name."""
        ...

    def publish(
        self,
        scenario: str,
        layer: str,
        src_dir: Path,
        *,
        kind: LayerKind = "3dtiles",
        entry: str = "tileset.json",
        source: str = "",
    ) -> str:
        """Publish a built folder as the layer's new version; returns the version id."""
        ...

    def publish_files(
        self,
        scenario: str,
        layer: str,
        files: Mapping[str, bytes],
        *,
        kind: LayerKind = "3dtiles",
        entry: str = "tileset.json",
        source: str = "",
    ) -> str:
        """Like :meth:`publish`, for a layer held in memory (relative path -> content)."""
        ...
