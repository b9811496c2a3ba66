"""Whole-region statistics: hand-checked class areas, the model on them, and `demine regions`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from affine import Affine
from shapely.geometry import box
from typer.testing import CliRunner

from estimator.cli import app
from estimator.errors import InputDataError
from estimator.model import release_land
from estimator.pipeline import load_default_params
from estimator.uncertainty import mode_draws
from estimator.wholeregion import summarize_whole_regions

from .conftest import DEFAULT_PARAMS

X0, Y0 = 6_000_000.0, 2_800_000.0  # EPSG:3035 (equal area: every 100 m cell is 1 ha)
runner = CliRunner()


@pytest.fixture
def scene(make_raster, make_vector):
    # 10 x 20 cells of 100 m: west half class 1 (low), east half class 3 (high), a nodata row
    arr = np.ones((10, 20), dtype="uint8")
    arr[:, 10:] = 3
    arr[9, :] = 255
    raster = make_raster(arr, Affine(100, 0, X0, 0, -100, Y0), name="hazard.tif")
    regions = make_vector(
        [
            box(X0, Y0 - 1000, X0 + 1050, Y0),  # all of the west half plus half a column of east
            box(X0 + 1050, Y0 - 1000, X0 + 2500, Y0),  # the rest, 500 m of it off the raster
        ],
        crs="EPSG:3035",
        filename="regions.gpkg",
        name=["West", "East"],
    )
    return raster, regions


def test_hand_checked_areas_and_model(scene):
    raster, regions = scene
    r = summarize_whole_regions(contamination=raster, regions=regions, params=DEFAULT_PARAMS)
    west, east = r.regions
    assert [west.name, east.name] == ["West", "East"]
    # west: 9 data rows x 10 cells of class 1 + 9 x 0.5 cells of class 3; row 9: 10.5 cells nodata
    # (regions travel through lon/lat like footprints: borders move by millimetres)
    assert west.hazard_area_m2["low"] == pytest.approx(90 * 10_000, rel=1e-5)
    assert west.hazard_area_m2["high"] == pytest.approx(4.5 * 10_000, rel=1e-5)
    assert west.unknown_area_m2 == pytest.approx(10.5 * 10_000, rel=1e-5)
    assert east.hazard_area_m2["high"] == pytest.approx(9 * 9.5 * 10_000, rel=1e-5)
    assert east.outside_raster_area_m2 == pytest.approx(50 * 10_000, rel=1e-6)
    assert east.unknown_area_m2 == pytest.approx((9.5 + 50) * 10_000, rel=1e-6)
    assert west.area_m2 == pytest.approx(105 * 10_000, rel=1e-4)
    # the same model as the deposit run, at the modes
    params = load_default_params(DEFAULT_PARAMS)
    area = np.zeros((1, len(params.classes)))
    for k, name in enumerate(params.class_names):
        area[0, k] = west.hazard_area_m2[name]
    area[0, params.class_names.index(params.general.unknown_area_class)] += west.unknown_area_m2
    want = release_land(area, mode_draws(params))
    assert west.figures["cost_usd"] == pytest.approx(float(want.cost_usd[0, 0]), rel=1e-12)
    assert west.figures["nts_area_m2"] == pytest.approx(west.area_m2, rel=1e-4)


def test_region_filter_and_errors(scene, make_raster):
    raster, regions = scene
    r = summarize_whole_regions(
        contamination=raster, regions=regions, params=DEFAULT_PARAMS, regions_filter=["east"]
    )
    assert [x.name for x in r.regions] == ["East"]
    with pytest.raises(InputDataError, match="no such region"):
        summarize_whole_regions(contamination=raster, regions=regions, regions_filter=["Nowhere"])
    odd = make_raster(np.full((10, 20), 42, dtype="uint8"), Affine(100, 0, X0, 0, -100, Y0))
    with pytest.raises(InputDataError, match="raster value 42"):
        summarize_whole_regions(contamination=odd, regions=regions, params=DEFAULT_PARAMS)


def test_cli_regions(scene, tmp_path):
    raster, regions = scene
    args = ["regions", "--contamination", str(raster), "--regions", str(regions)]
    res = runner.invoke(app, [*args, "--format", "json", "--params", str(DEFAULT_PARAMS)])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["regions"]
    assert [row["name"] for row in rows] == ["West", "East"]
    assert rows[0]["hazard_area_m2_low"] == pytest.approx(900_000, rel=1e-5)
    assert rows[0]["name"] == "West" and rows[0]["cost_usd_mode"] > 0
    res = runner.invoke(app, [*args, "--params", str(DEFAULT_PARAMS)])  # the table
    assert res.exit_code == 0 and "Whole regions" in res.stdout
    assert not [line for line in res.stdout.splitlines() if line != line.rstrip()]
    res = runner.invoke(app, [*args, "--workers", "0"])
    assert res.exit_code == 2 and "--workers" in res.output
    res = runner.invoke(app, [*args, "--region", "Atlantis"])
    assert res.exit_code == 2 and "Atlantis" in res.output
    out = tmp_path / "regions.csv"
    res = runner.invoke(app, [*args, "--format", "csv", "-o", str(out), "-q"])
    assert res.exit_code == 0 and out.read_text().startswith("name,area_m2,hazard_area_m2_none,")


def _halves(west: float, east: float) -> np.ndarray:
    """Probabilities over the scene's grid: west half, east half, last row nodata."""
    p = np.full((10, 20), west, dtype="float32")
    p[:, 10:] = east
    p[9, :] = np.nan
    return p


def test_a_raster_of_probabilities_is_classed_by_the_bands(scene, make_raster):
    _, regions = scene
    # West half p = 0.01 (low: 0.003 <= p < 0.035), east half 0.5 (high), last row nodata.
    p = _halves(0.01, 0.5)
    raster = make_raster(p, Affine(100, 0, X0, 0, -100, Y0), nodata=np.nan, name="p.tif")
    r = summarize_whole_regions(contamination=raster, regions=regions, params=DEFAULT_PARAMS)
    west, east = r.regions
    assert west.hazard_area_m2["low"] == pytest.approx(90 * 10_000, rel=1e-5)
    assert west.hazard_area_m2["high"] == pytest.approx(4.5 * 10_000, rel=1e-5)
    assert west.unknown_area_m2 == pytest.approx(10.5 * 10_000, rel=1e-5)
    # expected hazard area: sum of p x covered area
    assert west.expected_hazard_area_m2 == pytest.approx((90 * 0.01 + 4.5 * 0.5) * 1e4, rel=1e-5)
    assert east.expected_hazard_area_m2 == pytest.approx(9 * 9.5 * 0.5 * 1e4, rel=1e-5)
    # a class raster gives none
    classes, _ = scene
    plain = summarize_whole_regions(contamination=classes, regions=regions, params=DEFAULT_PARAMS)
    assert plain.regions[0].expected_hazard_area_m2 is None
    bad = p.copy()
    bad[0, 0] = 1.7
    raster = make_raster(bad, Affine(100, 0, X0, 0, -100, Y0), nodata=np.nan, name="bad.tif")
    with pytest.raises(InputDataError, match="bad.tif: value 1.7 .* is not a probability"):
        summarize_whole_regions(contamination=raster, regions=regions, params=DEFAULT_PARAMS)


@pytest.fixture
def sha_cha(make_vector):
    # A CHA of 5 x 5 cells of class 1 in the north-west corner, and an SHA of 2 x 2 cells that
    # straddles the border between the regions at x = 1050 m (1 ha west of it, 3 ha east).
    return make_vector(
        [
            box(X0, Y0 - 500, X0 + 500, Y0),
            box(X0 + 1000, Y0 - 200, X0 + 1200, Y0),
        ],
        crs="EPSG:3035",
        filename="sha_cha.gpkg",
        kind=["CHA", "SHA"],
    )


def test_hazard_areas_take_precedence_and_the_raster_fills_the_rest(scene, sha_cha):
    raster, regions = scene
    r = summarize_whole_regions(
        contamination=raster,
        regions=regions,
        params=DEFAULT_PARAMS,
        hazard_areas=sha_cha,
        hazard_class_field="kind",
    )
    west, east = r.regions
    ha = 10_000
    # west: CHA 25 ha (high) over class-1 cells; SHA 1 ha (medium) over class-3 cells
    assert west.hazard_area_m2["high"] == pytest.approx((25 + 4.5 - 1) * ha, rel=1e-5)
    assert west.hazard_area_m2["medium"] == pytest.approx(1 * ha, rel=1e-5)
    assert west.hazard_area_m2["low"] == pytest.approx((90 - 25) * ha, rel=1e-5)
    assert west.unknown_area_m2 == pytest.approx(10.5 * ha, rel=1e-5)
    assert east.hazard_area_m2["medium"] == pytest.approx(3 * ha, rel=1e-5)
    assert east.hazard_area_m2["high"] == pytest.approx((9 * 9.5 - 3) * ha, rel=1e-5)
    assert east.unknown_area_m2 == pytest.approx((9.5 + 50) * ha, rel=1e-5)
    # nothing counted twice: classes + unknown = the region
    for reg in (west, east):
        total = sum(reg.hazard_area_m2.values()) + reg.unknown_area_m2
        assert total == pytest.approx(reg.area_m2, rel=1e-5)
    assert r.meta["inputs"]["hazard_areas"] == str(sha_cha)
    # notes: the polygons' share, and the ground without data with how it was assessed
    assert west.notes[0] == "hazardous-area polygons cover 24.8%"
    assert east.notes[1] == (
        "41.0% of the region (0.6 km²) has no contamination data (0.5 km² outside the raster "
        "and 0.1 km² of nodata cells); assessed as class 'medium'"
    )


def test_hazard_areas_without_a_raster_leave_the_rest_unknown(scene, sha_cha):
    _, regions = scene
    r = summarize_whole_regions(
        regions=regions, params=DEFAULT_PARAMS, hazard_areas=sha_cha, hazard_class_field="kind"
    )
    west, east = r.regions
    ha = 10_000
    assert west.hazard_area_m2["high"] == pytest.approx(25 * ha, rel=1e-5)
    assert west.hazard_area_m2["medium"] == pytest.approx(1 * ha, rel=1e-5)
    assert west.hazard_area_m2["low"] == 0
    assert west.unknown_area_m2 == pytest.approx((105 - 26) * ha, rel=1e-5)
    assert east.unknown_area_m2 == pytest.approx((145 - 3) * ha, rel=1e-5)
    assert east.outside_raster_area_m2 == east.unknown_area_m2
    assert r.meta["inputs"]["contamination"] is None
    assert "no contamination raster was given" in west.notes[1]


def test_cli_regions_with_hazard_areas(scene, sha_cha):
    _, regions = scene
    args = ["regions", "--regions", str(regions), "--hazard-areas", str(sha_cha)]
    res = runner.invoke(app, [*args, "--hazard-class-field", "kind", "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["regions"]
    assert rows[0]["hazard_area_m2_high"] == pytest.approx(250_000, rel=1e-5)
    assert "has no contamination data" in rows[0]["notes"]
    res = runner.invoke(app, [*args, "--hazard-class-field", "nope"])
    assert res.exit_code == 2 and "nope" in res.output
    # the class field without the polygons would be ignored: refused
    res = runner.invoke(app, ["regions", "--regions", str(regions), "--hazard-class-field", "kind"])
    assert res.exit_code == 2 and "--hazard-areas, which is not given" in " ".join(
        res.output.split()
    )


def test_regions_that_are_not_polygons_or_absent_are_refused(make_vector, tmp_path):
    from shapely.geometry import Point

    points = make_vector([Point(37.5, 48.0)], filename="pt.geojson", name=["Pt"])
    with pytest.raises(InputDataError, match=r"feature 1 \(Pt\) is a Point; regions must be"):
        summarize_whole_regions(regions=points, params=DEFAULT_PARAMS)
    empty = tmp_path / "empty.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(InputDataError, match="the regions layer has no features"):
        summarize_whole_regions(regions=empty, params=DEFAULT_PARAMS)
    square = make_vector([box(37.5, 48.0, 37.6, 48.1)], filename="sq.geojson", name=["Sq"])
    with pytest.raises(InputDataError, match="the hazardous-area layer has no features"):
        summarize_whole_regions(regions=square, params=DEFAULT_PARAMS, hazard_areas=empty)


def test_expected_hazard_area_from_a_probability_raster(scene, make_raster):
    classes, regions = scene
    p = _halves(0.2, 0.6)
    prob = make_raster(p, Affine(100, 0, X0, 0, -100, Y0), nodata=np.nan, name="prob.tif")
    r = summarize_whole_regions(
        contamination=classes, regions=regions, params=DEFAULT_PARAMS, probability=prob
    )
    west, east = r.regions
    ha = 10_000
    assert west.expected_hazard_area_m2 == pytest.approx((90 * 0.2 + 4.5 * 0.6) * ha, rel=1e-5)
    assert east.expected_hazard_area_m2 == pytest.approx(9 * 9.5 * 0.6 * ha, rel=1e-5)
    # the class areas do not change
    assert west.hazard_area_m2["low"] == pytest.approx(90 * ha, rel=1e-5)
    assert r.meta["inputs"]["probability"] == str(prob)
    res = runner.invoke(
        app,
        ["regions", "--contamination", str(classes), "--regions", str(regions),
         "--probability", str(prob), "--format", "markdown", "--params", str(DEFAULT_PARAMS)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "Expected hazard km²" in res.stdout and "| 0.2 |" in res.stdout  # west: 20.7 ha
    p[0, 0] = 1.7
    bad = make_raster(p, Affine(100, 0, X0, 0, -100, Y0), nodata=np.nan, name="bad_p.tif")
    with pytest.raises(InputDataError, match=r"bad_p.tif: value 1.7 \(in region 'West'\)"):
        summarize_whole_regions(
            contamination=classes, regions=regions, params=DEFAULT_PARAMS, probability=bad
        )


def test_embedded_regions_have_an_expected_hazard_area():
    r = summarize_whole_regions()
    assert [x.name for x in r.regions] == ["Donetsk", "Zaporizhzhia"]
    for x in r.regions:
        assert 0 < x.expected_hazard_area_m2 < x.area_m2
    assert r.meta["inputs"]["probability"].endswith("contamination_probability.tif")
