"""Exact overlay: hand-computed areas on tiny rasters, and agreement across raster CRSs."""

from __future__ import annotations

import math

import numpy as np
import pyproj
import pytest
import rasterio
import shapely
from affine import Affine
from shapely.geometry import box

from estimator.overlay import cell_areas_m2, geodesic_area_m2, geodesic_buffer, value_areas

GEOD = pyproj.Geod(ellps="WGS84")
LAEA = "EPSG:3035"
X0, Y0 = 6_000_000.0, 2_800_000.0  # a spot in eastern Ukraine in EPSG:3035


def _areas(path, geom_in_raster_crs):
    with rasterio.open(path) as ds:
        crs = pyproj.CRS.from_user_input(ds.crs.to_wkt())
        return value_areas(
            ds,
            geom_in_raster_crs,
            crs=crs,
            extent=box(*ds.bounds),
            outside_area_m2=lambda g: g.area,
        )


def test_polygon_over_exactly_half_a_cell(make_raster):
    path = make_raster(np.array([[3]], dtype="uint8"), Affine(100, 0, X0, 0, -100, Y0))
    half = box(X0, Y0 - 100, X0 + 50, Y0)  # the western half of the only cell
    va = _areas(path, half)
    assert va.values.tolist() == [3]
    assert va.area_m2[0] == pytest.approx(5_000.0, rel=1e-9)
    assert va.unknown_area_m2 == 0


def test_polygon_across_class_boundaries_and_nodata(make_raster):
    # 3 x 3 cells of 100 m:   0 1 2
    #                         3 N 1      (N = nodata)
    #                         2 2 3
    arr = np.array([[0, 1, 2], [3, 255, 1], [2, 2, 3]], dtype="uint8")
    path = make_raster(arr, Affine(100, 0, X0, 0, -100, Y0))
    # Polygon from x 50..250, y -250..-50 (relative): covers quarter/half cells.
    poly = box(X0 + 50, Y0 - 250, X0 + 250, Y0 - 50)
    va = _areas(path, poly)
    got = dict(zip(va.values.tolist(), va.area_m2.tolist(), strict=True))
    # By hand (m2): row 0 (y -100..-50): col0 25 m x 50 m... each cell's covered part:
    #   (0,0): 50 x 50 = 2500 (class 0)   (0,1): 100 x 50 = 5000 (class 1)  (0,2): 50 x 50 = 2500 (class 2)
    #   (1,0): 50 x 100 = 5000 (class 3)  (1,1): 10000 (nodata)              (1,2): 5000 (class 1)
    #   (2,0): 50 x 50 = 2500 (class 2)   (2,1): 100 x 50 = 5000 (class 2)   (2,2): 2500 (class 3)
    assert got == pytest.approx({0: 2500, 1: 10000, 2: 10000, 3: 7500}, rel=1e-9)
    assert va.nodata_area_m2 == pytest.approx(10000, rel=1e-9)
    assert va.data_area_m2 + va.unknown_area_m2 == pytest.approx(poly.area, rel=1e-9)


def test_footprint_partly_outside_the_raster(make_raster):
    path = make_raster(np.ones((2, 2), dtype="uint8"), Affine(100, 0, X0, 0, -100, Y0))
    poly = box(X0 - 100, Y0 - 200, X0 + 100, Y0)  # half outside, to the west
    va = _areas(path, poly)
    assert va.area_m2.sum() == pytest.approx(20_000, rel=1e-9)
    assert va.outside_area_m2 == pytest.approx(20_000, rel=1e-9)


def test_footprint_entirely_outside_the_raster(make_raster):
    path = make_raster(np.ones((2, 2), dtype="uint8"), Affine(100, 0, X0, 0, -100, Y0))
    va = _areas(path, box(X0 + 1000, Y0, X0 + 1100, Y0 + 100))
    assert va.values.size == 0 and va.outside_area_m2 == pytest.approx(10_000)


def test_float_raster_nan_cells_are_nodata(make_raster):
    arr = np.array([[0.2, np.nan]], dtype="float32")
    path = make_raster(arr, Affine(100, 0, X0, 0, -100, Y0), nodata=np.nan)
    va = _areas(path, box(X0, Y0 - 100, X0 + 200, Y0))
    assert va.values.tolist() == pytest.approx([0.2])
    assert va.nodata_area_m2 == pytest.approx(10_000)


@pytest.mark.parametrize("lat", [0.0, 47.5, 70.0])
def test_geographic_cell_area_matches_geodesic_quadrangle(lat):
    # A 0.01 degree cell: the exact band formula must match pyproj's geodesic polygon area
    # (geodesic edges differ from parallels by far less than 1e-6 at this size).
    t = Affine(0.01, 0, 37.0, 0, -0.01, lat + 0.01)
    got = cell_areas_m2(pyproj.CRS.from_epsg(4326), t, np.array([0]), np.array([0]))[0]
    lons = [37.0, 37.01, 37.01, 37.0]
    lats = [lat + 0.01, lat + 0.01, lat, lat]
    want = abs(GEOD.polygon_area_perimeter(lons, lats)[0])
    assert got == pytest.approx(want, rel=1e-6)


def test_utm_cell_area_corrects_scale_factor():
    # Near the UTM central meridian the scale factor is 0.9996, so a 100 m grid cell covers
    # (100 / 0.9996)^2 m2 of ground.
    crs = pyproj.CRS.from_epsg(32637)  # UTM 37N, central meridian 39 E
    t = Affine(100, 0, 500_000, 0, -100, 5_300_000)
    got = cell_areas_m2(crs, t, np.array([0]), np.array([0]))[0]
    assert got == pytest.approx(10_000 / 0.9996**2, rel=1e-6)


def test_equal_area_cells_are_exactly_their_planar_area():
    t = Affine(100, 0, X0, 0, -100, Y0)
    got = cell_areas_m2(pyproj.CRS.from_epsg(3035), t, np.arange(3), np.arange(3))
    assert got.tolist() == [10_000.0, 10_000.0, 10_000.0]


def _grid_for(crs: str, lonlat_bounds, res):
    to = pyproj.Transformer.from_crs(4326, crs, always_xy=True)
    xs, ys = to.transform(
        [lonlat_bounds[0], lonlat_bounds[2], lonlat_bounds[0], lonlat_bounds[2]],
        [lonlat_bounds[1], lonlat_bounds[1], lonlat_bounds[3], lonlat_bounds[3]],
    )
    x0 = math.floor(min(xs) / res) * res - res
    y1 = math.ceil(max(ys) / res) * res + res
    w = int(math.ceil((max(xs) - x0) / res)) + 2
    h = int(math.ceil((y1 - min(ys)) / res)) + 2
    return Affine(res, 0, x0, 0, -res, y1), w, h


def _class_by_latitude(crs: str, transform: Affine, w: int, h: int) -> np.ndarray:
    cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    x = transform.c + transform.a * cols
    y = transform.f + transform.e * rows
    lon, lat = pyproj.Transformer.from_crs(crs, 4326, always_xy=True).transform(x, y)
    return np.where(lat > 47.50, 3, 1).astype("uint8")


def test_same_ground_in_three_crs_agrees(make_raster):
    """A geographic, a UTM and an equal-area raster of the same ground give the same areas."""
    lonlat = (37.45, 47.45, 37.55, 47.55)
    footprint = shapely.segmentize(box(37.46, 47.46, 37.54, 47.54), 0.0005)
    results = {}
    for crs, res in (("EPSG:4326", 0.0002), ("EPSG:32637", 20.0), ("EPSG:3035", 20.0)):
        transform, w, h = _grid_for(crs, lonlat, res)
        arr = _class_by_latitude(crs, transform, w, h)
        path = make_raster(arr, transform, crs=crs)
        to = pyproj.Transformer.from_crs(4326, crs, always_xy=True)
        fp = shapely.transform(footprint, lambda xy, to=to: np.column_stack(to.transform(*xy.T)))
        va = _areas(path, fp)
        results[crs] = dict(zip(va.values.tolist(), va.area_m2.tolist(), strict=True))
    total = geodesic_area_m2(footprint)
    ref = results["EPSG:4326"]
    # Independent check of the geographic raster: the class boundary is the 47.50 parallel.
    north = geodesic_area_m2(shapely.segmentize(box(37.46, 47.50, 37.54, 47.54), 0.0005))
    assert ref[3] == pytest.approx(north, rel=1e-4)
    assert ref[1] + ref[3] == pytest.approx(total, rel=1e-4)
    for crs in ("EPSG:32637", "EPSG:3035"):
        for k in (1, 3):
            assert results[crs][k] == pytest.approx(ref[k], rel=0.002), (crs, k)


def test_geodesic_buffer_of_a_point_has_the_disc_area():
    disc = geodesic_buffer(shapely.Point(37.5, 47.5), 1000.0, quad_segs=64)
    assert geodesic_area_m2(disc) == pytest.approx(math.pi * 1000.0**2, rel=2e-3)


def test_densely_noded_rings_measured_on_the_authalic_cylinder_agree_with_geodesics():
    from estimator.overlay import _dense_ring_area_m2

    # An oblast-sized box with its borders densified as regions are (0.002 deg), a 1 km x 0.5 km
    # one, and a box with a hole: the shortcut agrees with GeographicLib's geodesic polygons.
    shell = shapely.segmentize(box(36.0, 47.0, 38.5, 48.3), 0.002)
    holed = shapely.Polygon(
        shell.exterior.coords,
        [shapely.segmentize(box(37.0, 47.5, 37.4, 47.7), 0.002).exterior.coords],
    )
    small = shapely.segmentize(box(37.5, 47.5, 37.513, 47.5045), 0.0005)
    for geom in (shell, holed, small):
        ref = 0.0
        for k, ring in enumerate((geom.exterior, *geom.interiors)):
            xy = shapely.get_coordinates(ring)
            assert _dense_ring_area_m2(xy) is not None  # the shortcut is taken
            area = abs(GEOD.polygon_area_perimeter(xy[:, 0], xy[:, 1])[0])
            ref += area if k == 0 else -area
        assert geodesic_area_m2(geom) == pytest.approx(ref, rel=1e-8)
    assert geodesic_area_m2(small) == pytest.approx(1e6 * 0.5, rel=0.03)  # ~1 km x 0.5 km
    # Long edges, or one across the antimeridian: geodesics, not the shortcut.
    assert (
        _dense_ring_area_m2(shapely.get_coordinates(box(37.0, 47.0, 37.1, 47.1).exterior)) is None
    )
    across = np.array([[179.999, 0.0], [-179.999, 0.0], [-179.999, 0.001], [179.999, 0.001]])
    assert _dense_ring_area_m2(np.vstack([across, across[:1]])) is None


def test_geodesic_area_ignores_ring_orientation():
    from shapely.geometry import MultiPolygon, Polygon

    a = box(37.0, 47.0, 37.01, 47.01)
    cw = shapely.orient_polygons(box(37.02, 47.0, 37.03, 47.01), exterior_cw=True)
    one = geodesic_area_m2(a)
    assert geodesic_area_m2(MultiPolygon([a, cw])) == pytest.approx(2 * one, rel=1e-6)
    hole = box(37.002, 47.002, 37.004, 47.004)
    same_way = Polygon(a.exterior.coords, [hole.exterior.coords])  # hole drawn like its shell
    assert geodesic_area_m2(same_way) == pytest.approx(one - geodesic_area_m2(hole), rel=1e-6)
