"""Suspected and confirmed hazardous areas (SHA/CHA polygons) overlaid exactly on footprints.

Mine-action databases (IMSMA) record hazards as polygons: a suspected hazardous area (SHA) where
there is indirect evidence, a confirmed hazardous area (CHA) where there is direct evidence. This
module intersects such polygons with deposit footprints as vectors: no rasterisation, areas on
the WGS84 ellipsoid (:func:`estimator.overlay.geodesic_area_m2` on lon/lat intersections).

Rules:

* **Classes.** Each polygon's class attribute names a class of the parameter file, by name
  (``"high"``, case-insensitive) or by raster value (``3`` or ``"3"``). By convention ``"CHA"``
  maps to the highest-hazard class and ``"SHA"`` to the next one (``high`` and ``medium`` with
  the default parameter file). Any other value is an error that names it.
* **Overlaps are dissolved.** Inside a footprint, the polygons of one class are unioned, so
  overlapping polygons are counted once; where polygons of different classes overlap, the
  higher-hazard class wins (higher ``raster_value`` = higher hazard, the parameter file's
  convention), so the overlap is counted once, in that class.
* **The rest of the footprint** is returned as a polygon (footprint minus every hazardous
  area), for the contamination raster to be overlaid on it alone: polygons take precedence
  where both exist, and nothing is counted twice.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyproj
import shapely

from .errors import InputDataError
from .overlay import geodesic_area_m2, polygonal_parts

logger = logging.getLogger(__name__)

__all__ = ["HazardAreaOverlay", "overlay_hazard_areas", "overlay_polygons", "read_hazard_areas"]

_LONLAT = pyproj.CRS.from_epsg(4326)
#: Densify edges before reprojection so they stay straight in the source CRS.
_DENSIFY_DEG = 0.002
_DENSIFY_M = 200.0
#: Conventional aliases: value -> rank from the top (0 = highest-hazard class).
ALIASES = {"cha": 0, "sha": 1}


class _Class(Protocol):
    name: str
    raster_value: int


@dataclass(frozen=True, slots=True)
class HazardAreaOverlay:
    """Hazardous-area polygons inside each footprint.

    Attributes
    ----------
    area_m2 : numpy.ndarray
        ``(N, K)``: ellipsoidal area (m²) of each class inside each footprint, classes in the
        order given; overlaps counted once, in the highest-hazard class.
    covered_m2 : numpy.ndarray
        ``(N,)``: footprint area covered by any polygon (m²), the row sums of ``area_m2``.
    remainder : list of shapely geometries or None
        Footprint minus every hazardous area (lon/lat), for the raster overlay; the footprint
        itself where no polygon touches it, ``None`` where the footprint is ``None``.
    n_polygons : int
        Polygons read.
    pieces : list of dict
        ``pieces[i][k]``: lon/lat geometry of class ``k`` inside footprint ``i`` (dissolved,
        overlaps given to the higher class); classes absent from a footprint have no key.
    """

    area_m2: np.ndarray
    covered_m2: np.ndarray
    remainder: list[shapely.Geometry | None]
    n_polygons: int
    pieces: list[dict[int, shapely.Geometry]]


def _class_lookup(classes: Sequence[_Class]) -> tuple[dict[str, int], dict[int, int], list[int]]:
    """Name -> index, raster value -> index, and indices from highest to lowest hazard."""
    by_name = {c.name.casefold(): k for k, c in enumerate(classes)}
    by_value = {int(c.raster_value): k for k, c in enumerate(classes)}
    ranked = sorted(range(len(classes)), key=lambda k: int(classes[k].raster_value), reverse=True)
    return by_name, by_value, ranked


def _map_value(
    value: Any, by_name: dict[str, int], by_value: dict[int, int], ranked: list[int]
) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | np.integer):
        return by_value.get(int(value))
    if isinstance(value, float | np.floating):
        return by_value.get(int(value)) if float(value).is_integer() else None
    text = str(value).strip()
    key = text.casefold()
    if key in by_name:
        return by_name[key]
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if math.isfinite(number) and number.is_integer():
        return by_value.get(int(number))
    if key in ALIASES and ALIASES[key] < len(ranked):
        return ranked[ALIASES[key]]
    return None


def read_hazard_areas(
    path: str | os.PathLike[str],
    *,
    class_field: str,
    classes: Sequence[_Class],
    assume_crs: str | None = None,
    option: str = "--hazard-areas",
) -> tuple[list[int], list[shapely.Geometry]]:
    """Read hazardous-area polygons (any OGR format, any CRS) with their class.

    Parameters
    ----------
    path : path-like
        The polygon layer.
    class_field : str
        Attribute holding each polygon's class (case-insensitive field name).
    classes : sequence of objects with ``name`` and ``raster_value``
        The parameter file's classes (``Params.classes``).
    assume_crs : str, optional
        CRS of a file that declares none.
    option : str
        CLI option naming the file, for messages.

    Returns
    -------
    (list of int, list of shapely geometries)
        Class index (into ``classes``) and lon/lat polygon of every feature with a geometry.

    Raises
    ------
    InputDataError
        If the file cannot be read, lacks the class field, holds a value that maps to no class,
        or holds non-polygon geometries.
    """
    from .io import read_vector

    path = Path(path)
    gdf = read_vector(
        path, what="hazardous-area", option=option, assume_crs=assume_crs, require_features=True
    )
    columns = {str(c).lower(): c for c in gdf.columns}
    col = columns.get(class_field.lower())
    if col is None:
        fields = ", ".join(str(c) for c in gdf.columns if c != "geometry") or "none"
        raise InputDataError(
            f"{path}: no field {class_field!r} for the hazard class; fields: {fields} (choose "
            "one with --hazard-class-field)"
        )
    by_name, by_value, ranked = _class_lookup(classes)
    names = ", ".join(c.name for c in classes)
    values = ", ".join(str(c.raster_value) for c in classes)
    geographic = bool(gdf.crs.is_geographic)
    to_lonlat = pyproj.Transformer.from_crs(gdf.crs, _LONLAT, always_xy=True)
    out_k: list[int] = []
    out_g: list[shapely.Geometry] = []
    skipped = 0
    for i, (value, geom) in enumerate(zip(gdf[col], gdf.geometry, strict=True)):
        if geom is None or geom.is_empty:
            skipped += 1
            continue
        k = _map_value(value, by_name, by_value, ranked)
        if k is None:
            raise InputDataError(
                f"{path}: feature {i + 1}: {col} = {value!r} is not a hazard class; use a class "
                f"name ({names}), a raster value ({values}), or SHA/CHA"
            )
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            if geom.geom_type == "GeometryCollection":
                geom = polygonal_parts(geom)
            else:
                raise InputDataError(
                    f"{path}: feature {i + 1} is a {geom.geom_type}; hazardous areas must be "
                    "polygons"
                )
        if not geom.is_valid:
            why = shapely.is_valid_reason(geom)
            geom = polygonal_parts(shapely.make_valid(geom))
            logger.warning("%s: feature %d: invalid polygon repaired (%s)", path, i + 1, why)
        if geom.is_empty:
            skipped += 1
            continue
        dense = shapely.segmentize(geom, _DENSIFY_DEG if geographic else _DENSIFY_M)
        lonlat = shapely.transform(
            dense, lambda xy: np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1]))
        )
        if not np.all(np.isfinite(shapely.get_coordinates(lonlat))):
            raise InputDataError(
                f"{path}: feature {i + 1}: coordinates cannot be transformed to longitude/latitude"
            )
        if not lonlat.is_valid:
            lonlat = polygonal_parts(shapely.make_valid(lonlat))
        out_k.append(k)
        out_g.append(lonlat)
    if skipped:
        logger.warning("%s: %d feature(s) without a polygon skipped", path, skipped)
    return out_k, out_g


def overlay_hazard_areas(
    footprints: Sequence[shapely.Geometry | None],
    path: str | os.PathLike[str],
    *,
    class_field: str,
    classes: Sequence[_Class],
    assume_crs: str | None = None,
) -> HazardAreaOverlay:
    """Area of each hazard class inside each footprint, from SHA/CHA polygons.

    Parameters
    ----------
    footprints : sequence of shapely geometries or None
        Footprints in EPSG:4326 (lon/lat); ``None`` entries give zero rows.
    path : path-like
        Hazardous-area polygons (any OGR format, any CRS).
    class_field : str
        Attribute holding each polygon's class (see the module docstring for values).
    classes : sequence of objects with ``name`` and ``raster_value``
        The parameter file's classes, in the order of the output columns.
    assume_crs : str, optional
        CRS of a file that declares none.

    Returns
    -------
    HazardAreaOverlay
        Areas (m², ellipsoidal) per footprint and class, covered area, and the rest of each
        footprint for the raster.

    Raises
    ------
    InputDataError
        If the polygons cannot be read or a class value maps to no class.
    """
    kinds, geoms = read_hazard_areas(
        path, class_field=class_field, classes=classes, assume_crs=assume_crs
    )
    return overlay_polygons(footprints, kinds, geoms, classes)


def overlay_polygons(
    footprints: Sequence[shapely.Geometry | None],
    kinds: Sequence[int],
    geoms: Sequence[shapely.Geometry],
    classes: Sequence[_Class],
) -> HazardAreaOverlay:
    """Overlay lon/lat polygons of known class on footprints (see :func:`overlay_hazard_areas`).

    Parameters
    ----------
    footprints : sequence of shapely geometries or None
        Footprints in EPSG:4326.
    kinds : sequence of int
        Class index of each polygon.
    geoms : sequence of shapely geometries
        Polygons in EPSG:4326.
    classes : sequence of objects with ``name`` and ``raster_value``
        Classes (for the hazard order: higher raster value wins).

    Returns
    -------
    HazardAreaOverlay
        As :func:`overlay_hazard_areas`.

    Examples
    --------
    Two overlapping strips cover a footprint: the overlap counts once, in the higher class.

    >>> from types import SimpleNamespace as C
    >>> classes = [C(name="low", raster_value=1), C(name="high", raster_value=3)]
    >>> fp = shapely.box(0, 0, 0.01, 0.01)
    >>> low, high = shapely.box(0, 0, 0.006, 0.01), shapely.box(0.004, 0, 0.01, 0.01)
    >>> res = overlay_polygons([fp], [0, 1], [low, high], classes)
    >>> [round(float(a / geodesic_area_m2(fp)), 3) for a in res.area_m2[0]]
    [0.4, 0.6]
    >>> res.remainder[0].is_empty
    True
    """
    n, n_classes = len(footprints), len(classes)
    _, _, ranked = _class_lookup(classes)
    area = np.zeros((n, n_classes))
    covered = np.zeros(n)
    remainder: list[shapely.Geometry | None] = list(footprints)
    pieces: list[dict[int, shapely.Geometry]] = [{} for _ in range(n)]
    if not len(geoms):
        return HazardAreaOverlay(area, covered, remainder, 0, pieces)
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = list(geoms)
    kind = np.asarray(kinds, dtype=np.int64)
    tree = shapely.STRtree(arr)
    for i, fp in enumerate(footprints):
        if fp is None or fp.is_empty:
            continue
        hits = tree.query(fp, predicate="intersects")
        if not hits.size:
            continue
        taken: shapely.Geometry | None = None
        for k in ranked:
            mine = hits[kind[hits] == k]
            if not mine.size:
                continue
            # Clip first, then dissolve: the union of a few clipped pieces is far cheaper than
            # the union of whole (often oblast-sized) polygons.
            clipped = shapely.intersection(arr[mine], fp)
            inside = polygonal_parts(shapely.union_all(clipped))
            if inside.is_empty:
                continue
            new = inside if taken is None else polygonal_parts(shapely.difference(inside, taken))
            # pyproj sums signed ring areas: give every part the same orientation first.
            new = shapely.orient_polygons(new, exterior_cw=False)
            area[i, k] = geodesic_area_m2(new)
            if not new.is_empty:
                pieces[i][k] = new
            taken = inside if taken is None else shapely.union(taken, inside)
        if taken is not None:
            covered[i] = area[i].sum()
            remainder[i] = polygonal_parts(shapely.difference(fp, taken))
    return HazardAreaOverlay(area, covered, remainder, len(geoms), pieces)
