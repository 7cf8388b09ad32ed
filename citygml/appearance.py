"""CityGML appearances: X3DMaterial colours and ParameterizedTexture coordinates.

One theme is used per document: the one asked for, or the first one met (an
Appearance without ``theme`` counts as the theme ""). Targets are polygon ids
(materials may also target a MultiSurface/Solid id); texture coordinates address
rings by id. Texture images are resolved against the document's folder and must lie
inside it (no URLs, no ``..`` escapes): a CityGML file cannot make the converter read
arbitrary files. Problems are collected as (id, line, reason).
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from greentwin.citygml.gml import GeometryContext
from greentwin.citygml.model import Material, Polygon, Texture
from greentwin.citygml.namespaces import XLINK_HREF, split_tag

__all__ = ["AppearanceIndex", "AppearanceParser", "apply_appearance"]

F64 = npt.NDArray[np.float64]
Element = Any


@dataclass(slots=True)
class AppearanceIndex:
    """Appearance data of the selected theme, by target id.

    Attributes
    ----------
    materials : target id (polygon or aggregate) -> Material.
    textures : polygon id -> (Texture, ring id -> (m, 2) float64 uv as written).
    """

    materials: dict[str, Material] = field(default_factory=dict)
    textures: dict[str, tuple[Texture, dict[str, F64]]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.materials or self.textures)

    def clear(self) -> None:
        """Forget everything (between city objects)."""
        self.materials.clear()
        self.textures.clear()


def _text(el: Element) -> str:
    return (el.text or "").strip()


def _ref(el: Element) -> str:
    ref = el.get("uri") or el.get(XLINK_HREF) or _text(el)
    return ref[1:] if ref.startswith("#") else ref


def _color(text: str, default: tuple[float, float, float]) -> tuple[float, float, float]:
    vals = text.split()
    if len(vals) < 3:
        return default
    try:
        r, g, b = (min(max(float(v), 0.0), 1.0) for v in vals[:3])
    except ValueError:
        return default
    return (r, g, b)


def _float(text: str, default: float) -> float:
    try:
        val = float(text)
    except ValueError:
        return default
    return val if np.isfinite(val) else default


class AppearanceParser:
    """Parse ``app:Appearance`` elements of one document into :class:`AppearanceIndex`.

    Parameters
    ----------
    base_dir : folder of the CityGML document (texture images are looked up there).
    theme : theme to use; None = the first theme met.
    """

    def __init__(self, base_dir: Path, theme: str | None) -> None:
        self.base_dir = base_dir.resolve()
        self.theme = theme
        self.problems: list[tuple[str, int, str]] = []
        self._images: dict[str, Texture | None] = {}

    def parse(self, appearance: Element, index: AppearanceIndex) -> None:
        """Add one ``Appearance`` element (of the selected theme) to ``index``."""
        theme = ""
        for child in appearance:
            if split_tag(child.tag)[1] == "theme":
                theme = _text(child)
                break
        if self.theme is None:
            self.theme = theme
        if theme != self.theme:
            return
        for member in appearance:
            if split_tag(member.tag)[1] != "surfaceDataMember":
                continue
            for data in member:
                loc = split_tag(data.tag)[1]
                if loc == "X3DMaterial":
                    self._material(data, index)
                elif loc == "ParameterizedTexture":
                    self._texture(data, index)
                elif loc == "GeoreferencedTexture":
                    self.problems.append(
                        (
                            data.get("{http://www.opengis.net/gml}id") or "GeoreferencedTexture",
                            data.sourceline or 0,
                            "GeoreferencedTexture is not supported; surfaces stay untextured",
                        )
                    )

    def _material(self, el: Element, index: AppearanceIndex) -> None:
        vals: dict[str, str] = {}
        targets: list[str] = []
        for child in el:
            loc = split_tag(child.tag)[1]
            if loc == "target":
                targets.append(_ref(child))
            else:
                vals[loc] = _text(child)
        mat = Material(
            diffuse=_color(vals.get("diffuseColor", ""), (0.8, 0.8, 0.8)),
            emissive=_color(vals.get("emissiveColor", ""), (0.0, 0.0, 0.0)),
            specular=_color(vals.get("specularColor", ""), (1.0, 1.0, 1.0)),
            shininess=_float(vals.get("shininess", ""), 0.2),
            transparency=_float(vals.get("transparency", ""), 0.0),
            is_smooth=vals.get("isSmooth", "").lower() in ("true", "1"),
        )
        for target in targets:
            index.materials[target] = mat

    def _image(self, uri: str, mime: str, wrap: str, line: int) -> Texture | None:
        key = f"{uri}\0{mime}\0{wrap}"
        if key in self._images:
            return self._images[key]
        tex: Texture | None = None
        if not uri:
            self.problems.append(("ParameterizedTexture", line, "texture without imageURI"))
        elif ":" in uri.split("/")[0] or uri.startswith(("/", "\\")):
            self.problems.append(
                (uri, line, "texture image must be a path relative to the document, not a URL")
            )
        else:
            path = (self.base_dir / uri).resolve()
            if not path.is_relative_to(self.base_dir):
                self.problems.append((uri, line, "texture image lies outside the document folder"))
            elif not path.is_file():
                self.problems.append((uri, line, f"texture image {path.name} not found"))
            else:
                guessed = mimetypes.guess_type(path.name)[0] or "image/jpeg"
                tex = Texture(str(path), mime or guessed, wrap or "none")
        self._images[key] = tex
        return tex

    def _texture(self, el: Element, index: AppearanceIndex) -> None:
        uri = mime = wrap = ""
        assoc: list[tuple[str, Element]] = []
        for child in el:
            loc = split_tag(child.tag)[1]
            if loc == "imageURI":
                uri = _text(child)
            elif loc == "mimeType":
                mime = _text(child)
            elif loc == "wrapMode":
                wrap = _text(child)
            elif loc == "target":  # CityGML 1.0/2.0
                assoc.append((_ref(child), child))
            elif loc == "textureParameterization":  # CityGML 3.0
                for ta in child:
                    target = ""
                    param: Element | None = None
                    for part in ta:
                        ploc = split_tag(part.tag)[1]
                        if ploc == "target":
                            target = _ref(part)
                        elif ploc == "textureParameterization":
                            param = part
                    if target and param is not None:
                        assoc.append((target, param))
        if not assoc:
            return
        tex = self._image(uri, mime, wrap, el.sourceline or 0)
        if tex is None:
            return
        for target, holder in assoc:
            rings: dict[str, F64] = {}
            for coord_list in holder:
                if split_tag(coord_list.tag)[1] != "TexCoordList":
                    continue
                for tc in coord_list:
                    if split_tag(tc.tag)[1] != "textureCoordinates":
                        continue
                    try:
                        uv = np.array((tc.text or "").split(), dtype=np.float64)
                    except ValueError:
                        uv = np.array([np.nan])
                    if uv.size % 2 or not np.isfinite(uv).all():
                        self.problems.append(
                            (target, tc.sourceline or 0, "invalid textureCoordinates; untextured")
                        )
                        continue
                    rings[_ref_attr(tc)] = uv.reshape(-1, 2)
            if rings:
                index.textures[target] = (tex, rings)


def _ref_attr(el: Element) -> str:
    ring = el.get("ring") or ""
    return ring[1:] if ring.startswith("#") else ring


def _fit_uv(uv: F64, n: int) -> F64 | None:
    """Texture coordinates for an open ring of n points (drop the closing pair)."""
    if uv.shape[0] == n + 1:
        return uv[:n]
    if uv.shape[0] == n:
        return uv
    return None


def apply_appearance(
    index: AppearanceIndex,
    ctx: GeometryContext,
    feature_id: str,
    problems: list[tuple[str, int, str]],
) -> None:
    """Attach materials, textures and uv of ``index`` to the polygons of ``ctx``.

    Parameters
    ----------
    index : appearance data (the object's own merged with the document's global one).
    ctx : geometry state of the city object (polygons and ring ids by gml:id).
    feature_id : for reports.
    problems : receives (id, line, reason) for textures that do not fit their ring.
    """
    if index.materials:
        mats = index.materials
        for gid, polys in ctx.aggregates.items():
            mat = mats.get(gid)
            if mat is not None:
                for poly in polys:
                    poly.material = mat
        for pid, poly in ctx.polygons.items():
            mat = mats.get(pid)
            if mat is not None:
                poly.material = mat
    if index.textures:
        texs = index.textures
        for pid, poly in ctx.polygons.items():
            hit = texs.get(pid)
            if hit is not None:
                _texture_polygon(poly, pid, hit, ctx.ring_ids.get(pid), feature_id, problems)


def _texture_polygon(
    poly: Polygon,
    pid: str,
    hit: tuple[Texture, dict[str, F64]],
    ring_ids: list[str | None] | None,
    feature_id: str,
    problems: list[tuple[str, int, str]],
) -> None:
    tex, by_ring = hit
    rings = [poly.exterior, *poly.interiors]
    uvs: list[F64] = []
    for i, ring in enumerate(rings):
        rid = ring_ids[i] if ring_ids is not None and i < len(ring_ids) else None
        uv = by_ring.get(rid) if rid else None
        if uv is None and len(rings) == 1 and len(by_ring) == 1:
            uv = next(iter(by_ring.values()))
        fitted = _fit_uv(uv, ring.shape[0]) if uv is not None else None
        if fitted is None:
            problems.append(
                (
                    f"{feature_id}/{pid}",
                    0,
                    "texture coordinates missing or not matching the ring's points; untextured",
                )
            )
            return
        uvs.append(fitted)
    poly.texture = tex
    poly.uv = uvs
