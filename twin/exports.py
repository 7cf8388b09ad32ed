"""Scenario exports: ``GET /api/scenarios/{id}/export?format=...``.

Formats
-------
``json``
    The scenario, its effective edit log, the derived state and the current layer URLs.
``citygml``
    The city as the scenario leaves it, as one CityGML document (``version=2.0`` by
    default, or ``3.0``): the baseline buildings less the removed ones (a removed
    Building takes its BuildingParts along), the scenario's building volumes (flat-roofed
    blocks with ground, wall and roof surfaces, ``function`` 31001_1000 or 31001_1100
    for residential or mixed use), its noise barriers as ``CityFurniture``, and the
    trees and plant covers that exist on ``date`` (default: the survey date), sized
    for that date by the green model. Coordinates in the buildings' source CRS.
``geotiff``
    The noise and air maps as float32 GeoTIFFs (north up, the district CRS, NaN = no
    value, deflate-compressed): the scenario's ``noise_lden``, ``noise_lnight``,
    ``no2``, ``pm10`` and their ``diff_*`` against the baseline, in one zip with an
    ``overlays.json`` index; with ``indicator=NAME`` one GeoTIFF alone.
``summary``, ``summary_csv``
    The indicators against the baseline (:mod:`greentwin.twin.indicators`): noise
    exposure of buildings and dwellings by 5 dB class, NO2 and PM10 means, carbon,
    sequestration, canopy and plant covers on the survey date and 10 and 30 years later
    (``years=0,10,30``), as JSON or as a CSV table.
``zip``
    All of the above in one archive.

The district formats need the live channel's district recompute (the server runs with
the demo district); elsewhere they answer 409 ``unavailable``.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import re
import tempfile
import zipfile
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
from greentwin.core import ScenarioError
from greentwin.twin.ops import ScenarioState
from greentwin.twin.protocol import LayerInfo
from greentwin.twin.scenarios import EventRow, ScenarioInfo

if TYPE_CHECKING:
    from greentwin.citygml.model import Feature, SourceCRS
    from greentwin.twin.recompute_district import ScenarioView

__all__ = [
    "DEFAULT_EXPORTERS",
    "Export",
    "ExportRequest",
    "ExportUnavailableError",
    "Exporter",
    "geotiff_bytes",
    "json_exporter",
]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ExportRequest:
    """What an exporter gets: the scenario and the request's query parameters."""

    info: ScenarioInfo
    state: ScenarioState
    events: list[EventRow]
    layers: dict[str, LayerInfo]
    recompute: Any  # the hub's Recompute
    query: Mapping[str, str]


@dataclass(frozen=True)
class Export:
    """An export's bytes, media type and download file name."""

    body: bytes
    media_type: str
    filename: str


class ExportUnavailableError(ScenarioError):
    """The format needs something this server does not have (the district)."""


class ExportParameterError(ScenarioError):
    """A query parameter of an export is invalid."""


#: An export format: request -> export.
Exporter = Callable[[ExportRequest], Awaitable[Export]]

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _stem(req: ExportRequest) -> str:
    return _SAFE.sub("-", f"{req.info.id}-seq{req.info.seq}").strip("-") or "scenario"


# --------------------------------------------------------------------------- json
async def json_exporter(req: ExportRequest) -> Export:
    """The scenario, effective edit log, derived state and layer URLs."""
    doc = _json_doc(req)
    return Export(json.dumps(doc, indent=1).encode(), "application/json", f"{_stem(req)}.json")


def _json_doc(req: ExportRequest) -> dict[str, Any]:
    return {
        "scenario": req.info.to_json(),
        "edits": [e.op for e in req.events if e.kind == "edit" and not e.undone],
        "state": req.state.to_dict(),
        "layers": req.layers,
    }


# --------------------------------------------------------------------------- district
async def _view(req: ExportRequest) -> ScenarioView:
    from greentwin.twin.recompute_district import DistrictRecompute

    rc = req.recompute
    if not isinstance(rc, DistrictRecompute):
        raise ExportUnavailableError(
            "this export needs the district model, which this server does not run "
            "(start it with the demo district)"
        )
    return await rc.view(req.info.id)


def _date(req: ExportRequest, view: ScenarioView) -> dt.date:
    raw = req.query.get("date")
    if not raw:
        return view.district.survey_date
    try:
        date = dt.date.fromisoformat(raw)
    except ValueError:
        raise ExportParameterError(f"date {raw!r} is not YYYY-MM-DD") from None
    if not 1900 <= date.year <= 2200:
        raise ExportParameterError(f"date {raw!r} lies outside 1900-2200")
    return date


def _version(req: ExportRequest) -> Literal["2.0", "3.0"]:
    v = req.query.get("version", "2.0")
    if v == "2.0":
        return "2.0"
    if v == "3.0":
        return "3.0"
    raise ExportParameterError(f"CityGML version {v!r}: choose 2.0 or 3.0")


def _years(req: ExportRequest) -> list[int]:
    raw = req.query.get("years", "0,10,30")
    try:
        years = sorted({int(y) for y in raw.split(",") if y.strip()})
    except ValueError:
        raise ExportParameterError(f"years {raw!r}: give whole years, e.g. 0,10,30") from None
    if not years or len(years) > 10 or min(years) < 0 or max(years) > 100:
        raise ExportParameterError(f"years {raw!r}: 1 to 10 values within 0..100")
    return years


def _add_years(d: dt.date, years: int) -> dt.date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


# --- CityGML ----------------------------------------------------------------------------
def _ccw(ring: F64) -> F64:
    x, y = ring[:, 0], ring[:, 1]
    signed = float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    return ring if signed > 0 else ring[::-1].copy()


def _open_ring(ring: F64) -> F64:
    r = np.asarray(ring, dtype=np.float64)[:, :2]
    if len(r) > 1 and np.allclose(r[0], r[-1]):
        r = r[:-1]
    return r


def _volume_feature(
    bid: str, spec: Mapping[str, Any], xy: F64, ground: float, crs: SourceCRS, scenario: str
) -> Feature:
    """A scenario volume as a flat-roofed LoD2 Building (ground, walls, roof)."""
    from greentwin.citygml.model import Feature, Polygon

    ring = _ccw(_open_ring(xy))
    height = float(spec["height_m"])
    top = ground + height
    n = len(ring)

    def at(z: float, pts: F64) -> F64:
        return np.column_stack([pts, np.full(len(pts), z)])

    polys = [
        Polygon(at(ground, ring[::-1]), surface_type="GroundSurface", surface_id=f"{bid}_ground"),
        Polygon(at(top, ring), surface_type="RoofSurface", surface_id=f"{bid}_roof"),
    ]
    for i in range(n):
        a, b = ring[i], ring[(i + 1) % n]
        wall = np.array([[*a, ground], [*b, ground], [*b, top], [*a, top]])
        polys.append(Polygon(wall, surface_type="WallSurface", surface_id=f"{bid}_wall_{i}"))
    use = str(spec.get("use") or "other")
    attrs: dict[str, Any] = {
        "name": f"Scenario volume {bid}",
        "measuredHeight": round(height, 3),
        "roofType": "1000",  # flat roof (ALKIS Dachform)
        "greentwin_scenario": scenario,
        "greentwin_status": "planned",
        "greentwin_use": use,
    }
    if spec.get("storeys"):
        attrs["storeysAboveGround"] = int(spec["storeys"])
    function = {"residential": "31001_1000", "mixed": "31001_1100"}.get(use)
    if function:
        attrs["function"] = function
    return Feature(bid, "Building", crs, attrs, lods={2: polys})


def _barrier_feature(
    bid: str, spec: Mapping[str, Any], xy: F64, ground: float, crs: SourceCRS, scenario: str
) -> Feature:
    """A noise barrier as CityFurniture: one vertical face per segment of its line."""
    from greentwin.citygml.model import Feature, Polygon

    top = ground + float(spec["height_m"])
    faces = []
    for i in range(len(xy) - 1):
        a, b = xy[i], xy[i + 1]
        faces.append(Polygon(np.array([[*a, ground], [*b, ground], [*b, top], [*a, top]])))
    attrs: dict[str, Any] = {
        "name": f"Noise barrier {bid}",
        "function": "noise barrier",
        "height": round(float(spec["height_m"]), 3),
        "absorptive": bool(spec.get("absorptive", False)),
        "greentwin_scenario": scenario,
        "greentwin_status": "planned",
    }
    return Feature(bid, "CityFurniture", crs, attrs, lods={1: faces})


def _without_removed(feature: Feature, removed: set[str]) -> Feature | None:
    if feature.id in removed:
        return None
    if not any(ch.id in removed for ch in feature.children):
        return feature
    from dataclasses import replace

    return replace(feature, children=[ch for ch in feature.children if ch.id not in removed])


def _citygml_features(
    view: ScenarioView,
    state: ScenarioState,
    date: dt.date,
    version: Literal["2.0", "3.0"],
    crs: SourceCRS,
    buildings: Iterator[Feature],
) -> Iterator[Feature]:
    from greentwin.green_model.api import features_from_vegetation
    from greentwin.twin.recompute_district import ground_z_near, lonlat_to_xy

    removed = set(state.removed_buildings)
    for f in buildings:
        kept = _without_removed(f, removed)
        if kept is not None:
            yield kept
    base = view.baseline
    for bid, spec in state.buildings.items():
        xy = lonlat_to_xy(base, spec["footprint"])
        yield _volume_feature(bid, spec, xy, ground_z_near(base, xy), crs, view.scenario)
    for bid, spec in state.barriers.items():
        xy = lonlat_to_xy(base, spec["line"])
        yield _barrier_feature(bid, spec, xy, ground_z_near(base, xy), crs, view.scenario)
    d = view.district
    yield from features_from_vegetation(
        d.trees, d.covers, date, crs=crs, climate=d.climate, version=version
    )


def _write_citygml(view: ScenarioView, state: ScenarioState, date: dt.date, version: str) -> bytes:
    from greentwin.citygml.reader import CityGMLReader
    from greentwin.citygml.writer import write_citygml
    from greentwin.twin.district import BUILDINGS_GML

    v: Literal["2.0", "3.0"] = "3.0" if version == "3.0" else "2.0"
    with tempfile.TemporaryDirectory(prefix="export-") as tmp:
        if view.input_dir.suffix == ".toml":  # a project: its CityGML and its OSM blocks
            from greentwin.twin import building_citygml

            sources = building_citygml(view.input_dir, Path(tmp))
        else:
            sources = [view.input_dir / BUILDINGS_GML]
        readers = [CityGMLReader(p) for p in sources]
        streams = [r.features() for r in readers]
        first = next(streams[0], None)  # the reader knows the document's CRS once begun
        if readers[0].crs is None:
            raise ExportUnavailableError("the district's buildings name no CRS")
        crs = readers[0].crs

        def buildings() -> Iterator[Feature]:
            if first is not None:
                yield first
            for stream in streams:
                yield from stream

        out = Path(tmp) / "city.gml"
        write_citygml(
            _citygml_features(view, state, date, v, crs, buildings()), out, version=v, crs=crs
        )
        return out.read_bytes()


async def citygml_exporter(req: ExportRequest) -> Export:
    """The scenario's city with its vegetation as one CityGML document."""
    view = await _view(req)
    date, version = _date(req, view), _version(req)
    body = await asyncio.to_thread(_write_citygml, view, req.state, date, version)
    return Export(body, "application/gml+xml", f"{_stem(req)}-citygml{version[0]}.gml")


# --- GeoTIFF ----------------------------------------------------------------------------
def geotiff_bytes(
    values: F64,
    *,
    x0: float,
    y0: float,
    cell: float,
    crs: str | int,
    description: str = "",
) -> bytes:
    """A float32 single-band Cloud-Optimized GeoTIFF of a south-up grid (row 0 south).

    Written by GDAL through rasterio (the COG driver): tiled, DEFLATE-compressed, the CRS
    stored as GeoTIFF keys from its full WKT, NaN as the no-data value. No predictor:
    readers without the floating-point predictor (tifffile without imagecodecs) can
    still decode it.

    Parameters
    ----------
    values : (ny, nx) grid, row 0 south, NaN = no data.
    x0, y0 : south-west corner of cell (0, 0) in the CRS.
    cell : square cell size in CRS units.
    crs : the grid's CRS, anything pyproj reads (``"EPSG:25833"``, 25833, WKT).
    description : written as the TIFF ImageDescription.

    Raises
    ------
    ValueError
        ``values`` is not 2-D.
    """
    import pyproj
    from rasterio.crs import CRS
    from rasterio.io import MemoryFile
    from rasterio.transform import Affine

    grid = np.asarray(values, dtype=np.float32)
    if grid.ndim != 2:
        raise ValueError("geotiff_bytes: a 2-D grid is needed")
    ny, nx = grid.shape
    wkt = pyproj.CRS.from_user_input(crs).to_wkt()
    # rasterio writes a copy-only driver (COG) through an in-memory dataset on close
    with MemoryFile() as mem:
        with mem.open(
            driver="COG",
            width=nx,
            height=ny,
            count=1,
            dtype="float32",
            crs=CRS.from_wkt(wkt),
            transform=Affine(cell, 0.0, x0, 0.0, -cell, y0 + ny * cell),  # north up
            nodata=float("nan"),
            compress="DEFLATE",
        ) as dst:
            dst.write(grid[::-1], 1)  # north up
            if description:
                dst.update_tags(TIFFTAG_IMAGEDESCRIPTION=description)
        return bytes(mem.read())


def _overlay_grids(view: ScenarioView) -> dict[str, F64]:
    """Every indicator and its difference against the baseline, on the district grid."""
    from greentwin.twin.district import INDICATORS

    grids: dict[str, F64] = {}
    for name in INDICATORS:
        s = view.values.get(name)
        b = view.baseline_values.get(name)
        if s is None:
            continue
        grids[name] = s
        diff = view.values.get(f"diff_{name}")
        if diff is None and b is not None:  # a scenario whose maps never changed
            diff = s - b
        if diff is not None:
            grids[f"diff_{name}"] = diff
    return grids


def _tiffs(view: ScenarioView, names: list[str] | None = None) -> dict[str, bytes]:
    from greentwin.twin.district import UNITS

    g = view.district.grid
    grids = _overlay_grids(view)
    out: dict[str, bytes] = {}
    for name, values in grids.items():
        if names is not None and name not in names:
            continue
        base = name.removeprefix("diff_")
        what = f"{base} scenario minus baseline" if name != base else base
        out[f"{name}.tif"] = geotiff_bytes(
            values,
            x0=g.x0,
            y0=g.y0,
            cell=g.cell,
            crs=view.district.crs,
            description=f"greentwin {what} ({UNITS.get(base, '')}), scenario {view.scenario}",
        )
    return out


def _overlay_index(view: ScenarioView, files: Mapping[str, bytes]) -> dict[str, Any]:
    from greentwin.twin.district import UNITS

    g = view.district.grid
    return {
        "scenario": view.scenario,
        "crs": view.district.crs,
        "cell_m": g.cell,
        "origin_sw": [g.x0, g.y0],
        "size": [g.nx, g.ny],
        "no_data": "NaN",
        "noise_receiver_height_m": view.district.receiver_height_m,
        "files": {
            name: {"unit": UNITS.get(name.removesuffix(".tif").removeprefix("diff_"), "")}
            for name in files
        },
    }


async def geotiff_exporter(req: ExportRequest) -> Export:
    """The maps as GeoTIFFs: a zip of all, or ``indicator=NAME`` alone."""
    view = await _view(req)
    one = req.query.get("indicator")
    if one:
        known = sorted(_overlay_grids(view))
        if one not in known:
            raise ExportParameterError(f"unknown indicator {one!r}; known: {known}")
        files = await asyncio.to_thread(_tiffs, view, [one])
        return Export(files[f"{one}.tif"], "image/tiff", f"{_stem(req)}-{one}.tif")
    files = await asyncio.to_thread(_tiffs, view)
    index = _overlay_index(view, files)
    body = _zip({**files, "overlays.json": json.dumps(index, indent=1).encode()})
    return Export(body, "application/zip", f"{_stem(req)}-overlays.zip")


# --- summary ----------------------------------------------------------------------------
def _summary(req: ExportRequest, view: ScenarioView) -> dict[str, Any]:
    from greentwin.twin.indicators import compare, district_indicators

    survey = view.district.survey_date
    dates = [_add_years(survey, y) for y in _years(req)]
    scenario = district_indicators(view.district, view.values, dates)
    baseline = district_indicators(view.baseline, view.baseline_values, dates)
    return {
        "scenario": {"id": req.info.id, "name": req.info.name, "seq": req.info.seq},
        "maps_date": survey.isoformat(),
        **compare(scenario, baseline),
    }


async def summary_exporter(req: ExportRequest) -> Export:
    """Indicator changes against the baseline, as JSON."""
    view = await _view(req)
    doc = await asyncio.to_thread(_summary, req, view)
    body = json.dumps(doc, indent=1, ensure_ascii=False).encode()
    return Export(body, "application/json", f"{_stem(req)}-summary.json")


def _csv(doc: Mapping[str, Any]) -> bytes:
    from greentwin.twin.indicators import summary_rows

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["section", "indicator", "class_or_date", "unit", "baseline", "scenario", "change"])
    w.writerows(summary_rows(doc))
    return out.getvalue().encode()


async def summary_csv_exporter(req: ExportRequest) -> Export:
    """Indicator changes against the baseline, as a CSV table."""
    view = await _view(req)
    doc = await asyncio.to_thread(_summary, req, view)
    return Export(_csv(doc), "text/csv", f"{_stem(req)}-summary.csv")


# --- everything ---------------------------------------------------------------------------
def _zip(files: Mapping[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            # GeoTIFFs are compressed already
            kind = zipfile.ZIP_STORED if name.endswith(".tif") else zipfile.ZIP_DEFLATED
            z.writestr(name, data, compress_type=kind)
    return out.getvalue()


async def zip_exporter(req: ExportRequest) -> Export:
    """CityGML, GeoTIFF maps, summary (JSON and CSV) and the scenario JSON in one zip."""
    view = await _view(req)
    date, version = _date(req, view), _version(req)

    def build() -> bytes:
        gml = _write_citygml(view, req.state, date, version)
        tiffs = _tiffs(view)
        doc = _summary(req, view)
        files: dict[str, bytes] = {
            "scenario.json": json.dumps(_json_doc(req), indent=1).encode(),
            f"city-citygml{version}.gml": gml,
            "summary.json": json.dumps(doc, indent=1, ensure_ascii=False).encode(),
            "summary.csv": _csv(doc),
            "overlays/overlays.json": json.dumps(_overlay_index(view, tiffs), indent=1).encode(),
        }
        files.update({f"overlays/{k}": v for k, v in tiffs.items()})
        return _zip(files)

    body = await asyncio.to_thread(build)
    return Export(body, "application/zip", f"{_stem(req)}.zip")


#: The formats every server offers (the district ones answer 409 without a district).
DEFAULT_EXPORTERS: dict[str, Exporter] = {
    "json": json_exporter,
    "citygml": citygml_exporter,
    "geotiff": geotiff_exporter,
    "summary": summary_exporter,
    "summary_csv": summary_csv_exporter,
    "zip": zip_exporter,
}
