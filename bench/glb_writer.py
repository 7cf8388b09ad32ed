"""Time the GLB writer against pygltflib on the converter's own tiles.

Converts a real sample, then writes every leaf tile's content again from its
arrays (accessors with min/max on POSITION, the property tables as the converter
encodes them) twice: with ``greentwin.tiles.gltf.GlbBuilder`` and with pygltflib
(``GLTF2`` objects, one binary blob, ``save_to_bytes``). pygltflib has no
EXT_structural_metadata support, so both get the same extension JSON and table
bytes; only the glTF container work differs.

    python bench/glb_writer.py --source citygml4j_lod2_buildings_v3.gml --repeat 20

Times are CPU seconds of this process (stable on a busy machine).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from greentwin.tiles.convert import convert
from greentwin.tiles.gltf import GlbBuilder
from greentwin.tiles.reader import Glb, read_glb

ROOT = Path(__file__).resolve().parent.parent


def _arrays(glb: Glb) -> list[tuple[np.ndarray[Any, Any], int | None, bool]]:
    """Every accessor of a tile as (array, target, has min/max)."""
    out = []
    for k, acc in enumerate(glb.json["accessors"]):
        view = glb.json["bufferViews"][acc["bufferView"]]
        out.append((np.ascontiguousarray(glb.accessor(k)), view.get("target"), "min" in acc))
    return out


def ours(glb: Glb, arrays: list[tuple[np.ndarray[Any, Any], int | None, bool]]) -> bytes:
    b = GlbBuilder()
    for arr, target, mm in arrays:
        b.add_accessor(arr, target=target, min_max=mm)
    b.gltf["meshes"] = glb.json["meshes"]
    b.gltf["materials"] = glb.json.get("materials", [])
    b.add_node(0)
    b.root_extensions.update(glb.json.get("extensions", {}))
    b.add_buffer_view(glb.bin[-4096:])  # stands for the property-table bytes
    return b.to_bytes()


_COMP = {np.dtype(np.float32): 5126, np.dtype(np.uint32): 5125, np.dtype(np.uint16): 5123}
_TYPE = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4"}


def theirs(glb: Glb, arrays: list[tuple[np.ndarray[Any, Any], int | None, bool]]) -> bytes:
    import pygltflib  # only for this comparison: pip install pygltflib

    g = pygltflib.GLTF2()
    blob = bytearray()
    for arr, target, mm in arrays:
        data = arr.tobytes()
        g.bufferViews.append(
            pygltflib.BufferView(
                buffer=0, byteOffset=len(blob), byteLength=len(data), target=target
            )
        )
        blob += data + b"\x00" * (-len(data) % 8)
        cols = arr.reshape(len(arr), -1)
        g.accessors.append(
            pygltflib.Accessor(
                bufferView=len(g.bufferViews) - 1,
                componentType=_COMP[arr.dtype],
                count=len(arr),
                type=_TYPE[cols.shape[1]],
                min=cols.min(axis=0).tolist() if mm else None,
                max=cols.max(axis=0).tolist() if mm else None,
            )
        )
    table = glb.bin[-4096:]
    g.bufferViews.append(
        pygltflib.BufferView(buffer=0, byteOffset=len(blob), byteLength=len(table))
    )
    blob += table
    g.meshes = [pygltflib.Mesh(**m) for m in glb.json["meshes"]]
    g.materials = [pygltflib.Material(**m) for m in glb.json.get("materials", [])]
    g.nodes = [pygltflib.Node(mesh=0)]
    g.scenes = [pygltflib.Scene(nodes=[0])]
    g.extensions = dict(glb.json.get("extensions", {}))
    g.buffers = [pygltflib.Buffer(byteLength=len(blob))]
    g.set_binary_blob(bytes(blob))
    out = g.save_to_bytes()  # a list of chunks in pygltflib 1.16
    return b"".join(out) if isinstance(out, list) else bytes(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", default="citygml4j_lod2_buildings_v3.gml")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--max-features", type=int, default=25, help="features per leaf tile")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        summary = convert(
            [ROOT / "data" / "citygml" / args.source],
            Path(tmp) / "out",
            max_features_per_tile=args.max_features,
        )
        tiles = [read_glb(p.read_bytes()) for p in sorted(Path(tmp).glob("out/tiles/*.glb"))]
    work = [(t, _arrays(t)) for t in tiles]
    nbytes = sum(len(t.bin) for t in tiles)
    for name, fn in (("GlbBuilder", ours), ("pygltflib", theirs)):
        fn(*work[0])  # warm up
        t0 = time.process_time()
        for _ in range(args.repeat):
            for t, arrays in work:
                fn(t, arrays)
        per = (time.process_time() - t0) / args.repeat  # CPU time: the machine may be busy
        sys.stdout.write(
            f"{name:10s} {per * 1e3:8.2f} ms for {len(work)} tiles ({nbytes / 1e6:.2f} MB, "
            f"{summary.features} features): {per / summary.features * 1e6:.1f} us per feature\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
