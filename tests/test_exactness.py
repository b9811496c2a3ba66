"""Per-class areas against an independent exact computation (vector intersection of cells).

The independent path never uses exactextract or demine's cell-area code: every raster cell
becomes a polygon (rasterio.features.shapes), cells of a class are unioned, intersected with
the footprint with shapely, reprojected densely to lon/lat and measured with pyproj.Geod.
"""

from __future__ import annotations

import json

import numpy as np
import pyproj
import pytest
import rasterio
import rasterio.features
import rasterio.warp
import shapely
from affine import Affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import shape
from typer.testing import CliRunner

from estimator.cli import app

GEOD = pyproj.Geod(ellps="WGS84")
runner = CliRunner()


def truth_areas(raster_path, footprint_lonlat, nodata=255):
    with rasterio.open(raster_path) as ds:
        arr = ds.read(1)
        crs = pyproj.CRS.from_user_input(ds.crs.to_wkt())
        transform = ds.transform
    to_r = pyproj.Transformer.from_crs(4326, crs, always_xy=True)
    to_ll = pyproj.Transformer.from_crs(crs, 4326, always_xy=True)
    fp = shapely.transform(
        shapely.segmentize(footprint_lonlat, 0.0005),
        lambda xy: np.column_stack(to_r.transform(*xy.T)),
    )
    out = {}
    for value in np.unique(arr):
        cells = [
            shape(g)
            for g, v in rasterio.features.shapes(arr, mask=arr == value, transform=transform)
            if v == value
        ]
        inter = shapely.intersection(shapely.union_all(cells), fp)
        if inter.is_empty:
            continue
        dense = shapely.segmentize(inter, 20.0)
        ll = shapely.transform(dense, lambda xy: np.column_stack(to_ll.transform(*xy.T)))
        out[int(value)] = abs(GEOD.geometry_area_perimeter(ll)[0])
    return out


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 10_000),
    crs=st.sampled_from(["EPSG:32637", "EPSG:3035", "EPSG:4326"]),
)
def test_cli_areas_match_vector_intersection(tmp_path_factory, seed, crs):
    tmp = tmp_path_factory.mktemp("exact")
    rng = np.random.default_rng(seed)
    # A blocky random class raster with some nodata, around 37.5 E 47.5 N.
    coarse = rng.choice([0, 1, 2, 3, 255], size=(6, 6), p=[0.3, 0.25, 0.2, 0.15, 0.1])
    arr = np.kron(coarse, np.ones((5, 5), dtype=int)).astype("uint8")
    if crs == "EPSG:4326":
        res = 0.0015
        x0, y0 = 37.48, 47.52
    else:
        res = 100.0
        x0, y0 = pyproj.Transformer.from_crs(4326, crs, always_xy=True).transform(37.48, 47.52)
        x0, y0 = round(x0, -2), round(y0, -2)
    path = tmp / "haz.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=30,
        height=30,
        count=1,
        dtype="uint8",
        crs=crs,
        transform=Affine(res, 0, x0, 0, -res, y0),
        nodata=255,
    ) as ds:
        ds.write(arr, 1)
    with rasterio.open(path) as ds:
        west, south, east, north = rasterio.warp.transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    # Two random polygons inside (cutting cells) and one straddling the raster edge.
    polys = []
    for _ in range(2):
        cx = rng.uniform(west + 0.01, east - 0.01)
        cy = rng.uniform(south + 0.005, north - 0.005)
        ang = np.sort(rng.uniform(0, 2 * np.pi, 7))
        r = rng.uniform(0.002, 0.008, 7)
        polys.append(
            shapely.Polygon(
                np.column_stack([cx + r * np.cos(ang) * 1.5, cy + r * np.sin(ang)])
            ).buffer(0)
        )
    polys.append(shapely.box(west - 0.003, south + 0.005, west + 0.006, south + 0.012))
    import geopandas as gpd

    deposits = tmp / "d.geojson"
    gpd.GeoDataFrame({"name": ["a", "b", "edge"]}, geometry=polys, crs=4326).to_file(deposits)
    res = runner.invoke(
        app,
        [
            "report",
            "--deposits",
            str(deposits),
            "--contamination",
            str(path),
            "--buffer-m",
            "0",
            "--format",
            "json",
            "--draws",
            "1",
            "--no-control",
        ],
    )
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    names = ["none", "low", "medium", "high"]
    for poly, d in zip(polys, doc["deposits"], strict=True):
        truth = truth_areas(path, poly)
        for k, name in enumerate(names):
            want = truth.get(k, 0.0)
            got = d["hazard_area_m2"][name]
            assert got == pytest.approx(want, rel=0.005, abs=1.0), (crs, d["name"], name)
        # nodata inside plus ground outside the raster is the unknown area
        fp_area = abs(GEOD.geometry_area_perimeter(shapely.segmentize(poly, 0.0005))[0])
        outside = max(0.0, fp_area - sum(truth.values()))
        assert d["unknown_area_m2"] == pytest.approx(
            truth.get(255, 0.0) + outside, rel=0.005, abs=50.0
        )
