"""CityGML 1.0/2.0/3.0: the feature model, a streaming reader and a writer.

Imports nothing of greentwin's beyond :mod:`greentwin.core`.
"""

from greentwin.citygml.crs import parse_srs_name
from greentwin.citygml.model import (
    SURFACE_TYPES,
    AttributeValue,
    CityGMLVersion,
    Feature,
    ImplicitGeometry,
    Material,
    Polygon,
    SkippedFeature,
    SourceCRS,
    Texture,
)
from greentwin.citygml.reader import CityGMLReader
from greentwin.citygml.writer import write_citygml

__all__ = [
    "SURFACE_TYPES",
    "AttributeValue",
    "CityGMLReader",
    "CityGMLVersion",
    "Feature",
    "ImplicitGeometry",
    "Material",
    "Polygon",
    "SkippedFeature",
    "SourceCRS",
    "Texture",
    "parse_srs_name",
    "write_citygml",
]
