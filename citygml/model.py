"""The feature model: what the CityGML reader yields and the tilers consume.

Coordinates stay in the source CRS, with the axis order normalised to
(easting or longitude, northing or latitude, height): the reader swaps
latitude/longitude axes of geographic CRSs, so no consumer has to.
Rings are stored open (the closing point that repeats the first is dropped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "SURFACE_TYPES",
    "AttributeValue",
    "CityGMLVersion",
    "Feature",
    "ImplicitGeometry",
    "Material",
    "Polygon",
    "SkippedFeature",
    "SourceCRS",
    "Texture",
]

F64 = npt.NDArray[np.float64]

CityGMLVersion = Literal["1.0", "2.0", "3.0"]

#: Semantic surface classes that the reader recognises (CityGML 1.0-3.0 names).
#: "" means a surface with no semantic class (plain lodN geometry).
SURFACE_TYPES: tuple[str, ...] = (
    "",
    "RoofSurface",
    "WallSurface",
    "GroundSurface",
    "ClosureSurface",
    "OuterCeilingSurface",
    "OuterFloorSurface",
    "FloorSurface",
    "CeilingSurface",
    "InteriorWallSurface",
    "Window",
    "Door",
)

AttributeValue = str | int | float | bool


@dataclass(frozen=True, slots=True)
class SourceCRS:
    """A coordinate reference system as declared in the document.

    Attributes
    ----------
    srs_name : the ``srsName`` exactly as written (or the ``--crs`` override).
    horizontal_epsg : EPSG code of the horizontal (or 3D geographic) CRS.
    vertical_epsg : EPSG code of the vertical CRS of a compound CRS, or None.
    """

    srs_name: str
    horizontal_epsg: int
    vertical_epsg: int | None = None

    @property
    def pyproj_definition(self) -> str:
        """A definition pyproj understands, e.g. ``"EPSG:25833+5783"``."""
        if self.vertical_epsg is None:
            return f"EPSG:{self.horizontal_epsg}"
        return f"EPSG:{self.horizontal_epsg}+{self.vertical_epsg}"


@dataclass(frozen=True, slots=True)
class Material:
    """An X3DMaterial: colours are linear 0..1 RGB as written in the document."""

    diffuse: tuple[float, float, float] = (0.8, 0.8, 0.8)
    emissive: tuple[float, float, float] = (0.0, 0.0, 0.0)
    specular: tuple[float, float, float] = (1.0, 1.0, 1.0)
    shininess: float = 0.2
    transparency: float = 0.0
    is_smooth: bool = False


@dataclass(frozen=True, slots=True)
class Texture:
    """A ParameterizedTexture's image.

    Attributes
    ----------
    image : absolute path of the image file (resolved against the document's folder).
    mime_type : e.g. ``"image/jpeg"``; guessed from the file name when not declared.
    wrap_mode : CityGML wrapMode (none, wrap, mirror, clamp, border).
    """

    image: str
    mime_type: str = "image/jpeg"
    wrap_mode: str = "none"


@dataclass(slots=True)
class Polygon:
    """One planar polygon with holes, its semantic class and appearance.

    Attributes
    ----------
    exterior : (n, 3) float64, source CRS units, open ring (n >= 3).
    interiors : list of (m, 3) float64 open rings (holes).
    id : the polygon's gml:id, if any.
    surface_type : one of :data:`SURFACE_TYPES` ("" when not semantic).
    surface_id : gml:id of the enclosing boundary surface (e.g. the RoofSurface), if any.
    material : X3DMaterial of the selected theme, if any.
    texture : ParameterizedTexture image of the selected theme, if any.
    uv : texture coordinates per ring, exterior first: list of (n, 2) float64, or None.
    """

    exterior: F64
    interiors: list[F64] = field(default_factory=list)
    id: str | None = None
    surface_type: str = ""
    surface_id: str | None = None
    material: Material | None = None
    texture: Texture | None = None
    uv: list[F64] | None = None


@dataclass(slots=True)
class ImplicitGeometry:
    """CityGML ImplicitGeometry: a prototype placed by a matrix at a reference point.

    Attributes
    ----------
    transformation : (4, 4) float64 row-major matrix applied to prototype coordinates.
    reference_point : (3,) float64 in the source CRS (axis order normalised).
    library_object : URI of an external prototype (e.g. a tree model), or None.
    prototype : the prototype's polygons when given inline (relativeGMLGeometry), in
        prototype coordinates; empty when only a library object is named.
    mime_type : declared mimeType of the library object, if any.
    """

    transformation: F64
    reference_point: F64
    library_object: str | None = None
    prototype: list[Polygon] = field(default_factory=list)
    mime_type: str | None = None


@dataclass(slots=True)
class Feature:
    """A city object with its attributes and its geometry per level of detail.

    Attributes
    ----------
    id : gml:id (the reader invents ``"<file>#<n>"`` when a feature has none, and reports it).
    cls : the CityGML class name: Building, BuildingPart, SolitaryVegetationObject,
        PlantCover, ...
    crs : the CRS the coordinates are in.
    attributes : name, class, function, usage, measuredHeight, storeysAboveGround,
        yearOfConstruction, address, species, height, trunkDiameter, crownDiameter, ...
        and every genericAttribute under its own name. Codes stay as written.
    lods : polygons per level of detail (0..4), boundary surfaces included.
    implicit : implicit geometry per LoD (vegetation, street furniture).
    children : BuildingParts (and other nested city objects), each a Feature.
    parent_id : gml:id of the enclosing feature for children, else None.
    line : line of the feature's start tag in the source, for reports.
    version : the CityGML version of the document.
    """

    id: str
    cls: str
    crs: SourceCRS | None
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    lods: dict[int, list[Polygon]] = field(default_factory=dict)
    implicit: dict[int, ImplicitGeometry] = field(default_factory=dict)
    children: list[Feature] = field(default_factory=list)
    parent_id: str | None = None
    line: int = 0
    version: CityGMLVersion = "2.0"

    def available_lods(self) -> list[int]:
        """LoDs with explicit geometry, lowest first (children included)."""
        found = {lod for lod, polys in self.lods.items() if polys}
        for child in self.children:
            found.update(child.available_lods())
        return sorted(found)


@dataclass(frozen=True, slots=True)
class SkippedFeature:
    """A feature (or part of one) left out of the conversion, and why."""

    id: str
    line: int
    reason: str
