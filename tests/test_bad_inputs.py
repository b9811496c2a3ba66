"""Bad inputs end in a clean one-line error (exit 2) or an explicit status row: never a traceback,
a lost deposit or a partial output file. Every bad file is built here, in tmp_path."""

from __future__ import annotations

import json
import os
import shutil
import sysconfig
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box
from typer.testing import CliRunner

from estimator.cli import app

X0, Y0 = 6_000_000.0, 2_800_000.0  # EPSG:3035, eastern Ukraine
GRID = Affine(100, 0, X0, 0, -100, Y0)  # 20 x 20 cells of 1 ha
SQUARE = box(X0 + 500, Y0 - 1500, X0 + 1500, Y0 - 500)  # 1 km2 across the class boundary

runner = CliRunner()


def classes() -> np.ndarray:
    """West half class 1 (low), east half class 3 (high)."""
    arr = np.ones((20, 20), dtype="uint8")
    arr[:, 10:] = 3
    return arr


@pytest.fixture
def scene(make_raster, make_vector, tmp_path):
    raster = make_raster(classes(), GRID, name="hazard.tif")
    regions = make_vector(
        [box(X0 - 50_000, Y0 - 50_000, X0 + 50_000, Y0 + 50_000)],
        crs="EPSG:3035",
        filename="regions.gpkg",
        name=["Testland"],
    )
    return {"raster": raster, "regions": regions, "tmp": tmp_path}


def report(scene, deposits, *, contamination=None, extra=(), fmt="json"):
    """Run ``demine report`` in-process; return (exit code, parsed JSON or None, stderr)."""
    args = [
        "report",
        "--deposits",
        str(deposits),
        "--contamination",
        str(contamination or scene["raster"]),
        "--regions",
        str(scene["regions"]),
        "--no-control",
        "--buffer-m",
        "0",
        "--format",
        fmt,
        *extra,
    ]
    result = runner.invoke(app, args)
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), f"uncaught {result.exception!r}"
    doc = json.loads(result.stdout) if result.exit_code == 0 and fmt == "json" else None
    return result.exit_code, doc, result.stderr


def assert_clean_error(code, err, *needles):
    """Exit 2, one line, no traceback, and the message says what it should."""
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("demine: error: "), err
    assert "Traceback" not in err
    flat = " ".join(err.split())
    for needle in needles:
        assert needle in flat, (needle, err)


def assert_complete(doc, n_features):
    """One row per feature; footprint area accounted for by classes + unknown (0.1 %)."""
    rows = doc["deposits"]
    assert len(rows) == n_features
    for d in rows:
        assert d["status"] in {"assessed", "partial", "no_data", "blocked", "invalid"}
        if d["status"] == "invalid":
            assert d["reason"], d
            continue
        total = sum(d["hazard_area_m2"].values()) + d["unknown_area_m2"]
        assert total == pytest.approx(d["footprint_area_m2"], rel=1e-3), d
    return rows


def write_gpkg(path, geometries, crs="EPSG:3035", **columns):
    gpd.GeoDataFrame(dict(columns), geometry=list(geometries), crs=crs).to_file(path)
    return path


# --------------------------------------------------------------------------------------------
# Vectors


def test_missing_unreadable_and_empty_deposit_files(scene, tmp_path):
    code, _, err = report(scene, tmp_path / "nope.gpkg")
    assert_clean_error(code, err, "nope.gpkg: deposits file not found", "--deposits")
    garbage = tmp_path / "garbage.gpkg"
    garbage.write_bytes(b"\x00\x01 not a database" * 50)
    code, _, err = report(scene, garbage)
    assert_clean_error(code, err, "garbage.gpkg: cannot read the deposits layer", "GeoPackage")
    empty = tmp_path / "empty.geojson"
    empty.write_bytes(b"")
    code, _, err = report(scene, empty)
    assert_clean_error(code, err, "empty.geojson: the deposits file is empty (0 bytes)")
    truncated = tmp_path / "truncated.geojson"
    truncated.write_text('{"type": "FeatureCollection", "features": [{"type": "Fea')
    code, _, err = report(scene, truncated)
    assert_clean_error(code, err, "truncated.geojson: cannot read the deposits layer")
    no_features = tmp_path / "none.geojson"
    no_features.write_text('{"type": "FeatureCollection", "features": []}')
    code, _, err = report(scene, no_features)
    assert_clean_error(code, err, "none.geojson: the deposits layer has no features")


def test_shapefile_without_prj_needs_assume_crs(scene, tmp_path):
    shp = tmp_path / "noprj.shp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no CRS: the point of the test
        gpd.GeoDataFrame({"name": ["A"]}, geometry=[SQUARE]).to_file(shp)
    assert not shp.with_suffix(".prj").exists()
    code, _, err = report(scene, shp)
    assert_clean_error(code, err, "noprj.shp: the deposits layer has no CRS", "--assume-crs")
    code, _, err = report(scene, shp, extra=["--assume-crs", "EPSG:999999"])
    assert_clean_error(code, err, "--assume-crs 'EPSG:999999': not a CRS")
    code, doc, err = report(scene, shp, extra=["--assume-crs", "EPSG:3035"])
    assert code == 0, err
    (row,) = assert_complete(doc, 1)
    assert row["status"] == "assessed"


def test_points_need_a_radius_and_lines_are_rejected_per_feature(scene, tmp_path):
    path = write_gpkg(
        tmp_path / "mixed.gpkg",
        [
            Point(X0 + 700, Y0 - 700),
            LineString([(X0 + 100, Y0 - 100), (X0 + 900, Y0 - 900)]),
            SQUARE,
            Point(X0 + 1500, Y0 - 1000),
        ],
        name=["pin", "road", "square", "pin with radius"],
        radius_m=[None, None, None, 100.0],
    )
    code, doc, err = report(scene, path)
    assert code == 0, err
    pin, road, square, disc = assert_complete(doc, 4)
    assert pin["status"] == "invalid" and "--point-radius-m" in pin["reason"]
    assert road["status"] == "invalid" and "a line is not a deposit outline" in road["reason"]
    assert square["status"] == "assessed"
    assert disc["status"] == "assessed" and "100 m disc" in disc["reason"]
    assert disc["footprint_area_m2"] == pytest.approx(np.pi * 100**2, rel=5e-3)
    code, doc, _ = report(scene, path, extra=["--point-radius-m", "50"])
    assert code == 0 and doc["deposits"][0]["status"] == "assessed"


def test_self_crossing_polygon_is_repaired_and_reported(scene, tmp_path):
    bowtie = Polygon(
        [(X0 + 100, Y0 - 100), (X0 + 900, Y0 - 900), (X0 + 900, Y0 - 100), (X0 + 100, Y0 - 900)]
    )
    assert not bowtie.is_valid
    code, doc, err = report(scene, write_gpkg(tmp_path / "bow.gpkg", [bowtie]))
    assert code == 0, err
    (row,) = assert_complete(doc, 1)
    assert (
        row["status"] == "assessed"
        and "invalid polygon repaired (Self-intersection" in row["reason"]
    )
    # Two triangles of 400 x 800 / 2 ... each 16 ha: the repaired area, not zero and not double.
    assert row["footprint_area_m2"] == pytest.approx(320_000, rel=1e-3)


def test_null_and_empty_geometries_keep_their_rows(scene, tmp_path):
    path = write_gpkg(tmp_path / "nulls.gpkg", [None, Polygon(), SQUARE], name=["a", "b", "c"])
    code, doc, err = report(scene, path)
    assert code == 0, err
    a, b, c = assert_complete(doc, 3)
    assert a["status"] == b["status"] == "invalid" and "no geometry" in a["reason"]
    assert c["status"] == "assessed"


def test_duplicate_and_missing_ids_keep_every_row_and_say_so(scene, tmp_path):
    path = write_gpkg(
        tmp_path / "dups.gpkg",
        [SQUARE, SQUARE, SQUARE, SQUARE],
        id=["A", "A", None, "B"],
        name=["one", "two", "three", "four"],
    )
    code, doc, err = report(scene, path)
    assert code == 0, err
    rows = assert_complete(doc, 4)
    assert [r["id"] for r in rows] == ["A", "A#2", "#3", "B"]
    assert "is used by 2 features" in rows[0]["reason"]
    assert "duplicate id 'A'" in rows[1]["reason"] and "'A#2'" in rows[1]["reason"]
    assert "no 'id' value" in rows[2]["reason"]
    assert "id" not in rows[3]["reason"]


def test_multipart_and_holes_count_exact_area(scene, tmp_path):
    hole = box(X0 + 700, Y0 - 1300, X0 + 1300, Y0 - 700)  # 36 ha
    donut = Polygon(SQUARE.exterior.coords, [hole.exterior.coords])
    two = MultiPolygon(
        [box(X0 + 100, Y0 - 300, X0 + 300, Y0 - 100), box(X0 + 1600, Y0 - 800, X0 + 1800, Y0 - 600)]
    )
    code, doc, err = report(scene, write_gpkg(tmp_path / "parts.gpkg", [donut, two]))
    assert code == 0, err
    d, m = assert_complete(doc, 2)
    assert d["footprint_area_m2"] == pytest.approx(640_000, rel=1e-4)
    assert d["hazard_area_m2"]["low"] == pytest.approx(320_000, rel=1e-4)
    assert m["hazard_area_m2"]["low"] == pytest.approx(40_000, rel=1e-4)
    assert m["hazard_area_m2"]["high"] == pytest.approx(40_000, rel=1e-4)


def test_coordinates_off_the_earth_are_invalid_rows(scene, tmp_path):
    projected = write_gpkg(
        tmp_path / "huge.gpkg",
        [box(1e12, 1e12, 1e12 + 1000, 1e12 + 1000), box(-1e300, 0, 1e300, 1), SQUARE],
    )
    code, doc, err = report(scene, projected)
    assert code == 0, err
    big, inf, ok = assert_complete(doc, 3)
    assert big["status"] == inf["status"] == "invalid" and "check the" in big["reason"]
    assert ok["status"] == "assessed"
    # Metres declared as degrees: latitudes beyond 90, longitudes beyond 180.
    lonlat = write_gpkg(
        tmp_path / "metres_as_degrees.gpkg",
        [box(30, 95, 31, 96), box(6e6, 2.7e6, 6.001e6, 2.701e6), box(37.0, 48.0, 37.01, 48.01)],
        crs="EPSG:4326",
    )
    code, doc, err = report(scene, lonlat)
    assert code == 0, err
    north, metres, far = assert_complete(doc, 3)
    assert north["status"] == metres["status"] == "invalid"
    assert "off the Earth" in north["reason"] and "metres declared as degrees" in metres["reason"]
    assert far["status"] == "no_data"


def test_antimeridian_and_giant_polygons_are_invalid_rows(scene, tmp_path):
    path = write_gpkg(
        tmp_path / "giants.gpkg",
        [box(-179.9, 60, 179.9, 61), box(30, 40, 40, 50)],
        crs="EPSG:4326",
    )
    code, doc, err = report(scene, path)
    assert code == 0, err
    wide, giant = assert_complete(doc, 2)
    assert wide["status"] == "invalid" and "degrees of longitude" in wide["reason"]
    assert giant["status"] == "invalid" and "km2" in giant["reason"]


def test_polygons_outside_and_partly_outside_the_raster(scene, tmp_path):
    path = write_gpkg(
        tmp_path / "edge.gpkg",
        [
            box(X0 + 10_000, Y0 - 10_000, X0 + 11_000, Y0 - 9_000),
            box(X0 - 500, Y0 - 500, X0 + 500, Y0 + 500),
        ],
    )
    code, doc, err = report(scene, path)
    assert code == 0, err
    out, part = assert_complete(doc, 2)
    assert out["status"] == "no_data" and out["unknown_area_m2"] == pytest.approx(1e6, rel=1e-4)
    assert part["status"] == "partial" and "75.0%" in part["reason"]
    assert part["outside_raster_area_m2"] == pytest.approx(750_000, rel=1e-4)


@pytest.mark.parametrize(
    ("codepage", "declared"),
    [("cp1251", "CP1251"), ("utf-8", "UTF-8")],
)
def test_shapefile_text_without_cpg_is_decoded_and_noted(scene, tmp_path, codepage, declared):
    shp = tmp_path / "cyr.shp"
    gpd.GeoDataFrame(
        {"name": ["Шевченківське", "Alpha"], "commodity": ["літій", "Li"]},
        geometry=[SQUARE, SQUARE],
        crs="EPSG:3035",
    ).to_file(shp, encoding=codepage)
    shp.with_suffix(".cpg").unlink(missing_ok=True)
    # What GDAL alone makes of it: mojibake, without a word.
    assert pyogrio.read_dataframe(shp)["name"][0] != "Шевченківське"
    code, doc, err = report(scene, shp)
    assert code == 0, err
    cyr, latin = assert_complete(doc, 2)
    assert cyr["name"] == "Шевченківське" and cyr["commodity"] == "літій"
    assert f"text read as {declared}, guessed because cyr.shp has no cyr.cpg" in cyr["reason"]
    assert "guessed" not in latin["reason"]  # ASCII rows need no note


def test_geojson_that_is_not_utf8_is_read_as_cp1251_and_noted(scene, tmp_path):
    feature = {
        "type": "Feature",
        "properties": {"name": "Шевченківське"},
        "geometry": shapely.geometry.mapping(box(37.0, 48.0, 37.01, 48.01)),
    }
    path = tmp_path / "cyr.geojson"
    text = json.dumps({"type": "FeatureCollection", "features": [feature]}, ensure_ascii=False)
    path.write_bytes(text.encode("cp1251"))
    code, doc, err = report(scene, path)
    assert code == 0, err
    (row,) = assert_complete(doc, 1)
    assert row["name"] == "Шевченківське"
    assert "text is not UTF-8" in row["reason"] and "save cyr.geojson as UTF-8" in row["reason"]


def test_thousands_of_vertices_per_polygon(scene, tmp_path):
    ring = Point(X0 + 1000, Y0 - 1000).buffer(600, quad_segs=5000)  # 20,001 vertices
    assert shapely.get_num_coordinates(ring) > 20_000
    code, doc, err = report(scene, write_gpkg(tmp_path / "dense.gpkg", [ring] * 5))
    assert code == 0, err
    rows = assert_complete(doc, 5)
    assert all(r["status"] == "assessed" for r in rows)
    assert rows[0]["footprint_area_m2"] == pytest.approx(np.pi * 600**2, rel=1e-4)


def test_several_layers_must_be_named(scene, tmp_path):
    path = tmp_path / "many.gpkg"
    write_gpkg(path, [SQUARE], name=["in layer a"])
    gpd.GeoDataFrame({"name": ["b"]}, geometry=[SQUARE], crs="EPSG:3035").to_file(path, layer="b")
    code, _, err = report(scene, path)
    assert_clean_error(code, err, "2 layers hold geometries (many, b)", "|layername=many")
    code, doc, err = report(scene, f"{path}|layername=b")
    assert code == 0, err
    assert assert_complete(doc, 1)[0]["name"] == "b"
    code, _, err = report(scene, f"{path}|layername=c")
    assert_clean_error(code, err, "no layer 'c'", "many, b")


# --------------------------------------------------------------------------------------------
# Rasters


def test_missing_corrupt_and_truncated_rasters(scene, tmp_path, make_raster):
    deposits = write_gpkg(tmp_path / "d.gpkg", [SQUARE])
    code, _, err = report(scene, deposits, contamination=tmp_path / "nope.tif")
    assert_clean_error(code, err, "nope.tif: contamination raster file not found")
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00" + b"\xff" * 100)
    code, _, err = report(scene, deposits, contamination=bad)
    assert_clean_error(code, err, "bad.tif: cannot read the raster")
    # A header that opens but data cut short: found only when blocks are read.
    full = make_raster(
        np.random.default_rng(1).integers(0, 4, (200, 200)).astype("uint8"), GRID, name="full.tif"
    )
    cut = tmp_path / "cut.tif"
    cut.write_bytes(full.read_bytes()[:2000])
    big = write_gpkg(tmp_path / "big.gpkg", [box(X0, Y0 - 20_000, X0 + 20_000, Y0)])
    code, _, err = report(scene, big, contamination=cut)
    assert_clean_error(code, err, "cannot read raster data", "cut.tif", "truncated or corrupt")


def test_bands_crs_and_georeferencing(scene, tmp_path, make_raster):
    deposits = write_gpkg(tmp_path / "d.gpkg", [SQUARE])
    three = make_raster(np.stack([classes(), np.full((20, 20), 2, "uint8"), classes()]), GRID)
    code, doc, err = report(scene, deposits, contamination=three, extra=["--band", "2"])
    assert code == 0, err
    assert assert_complete(doc, 1)[0]["hazard_area_m2"]["medium"] == pytest.approx(1e6, rel=1e-4)
    code, _, err = report(scene, deposits, contamination=three, extra=["--band", "5"])
    assert_clean_error(code, err, "--band 5: the raster has 3 band(s)")
    no_crs = make_raster(classes(), GRID, crs=None, name="nocrs.tif")
    code, _, err = report(scene, deposits, contamination=no_crs)
    assert_clean_error(code, err, "nocrs.tif: the raster has no CRS", "rio edit-info --crs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        image = make_raster(classes(), Affine.identity(), crs=None, name="image.tif")
    code, _, err = report(scene, deposits, contamination=image)
    assert_clean_error(code, err, "image.tif: the raster has no georeferencing")


def test_rotated_skewed_and_south_up_grids_are_refused(scene, tmp_path, make_raster):
    deposits = write_gpkg(tmp_path / "d.gpkg", [SQUARE])
    rotated = make_raster(classes(), Affine(100, 10, X0, 10, -100, Y0), name="rot.tif")
    code, _, err = report(scene, deposits, contamination=rotated)
    assert_clean_error(code, err, "rot.tif: the raster grid is rotated or skewed", "gdalwarp")
    south_up = make_raster(classes(), Affine(100, 0, X0, 0, 100, Y0 - 2000), name="south.tif")
    code, _, err = report(scene, deposits, contamination=south_up)
    assert_clean_error(code, err, "south.tif: the raster is not north-up", "gdalwarp")


def test_nodata_variants(scene, tmp_path, make_raster):
    deposits = write_gpkg(
        tmp_path / "d.gpkg", [SQUARE, box(X0 + 100, Y0 - 300, X0 + 300, Y0 - 100)]
    )
    no_nodata = make_raster(classes(), GRID, nodata=None, name="nonodata.tif")
    code, doc, err = report(scene, deposits, contamination=no_nodata)
    assert code == 0, err
    assert [r["status"] for r in assert_complete(doc, 2)] == ["assessed", "assessed"]
    with_nan = classes().astype("float32")
    with_nan[:, 10:] = np.nan
    nan_raster = make_raster(with_nan, GRID, nodata=np.nan, name="nan.tif")
    code, doc, err = report(scene, deposits, contamination=nan_raster)
    assert code == 0, err
    square, _ = assert_complete(doc, 2)
    assert square["status"] == "partial" and square["unknown_area_m2"] == pytest.approx(
        5e5, rel=1e-4
    )


def test_all_nodata_raster_gives_no_data_rows(scene, tmp_path, make_raster):
    deposits = write_gpkg(
        tmp_path / "d.gpkg", [SQUARE, box(X0 + 100, Y0 - 300, X0 + 300, Y0 - 100)]
    )
    empty = make_raster(np.full((20, 20), 255, "uint8"), GRID, name="allnodata.tif")
    code, doc, err = report(scene, deposits, contamination=empty)
    assert code == 0, err
    assert [r["status"] for r in assert_complete(doc, 2)] == ["no_data", "no_data"]


def test_float_classes_unmapped_values_and_probabilities(scene, tmp_path, make_raster):
    deposits = write_gpkg(tmp_path / "d.gpkg", [SQUARE])
    floats = make_raster(classes().astype("float32"), GRID, nodata=-9999, name="float.tif")
    code, doc, err = report(scene, deposits, contamination=floats)
    assert code == 0, err
    (row,) = assert_complete(doc, 1)
    assert row["hazard_area_m2"]["high"] == pytest.approx(5e5, rel=1e-4)
    nines = classes()
    nines[:, 12:] = 9
    unmapped = make_raster(nines, GRID, name="nine.tif")
    code, _, err = report(scene, deposits, contamination=unmapped)
    assert_clean_error(code, err, "nine.tif: raster value(s) 9", "no class in the parameter file")
    # Values that are not all whole numbers make a probability raster (read by the bands of
    # the parameter file; tests/test_probability.py), which must hold values in 0-1.
    beyond = make_raster(np.full((20, 20), 1.7, "float32"), GRID, nodata=-1, name="p2.tif")
    code, _, err = report(scene, deposits, contamination=beyond)
    assert_clean_error(code, err, "p2.tif: value(s) 1.7", "are not probabilities")
    # Whole numbers are class values stored as floats: one stray value is named as a value
    # without a class, not as "not probabilities" along with every class value above 1.
    stray = classes().astype("float32")
    stray[:, 12:] = 241
    fill = make_raster(stray, GRID, nodata=-9999, name="stray.tif")
    code, _, err = report(scene, deposits, contamination=fill)
    assert_clean_error(code, err, "stray.tif: raster value(s) 241 (in", "no class in the parameter")


def test_raster_that_overlaps_no_deposit(scene, tmp_path, make_raster):
    deposits = write_gpkg(tmp_path / "d.gpkg", [SQUARE, SQUARE])
    far = make_raster(classes(), Affine(100, 0, X0 + 1e6, 0, -100, Y0), name="far.tif")
    code, doc, err = report(scene, deposits, contamination=far)
    assert code == 0, err
    assert [r["status"] for r in assert_complete(doc, 2)] == ["no_data", "no_data"]


# --------------------------------------------------------------------------------------------
# Parameters


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("[general]\nfootprint_buffer_m = = 3\n", ["TOML syntax error", "line 2, column"]),
        (
            "[general]\nfootprint_bufer_m = 3\n",
            ["unknown key 'footprint_bufer_m'", "did you mean 'footprint_buffer_m'"],
        ),
        (
            "[methods.manual]\nteam_size = 'four'\n",
            ["[methods.manual] team_size = 'four'", "whole number"],
        ),
        (
            "[methods.manual]\nproductivity_m2_per_team_day = -5\n",
            ["productivity_m2_per_team_day = -5", "must be > 0"],
        ),
        (
            "[methods.mdd]\nproductivity_m2_per_team_day = 0\n",
            ["[methods.mdd] productivity_m2_per_team_day = 0", "must be > 0"],
        ),
        (
            "[classes.high]\nnts_cancel_share = 1.5\n",
            ["[classes.high] nts_cancel_share = 1.5", "must be <= 1"],
        ),
        (
            "[classes.low]\nts_reduce_share = -0.1\n",
            ["[classes.low] ts_reduce_share = -0.1", "must be >= 0"],
        ),
        (
            "[classes.high.clearance_mix]\nmanual = 0.5\nmechanical = 0.2\n",
            ["clearance_mix", "sum to 1 (they sum to 0.7)"],
        ),
        (
            "[methods.manual]\nproductivity_m2_per_team_day = {low = 300, mode = 200, high = 100}\n",
            ["low <= mode <= high is required"],
        ),
    ],
)
def test_bad_parameter_files(scene, tmp_path, write_toml, text, needles):
    deposits = write_gpkg(tmp_path / "d.gpkg", [SQUARE])
    path = write_toml(text, "bad.toml")
    code, _, err = report(scene, deposits, extra=["--params", str(path)])
    assert_clean_error(code, err, "bad.toml", *needles)


# --------------------------------------------------------------------------------------------
# CLI: regions and output paths


def test_unknown_region_lists_the_valid_ones(scene, tmp_path):
    deposits = write_gpkg(tmp_path / "d.gpkg", [SQUARE])
    code, _, err = report(scene, deposits, extra=["--region", "Atlantis"])
    assert_clean_error(code, err, "--region 'Atlantis': no such region", "valid names: Testland")


def _unwritable_dir(tmp_path: Path) -> Path:
    """A directory this process cannot create files in (a chmod'ed one, or /sys as root)."""
    ro = tmp_path / "read-only"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        (ro / "probe").touch()
    except PermissionError:
        return ro
    (ro / "probe").unlink()
    ro.chmod(0o755)
    # root ignores permissions; a read-only file system does not.
    sysfs = Path("/sys")
    try:
        (sysfs / "demine-probe").touch()
    except OSError:
        return sysfs
    pytest.skip("no unwritable directory available")


@pytest.mark.parametrize("option", ["--geojson", "--output"])
def test_output_paths_that_cannot_be_written(scene, tmp_path, option):
    deposits = write_gpkg(tmp_path / "d.gpkg", [SQUARE])
    code, _, err = report(scene, deposits, extra=[option, str(tmp_path)])
    assert_clean_error(code, err, f"{option}: {tmp_path} is a directory")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, _, err = report(scene, deposits, extra=[option, str(blocker / "out.json")])
    assert_clean_error(code, err, f"{blocker} is a file, not a directory")
    ro = _unwritable_dir(tmp_path)
    code, _, err = report(scene, deposits, extra=[option, str(ro / "out.json")])
    assert_clean_error(code, err, option, str(ro), "choose another directory")
    if ro.is_relative_to(tmp_path):
        ro.chmod(0o755)


def test_a_failed_run_leaves_the_previous_output_intact(scene, tmp_path):
    deposits = write_gpkg(tmp_path / "d.gpkg", [SQUARE])
    out = tmp_path / "out.geojson"
    code, _, err = report(scene, deposits, extra=["--geojson", str(out)])
    assert code == 0, err
    before = out.read_bytes()
    code, _, err = report(
        scene, deposits, contamination=tmp_path / "nope.tif", extra=["--geojson", str(out)]
    )
    assert code == 2 and out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# --------------------------------------------------------------------------------------------
# Third-party fixtures shipped inside installed packages (files nobody on the team wrote)

SITE = Path(sysconfig.get_paths()["purelib"])
THIRD_PARTY = [
    ("pyogrio/tests/fixtures/curve.gpkg", 1),
    ("pyogrio/tests/fixtures/curvepolygon.gpkg", 1),
    ("pyogrio/tests/fixtures/multisurface.gpkg", 1),
    ("pyogrio/tests/fixtures/line_zm.gpkg", 1),
    ("pyogrio/tests/fixtures/test_gpkg_nulls.gpkg", 4),
    ("pyogrio/tests/fixtures/sample.osm.pbf", None),
    ("geopandas/tests/data/null_geom.geojson", 2),
    ("matplotlib/mpl-data/sample_data/grace_hopper.jpg", None),
]


@pytest.mark.parametrize(("relative", "n_features"), THIRD_PARTY, ids=[p for p, _ in THIRD_PARTY])
def test_third_party_fixtures_as_deposits(scene, tmp_path, relative, n_features):
    source = SITE / relative
    if not source.exists():
        pytest.skip(f"{relative} is not installed")
    # Copied so that GDAL's side files (.aux.xml, indexes) never land in site-packages.
    path = tmp_path / source.name
    shutil.copy(source, path)
    out = tmp_path / "out.geojson"
    code, doc, err = report(scene, path, extra=["--geojson", str(out)])
    assert "Traceback" not in err
    if n_features is None:
        assert_clean_error(code, err, source.name)
        assert not out.exists()
    else:
        assert code == 0, err
        assert_complete(doc, n_features)
        assert len(json.loads(out.read_text())["features"]) == n_features
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_deposits_as_a_csv_of_coordinates(tmp_path):
    """A CSV of points: longitude/latitude columns are WGS84; x/y need --assume-crs."""
    from typer.testing import CliRunner

    from estimator.cli import app

    runner = CliRunner()
    ll = tmp_path / "ll.csv"
    ll.write_text("name,Longitude,Latitude\nA,37.8,47.9\n", encoding="utf-8")
    args = ["report", "--point-radius-m", "2000", "--draws", "20", "--format", "json", "-q"]
    res = runner.invoke(app, [*args, "--deposits", str(ll)])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)["deposits"][0]
    assert d["name"] == "A" and d["region"] == "Donetsk"
    # the WGS84 guess is noted on every row, not only on rows with non-ASCII names
    assert "longitude/latitude columns, read as WGS84" in d["reason"]
    # a 2000 m disc and the default 500 m buffer around it
    assert d["footprint_area_m2"] == pytest.approx(np.pi * 2500**2, rel=1e-3)
    xy = tmp_path / "xy.csv"  # the same point in UTM 37N
    xy.write_text("name,x,y\nA,409758.6,5305451.8\n", encoding="utf-8")
    res = runner.invoke(app, [*args, "--deposits", str(xy)])
    assert res.exit_code == 2 and "a CSV carries no CRS; pass --assume-crs" in res.output
    res = runner.invoke(app, [*args, "--deposits", str(xy), "--assume-crs", "EPSG:32637"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["deposits"][0]["region"] == "Donetsk"
    # a coordinate that is not a number: the row says which, not "no geometry"
    typo = tmp_path / "typo.csv"
    typo.write_text("name,lon,lat\nA,37.8,47.9\nC,abc,47.9\n", encoding="utf-8")
    res = runner.invoke(app, [*args, "--deposits", str(typo)])
    assert res.exit_code == 0, res.output
    rows = {d["name"]: d for d in json.loads(res.stdout)["deposits"]}
    assert rows["A"]["status"] != "invalid"
    assert rows["C"]["status"] == "invalid"
    assert rows["C"]["reason"].startswith("no point: lon 'abc', lat '47.9' (each must be a number)")
    # as a spreadsheet saves it where the decimal separator is a comma
    semi = tmp_path / "semi.csv"
    semi.write_text("name;Longitude;Latitude\nA;37,8;47,9\n", encoding="utf-8")
    res = runner.invoke(app, [*args, "--deposits", str(semi)])
    assert res.exit_code == 0, res.output
    d2 = json.loads(res.stdout)["deposits"][0]
    assert d2["name"] == "A" and d2["footprint_area_m2"] == d["footprint_area_m2"]
    bare = tmp_path / "bare.csv"
    bare.write_text("name,value\nA,1\n", encoding="utf-8")
    res = runner.invoke(app, [*args, "--deposits", str(bare)])
    assert res.exit_code == 2
    assert "a CSV needs longitude/latitude columns" in " ".join(res.output.split())


def test_a_run_where_no_deposit_can_be_assessed_says_so(tmp_path, make_vector):
    from shapely.geometry import Point
    from typer.testing import CliRunner

    from estimator.cli import app

    points = make_vector([Point(37.5, 48.0), Point(37.6, 48.1)], name=["P", "Q"])
    res = CliRunner().invoke(app, ["report", "--deposits", str(points), "--draws", "20"])
    assert res.exit_code == 0, res.output  # every deposit is listed, with its reason
    assert "none of the 2 deposit(s) could be assessed" in " ".join(res.stderr.split())
    assert "point without a radius" in res.stdout
