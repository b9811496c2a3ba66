"""Clearance-task polygons: the parts of each footprint in each hazard class, as polygons.

The overlay (:mod:`estimator.overlay`) reports *how much* of a footprint lies in each hazard
class; this module says *where*. For each deposit it reads the raster window under the footprint
only, turns the cells of each class into polygons (``rasterio.features.shapes``), clips them
exactly to the footprint in the raster's CRS and returns them in lon/lat with their ellipsoidal
area. Cells without data, and ground outside the raster, form an ``unknown`` polygon assessed as
``[general] unknown_area_class``. The polygons of one deposit tile its footprint, so their areas
add up to the overlay's class areas (to float rounding): they are the task polygons a planner
hands to survey teams, each with the release stage its class is expected to need.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyproj
import shapely
from affine import Affine
from rasterio.features import geometry_mask, shapes
from rasterio.windows import Window, from_bounds

from .errors import InputDataError
from .overlay import geodesic_area_m2, polygonal_parts

if TYPE_CHECKING:
    from .params import HazardClass, Params
    from .pipeline import Report

logger = logging.getLogger(__name__)

__all__ = [
    "UNKNOWN_CLASS",
    "TaskPolygon",
    "build_task_polygons",
    "release_stage",
    "task_properties",
    "to_hazard_geojson",
]

Progress = Callable[[float, str], None]

#: Class name of the polygons without contamination data (nodata cells, outside the raster).
UNKNOWN_CLASS = "unknown"
_LONLAT = pyproj.CRS.from_epsg(4326)
_COORD_DECIMALS = 7


@dataclass(frozen=True, slots=True)
class TaskPolygon:
    """The part of one deposit's footprint in one hazard class.

    Attributes
    ----------
    deposit_index : int
        Position of the deposit in ``report.deposits``.
    hazard_class : str
        Class name, or ``"unknown"`` for ground without contamination data.
    assessed_as : str
        The class whose land-release shares apply (``hazard_class`` itself, or the
        ``unknown_area_class`` of the parameter file for unknown ground).
    area_m2 : float
        Ellipsoidal (WGS84) area of ``geometry``, m2.
    geometry : shapely.MultiPolygon
        Lon/lat (EPSG:4326) with counter-clockwise exterior rings.
    """

    deposit_index: int
    hazard_class: str
    assessed_as: str
    area_m2: float
    geometry: shapely.Geometry


def release_stage(cls: HazardClass, *, unknown: bool = False) -> str:
    """Describe the land-release stages a class is expected to need, at the modes.

    Parameters
    ----------
    cls : HazardClass
        The class (its ``nts_cancel_share`` and ``ts_reduce_share`` modes are used).
    unknown : bool
        The ground has no data and is assessed as ``cls``.

    Returns
    -------
    str
        For example ``"NTS only (expected cancelled)"`` or ``"NTS then TS; clearance of the
        confirmed part (at the modes: 70% cancelled by NTS, 18% reduced by TS, 12% cleared)"``.
    """
    c, r = cls.nts_cancel_share.mode, cls.ts_reduce_share.mode
    prefix = f"no data, assessed as {cls.name}: " if unknown else ""
    if c >= 1.0:
        return prefix + "NTS only (expected cancelled)"
    if r >= 1.0:
        return prefix + (
            f"NTS then TS (expected released by TS; at the modes {c:.0%} cancelled by NTS, "
            f"{1 - c:.0%} reduced by TS)"
        )
    return prefix + (
        f"NTS then TS; clearance of the confirmed part (at the modes: {c:.0%} cancelled by NTS, "
        f"{(1 - c) * r:.0%} reduced by TS, {(1 - c) * (1 - r):.0%} cleared)"
    )


def _window(bounds: tuple[float, float, float, float], ds) -> Window | None:
    """Whole cells of ``ds`` covering ``bounds``, clipped to the raster (None if outside)."""
    win = from_bounds(*bounds, transform=ds.transform)
    col0 = max(0, math.floor(win.col_off))
    row0 = max(0, math.floor(win.row_off))
    col1 = min(ds.width, math.ceil(win.col_off + win.width))
    row1 = min(ds.height, math.ceil(win.row_off + win.height))
    if col1 <= col0 or row1 <= row0:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


def _window_transform(t: Affine, win: Window) -> Affine:
    """Transform of a window (as ``ds.window_transform``, without affine's deprecated ``*``)."""
    col, row = win.col_off, win.row_off
    return Affine(t.a, t.b, t.c + col * t.a + row * t.b, t.d, t.e, t.f + col * t.d + row * t.e)


def _codes(data: np.ndarray, nodata: float | None, value_to_code: dict[int, int], unknown: int):
    """Raster values -> class codes (0..K-1), ``unknown`` for nodata, -1 for unmapped values."""
    code = np.full(data.shape, -1, dtype="int32")
    for value, k in value_to_code.items():
        code[data == value] = k
    missing = np.zeros(data.shape, dtype=bool)
    if nodata is not None:
        missing |= np.isnan(data) if math.isnan(nodata) else data == nodata
    if np.issubdtype(data.dtype, np.floating):
        missing |= np.isnan(data)
    code[missing] = unknown
    return code


def _clip_parts(
    parts: list[shapely.Geometry], footprint: shapely.Geometry
) -> list[shapely.Geometry]:
    """Clip cell polygons exactly to the footprint; polygons only (touching lines dropped)."""
    arr = np.asarray(parts, dtype=object)
    inside = shapely.contains_properly(footprint, arr)
    out = list(arr[inside])
    for g in shapely.intersection(arr[~inside], footprint):
        g = polygonal_parts(g) if g.geom_type not in ("Polygon", "MultiPolygon") else g
        out.extend(p for p in shapely.get_parts(g) if not p.is_empty and p.area > 0)
    return out


def _polygon_pieces(report: Report, todo: list[int], inputs: dict[str, Any]):
    """Hazardous-area polygons (``--hazard-areas``) inside each footprint, by class.

    The same rule as the overlay (:mod:`estimator.hazard_areas`): polygons of one class are
    dissolved, the higher-hazard class wins where classes overlap, and the raster covers only
    the rest of the footprint.

    Returns
    -------
    (pieces, rest)
        ``pieces[i][k]``: lon/lat geometry of class k in footprint i; ``rest[i]``: the part of
        footprint i left for the raster (the footprint itself without polygons).
    """
    from .hazard_areas import read_hazard_areas

    classes = report.params.classes
    pieces: dict[int, dict[int, shapely.Geometry]] = {i: {} for i in todo}
    rest: dict[int, shapely.Geometry] = {i: report.footprints[i] for i in todo}
    path = inputs.get("hazard_areas")
    if not path:
        return pieces, rest
    kinds, geoms = read_hazard_areas(
        path, class_field=inputs.get("hazard_class_field") or "class", classes=classes
    )
    if not len(geoms):
        return pieces, rest
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = list(geoms)
    kind = np.asarray(kinds, dtype=np.int64)
    tree = shapely.STRtree(arr)
    ranked = sorted(range(len(classes)), key=lambda k: int(classes[k].raster_value), reverse=True)
    for i in todo:
        fp = report.footprints[i]
        hits = tree.query(fp, predicate="intersects")
        taken: shapely.Geometry | None = None
        for k in ranked:
            mine = hits[kind[hits] == k]
            if not mine.size:
                continue
            inside = polygonal_parts(shapely.intersection(shapely.union_all(arr[mine]), fp))
            if inside.is_empty:
                continue
            new = inside if taken is None else polygonal_parts(shapely.difference(inside, taken))
            if not new.is_empty:
                pieces[i][k] = new
            taken = inside if taken is None else shapely.union(taken, inside)
        if taken is not None:
            rest[i] = polygonal_parts(shapely.difference(fp, taken))
    return pieces, rest


def _lonlat_area(geom: shapely.Geometry) -> tuple[shapely.Geometry, float]:
    # pyproj sums signed ring areas: orient every part the same way first.
    geom = shapely.orient_polygons(geom, exterior_cw=False)
    return geom, geodesic_area_m2(geom)


def build_task_polygons(
    report: Report,
    *,
    raster_path: str | os.PathLike[str] | None = None,
    band: int | None = None,
    progress: Progress | None = None,
) -> list[TaskPolygon]:
    """Vectorise the hazard classes inside every footprint of a report.

    Where the report was computed with hazardous-area polygons (``--hazard-areas``), those
    polygons give their classes first and the raster is vectorised on the rest of each
    footprint only, as in the overlay; without a raster, the rest is ``unknown``.

    Parameters
    ----------
    report : Report
        A computed report (its footprints, parameters and inputs are used).
    raster_path : path-like, optional
        The contamination raster; default: the one the report was computed from.
    band : int, optional
        Raster band (1-based); default: the report's.
    progress : callable, optional
        Called as ``progress(fraction_done, message)``.

    Returns
    -------
    list of TaskPolygon
        One per deposit and class with any area, deposits in report order, classes in raster
        value order and ``unknown`` last. Deposits without a footprint have none.

    Raises
    ------
    InputDataError
        If the raster or the polygons cannot be read, or a value has no class in the
        parameter file.
    """
    inputs = report.meta.get("inputs", {})
    path = raster_path if raster_path is not None else inputs.get("contamination")
    band = band if band is not None else int(inputs.get("band") or 1)
    params: Params = report.params
    unknown = len(params.classes)
    names = [*params.class_names, UNKNOWN_CLASS]
    assessed = [*params.class_names, params.general.unknown_area_class]
    todo = [i for i, fp in enumerate(report.footprints) if fp is not None and not fp.is_empty]
    pieces, rest = _polygon_pieces(report, todo, inputs)
    # (deposit, class) -> [(lon/lat geometry, area m2)]
    found: dict[tuple[int, int], list[tuple[shapely.Geometry, float]]] = {}
    for i in todo:
        for k, geom in pieces[i].items():
            found.setdefault((i, k), []).append(_lonlat_area(geom))
        if path is None and not rest[i].is_empty:  # polygons only: the rest has no data
            found.setdefault((i, unknown), []).append(_lonlat_area(rest[i]))
    if path is not None:
        _raster_pieces(report, todo, rest, path, band, found, progress)
    out: list[TaskPolygon] = []
    for (i, k), items in sorted(found.items()):
        area = sum(a for _, a in items)
        if area <= 0:
            continue
        geoms = [g for g, a in items if a > 0]
        geom = geoms[0] if len(geoms) == 1 else polygonal_parts(shapely.union_all(geoms))
        if geom.geom_type == "Polygon":
            geom = shapely.MultiPolygon([geom])
        out.append(
            TaskPolygon(
                deposit_index=i,
                hazard_class=names[k],
                assessed_as=assessed[k],
                area_m2=area,
                geometry=shapely.orient_polygons(geom, exterior_cw=False),
            )
        )
    if progress is not None:
        progress(1.0, "hazard polygons done")
    logger.info("hazard polygons: %d for %d footprint(s)", len(out), len(todo))
    return out


def _raster_pieces(
    report: Report,
    todo: list[int],
    rest: dict[int, shapely.Geometry],
    path: str | os.PathLike[str],
    band: int,
    found: dict[tuple[int, int], list[tuple[shapely.Geometry, float]]],
    progress: Progress | None,
) -> None:
    """Vectorise the raster cells of each class inside ``rest[i]``; add them to ``found``."""
    from .io import open_raster

    params: Params = report.params
    value_to_code = {c.raster_value: k for k, c in enumerate(params.classes)}
    unknown = len(params.classes)
    with open_raster(path, band=band) as ds:
        crs = pyproj.CRS.from_user_input(ds.crs.to_wkt())
        extent = shapely.geometry.box(*ds.bounds)
        shapely.prepare(extent)
        to_raster = pyproj.Transformer.from_crs(_LONLAT, crs, always_xy=True)
        to_lonlat = pyproj.Transformer.from_crs(crs, _LONLAT, always_xy=True)
        # Straight edges in the raster CRS are densified to the cell size before going to
        # lon/lat, so that geodesic areas match the overlay's cell areas.
        step = min(abs(ds.transform.a), abs(ds.transform.e))
        for n, i in enumerate(todo):
            if progress is not None:
                progress(n / max(1, len(todo)), f"hazard polygons {n + 1}/{len(todo)}")
            if rest[i] is None or rest[i].is_empty:
                continue
            # The same transform as the overlay, so both see the same footprint.
            fp = shapely.transform(
                rest[i], lambda xy: np.column_stack(to_raster.transform(xy[:, 0], xy[:, 1]))
            )
            if not fp.is_valid:
                fp = polygonal_parts(shapely.make_valid(fp))
            if fp.is_empty:
                continue
            shapely.prepare(fp)
            parts: dict[int, list[shapely.Geometry]] = {}
            win = _window(fp.bounds, ds) if fp.intersects(extent) else None
            if win is not None:
                data = ds.read(band, window=win)
                wt = _window_transform(ds.transform, win)
                code = _codes(data, ds.nodata, value_to_code, unknown)
                touched = ~geometry_mask([fp], data.shape, wt, all_touched=True)
                bad = touched & (code < 0)
                if bad.any():
                    value = data[bad][0]
                    raise InputDataError(
                        f"{path}: raster value {value:g} (in {report.deposits[i].name!r}) has no "
                        f"class in the parameter file {params.source}; add a [classes.NAME] table "
                        "with that raster_value, or set it to nodata"
                    )
                for geom, value in shapes(code, mask=touched, transform=wt, connectivity=4):
                    parts.setdefault(int(value), []).append(shapely.geometry.shape(geom))
            clipped = {k: _clip_parts(v, fp) for k, v in parts.items()}
            if not extent.contains(fp):
                outside = polygonal_parts(shapely.difference(fp, extent))
                clipped.setdefault(unknown, []).extend(
                    p for p in shapely.get_parts(outside) if p.area > 0
                )
            for k in sorted(clipped):
                if not clipped[k]:
                    continue
                geom = shapely.MultiPolygon(clipped[k])
                if not geom.is_valid:
                    geom = polygonal_parts(shapely.make_valid(geom))
                dense = shapely.segmentize(geom, step)
                lonlat = shapely.transform(
                    dense, lambda xy: np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1]))
                )
                found.setdefault((i, k), []).append(_lonlat_area(lonlat))


def task_properties(report: Report, task: TaskPolygon) -> dict[str, Any]:
    """Flatten one task polygon's attributes, named with their units.

    The expected areas are at the modes of the parameter ranges (``*_mode``): NTS covers the
    whole polygon, TS what NTS does not cancel, clearance what TS does not reduce.
    """
    from .report import control_label

    d = report.deposits[task.deposit_index]
    cls = next(c for c in report.params.classes if c.name == task.assessed_as)
    is_unknown = task.hazard_class == UNKNOWN_CLASS
    c, r = cls.nts_cancel_share.mode, cls.ts_reduce_share.mode
    area = task.area_m2
    return {
        "deposit_id": d.id,
        "deposit_name": d.name,
        "region": d.region,
        "deposit_status": d.status,
        "control": control_label(d.occupied_share),
        "class": task.hazard_class,
        "class_label": "No contamination data" if is_unknown else cls.label,
        "raster_value": None if is_unknown else cls.raster_value,
        "assessed_as": task.assessed_as,
        "area_m2": round(area, 2),
        "area_ha": round(area / 1e4, 4),
        "share_of_footprint": round(area / d.footprint_area_m2, 6) if d.footprint_area_m2 else None,
        "release_stage": release_stage(cls, unknown=is_unknown),
        "nts_cancel_share_mode": c,
        "ts_reduce_share_mode": r,
        "ts_area_m2_mode": round(area * (1 - c), 2),
        "clearance_area_m2_mode": round(area * (1 - c) * (1 - r), 2),
        "clearance_mix": ", ".join(f"{m} {s:.0%}" for m, s in cls.clearance_mix if s > 0)
        if c < 1 and r < 1
        else "",
        "items_per_ha_mode": cls.items_per_ha.mode,
    }


def to_hazard_geojson(report: Report, tasks: list[TaskPolygon]) -> dict[str, Any]:
    """Return the task polygons as an RFC 7946 FeatureCollection (EPSG:4326, CCW exteriors).

    The top-level ``demine`` member carries the report's provenance, as in
    :func:`estimator.report.to_geojson`.
    """
    features = []
    for t in tasks:
        geom = shapely.set_precision(t.geometry, 10**-_COORD_DECIMALS, mode="pointwise")
        features.append(
            {
                "type": "Feature",
                "id": f"{report.deposits[t.deposit_index].id}:{t.hazard_class}",
                "geometry": shapely.geometry.mapping(
                    shapely.orient_polygons(geom, exterior_cw=False)
                ),
                "properties": task_properties(report, t),
            }
        )
    return {"type": "FeatureCollection", "demine": report.meta, "features": features}
