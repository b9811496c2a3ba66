"""The block engine against the reference (one exactextract call per footprint) and by hand."""

from __future__ import annotations

import math

import numpy as np
import pyproj
import pytest
import rasterio
import shapely
from affine import Affine
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon, box

from estimator import overlay
from estimator.overlay import (
    _CellAreaModel,
    _coverage_runs,
    _ring_edges,
    cell_areas_m2,
    overlay_footprints,
    zonal_sums,
)

GRIDS = {
    # crs: (transform, lon/lat of the centre)
    "EPSG:3035": Affine(30, 0, 6_000_000, 0, -30, 2_800_000),
    "EPSG:32637": Affine(30, 0, 400_000, 0, -30, 5_300_000),
    "EPSG:4326": Affine(0.0004, 0, 37.5, 0, -0.0004, 47.9),
}


def _blob(rng, cx, cy, r, n, hole=False):
    ang = np.sort(rng.uniform(0, 2 * math.pi, n))
    rad = r * rng.uniform(0.5, 1.0, n)
    p = Polygon(np.column_stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)]))
    if hole:
        p = p.difference(shapely.Point(cx, cy).buffer(r * 0.3))
    return shapely.make_valid(p)


def _footprints(transform: Affine, crs: str, w: int, h: int, seed: int):
    """Random lon/lat footprints over a w x h grid: holes, parts, edges, tiny, outside."""
    rng = np.random.default_rng(seed)
    cell = abs(transform.a)
    x0, y1 = transform.c, transform.f
    x1, y0 = x0 + w * cell, y1 - h * abs(transform.e)
    geoms = []
    for i in range(14):
        cx, cy = (
            rng.uniform(x0 - 5 * cell, x1 + 5 * cell),
            rng.uniform(y0 - 5 * cell, y1 + 5 * cell),
        )
        geoms.append(
            _blob(rng, cx, cy, rng.uniform(3, 60) * cell, int(rng.integers(3, 50)), i % 3 == 0)
        )
    geoms.append(box(x0 + 2 * cell, y1 - 9 * cell, x0 + 40 * cell, y1 - 3 * cell))  # on grid lines
    geoms.append(
        box(x0 + 10.3 * cell, y1 - 10.6 * cell, x0 + 10.4 * cell, y1 - 10.5 * cell)
    )  # tiny
    geoms.append(box(x0 - 50 * cell, y0 - 50 * cell, x1 + 50 * cell, y1 + 50 * cell))  # all of it
    geoms.append(
        MultiPolygon(
            [box(x0, y1 - 5 * cell, x0 + 5 * cell, y1), box(x1 - 7 * cell, y0, x1, y0 + 3 * cell)]
        )
    )
    geoms.append(box(x1 + 10 * cell, y0, x1 + 20 * cell, y1))  # outside the raster
    geoms.append(
        shapely.geometry.polygon.orient(geoms[0].buffer(0), -1.0)
        if geoms[0].geom_type == "Polygon"
        else geoms[0]
    )
    to_ll = pyproj.Transformer.from_crs(crs, 4326, always_xy=True)
    out = []
    for g in geoms:
        g = shapely.segmentize(g, 2 * cell)
        out.append(shapely.transform(g, lambda xy: np.column_stack(to_ll.transform(*xy.T))))
    return out


def _classes(h, w, seed):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 4, size=(h, w)).astype("uint8")
    arr[rng.random((h, w)) < 0.05] = 255
    arr[:, : w // 7] = 2  # a uniform stripe
    return arr


@pytest.mark.parametrize("crs", list(GRIDS))
def test_blocks_equal_the_exactextract_reference(make_raster, crs, monkeypatch):
    # several tiles (256 x 256 blocks) and several tasks per band
    monkeypatch.setattr(overlay, "_TASK_CELLS", 2 * 256 * 256)
    h, w = 300, 700
    path = make_raster(_classes(h, w, 1), GRIDS[crs], crs=crs)
    fps = [*_footprints(GRIDS[crs], crs, w, h, seed=2), None]
    fast = overlay_footprints(path, fps, workers=1)
    ref = overlay_footprints(path, fps, method="exactextract")
    assert fast[-1] is None and ref[-1] is None
    for a, b in zip(fast[:-1], ref[:-1], strict=True):
        scale = max(b.data_area_m2 + b.unknown_area_m2, 1.0)
        assert a.values.tolist() == b.values.tolist()
        # exactextract reports coverage fractions in single precision
        np.testing.assert_allclose(a.area_m2, b.area_m2, rtol=0, atol=1e-6 * scale)
        assert a.nodata_area_m2 == pytest.approx(b.nodata_area_m2, abs=1e-6 * scale)
        assert a.outside_area_m2 == pytest.approx(b.outside_area_m2, rel=1e-9, abs=1e-6)


def test_no_nodata_cells_give_exactly_zero_unknown_area(make_raster):
    t = GRIDS["EPSG:3035"]
    path = make_raster(np.ones((50, 50), dtype="uint8"), t)
    fp = _footprints(t, "EPSG:3035", 50, 50, seed=3)[:1]
    va = overlay_footprints(path, [shapely.buffer(fp[0], 0)], workers=1)[0]
    assert va.nodata_area_m2 == 0.0


def test_coverage_runs_are_exact_against_shapely():
    rng = np.random.default_rng(5)
    polys = [
        _blob(rng, rng.uniform(0, 30), rng.uniform(0, 20), rng.uniform(2, 12), 25, k % 2 == 0)
        for k in range(8)
    ]
    polys.append(box(2.5, 3.5, 2.75, 3.75))
    edges, sign, poly = _ring_edges(np.array(polys, dtype=object))
    H, W = 20, 30
    got = np.zeros((len(polys), H, W))
    for p, r, c0, c1, cov in zip(*_coverage_runs(edges, sign, poly, 3, H, 4, W), strict=True):
        got[p, r + 3, c0 + 4 : c1 + 4] += cov
    cells = np.array([box(c, r, c + 1, r + 1) for r in range(H) for c in range(W)], dtype=object)
    for k, p in enumerate(polys):
        want = shapely.area(shapely.intersection(cells, p)).reshape(H, W)
        np.testing.assert_allclose(got[k, 3:, 4:], want[3:, 4:], atol=1e-12)


@pytest.mark.parametrize("res", [10, 30, 100])
def test_cell_area_model_matches_exact_areas(res):
    crs = pyproj.CRS.from_epsg(32637)
    t = Affine(res, 0, 300_000, 0, -res, 5_420_000)
    model = _CellAreaModel(crs, t)
    rng = np.random.default_rng(0)
    for r0, c0, h, w in [(0, 0, 512, 512), (3000, 7000, 512, 512), (0, 0, 512, 4096)]:
        g, hc, exact = model.tile(r0, c0, h, w)
        rows, cols = rng.integers(0, h, 500) + r0, rng.integers(0, w, 500) + c0
        want = cell_areas_m2(crs, t, rows, cols)
        got = exact[rows - r0, cols - c0] if exact is not None else g[rows - r0] * hc[cols - c0]
        np.testing.assert_allclose(got, want, rtol=1e-7)


def test_zonal_sums_by_hand(make_raster):
    # 4 x 4 cells of 100 m in an equal-area CRS; value = column index; one nodata cell
    t = Affine(100, 0, 6_000_000, 0, -100, 2_800_000)
    arr = np.tile(np.arange(4, dtype="float32"), (4, 1))
    arr[0, 3] = np.nan
    path = make_raster(arr, t, nodata=np.nan)
    x0, y1 = 6_000_000, 2_800_000
    half_cells = box(x0 + 50, y1 - 400, x0 + 350, y1)  # half of col 0 and of col 3
    z = zonal_sums(path, [half_cells, None, box(x0 + 500, y1, x0 + 600, y1 + 100)])
    # cols 0..3 covered 0.5, 1, 1, 0.5 of each of 4 rows (10,000 m2 cells); nodata at (0, 3)
    assert z.value_area[0] == pytest.approx(4 * 10_000 * (0 * 0.5 + 1 + 2) + 3 * 10_000 * 3 * 0.5)
    assert z.data_area_m2[0] == pytest.approx(10_000 * (4 * 2.5 + 3 * 0.5))
    assert z.nodata_area_m2[0] == pytest.approx(5_000)
    assert z.outside_area_m2[0] == 0
    assert z.value_area[1] == 0 and z.data_area_m2[1] == 0
    assert z.outside_area_m2[2] == pytest.approx(10_000)


def test_zonal_sums_equal_the_reference_per_value_areas(make_raster):
    t = GRIDS["EPSG:32637"]
    rng = np.random.default_rng(9)
    arr = (rng.integers(0, 20, size=(300, 600)) / 20).astype("float32")
    arr[rng.random(arr.shape) < 0.03] = np.nan
    path = make_raster(arr, t, crs="EPSG:32637", nodata=np.nan)
    fps = _footprints(t, "EPSG:32637", 600, 300, seed=4)
    z = zonal_sums(path, fps, crs="EPSG:4326")
    ref = overlay_footprints(path, fps, method="exactextract")
    for i, va in enumerate(ref):
        scale = max(va.data_area_m2 + va.unknown_area_m2, 1.0)
        assert z.value_area[i] == pytest.approx(float(va.values @ va.area_m2), abs=1e-6 * scale)
        assert z.data_area_m2[i] == pytest.approx(va.data_area_m2, abs=1e-6 * scale)
        assert z.nodata_area_m2[i] == pytest.approx(va.nodata_area_m2, abs=1e-6 * scale)


def test_striped_raster_and_many_values(tmp_path):
    # an untiled (striped) raster, and a float raster with more distinct values than layers
    t = GRIDS["EPSG:3035"]
    rng = np.random.default_rng(2)
    arr = rng.random((120, 90)).astype("float32")
    path = tmp_path / "striped.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=90,
        height=120,
        count=1,
        dtype="float32",
        crs="EPSG:3035",
        transform=t,
        nodata=None,
    ) as ds:
        ds.write(arr, 1)
    fps = _footprints(t, "EPSG:3035", 90, 120, seed=6)[:6]
    fast = overlay_footprints(path, fps, workers=1)
    ref = overlay_footprints(path, fps, method="exactextract")
    for a, b in zip(fast, ref, strict=True):
        assert a.values.tolist() == b.values.tolist()
        np.testing.assert_allclose(a.area_m2, b.area_m2, rtol=0, atol=1e-3)


def test_one_value_and_nodata_in_a_tile(make_raster):
    # a regression: a byte tile holding one class and nodata (255) must keep its nodata apart
    t = GRIDS["EPSG:3035"]
    arr = np.full((60, 80), 3, dtype="uint8")
    arr[10:20, 30:50] = 255
    path = make_raster(arr, t)
    fps = _footprints(t, "EPSG:3035", 80, 60, seed=8)
    fast = overlay_footprints(path, fps, workers=1)
    ref = overlay_footprints(path, fps, method="exactextract")
    for a, b in zip(fast, ref, strict=True):
        assert a.values.tolist() == b.values.tolist()
        np.testing.assert_allclose(a.area_m2, b.area_m2, rtol=1e-6, atol=1e-3)
        assert a.nodata_area_m2 == pytest.approx(b.nodata_area_m2, rel=1e-6, abs=1e-3)


def test_whole_regions_by_hand(make_raster):
    # Two regions over 600 x 1100 cells of 1 ha (equal area), 512 x 512 tiles. The border
    # between them runs down the middle of column 700 (tiles of columns 512-1023 are crossed
    # by it); a nodata patch; a tile (rows 0-511, columns 1024-1099) of a checkerboard of
    # values 0 and 40: runs of one cell, and values too far apart to be counted value by value.
    x0, y1 = 6_000_000.0, 2_800_000.0
    t = Affine(100, 0, x0, 0, -100, y1)
    arr = np.full((600, 1100), 3, dtype="uint8")
    arr[:300, :400] = 1
    arr[300:, :400] = 2
    arr[100:110, 50:70] = 255
    r, c = np.mgrid[0:512, 1024:1100]
    arr[:512, 1024:] = np.where((r + c) % 2 == 0, 0, 40)
    path = make_raster(arr, t)
    to_ll = pyproj.Transformer.from_crs(3035, 4326, always_xy=True)
    mid = x0 + 700.5 * 100
    regions = [
        box(x0 - 1000, y1 - 60_000 - 1000, mid, y1 + 1000),  # reaches 10 cells past 3 edges
        box(mid, y1 - 60_000, x0 + 110_000 + 1000, y1),  # 10 cells past the east edge
    ]
    lonlat = [
        shapely.transform(g, lambda xy: np.column_stack(to_ll.transform(*xy.T))) for g in regions
    ]
    west, east = overlay_footprints(path, lonlat, workers=1)
    ha = 10_000.0
    assert west.values.tolist() == [1, 2, 3]
    np.testing.assert_allclose(
        west.area_m2,
        [(300 * 400 - 10 * 20) * ha, 300 * 400 * ha, (300 * 600 + 0.5 * 600) * ha],
        rtol=1e-7,
    )
    assert west.nodata_area_m2 == pytest.approx(200 * ha, rel=1e-7)
    # outside: (700.5 + 10) x (600 + 20) cells of the box, less the raster's 700.5 x 600
    assert west.outside_area_m2 == pytest.approx((710.5 * 620 - 700.5 * 600) * ha, rel=1e-5)
    assert east.values.tolist() == [0, 3, 40]
    checker = 512 * 76 // 2
    np.testing.assert_allclose(
        east.area_m2,
        [checker * ha, (323 * 600 + 0.5 * 600 + 88 * 76) * ha, checker * ha],
        rtol=1e-7,
    )
    assert east.nodata_area_m2 == 0
    assert east.outside_area_m2 == pytest.approx(10 * 600 * ha, rel=1e-5)
    # the same on two threads, and as the reference computes it
    assert [
        (v.values.tolist(), v.area_m2.tolist(), v.nodata_area_m2)
        for v in overlay_footprints(path, lonlat, workers=2)
    ] == [(v.values.tolist(), v.area_m2.tolist(), v.nodata_area_m2) for v in (west, east)]
    ref = overlay_footprints(path, lonlat, method="exactextract")
    for a, b in zip((west, east), ref, strict=True):
        np.testing.assert_allclose(a.area_m2, b.area_m2, rtol=1e-7)


@pytest.mark.parametrize(("dtype", "nodata"), [("uint8", 255), ("uint16", 65535)])
@pytest.mark.parametrize("crs", ["EPSG:3035", "EPSG:32637"])
def test_noisy_edge_tiles_by_codes_by_hand(make_raster, monkeypatch, dtype, nodata, crs):
    # A noisy class raster (a run of values every ~1.5 cells): the edge tiles' values are
    # counted as codes of (polygon, value) (_label_values). 100 m cells, tiles of 512 x 512
    # for the overlay. West covers columns 0-299 and half of column 300; east the rest of the
    # columns from row 201, three quarters of row 200. Rows 0-199 hold value 0 only, so that in
    # the first tile, 0 is the most frequent value (counted by difference) but east has none:
    # its area there must be exactly 0, not rounding. A small square over west's interior
    # (rows 520-529) overlaps it: that tile goes the other way (runs), to the same areas.
    rng = np.random.default_rng(11)
    h, w = 600, 700
    choices = np.array([1, 2, 3, 7, nodata], dtype=dtype)
    arr = rng.choice(choices, size=(h, w), p=[0.3, 0.3, 0.3, 0.05, 0.05])
    arr[:200] = 0
    x0, y1 = (6_000_000.0, 2_800_000.0) if crs == "EPSG:3035" else (400_000.0, 5_300_000.0)
    t = Affine(100, 0, x0, 0, -100, y1)
    path = make_raster(arr, t, crs=crs, nodata=nodata)
    west = box(x0 - 1000, y1 - 70_000, x0 + 300.5 * 100, y1 + 1000)
    east = box(x0 + 300.5 * 100, y1 - 70_000, x0 + 80_000, y1 - 200.25 * 100)
    small = box(x0 + 1000, y1 - 53_000, x0 + 2000, y1 - 52_000)  # rows 520-529
    to_ll = pyproj.Transformer.from_crs(crs, 4326, always_xy=True)
    lonlat = [
        shapely.transform(g, lambda xy: np.column_stack(to_ll.transform(*xy.T)))
        for g in (west, east, small)
    ]
    used = []
    label_values = overlay._label_values

    def spy(*args):
        found = label_values(*args)
        used.append(found is not None)
        return found

    monkeypatch.setattr(overlay, "_label_values", spy)
    results = overlay_footprints(path, lonlat, workers=1)
    assert any(used) and not all(used)  # codes in most edge tiles, runs where small overlaps
    cols = np.zeros(w)
    cols[:300], cols[300] = 1.0, 0.5
    cov_west = np.ones((h, 1)) * cols[None, :]
    rows_e = np.where(np.arange(h) > 200, 1.0, 0.0)
    rows_e[200] = 0.75
    cols_e = np.where(np.arange(w) > 300, 1.0, 0.0)
    cols_e[300] = 0.5
    cov_east = rows_e[:, None] * cols_e[None, :]
    cov_small = np.zeros((h, w))
    cov_small[520:530, 10:20] = 1.0
    rr, cc = np.mgrid[0:h, 0:w]
    cell = cell_areas_m2(pyproj.CRS(crs), t, rr.ravel(), cc.ravel()).reshape(h, w)
    for result, cov in zip(results, (cov_west, cov_east, cov_small), strict=True):
        present = [v for v in (0, 1, 2, 3, 7) if (cov * (arr == v)).sum() > 0]
        assert result.values.tolist() == present
        expected = [(cov * cell * (arr == v)).sum() for v in present]
        # (1 m2: corners through lon/lat and back move the small square's edges ~0.03 mm)
        np.testing.assert_allclose(result.area_m2, expected, rtol=1e-7, atol=1.0)
        nodata_area = (cov * cell * (arr == nodata)).sum()
        assert result.nodata_area_m2 == pytest.approx(nodata_area, rel=1e-7, abs=1.0)
    assert 0 not in results[1].values.tolist()


def test_value_runs_and_byte_lane_counts():
    # the building blocks of the integer path, against plain numpy
    rng = np.random.default_rng(12)
    data = np.repeat(rng.integers(0, 5, (40, 30)), rng.integers(1, 9, 30), axis=1).astype("uint8")
    start, end, value = overlay._class_runs(data)
    h, w = data.shape
    assert np.all(np.diff(start) > 0) and np.array_equal(end[:-1], start[1:])
    assert np.all(start[np.searchsorted(start, np.arange(h) * w)] == np.arange(h) * w)
    rebuilt = np.repeat(value, end - start).reshape(h, w)
    assert np.array_equal(rebuilt, data)
    for shape in [(3, 300, 2048), (2, 600, 4104), (1, 7, 13), (2, 256, 8)]:
        masks = (rng.random(shape) < rng.random()).astype("uint8")
        masks[0, :, -8:] = 1
        assert np.array_equal(overlay._row_counts(masks), masks.sum(axis=2))
        assert np.array_equal(overlay._col_counts(masks), masks.sum(axis=1))
    full = np.ones((1, 600, 4096), dtype="uint8")  # every byte lane at its limit
    assert (overlay._row_counts(full) == 4096).all() and (overlay._col_counts(full) == 600).all()


def test_interpolation_at_even_nodes_is_np_interp_bit_for_bit():
    rng = np.random.default_rng(3)
    for n in [*range(1, 60), 511, 512, 513, 25_000]:
        for step in (1, 2, 3, 7, 100, 512):
            nodes = overlay._nodes(0, n, step)
            values = rng.normal(size=nodes.size) * rng.choice([1e-5, 1.0, 100.0])
            expected = np.interp(np.arange(n), nodes, values)
            assert np.array_equal(overlay._interp_nodes(n, step, values), expected)


def test_value_counts_add_blocks_of_rows_in_byte_lanes(monkeypatch):
    # A small cache: blocks of 20 rows, whose counts add up in byte lanes over groups of 240
    # rows when the row factor varies little over a group, else are taken block by block.
    rng = np.random.default_rng(7)
    h, n_t, w = 600, 3, 64
    data = rng.integers(0, 4, (h, n_t * w)).astype("uint8")
    data[rng.random(data.shape) < 0.02] = 255
    others = np.array([0, 2, 255], dtype="uint8")
    monkeypatch.setattr(overlay, "_CACHE_BYTES", others.size * n_t * w * 20)
    masks = data[None] == others[:, None, None]
    for ramp, rows_per in ((1.0, 240), (10.0, 20)):
        g = 100.0 + np.linspace(0.0, ramp, h)
        rs = overlay._RowStats(g)
        cols, rows, dg_rows = overlay._value_counts(data, others, n_t, rs, budget=1.0)
        assert np.array_equal(cols, masks.sum(axis=1))
        firsts = np.arange(0, h, rows_per)
        assert rows.shape == (others.size, firsts.size, n_t)
        expected = np.add.reduceat(masks.reshape(others.size, h, n_t, w).sum(axis=3), firsts, 1)
        assert np.array_equal(rows, expected)
        np.testing.assert_allclose(dg_rows, np.add.reduceat(rs.dg, firsts) / np.diff([*firsts, h]))


@given(
    dtype=st.sampled_from(["uint8", "uint16", "int8", "int16"]),
    picks=st.lists(st.integers(0, 9), min_size=1, max_size=60),
    offset=st.integers(0, 200),
    sampled=st.lists(st.integers(0, 59), max_size=8),
)
def test_value_range(dtype, picks, offset, sampled):
    info = np.iinfo(dtype)
    # values near the bottom, the middle and the top of the type (the top: nodata 255)
    choices = [info.min, info.min + 1, 0, 1, 3, info.max // 2 + 1, info.max - 1, info.max]
    choices += [min(info.max, offset), max(info.min, info.max - offset)]
    data = np.array([choices[p] for p in picks], dtype=dtype).reshape(1, -1)
    present = np.unique(data)
    below = present[present != info.max]
    expected = (
        int(present.min()),
        int(present.max()),
        int(below.max()) if below.size else info.min - 1,
    )
    assert overlay._value_range(data) == expected
    # With a sample of the values (which may hold the lowest, 0, or values of the upper half,
    # or miss them): the same answer, in fewer passes.
    sample = data[:, [i % data.shape[1] for i in sampled]]
    assert overlay._value_range(data, sample) == expected


def test_no_negative_areas_from_rounding():
    # 500 discs over the embedded raster (100 m cells, pixel coordinates in the thousands):
    # with coverage noise kept down to 1e-12 of a cell, 18 of them had a class or nodata area
    # of -1e-6 to -2e-5 m2.
    from estimator.io import default_data

    data = default_data()
    with rasterio.open(data.contamination) as ds:
        to_ll = pyproj.Transformer.from_crs(ds.crs, 4326, always_xy=True)
        left, bottom, right, top = ds.bounds
    rng = np.random.default_rng(3)
    discs = []
    for _ in range(500):
        x, y = rng.uniform(left, right), rng.uniform(bottom, top)
        disc = shapely.Point(x, y).buffer(rng.uniform(1_000, 25_000))
        discs.append(shapely.transform(disc, lambda xy: np.column_stack(to_ll.transform(*xy.T))))
    result = overlay_footprints(data.contamination, discs, workers=1)
    assert all(v.area_m2.size == 0 or v.area_m2.min() > 0 for v in result)
    assert all(v.nodata_area_m2 >= 0 for v in result)
    z = zonal_sums(data.contamination, discs, workers=1)
    assert (z.data_area_m2 >= 0).all() and (z.nodata_area_m2 >= 0).all()


@pytest.mark.parametrize(("top_row", "bottom_row"), [(300.3, 340.7), (305.0, 340.0)])
def test_horizontal_edges_make_edge_tiles(make_raster, top_row, bottom_row):
    # A band across a geographic raster whose only edges inside the raster are horizontal
    # (none of them in the edge list): the tiles it crosses have no edge of their own, but
    # their rows are covered differently, so they must still go run by run. The band's top
    # and bottom are mid-cell, or on row lines (no fractional runs at all).
    t = GRIDS["EPSG:4326"]
    h, w = 700, 1100  # tiles of 512 x 512: the band crosses tiles 0-2 of the first row
    path = make_raster(np.ones((h, w), dtype="uint8"), t, crs="EPSG:4326")
    x0, y1 = t.c, t.f
    band = box(x0 - 5 * t.a, y1 + bottom_row * t.e, x0 + (w + 5) * t.a, y1 + top_row * t.e)
    (va,) = overlay_footprints(path, [band], workers=1)
    rows = np.arange(int(top_row), int(np.ceil(bottom_row)))
    cover = np.minimum(rows + 1, bottom_row) - np.maximum(rows, top_row)
    crs = pyproj.CRS.from_epsg(4326)
    want = float(np.sum(cover * cell_areas_m2(crs, t, rows, np.zeros(rows.size)) * w))
    assert va.values.tolist() == [1]
    assert va.area_m2[0] == pytest.approx(want, rel=1e-9)
    (ref,) = overlay_footprints(path, [band], method="exactextract")
    assert va.area_m2[0] == pytest.approx(ref.area_m2[0], rel=1e-7)


@pytest.mark.parametrize("seed", range(6))
def test_large_polygons_over_many_tiles_equal_the_reference(make_raster, seed):
    # Polygons as large as the raster (holes, a band with horizontal edges reaching past both
    # sides) over several tiles and bands: inner tiles, edge tiles and crops all at once.
    rng = np.random.default_rng(100 + seed)
    crs = list(GRIDS)[seed % 3]
    t = GRIDS[crs]
    h, w = int(rng.integers(600, 1100)), int(rng.integers(600, 1100))
    k = int(rng.integers(5, 60))
    arr = np.repeat(np.repeat(rng.integers(0, 4, (h // k + 1, w // k + 1)), k, 0), k, 1)
    arr = arr[:h, :w].astype("uint8")
    arr[rng.random((h, w)) < 0.01] = 255
    path = make_raster(arr, t, crs=crs)
    cell = abs(t.a)
    x0, y1 = t.c, t.f
    x1, y0 = x0 + w * cell, y1 - h * cell
    geoms = []
    for i in range(3):
        cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
        r = rng.uniform(0.2, 0.8) * min(x1 - x0, y1 - y0)
        g = _blob(rng, cx, cy, r, int(rng.integers(8, 120)), hole=i == 0)
        if i == 1:
            g = g.union(
                box(x0 - 3 * cell, y0 + 0.4 * (y1 - y0), x1 + 3 * cell, y0 + 0.45 * (y1 - y0))
            )
        geoms.append(g)
    if crs != "EPSG:4326":
        to_ll = pyproj.Transformer.from_crs(crs, 4326, always_xy=True)
        geoms = [
            shapely.transform(
                shapely.segmentize(g, 3 * cell),
                lambda xy: np.column_stack(to_ll.transform(*xy.T)),
            )
            for g in geoms
        ]
    fast = overlay_footprints(path, geoms, workers=1)
    ref = overlay_footprints(path, geoms, method="exactextract")
    for a, b in zip(fast, ref, strict=True):
        scale = b.data_area_m2 + b.unknown_area_m2
        assert a.values.tolist() == b.values.tolist()
        np.testing.assert_allclose(a.area_m2, b.area_m2, rtol=0, atol=1e-7 * scale)
        assert a.nodata_area_m2 == pytest.approx(b.nodata_area_m2, abs=1e-7 * scale)
