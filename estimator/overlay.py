"""Geometry x raster -> areas: exact cell coverage, true ellipsoidal cell areas, windowed reads.

Every area here is in square metres on the ellipsoid, whatever the CRS of the inputs:

* a raster cell's area is computed exactly for geographic rasters (the area of a latitude band on
  the ellipsoid), and as planar area divided by the projection's areal scale for projected rasters
  (exact for equal-area projections, second-order accurate elsewhere);
* the fraction of each cell covered by a polygon comes from exactextract, so cells cut by a
  footprint's edge count by the share that lies inside (no centre-of-cell or all-touched error);
* polygon areas (footprints, overlaps with regions and control zones) are geodesic areas on WGS84.

The raster is read one window per footprint, never whole.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyproj
import shapely
from affine import Affine
from exactextract import exact_extract
from exactextract.feature import JSONFeatureSource
from exactextract.raster import NumPyRasterSource
from rasterio.windows import Window, from_bounds

logger = logging.getLogger(__name__)

__all__ = [
    "ValueAreas",
    "overlay_footprints",
    "polygonal_parts",
    "cell_areas_m2",
    "geodesic_area_m2",
    "geodesic_buffer",
    "overlap_areas_m2",
    "value_areas",
]

_WGS84 = pyproj.Geod(ellps="WGS84")
_LONLAT = pyproj.CRS.from_epsg(4326)

Progress = Callable[[float, str], None]


# --------------------------------------------------------------------------------------------
# Geodesic helpers on lon/lat geometries


def geodesic_area_m2(geom: shapely.Geometry | None) -> float:
    """Return the ellipsoidal (WGS84) area of a lon/lat polygon in m2.

    Parameters
    ----------
    geom : shapely geometry or None
        Polygon or MultiPolygon in EPSG:4326 (lon, lat). Other geometry types have zero area.

    Returns
    -------
    float
        Area in square metres (0 for None, empty or non-areal geometries).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> round(geodesic_area_m2(box(0, 0, 1, 1)) / 1e6)  # one degree square at the equator, km2
    12309
    """
    if geom is None or geom.is_empty:
        return 0.0
    if geom.geom_type == "GeometryCollection":
        return sum(geodesic_area_m2(g) for g in geom.geoms)
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        return 0.0
    area, _ = _WGS84.geometry_area_perimeter(geom)
    return abs(float(area))


def _local_aeqd(geom: shapely.Geometry) -> pyproj.CRS:
    c = geom.centroid
    return pyproj.CRS.from_proj4(
        f"+proj=aeqd +lat_0={c.y:.8f} +lon_0={c.x:.8f} +datum=WGS84 +units=m +no_defs"
    )


def geodesic_buffer(
    geom: shapely.Geometry, distance_m: float, *, quad_segs: int = 32
) -> shapely.Geometry:
    """Buffer a lon/lat geometry by ``distance_m`` metres on the ground.

    The buffer is built in an azimuthal-equidistant projection centred on the geometry, where
    distances from the centre are true; for deposit-sized shapes (tens of km) the error is far
    below a raster cell.

    Parameters
    ----------
    geom : shapely geometry
        Geometry in EPSG:4326.
    distance_m : float
        Buffer distance in metres (0 returns ``geom`` unchanged).
    quad_segs : int
        Segments per quarter circle.

    Returns
    -------
    shapely geometry
        The buffered geometry in EPSG:4326.
    """
    if distance_m == 0:
        return geom
    aeqd = _local_aeqd(geom)
    fwd = pyproj.Transformer.from_crs(_LONLAT, aeqd, always_xy=True)
    inv = pyproj.Transformer.from_crs(aeqd, _LONLAT, always_xy=True)
    local = shapely.transform(geom, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))
    buffered = shapely.buffer(local, distance_m, quad_segs=quad_segs)
    return shapely.transform(
        buffered, lambda xy: np.column_stack(inv.transform(xy[:, 0], xy[:, 1]))
    )


def overlap_areas_m2(
    footprints: Sequence[shapely.Geometry], zones: Sequence[shapely.Geometry]
) -> np.ndarray:
    """Geodesic area of each footprint's overlap with each zone.

    Parameters
    ----------
    footprints : sequence of shapely geometries
        Footprints in EPSG:4326.
    zones : sequence of shapely geometries
        Zones (regions, control polygons) in EPSG:4326.

    Returns
    -------
    numpy.ndarray
        Array of shape (len(footprints), len(zones)) of overlap areas in m2.
    """
    out = np.zeros((len(footprints), len(zones)))
    if not len(footprints) or not len(zones):
        return out
    zones_arr = np.asarray(zones, dtype=object)
    tree = shapely.STRtree(zones_arr)
    fp_arr = np.asarray(footprints, dtype=object)
    pairs = tree.query(fp_arr, predicate="intersects")
    for i, j in zip(*pairs, strict=True):
        inter = shapely.intersection(fp_arr[i], zones_arr[j])
        out[i, j] = geodesic_area_m2(inter)
    return out


# --------------------------------------------------------------------------------------------
# Cell areas


def _band_area_per_radian(lat_rad: np.ndarray, a: float, e2: float) -> np.ndarray:
    """Ellipsoid area between the equator and latitude ``lat_rad``, per radian of longitude."""
    b2 = a * a * (1.0 - e2)
    s = np.sin(lat_rad)
    if e2 == 0.0:
        return b2 * s
    e = math.sqrt(e2)
    return 0.5 * b2 * (s / (1.0 - e2 * s * s) + np.arctanh(e * s) / e)


_EQUAL_AREA_METHODS = ("equal area", "mollweide", "sinusoidal", "equal earth", "eckert iv")


def _is_equal_area(crs: pyproj.CRS) -> bool:
    """Whether the projection preserves area (planar area is then the ellipsoidal area)."""
    op = crs.coordinate_operation
    name = (op.method_name if op is not None else "").lower()
    return any(key in name for key in _EQUAL_AREA_METHODS)


def cell_areas_m2(
    crs: pyproj.CRS, transform: Affine, rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """Compute the true ellipsoidal area of raster cells, in m2.

    Parameters
    ----------
    crs : pyproj.CRS
        The raster's CRS (geographic or projected).
    transform : affine.Affine
        North-up affine transform of the grid (no rotation).
    rows, cols : numpy.ndarray
        Row and column indices of the cells.

    Returns
    -------
    numpy.ndarray
        Area of each cell in m2, on the CRS's own ellipsoid.

    Examples
    --------
    A 100 m cell of an equal-area projection is exactly one hectare:

    >>> import pyproj
    >>> from affine import Affine
    >>> t = Affine(100, 0, 4_000_000, 0, -100, 3_000_000)
    >>> cell_areas_m2(pyproj.CRS.from_epsg(3035), t, np.array([0]), np.array([0]))
    array([10000.])
    """
    rows = np.asarray(rows, dtype="float64")
    cols = np.asarray(cols, dtype="float64")
    ellipsoid = crs.ellipsoid
    if ellipsoid is None:
        raise ValueError(f"CRS {crs.name!r} has no ellipsoid; cannot compute true areas")
    a = ellipsoid.semi_major_metre
    inv_f = ellipsoid.inverse_flattening
    f = 0.0 if not inv_f or math.isinf(inv_f) else 1.0 / inv_f
    e2 = f * (2.0 - f)
    if crs.is_geographic:
        # Unit is degrees (EPSG:4326 and friends); axis order in GDAL rasters is x=lon, y=lat.
        lat_top = transform.f + transform.e * rows
        lat_bottom = lat_top + transform.e
        top = np.radians(np.clip(np.maximum(lat_top, lat_bottom), -90, 90))
        bottom = np.radians(np.clip(np.minimum(lat_top, lat_bottom), -90, 90))
        dlon = math.radians(abs(transform.a))
        return dlon * (_band_area_per_radian(top, a, e2) - _band_area_per_radian(bottom, a, e2))
    planar = abs(transform.a * transform.e - transform.b * transform.d)
    unit = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    planar *= unit * unit
    if _is_equal_area(crs):
        return np.full(np.broadcast(rows, cols).shape, planar)
    x = transform.c + transform.a * (cols + 0.5)
    y = transform.f + transform.e * (rows + 0.5)
    to_geo = pyproj.Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)
    lon, lat = to_geo.transform(x, y)
    factors = pyproj.Proj(crs).get_factors(lon, lat, errcheck=False)
    scale = np.asarray(factors.areal_scale, dtype="float64")
    bad = ~np.isfinite(scale) | (scale <= 0)
    if bad.any():
        raise ValueError("raster cells fall outside the valid area of the raster's projection")
    return planar / scale


# --------------------------------------------------------------------------------------------
# Exact coverage of one footprint


@dataclass(frozen=True, slots=True)
class ValueAreas:
    """What a footprint covers in a raster.

    Attributes
    ----------
    values : numpy.ndarray
        Distinct raster values (data cells only), sorted.
    area_m2 : numpy.ndarray
        Covered area of each value, in m2 (coverage fraction x cell area, summed).
    nodata_area_m2 : float
        Covered area of nodata cells inside the raster.
    outside_area_m2 : float
        Area of the footprint outside the raster's extent.
    """

    values: np.ndarray
    area_m2: np.ndarray
    nodata_area_m2: float
    outside_area_m2: float

    @property
    def data_area_m2(self) -> float:
        """Area with raster data."""
        return float(self.area_m2.sum())

    @property
    def unknown_area_m2(self) -> float:
        """Area without data: nodata cells plus ground outside the raster."""
        return self.nodata_area_m2 + self.outside_area_m2


def _window_for(
    bounds: tuple[float, float, float, float], transform: Affine, height: int, width: int
) -> Window | None:
    win = from_bounds(*bounds, transform=transform)
    col0 = max(0, math.floor(win.col_off))
    row0 = max(0, math.floor(win.row_off))
    col1 = min(width, math.ceil(win.col_off + win.width))
    row1 = min(height, math.ceil(win.row_off + win.height))
    if col1 <= col0 or row1 <= row0:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


def value_areas(
    dataset,
    footprint: shapely.Geometry,
    *,
    band: int = 1,
    crs: pyproj.CRS,
    extent: shapely.Geometry,
    outside_area_m2: Callable[[shapely.Geometry], float],
) -> ValueAreas:
    """Exact covered area of each raster value inside one footprint.

    Parameters
    ----------
    dataset : rasterio dataset
        An open, north-up raster.
    footprint : shapely geometry
        The footprint in the raster's CRS.
    band : int
        Band to read (1-based).
    crs : pyproj.CRS
        The raster's CRS.
    extent : shapely geometry
        The raster's extent as a polygon in its CRS.
    outside_area_m2 : callable
        Returns the ellipsoidal area (m2) of a geometry given in the raster CRS; used for the
        part of the footprint outside the raster.

    Returns
    -------
    ValueAreas
        Areas per value, nodata area and area outside the raster.
    """
    outside = 0.0
    if not extent.contains(footprint):
        outside = outside_area_m2(shapely.difference(footprint, extent))
    empty = ValueAreas(np.array([]), np.array([]), 0.0, outside)
    if footprint.is_empty or not footprint.intersects(extent):
        return empty
    window = _window_for(footprint.bounds, dataset.transform, dataset.height, dataset.width)
    if window is None:
        return empty
    data = dataset.read(band, window=window)
    wt = dataset.window_transform(window)
    h, w = data.shape
    xmin, ymax = wt.c, wt.f
    xmax, ymin = xmin + wt.a * w, ymax + wt.e * h
    # exactextract skips nodata and NaN cells; it is handed a blank grid of the same shape so
    # that every cell is covered, and values (nodata included) are looked up by cell id.
    blank = np.zeros((h, w), dtype="uint8")
    source = NumPyRasterSource(blank, xmin, ymin, xmax, ymax, nodata=None, name="v")
    feature = {"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(footprint)}
    result = exact_extract(
        source,
        JSONFeatureSource([feature]),
        ["coverage", "cell_id"],
        output="geojson",
    )
    props = result[0]["properties"]
    coverage = np.asarray(props["coverage"], dtype="float64")
    if coverage.size == 0:
        return empty
    cell_id = np.asarray(props["cell_id"], dtype="int64")
    rows, cols = np.divmod(cell_id, w)
    values = data[rows, cols]
    area = coverage * cell_areas_m2(crs, wt, rows, cols)
    nodata = dataset.nodata
    if nodata is not None:
        is_nodata = np.isnan(values) if math.isnan(nodata) else values == nodata
    else:
        is_nodata = np.zeros(values.shape, dtype=bool)
    if np.issubdtype(values.dtype, np.floating):
        is_nodata |= np.isnan(values)
    nodata_area = float(area[is_nodata].sum())
    keep = ~is_nodata
    uniq, inverse = np.unique(values[keep], return_inverse=True)
    sums = np.bincount(inverse.ravel(), weights=area[keep], minlength=uniq.size)
    return ValueAreas(uniq, sums, nodata_area, outside)


def polygonal_parts(geom: shapely.Geometry) -> shapely.Geometry:
    """Keep the polygonal parts of a geometry (make_valid can return collections)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def raster_area_fn(crs: pyproj.CRS) -> Callable[[shapely.Geometry], float]:
    """Return a function giving the ellipsoidal area (m2) of a polygon in ``crs``."""
    to_lonlat = pyproj.Transformer.from_crs(crs, _LONLAT, always_xy=True)
    step = 0.002 if crs.is_geographic else 200.0

    def area(geom: shapely.Geometry) -> float:
        dense = shapely.segmentize(geom, step)
        lonlat = shapely.transform(
            dense, lambda xy: np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1]))
        )
        return geodesic_area_m2(lonlat)

    return area


def overlay_footprints(
    raster_path,
    footprints: Sequence[shapely.Geometry | None],
    *,
    band: int = 1,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Progress | None = None,
) -> list[ValueAreas | None]:
    """Exact covered area of each raster value in each footprint.

    Parameters
    ----------
    raster_path : path-like
        The contamination raster (any GDAL raster, any CRS, north-up).
    footprints : sequence of shapely geometries or None
        Footprints in EPSG:4326; ``None`` entries (deposits that could not be assessed) give
        ``None``.
    band : int
        Raster band (1-based).
    workers, scheduler : optional
        Parallel execution (local processes, or a Dask scheduler address); the serial path is
        used when both are ``None``.
    progress : callable, optional
        Called as ``progress(fraction_done, message)``.

    Returns
    -------
    list of ValueAreas or None
        One entry per footprint, in input order.
    """
    from .io import open_raster

    out: list[ValueAreas | None] = [None] * len(footprints)
    todo = [i for i, f in enumerate(footprints) if f is not None]
    with open_raster(raster_path, band=band) as ds:
        crs = pyproj.CRS.from_user_input(ds.crs.to_wkt())
        extent = shapely.geometry.box(*ds.bounds)
        area_fn = raster_area_fn(crs)
        to_raster = pyproj.Transformer.from_crs(_LONLAT, crs, always_xy=True)
        for step, i in enumerate(todo):
            if progress is not None:
                progress(step / max(1, len(todo)), f"overlay {step + 1}/{len(todo)}")
            fp_r = shapely.transform(
                footprints[i], lambda xy: np.column_stack(to_raster.transform(xy[:, 0], xy[:, 1]))
            )
            if not fp_r.is_valid:
                fp_r = polygonal_parts(shapely.make_valid(fp_r))
            out[i] = value_areas(
                ds, fp_r, band=band, crs=crs, extent=extent, outside_area_m2=area_fn
            )
    if progress is not None:
        progress(1.0, "overlay done")
    return out
