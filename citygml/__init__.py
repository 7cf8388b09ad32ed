"""CityGML 1.0/2.0/3.0: the feature model, a streaming reader and a writer.

Imports nothing of greentwin's beyond :mod:`greentwin.core`.
"""

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
