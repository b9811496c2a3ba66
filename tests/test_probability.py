"""The probability raster: expected hazard area and the bounds of P(any hazard) per footprint."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pyogrio
import pytest
from affine import Affine
from shapely.geometry import box
from typer.testing import CliRunner

from estimator import report as rep
from estimator.aggregate import HazardProbability, combine_hazard_probabilities
from estimator.cli import app
from estimator.errors import InputDataError
from estimator.io import default_data
from estimator.pipeline import Inputs, estimate

X0, Y0 = 6_000_000.0, 2_800_000.0  # EPSG:3035 (equal-area: a 100 m cell is 1 ha)
CELL = 100.0
#: Footprints go to lon/lat and back: their edges move by ~1 mm, ~5e-6 of a cell's area.
REL = 1e-5
runner = CliRunner()


def cell_box(row: int, col: int, *, width: float = 1.0):
    """The cell (row, col) of the grids below; ``width`` < 1 keeps its west part only."""
    x = X0 + col * CELL
    y = Y0 - row * CELL
    return box(x, y - CELL, x + width * CELL, y)


@pytest.fixture
def scene(make_raster, make_vector):
    """Classes on 10 x 10 cells; probabilities on the north-west 5 x 5 only, NaN elsewhere.

    p = 0.1 at (2, 2) and 0.5 at (2, 3); 0.3 at (0, 4); 5.0 (bad) at (4, 0), under no deposit.
    """
    classes = make_raster(
        np.ones((10, 10), dtype="uint8"), Affine(CELL, 0, X0, 0, -CELL, Y0), name="classes.tif"
    )
    p = np.full((5, 5), np.nan, dtype="float32")
    p[2, 2], p[2, 3], p[0, 4] = 0.1, 0.5, 0.3
    p[4, 0] = 5.0  # outside 0-1, but no footprint covers it: not read into any result
    prob = make_raster(p, Affine(CELL, 0, X0, 0, -CELL, Y0), nodata=np.nan, name="p.tif")
    regions = make_vector(
        [box(X0 - 1000, Y0 - 2000, X0 + 2000, Y0 + 1000)],
        crs="EPSG:3035",
        filename="regions.gpkg",
        name=["Testland"],
    )
    return classes, prob, regions


def deposits_file(make_vector, geoms, names):
    return make_vector(geoms, crs="EPSG:3035", filename="deposits.gpkg", name=names)


def run(scene, deposits, **kw):
    classes, prob, regions = scene
    kw.setdefault("probability", prob)
    inputs = Inputs(
        deposits=deposits,
        contamination=classes,
        regions=regions,
        no_control=True,
        buffer_m=0,
        **kw,
    )
    return estimate(inputs, n_draws=1)


def test_two_whole_cells_hand_checked(scene, make_vector):
    both = cell_box(2, 2).union(cell_box(2, 3))
    r = run(scene, deposits_file(make_vector, [both], ["Both"]))
    h = r.deposits[0].hazard_probability
    assert h is not None
    assert h.expected_hazard_area_m2 == pytest.approx(0.1 * 1e4 + 0.5 * 1e4, rel=REL)  # 0.6 ha
    assert h.prob_any_hazard_low == pytest.approx(0.5, rel=REL)
    assert h.prob_any_hazard_high == pytest.approx(1 - 0.9 * 0.5, rel=REL)
    assert h.probability_data_area_m2 == pytest.approx(2e4, rel=REL)


def test_a_half_covered_cell_counts_half(scene, make_vector):
    part = cell_box(2, 2).union(cell_box(2, 3, width=0.5))
    r = run(scene, deposits_file(make_vector, [part], ["Part"]))
    h = r.deposits[0].hazard_probability
    assert h.expected_hazard_area_m2 == pytest.approx(0.1 * 1e4 + 0.5 * 5e3, rel=REL)
    assert h.probability_data_area_m2 == pytest.approx(1.5e4, rel=REL)
    # Exponent 0.5 for the half cell: 1 - 0.9 x 0.5 ** 0.5.
    assert h.prob_any_hazard_high == pytest.approx(1 - 0.9 * math.sqrt(0.5), rel=REL)
    # The low bound counts the half cell in part too (1 - 0.5 ** 0.5 = 0.29 > 0.1), so it
    # stays below the high bound (0.5 would exceed 0.36).
    assert h.prob_any_hazard_low == pytest.approx(1 - math.sqrt(0.5), rel=REL)
    assert h.prob_any_hazard_low <= h.prob_any_hazard_high


def test_region_sums_areas_and_combines_bounds(scene, make_vector):
    both = cell_box(2, 2).union(cell_box(2, 3))
    r = run(scene, deposits_file(make_vector, [both, cell_box(0, 4)], ["Both", "North"]))
    (region,) = r.regions
    h = region.hazard_probability
    assert h.deposit_count == 2
    assert h.expected_hazard_area_m2 == pytest.approx(6000 + 3000, rel=REL)
    assert h.prob_any_hazard_low == pytest.approx(0.5, rel=REL)  # max of 0.5 and 0.3
    assert h.prob_any_hazard_high == pytest.approx(1 - (1 - 0.55) * (1 - 0.3), rel=REL)
    doc = json.loads(rep.to_json(r))
    reg = doc["regions"][0]["hazard_probability"]
    assert reg["deposit_count"] == 2
    assert reg["prob_any_hazard_high"] == pytest.approx(1 - 0.45 * 0.7, rel=REL)


def test_combination_leaves_out_deposits_without_data():
    a = HazardProbability(100.0, 0.2, 0.4, 1e4)
    assert combine_hazard_probabilities([None, None]) is None
    assert combine_hazard_probabilities([None, a]) == a


def test_footprints_without_probability_data_are_null_with_a_reason(scene, make_vector):
    deposits = deposits_file(
        make_vector,
        [cell_box(7, 7), cell_box(0, 0), cell_box(0, 4)],  # outside the raster; NaN; p = 0.3
        ["Outside", "Nodata", "Inside"],
    )
    r = run(scene, deposits)
    by = {d.name: d for d in r.deposits}
    for name in ("Outside", "Nodata"):
        assert by[name].hazard_probability is None
        assert "no probability data covers this footprint (p.tif)" in by[name].reason
        assert by[name].status == "assessed"  # the classes cover it: only the figures are null
    assert by["Inside"].hazard_probability.prob_any_hazard_low == pytest.approx(0.3, rel=REL)
    assert "probability" not in by["Inside"].reason
    # The region combines the one deposit with data.
    assert r.regions[0].hazard_probability.deposit_count == 1
    doc = json.loads(rep.to_json(r))
    nulls = {d["name"]: d["hazard_probability"] for d in doc["deposits"]}
    assert nulls["Outside"] is None and nulls["Nodata"] is None
    props = {f["properties"]["name"]: f["properties"] for f in rep.to_geojson(r)["features"]}
    assert props["Outside"]["prob_any_hazard_high"] is None
    assert props["Inside"]["prob_any_hazard_high"] == pytest.approx(0.3, abs=1e-6)


def test_a_footprint_partly_without_probability_data_says_so(scene, make_vector):
    half = cell_box(0, 3).union(cell_box(0, 4))  # NaN and p = 0.3
    r = run(scene, deposits_file(make_vector, [half], ["Half"]))
    (d,) = r.deposits
    assert d.hazard_probability.probability_data_area_m2 == pytest.approx(CELL**2, rel=REL)
    assert d.hazard_probability.expected_hazard_area_m2 == pytest.approx(0.3 * CELL**2, rel=REL)
    assert "probability data cover 50.0% of the footprint" in d.reason


def test_values_outside_0_1_under_a_footprint_are_an_error(scene, make_vector):
    bad = cell_box(4, 0)  # the 5.0 cell
    with pytest.raises(InputDataError, match=r"p\.tif: value\(s\) 5 .*0-1"):
        run(scene, deposits_file(make_vector, [bad], ["Bad"]))


def test_a_users_contamination_without_probability_gives_null_figures(scene, make_vector):
    both = cell_box(2, 2).union(cell_box(2, 3))
    r = run(scene, deposits_file(make_vector, [both], ["Both"]), probability=None)
    assert r.meta["inputs"]["probability"] is None
    assert r.deposits[0].hazard_probability is None
    assert r.regions[0].hazard_probability is None
    assert "probability" not in r.deposits[0].reason  # no raster at all: nothing to explain
    header = rep.render_tables(r)[0].columns
    assert "P(any hazard)" not in [c.header for c in header]
    assert "P(any hazard)" not in rep.to_markdown(r)


def test_probability_raster_in_another_crs(make_raster, make_vector, scene):
    """A geographic raster: the cell area at the footprint is the ellipsoidal one."""
    classes, _, regions = scene
    # One 0.001 x 0.001 degree cell (about 70 m x 111 m here) with p = 0.3, NaN around it.
    lon0, lat0, d = 37.0, 47.8, 0.001
    p = np.full((3, 3), np.nan, dtype="float32")
    p[1, 1] = 0.3
    prob = make_raster(p, Affine(d, 0, lon0, 0, -d, lat0), crs="EPSG:4326", nodata=np.nan)
    cell = box(lon0 + d, lat0 - 2 * d, lon0 + 2 * d, lat0 - d)
    classes4326 = make_raster(
        np.ones((3, 3), dtype="uint8"), Affine(d, 0, lon0, 0, -d, lat0), crs="EPSG:4326"
    )
    deposits = make_vector([cell], crs="EPSG:4326", filename="geo.gpkg", name=["Cell"])
    r = estimate(
        Inputs(
            deposits=deposits,
            contamination=classes4326,
            probability=prob,
            regions=make_vector([cell.buffer(0.01)], filename="geo_regions.gpkg", name=["R"]),
            no_control=True,
            buffer_m=0,
        ),
        n_draws=1,
    )
    dep = r.deposits[0]
    h = dep.hazard_probability
    # The footprint is the cell: covered area = footprint area, one whole cell.
    assert h.probability_data_area_m2 == pytest.approx(dep.footprint_area_m2, rel=REL)
    assert h.expected_hazard_area_m2 == pytest.approx(0.3 * dep.footprint_area_m2, rel=REL)
    assert h.prob_any_hazard_low == pytest.approx(0.3, rel=REL)
    assert h.prob_any_hazard_high == pytest.approx(0.3, rel=REL)


# --------------------------------------------------------------------------------------------
# Outputs and the command line


def cli_args(scene, deposits):
    classes, _, regions = scene
    return [
        "--deposits",
        str(deposits),
        "--contamination",
        str(classes),
        "--regions",
        str(regions),
        "--no-control",
        "--buffer-m",
        "0",
        "--draws",
        "1",
    ]


def invoke(args):
    result = runner.invoke(app, args, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_cli_outputs_carry_the_figures(scene, make_vector, tmp_path):
    both = cell_box(2, 2).union(cell_box(2, 3))
    deposits = deposits_file(make_vector, [both, cell_box(7, 7)], ["Both", "Outside"])
    prob = str(scene[1])
    args = ["report", *cli_args(scene, deposits), "--probability", prob]

    code, out, err = invoke(args)
    assert code == 0, err
    assert "P(any hazard)" in out and "0.50-0.55" in out

    code, out, err = invoke([*args, "--format", "json"])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["demine"]["inputs"]["probability"] == prob
    d = {x["name"]: x for x in doc["deposits"]}
    assert set(d["Both"]["hazard_probability"]) == set(rep.HAZARD_PROBABILITY_FIELDS)
    assert d["Both"]["hazard_probability"]["expected_hazard_area_m2"] == pytest.approx(
        6000, rel=REL
    )
    assert d["Outside"]["hazard_probability"] is None

    csv_path, gj, gpkg = tmp_path / "r.csv", tmp_path / "r.geojson", tmp_path / "r.gpkg"
    code, _, err = invoke(
        [*args, "--format", "csv", "-o", str(csv_path), "--geojson", str(gj), "--gpkg", str(gpkg)]
    )
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    for key in ("expected_hazard_area_m2", "prob_any_hazard_low", "prob_any_hazard_high"):
        assert key in rows[0]
    assert float(rows[0]["prob_any_hazard_low"]) == pytest.approx(0.5, rel=REL)
    assert rows[1]["prob_any_hazard_low"] == ""  # null
    props = json.loads(gj.read_text())["features"][0]["properties"]
    assert props["expected_hazard_area_m2"] == pytest.approx(6000, rel=REL)
    assert props["prob_any_hazard_high"] == pytest.approx(0.55, rel=REL)
    layer = pyogrio.read_dataframe(gpkg, layer="deposits")
    assert layer["prob_any_hazard_high"].dtype.kind == "f"
    assert layer.loc[0, "prob_any_hazard_high"] == pytest.approx(0.55, rel=REL)
    assert np.isnan(layer.loc[1, "prob_any_hazard_high"])
    regions = pyogrio.read_dataframe(gpkg, layer="regions")
    assert regions.loc[0, "expected_hazard_area_m2"] == pytest.approx(6000, rel=REL)


@pytest.mark.parametrize("command", ["report", "schedule"])
def test_cli_values_above_1_exit_2(scene, make_vector, command):
    deposits = deposits_file(make_vector, [cell_box(4, 0)], ["Bad"])
    code, _, err = invoke([command, *cli_args(scene, deposits), "--probability", str(scene[1])])
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "p.tif" in lines[0] and "values in 0-1" in lines[0]


def test_cli_compare_takes_the_probability_raster(scene, make_vector, write_toml):
    deposits = deposits_file(make_vector, [cell_box(4, 0)], ["Bad"])
    a = write_toml("schema_version = 1\n", name="a.toml")
    args = [x for x in cli_args(scene, deposits) if x not in ("--buffer-m", "0")]
    code, _, err = invoke(["compare", str(a), str(a), *args, "--probability", str(scene[1])])
    assert code == 2 and "p.tif" in err and "values in 0-1" in err


@pytest.mark.parametrize(
    "content, needle",
    [(b"not a raster", "cannot read the raster"), (None, "probability raster file not found")],
)
def test_cli_unreadable_probability_raster_exit_2(scene, make_vector, tmp_path, content, needle):
    bad = tmp_path / "broken.tif"
    if content is not None:
        bad.write_bytes(content)
    deposits = deposits_file(make_vector, [cell_box(2, 2)], ["One"])
    code, _, err = invoke(["report", *cli_args(scene, deposits), "--probability", str(bad)])
    assert code == 2
    line = err.strip()
    assert "\n" not in line and "broken.tif" in line and needle in line
    assert "--probability" in line


def test_embedded_default_has_figures_inside_the_raster():
    r = estimate(Inputs(), n_draws=1)
    assert r.meta["inputs"]["probability"] == str(default_data().contamination_probability)
    assert r.deposits
    for d in r.deposits:
        h = d.hazard_probability
        inside = d.footprint_area_m2 > 0 and d.outside_raster_area_m2 == 0
        if inside:
            assert h is not None, d.name
        if h is None:
            continue
        assert 0 <= h.prob_any_hazard_low <= h.prob_any_hazard_high <= 1
        assert 0 <= h.expected_hazard_area_m2 <= h.probability_data_area_m2
        assert h.probability_data_area_m2 <= d.footprint_area_m2 * (1 + 1e-6)
    with_figures = [d.hazard_probability for d in r.deposits]
    for region in r.regions:
        members = [d.hazard_probability for d in r.deposits if d.region == region.name]
        if not any(members):
            continue
        assert region.hazard_probability.expected_hazard_area_m2 == pytest.approx(
            sum(h.expected_hazard_area_m2 for h in members if h)
        )
    assert any(with_figures)
    cells = [c.header for c in rep.render_tables(r)[0].columns]
    assert "P(any hazard)" in cells


# A raster of probabilities as the contamination raster ------------------------------------


def test_probability_raster_as_contamination_is_read_by_the_bands(make_raster, make_vector):
    # One row of four cells, one per band of geodata/parameters.toml: none < 0.003 <= low <
    # 0.035 <= medium < 0.23 <= high; the last cell is nodata.
    p = np.array([[0.001, 0.003, 0.1, 0.23, np.nan]], dtype="float32")
    raster = make_raster(p, Affine(CELL, 0, X0, 0, -CELL, Y0), nodata=np.nan, name="pc.tif")
    regions = make_vector(
        [box(X0 - 1000, Y0 - 1000, X0 + 1000, Y0 + 1000)],
        crs="EPSG:3035",
        filename="regions.gpkg",
        name=["Testland"],
    )
    # Whole cells 0-3 and half of the nodata cell.
    row = box(X0, Y0 - CELL, X0 + 4.5 * CELL, Y0)
    inputs = Inputs(
        deposits=deposits_file(make_vector, [row], ["Row"]),
        contamination=raster,
        regions=regions,
        no_control=True,
        buffer_m=0,
    )
    r = estimate(inputs, n_draws=1)
    (d,) = r.deposits
    for name in ("none", "low", "medium", "high"):
        assert d.hazard_area_m2[name] == pytest.approx(1e4, rel=REL), name
    # (edges move by ~1 mm on the way through lon/lat: REL of the footprint, not of the half cell)
    assert d.unknown_area_m2 == pytest.approx(5e3, abs=REL * 4.5e4)
    assert d.status == "partial"
    # The raster is its own probability raster: expected area and bounds by hand.
    hp = d.hazard_probability
    assert hp is not None
    assert hp.expected_hazard_area_m2 == pytest.approx(1e4 * (0.001 + 0.003 + 0.1 + 0.23), rel=1e-4)
    assert hp.prob_any_hazard_low == pytest.approx(0.23, rel=1e-4)
    high = 1 - (1 - 0.001) * (1 - 0.003) * (1 - 0.1) * (1 - 0.23)
    assert hp.prob_any_hazard_high == pytest.approx(high, rel=1e-4)
    assert r.meta["inputs"]["probability"] == str(raster)


def test_float_raster_of_class_values_stays_classes(make_raster, make_vector):
    values = np.array([[0.0, 1.0, 2.0, 3.0]], dtype="float32")
    raster = make_raster(values, Affine(CELL, 0, X0, 0, -CELL, Y0), nodata=-1, name="fc.tif")
    regions = make_vector(
        [box(X0 - 1000, Y0 - 1000, X0 + 1000, Y0 + 1000)],
        crs="EPSG:3035",
        filename="regions.gpkg",
        name=["Testland"],
    )
    inputs = Inputs(
        deposits=deposits_file(make_vector, [box(X0, Y0 - CELL, X0 + 4 * CELL, Y0)], ["Row"]),
        contamination=raster,
        regions=regions,
        no_control=True,
        buffer_m=0,
    )
    (d,) = estimate(inputs, n_draws=1).deposits
    assert [round(d.hazard_area_m2[c]) for c in ("none", "low", "medium", "high")] == [1e4] * 4
    assert d.hazard_probability is None  # class values are not probabilities


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ("[classes.none]\nprobability_min = 1.5\n", "must be a probability between 0 and 1"),
        ("[classes.low]\nprobability_min = 0.0\n", "already the bound of class 'none'"),
        ("[classes.none]\nprobability_min = 0.001\n", "the lowest band must start at 0"),
        ("[classes.high]\nprobability_min = 'x'\n", "must be a number"),
    ],
)
def test_probability_bands_are_validated(write_toml, toml, needle):
    from estimator.errors import ParameterError
    from estimator.params import load_params

    with pytest.raises(ParameterError, match=needle):
        load_params(write_toml(toml), defaults=default_data().parameters)


def test_parameter_bands_match_the_hazard_model():
    # The embedded proxy classes its cells with hazard_model.toml's bands; reading its
    # probability raster as classes must give the same classes.
    import tomllib

    from estimator.params import load_params

    params = load_params(defaults=default_data().parameters)
    model = tomllib.loads((default_data().root / "hazard_model.toml").read_text("utf-8"))
    assert {params.class_names[k]: p for p, k in params.probability_bands} == model["classes"]


def test_zonal_probability_equals_the_per_value_overlay(make_raster):
    # The one-pass probability overlay against the list of distinct values and their areas
    # (the general overlay) on random probabilities and polygons in a UTM raster.
    import pyproj
    import shapely
    from shapely.geometry import Point

    from estimator.overlay import overlay_footprints, zonal_probability

    rng = np.random.default_rng(4)
    p = rng.uniform(0, 1, (300, 400)).astype("float32")
    p[rng.uniform(size=p.shape) < 0.05] = np.nan
    p[:40, :40] = 1.0  # certain cells: the logs stay finite
    x0, y0 = 500_000.0, 5_300_000.0
    raster = make_raster(p, Affine(30, 0, x0, 0, -30, y0), crs="EPSG:32637", nodata=np.nan)
    polys = [
        Point(x0 + rng.uniform(0, 12_000), y0 - rng.uniform(0, 9_000)).buffer(
            rng.uniform(40, 900), quad_segs=rng.integers(2, 16)
        )
        for _ in range(60)
    ] + [box(x0 - 100, y0 - 500, x0 + 400, y0 + 100), None]  # part outside; none
    to_lonlat = pyproj.Transformer.from_crs("EPSG:32637", "EPSG:4326", always_xy=True)
    lonlat = [
        None
        if g is None
        else shapely.transform(g, lambda xy: np.column_stack(to_lonlat.transform(*xy.T)))
        for g in polys
    ]
    z = zonal_probability(raster, lonlat, crs="EPSG:4326", workers=1)
    ref = overlay_footprints(raster, lonlat, band=1, workers=1)
    two = zonal_probability(raster, lonlat, crs="EPSG:4326", workers=2)
    for name in ("value_area", "log_none_area", "low", "p_min", "p_max", "data_area_m2"):
        np.testing.assert_array_equal(getattr(two, name), getattr(z, name))
    for i, va in enumerate(ref):
        if va is None:
            assert z.data_area_m2[i] == 0 and z.value_area[i] == 0
            continue
        v, a = va.values.astype("float64"), va.area_m2
        keep = a > 0
        assert z.value_area[i] == pytest.approx(np.sum(v * a), rel=1e-9)
        assert z.data_area_m2[i] == pytest.approx(va.data_area_m2, rel=1e-9)
        log_none = np.sum(a[keep] * np.log1p(-np.minimum(v[keep], 1 - 1e-16)))
        assert z.log_none_area[i] == pytest.approx(log_none, rel=1e-9)
        assert z.p_max[i] == v[keep].max() and z.p_min[i] == v[keep].min()
        assert z.low[i] <= z.p_max[i]
    assert z.outside_area_m2[-2] == pytest.approx(ref[-2].outside_area_m2, rel=1e-9)
    assert z.outside_area_m2[-2] > 0


def test_banded_read_equals_classing_every_value(make_raster):
    # The banded overlay (class codes per tile) against the distinct float values, each
    # classed by the bands, on random probabilities with band edges, NaN and a nodata value.
    import pyproj
    import shapely
    from shapely.geometry import Point

    from estimator.overlay import BAND_INVALID, overlay_footprints
    from estimator.params import load_params

    params = load_params(defaults=default_data().parameters)
    table = [(p, params.classes[k].raster_value) for p, k in params.probability_bands]
    rng = np.random.default_rng(9)
    p = rng.choice([0.0, 0.003, 0.035, 0.23, 1.0, 0.5, 0.01], size=(200, 300)).astype("float32")
    # band edges exactly, and random values on top of some of them
    p += np.where(rng.uniform(size=p.shape) < 0.4, rng.uniform(0, 0.3, p.shape), 0).astype("f4")
    p = np.minimum(p, 1.0)
    p[rng.uniform(size=p.shape) < 0.05] = np.nan
    p[rng.uniform(size=p.shape) < 0.05] = -9.0  # the nodata value
    x0, y0 = 500_000.0, 5_300_000.0
    raster = make_raster(p, Affine(30, 0, x0, 0, -30, y0), crs="EPSG:32637", nodata=-9.0)
    to_lonlat = pyproj.Transformer.from_crs("EPSG:32637", "EPSG:4326", always_xy=True)
    polys = [
        shapely.transform(
            Point(x0 + rng.uniform(0, 9000), y0 - rng.uniform(0, 6000)).buffer(
                rng.uniform(50, 1500)
            ),
            lambda xy: np.column_stack(to_lonlat.transform(*xy.T)),
        )
        for _ in range(40)
    ]
    plain = overlay_footprints(raster, polys, workers=1)
    banded = overlay_footprints(raster, polys, workers=1, bands=table)
    for a, b in zip(plain, banded, strict=True):
        ref: dict[int, float] = {}
        ks = params.classify_probabilities(a.values).tolist()
        for k, area in zip(ks, a.area_m2.tolist(), strict=True):
            value = params.classes[k].raster_value
            ref[value] = ref.get(value, 0.0) + area
        got = dict(zip(b.values.tolist(), b.area_m2.tolist(), strict=True))
        assert set(got) <= set(ref) | {v for v, area in got.items() if area == 0}
        for value, area in ref.items():
            assert got.get(value, 0.0) == pytest.approx(area, rel=1e-9, abs=1e-6)
        assert b.unknown_area_m2 == pytest.approx(a.unknown_area_m2, rel=1e-9, abs=1e-6)
        assert BAND_INVALID not in b.values
    # a value above 1 comes out as the invalid code
    q = p.copy()
    q[100:110, 100:110] = 1.5
    bad = make_raster(q, Affine(30, 0, x0, 0, -30, y0), crs="EPSG:32637", nodata=-9.0, name="b.tif")
    centre = shapely.transform(
        Point(x0 + 105 * 30, y0 - 105 * 30).buffer(100),
        lambda xy: np.column_stack(to_lonlat.transform(*xy.T)),
    )
    (va,) = overlay_footprints(bad, [centre], workers=1, bands=table)
    assert BAND_INVALID in va.values
