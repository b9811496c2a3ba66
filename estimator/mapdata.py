"""Gather what the map shows, all in one local metric projection.

Contamination classes on the map grid, regions, occupied ground, the front line and the
footprints.

The map is drawn in a transverse Mercator projection centred on the area shown, so north is up
and the scale bar is true (to ~0.1 % within 250 km of the centre), whatever the CRS of the
inputs. The raster is warped straight onto the map grid (nearest neighbour, classes are
categories), reading no more than that grid needs. Files are opened through :mod:`estimator.io`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyproj
import shapely
from affine import Affine

from .aggregate import UNASSIGNED_REGION
from .errors import InputDataError

if TYPE_CHECKING:
    from .pipeline import Report

logger = logging.getLogger(__name__)

__all__ = ["MapData", "load_map_data"]

_LONLAT = pyproj.CRS.from_epsg(4326)
#: Margin around the regions shown, as a share of the larger side.
_MARGIN = 0.04
#: The front line is the edge of occupied ground that touches free ground within this distance.
_FRONT_TOLERANCE_M = 250.0
#: Free ground narrower than twice this is a sliver between boundaries, not land beyond a front.
_SLIVER_M = 400.0


@dataclass(frozen=True)
class MapData:
    """Everything the map draws, in the map's projection (metres).

    Attributes
    ----------
    crs : pyproj.CRS
        The map projection (transverse Mercator centred on the area shown).
    extent : tuple of float
        ``(xmin, ymin, xmax, ymax)`` shown, in metres.
    classes : numpy.ma.MaskedArray or None
        Class index (position in ``report.params.classes``) of each map cell, north row first;
        masked where the raster has no data or does not reach. ``None`` without a raster.
    unmapped : bool
        Whether some cells hold values with no class (drawn as unknown).
    regions : dict of str to shapely geometry
        Every region polygon.
    focus : tuple of str
        The regions the map is about (the others are context).
    occupied : shapely geometry or None
        Occupied ground at the report's control date.
    front_line : shapely geometry or None
        Edge of occupied ground against free ground.
    footprints : list of shapely geometry or None
        One per deposit of the report.
    centre : tuple of float
        Longitude and latitude of the projection's centre, degrees.
    hazard_polygons : list of (int, shapely geometry)
        Hazardous-area polygons (``--hazard-areas``) in the map frame, with their class index.
    """

    crs: pyproj.CRS
    extent: tuple[float, float, float, float]
    classes: np.ma.MaskedArray | None
    unmapped: bool
    regions: dict[str, shapely.Geometry]
    focus: tuple[str, ...]
    occupied: shapely.Geometry | None
    front_line: shapely.Geometry | None
    footprints: list[shapely.Geometry | None] = field(default_factory=list)
    centre: tuple[float, float] = (0.0, 0.0)
    hazard_polygons: list[tuple[int, shapely.Geometry]] = field(default_factory=list)


def _to(crs_from, crs_to):
    t = pyproj.Transformer.from_crs(crs_from, crs_to, always_xy=True)

    def apply(geom: shapely.Geometry | None) -> shapely.Geometry | None:
        if geom is None or geom.is_empty:
            return geom
        return shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))

    return apply


def _local_crs(lon: float, lat: float) -> pyproj.CRS:
    return pyproj.CRS.from_proj4(
        f"+proj=tmerc +lat_0={lat:.6f} +lon_0={lon:.6f} +k=1 +x_0=0 +y_0=0 +datum=WGS84 "
        "+units=m +no_defs"
    )


def _fit(bounds: tuple[float, float, float, float], aspect: float) -> tuple[float, ...]:
    """Grow ``bounds`` by the margin, then to the width/height ratio ``aspect``."""
    xmin, ymin, xmax, ymax = bounds
    w, h = max(xmax - xmin, 1.0), max(ymax - ymin, 1.0)
    pad = _MARGIN * max(w, h)
    w, h = w + 2 * pad, h + 2 * pad
    if w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def _read_occupied(report: Report, to_map) -> shapely.Geometry | None:
    """Return the occupied zones the report used (its control snapshot), in the map frame."""
    import datetime as dt

    from .pipeline import read_occupied

    inputs = report.meta.get("inputs", {})
    path = inputs.get("control")
    if not path:
        return None
    when = report.meta.get("control_date")
    occupied, _ = read_occupied(
        Path(path), inputs.get("assume_crs"), dt.date.fromisoformat(when) if when else None
    )
    if occupied is None or occupied.is_empty:
        return shapely.Polygon()
    occupied = to_map(occupied)
    return occupied if occupied.is_valid else shapely.make_valid(occupied)


def _read_hazard_polygons(
    report: Report, to_map, frame: shapely.Geometry
) -> list[tuple[int, shapely.Geometry]]:
    """SHA/CHA polygons of the report's ``--hazard-areas`` input, in the map frame."""
    inputs = report.meta.get("inputs", {})
    path = inputs.get("hazard_areas")
    if not path:
        return []
    from .hazard_areas import read_hazard_areas

    kinds, geoms = read_hazard_areas(
        path, class_field=inputs.get("hazard_class_field") or "class", classes=report.params.classes
    )
    out = []
    for k, g in zip(kinds, geoms, strict=True):
        clipped = shapely.intersection(to_map(g), frame)
        if not clipped.is_empty:
            out.append((int(k), clipped))
    # Lower hazard first, so the higher class is drawn on top where they overlap.
    raster_value = {k: c.raster_value for k, c in enumerate(report.params.classes)}
    return sorted(out, key=lambda kg: raster_value[kg[0]])


def _raster_classes(
    report: Report, crs: pyproj.CRS, extent: tuple[float, ...], width: int, height: int
) -> tuple[np.ma.MaskedArray | None, bool]:
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    from .io import open_raster

    inputs = report.meta.get("inputs", {})
    path = inputs.get("contamination")
    if not path:
        return None, False
    band = int(inputs.get("band") or 1)
    xmin, ymin, xmax, ymax = extent
    transform = Affine((xmax - xmin) / width, 0, xmin, 0, -(ymax - ymin) / height, ymax)
    with open_raster(path, band=band) as ds:
        options = {"add_alpha": True} if ds.nodata is None else {"nodata": ds.nodata}
        with WarpedVRT(
            ds,
            crs=crs.to_wkt(),
            transform=transform,
            width=width,
            height=height,
            resampling=Resampling.nearest,
            **options,
        ) as vrt:
            values = vrt.read(band, masked=True)
    codes = np.full(values.shape, -1, dtype="int16")
    data = np.ma.getdata(values)
    for k, c in enumerate(report.params.classes):
        codes[data == c.raster_value] = k
    mask = np.ma.getmaskarray(values)
    unmapped = bool(((codes < 0) & ~mask).any())
    # Values without a class are shown as unknown (index K); the report itself refuses them.
    codes[(codes < 0) & ~mask] = len(report.params.classes)
    return np.ma.MaskedArray(codes, mask=mask), unmapped


def load_map_data(report: Report, *, aspect: float, grid_width: int = 2000) -> MapData:
    """Read and project everything the map shows.

    Parameters
    ----------
    report : Report
        A computed report; its regions (after any ``--region`` filter) are the focus, and its
        inputs name the raster and control files.
    aspect : float
        Width / height of the map frame; the extent is widened to it.
    grid_width : int
        Cells across the map grid on which the raster is drawn.

    Returns
    -------
    MapData
        The layers in the map's projection.

    Raises
    ------
    InputDataError
        If the raster or control file cannot be read, or nothing can be located.
    """
    focus = tuple(r.name for r in report.regions if r.name in report.region_geometries)
    shown_geoms = [report.region_geometries[n] for n in focus]
    shown_geoms += [fp for fp in report.footprints if fp is not None]
    if not shown_geoms:
        raise InputDataError("nothing to map: no region polygon and no deposit footprint")
    lonlat_bounds = shapely.union_all(shown_geoms).bounds
    lon = (lonlat_bounds[0] + lonlat_bounds[2]) / 2
    lat = (lonlat_bounds[1] + lonlat_bounds[3]) / 2
    crs = _local_crs(lon, lat)
    to_map = _to(_LONLAT, crs)
    regions = {
        name: to_map(shapely.segmentize(g, 0.01))
        for name, g in report.region_geometries.items()
        if name != UNASSIGNED_REGION
    }
    footprints = [to_map(fp) for fp in report.footprints]
    shown = [regions[n] for n in focus] + [fp for fp in footprints if fp is not None]
    extent = _fit(shapely.union_all(shown).bounds, aspect)
    height = max(1, round(grid_width / aspect))
    classes, unmapped = _raster_classes(report, crs, extent, grid_width, height)
    frame = shapely.box(*extent).buffer(0.05 * (extent[2] - extent[0]))
    occupied = _read_occupied(report, to_map)
    front = None
    if occupied is not None and not occupied.is_empty:
        occupied = shapely.intersection(occupied, frame)
        land = shapely.union_all(list(regions.values())) if regions else shapely.Polygon()
        # Free ground, opened morphologically: the slivers between two differently simplified
        # coastlines or borders are not a front.
        free = shapely.difference(land, occupied)
        free = free.buffer(-_SLIVER_M).buffer(_SLIVER_M + _FRONT_TOLERANCE_M)
        front = shapely.intersection(occupied.boundary, free)
        front = shapely.line_merge(front) if front.geom_type == "MultiLineString" else front
    hazard_polygons = _read_hazard_polygons(report, to_map, frame)
    logger.info(
        "map: %d x %d grid, %d region(s) in focus, control %s",
        grid_width,
        height,
        len(focus),
        report.meta.get("control_date") or "none",
    )
    return MapData(
        crs=crs,
        extent=tuple(float(v) for v in extent),
        classes=classes,
        unmapped=unmapped,
        regions=regions,
        focus=focus,
        occupied=occupied,
        front_line=front,
        footprints=footprints,
        centre=(lon, lat),
        hazard_polygons=hazard_polygons,
    )
