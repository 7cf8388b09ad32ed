"""Geometry and raster encoding: reprojection, triangulation, glTF, 3D Tiles, map tiles."""

__all__: list[str] = []
