"""The contamination proxy builder: hand-checked tiny builds, streaming, the CLI."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from typer.testing import CliRunner

from estimator import hazard
from estimator.cli import app
from estimator.errors import InputDataError, ParameterError

SOURCES = Path(__file__).resolve().parents[2] / "shared" / "geodata-sources"

HEADER = """
schema_version = 2
[grid]
crs = "EPSG:3035"
cell_size_m = 100.0
[classes]
none = 0.0
low = 0.01
medium = 0.3
high = 0.6
"""
X0, Y0 = 4_000_000.0, 3_000_000.0  # somewhere in EPSG:3035, metres


def _model(body: str) -> hazard.HazardModel:
    return hazard.parse_hazard_model(HEADER + body, source="test.toml")


def _grid(width: int = 10, height: int = 10, cell: float = 100.0) -> hazard.Grid:
    # Cell centres at X0 + 50, X0 + 150, ...; row 0 at the top (Y0 + height x cell).
    return hazard.Grid("EPSG:3035", cell, X0, Y0 + height * cell, width, height)


def _row_line(y: float) -> shapely.LineString:
    """A horizontal line far longer than the grid, so no line end is near a cell."""
    return shapely.LineString([(X0 - 50_000, Y0 + y), (X0 + 50_000, Y0 + y)])


def _p(intensity: float) -> np.float32:
    return np.float32(-math.expm1(-intensity))


def _build(model, inputs, grid, **kw):
    return hazard.build_hazard_arrays(hazard.prepare_hazard(model, inputs, grid, **kw))


# ---------------------------------------------------------------------------------------------
# Hand-checkable builds on tiny synthetic lines and points
# ---------------------------------------------------------------------------------------------


def test_contact_line_bands_hand_checked():
    # Line through the centres of row 4 (y = 550 m above the bottom of a 10 x 10 grid): cell
    # centres are 0, 100, 200, ... m from it. Bands: <= 150 m -> L 1.0, <= 350 m -> L 0.5.
    #   rows 3, 4, 5 (0 and 100 m): p = 1 - e^-1 = 0.632 -> high (>= 0.6)
    #   rows 1, 2, 6, 7 (200, 300 m): p = 1 - e^-0.5 = 0.393 -> medium (>= 0.3)
    #   rows 0, 8, 9 (400, 500 m): p = 0 -> none
    # The area of interest stops at x = X0 + 900: column 9 is nodata.
    model = _model("[contact_lines]\nband_edges_m = [150, 350]\nintensity = [1.0, 0.5]\n")
    inputs = hazard.HazardInputs(
        aoi=shapely.box(X0, Y0, X0 + 900, Y0 + 1000), contact_lines=[_row_line(550)]
    )
    p, classes = _build(model, inputs, _grid())
    row_p = [0, 0.5, 0.5, 1.0, 1.0, 1.0, 0.5, 0.5, 0, 0]
    row_c = [0, 2, 2, 3, 3, 3, 2, 2, 0, 0]
    for r in range(10):
        np.testing.assert_allclose(p[r, :9], _p(row_p[r]), rtol=1e-3)
        assert (classes[r, :9] == row_c[r]).all()
    assert np.isnan(p[:, 9]).all() and (classes[:, 9] == hazard.NODATA).all()
    assert p.dtype == np.float32 and classes.dtype == np.uint8


def test_front_that_stood_outweighs_front_that_moved():
    # Two snapshots 30 days apart. Kernel: L 1.0 per 30 days held within 150 m.
    # Stood: the same line twice; each stretch holds 15 days on each snapshot (half of the
    # interval each), so the ground near it collects 30 days: L = 1.0, p = 0.632.
    # Moved: the second line is 5 km away; each stretch held 30 x 100 / 5000 = 0.6 days, so
    # L = 1.0 x 0.6 / 30 = 0.02, p = 0.0198, near each of the two lines.
    model = _model(
        "[front_lines]\nhold_radius_m = 100.0\nband_edges_m = [150]\n"
        "intensity_per_30_days = [1.0]\n"
    )
    d0, d1 = dt.date(2023, 1, 1), dt.date(2023, 1, 31)
    grid = _grid(10, 60)  # 6 km tall: row r has its centre at y = 5950 - 100 r
    stood = hazard.HazardInputs(front_lines=[(d0, _row_line(550)), (d1, _row_line(550))])
    moved = hazard.HazardInputs(front_lines=[(d0, _row_line(550)), (d1, _row_line(5550))])
    p_stood, c_stood = _build(model, stood, grid)
    p_moved, c_moved = _build(model, moved, grid)
    near_first, near_second, far = 54, 4, 30  # rows at y = 550, 5550 and 2950
    np.testing.assert_allclose(p_stood[near_first], _p(1.0), rtol=1e-3)
    np.testing.assert_allclose(p_moved[near_first], _p(0.02), rtol=1e-3)
    np.testing.assert_allclose(p_moved[near_second], _p(0.02), rtol=1e-3)
    assert (p_stood[far] == 0).all() and (p_moved[far] == 0).all()
    assert (c_stood[near_first] == 3).all() and (c_moved[near_first] == 1).all()


def test_hold_days_with_start_date_and_previous_line():
    rule = hazard.FrontLineRule(
        hazard.BandKernel((100.0,), (1.0,)), hold_radius_m=500.0, start_date=dt.date(2022, 2, 24)
    )
    line = shapely.LineString([(0, 0), (2000, 0)])
    snaps = [(dt.date(2022, 4, 3), line)]  # 38 days after the start date, last snapshot
    # No previous line: assumed to have held (half the interval); none after the last date.
    [(pts, held)] = hazard.front_hold_days(snaps, rule)
    assert len(pts) == 4 and held.tolist() == [19.0] * 4
    # A previous line 10 km away: the front arrived fast, 38 x 500 / 10000 = 1.9 days.
    far = shapely.LineString([(0, 10_000), (2000, 10_000)])
    [(_, held)] = hazard.front_hold_days(snaps, rule, previous=far)
    np.testing.assert_allclose(held, 1.9)


def test_zones_take_the_highest_not_the_sum():
    # Occupied (0.005) over the whole grid; liberated (0.1) on the left half: L = 0.1 there.
    model = _model("[zones]\noccupied = 0.005\nliberated = 0.1\n")
    inputs = hazard.HazardInputs(
        zones=[
            ("occupied", dt.date(2022, 4, 3), shapely.box(X0, Y0, X0 + 1000, Y0 + 1000)),
            ("liberated", dt.date(2022, 11, 15), shapely.box(X0, Y0, X0 + 500, Y0 + 1000)),
        ]
    )
    p, _ = _build(model, inputs, _grid())
    np.testing.assert_allclose(p[:, :5], _p(0.1), rtol=1e-3)
    np.testing.assert_allclose(p[:, 5:], _p(0.005), rtol=1e-3)
    # as_of before the liberation: only the occupation counts.
    p_early, _ = _build(model, inputs, _grid(), as_of=dt.date(2022, 6, 1))
    np.testing.assert_allclose(p_early, _p(0.005), rtol=1e-3)


def _events(xy, days, types, subtypes=None):
    xy = np.asarray(xy, dtype=float)
    n = len(xy)
    return hazard.EventTable(
        x=xy[:, 0],
        y=xy[:, 1],
        day=np.array(days, dtype="datetime64[D]"),
        type=np.array(types, dtype=object),
        subtype=np.array(subtypes or [""] * n, dtype=object),
    )


def test_event_kernel_hand_checked():
    # Lattice = cell size, so lattice nodes sit on cell centres and sampling is exact there.
    # One strike on the centre of cell (5, 5), sigma 200 m, weight 0.1; a cluster-munition
    # strike (x 3) on cell (2, 2). Cell (5, 7) is 200 m = 1 sigma from the first: 0.1 e^-0.5.
    model = _model(
        "[events]\nlattice_m = 100.0\n[events.civilian_harm]\nsigma_m = 200.0\nweight = 0.1\n"
        'subtype_weight = { "Cluster munitions" = 3.0 }\n'
    )
    centre = lambda r, c: (X0 + 50 + 100 * c, Y0 + 950 - 100 * r)  # noqa: E731
    ev = _events([centre(5, 5), centre(2, 2)], ["2022-05-01"] * 2, ["civilian_harm"] * 2,
                 ["Unknown", "cluster munitions"])  # fmt: skip
    p, _ = _build(model, hazard.HazardInputs(events=ev), _grid())
    # Cells (5, 5) and (2, 2) are 424 m apart: each sees the other's kernel too.
    cross = math.exp(-0.5 * (300**2 + 300**2) / 200**2)
    np.testing.assert_allclose(p[5, 5], _p(0.1 + 0.3 * cross), rtol=1e-3)
    np.testing.assert_allclose(p[2, 2], _p(0.3 + 0.1 * cross), rtol=1e-3)
    d57 = math.exp(-0.5) * 0.1 + 0.3 * math.exp(-0.5 * (300**2 + 500**2) / 200**2)
    np.testing.assert_allclose(p[5, 7], _p(d57), rtol=1e-3)


def test_fires_count_only_in_excess_of_the_baseline():
    # Baseline 10 days, period 20 days (x 2). Cell A: 2 baseline fires, 4 war fires ->
    # 4 - 2 x 2 = 0. Cell B: 3 war fires, no baseline -> 3. Weight 0.1, sigma 100 m: far apart
    # cells (A and B are 700 m apart, 7 sigma) do not see each other.
    model = _model(
        "[events]\nlattice_m = 100.0\n[events.fire]\nsigma_m = 100.0\nweight = 0.1\n"
        "baseline = [2021-01-01, 2021-01-10]\nperiod = [2022-01-01, 2022-01-20]\n"
    )
    a, b = (X0 + 150, Y0 + 850), (X0 + 850, Y0 + 850)
    ev = _events(
        [a, a, a, a, a, a, b, b, b, b],
        ["2021-01-02", "2021-01-09", *["2022-01-05"] * 4, *["2022-01-15"] * 3, "2023-06-01"],
        ["fire"] * 10,
    )
    p, _ = _build(model, hazard.HazardInputs(events=ev), _grid())
    assert p[1, 1] == 0.0
    np.testing.assert_allclose(p[1, 8], _p(0.3), rtol=1e-3)  # the 2023 fire is outside period


def test_classes_use_parameter_file_values():
    model = _model("[contact_lines]\nband_edges_m = [150]\nintensity = [1.0]\n")
    values = model.class_raster_values({"none": 10, "low": 11, "medium": 12, "high": 13}, "p")
    _, classes = _build(model, hazard.HazardInputs(contact_lines=[_row_line(550)]), _grid(),
                        class_values=values)  # fmt: skip
    assert set(np.unique(classes).tolist()) == {10, 13}
    with pytest.raises(ParameterError, match=r"\[classes\] 'high' is not a class of the param"):
        model.class_raster_values({"none": 0, "low": 1, "medium": 2}, "p.toml")


# ---------------------------------------------------------------------------------------------
# Streaming: the block-by-block build written to disk equals the in-memory build
# ---------------------------------------------------------------------------------------------


def _rich_case():
    model = _model(
        """
        [front_lines]
        start_date = 2022-02-24
        hold_radius_m = 800.0
        band_edges_m = [300, 900, 2500]
        intensity_per_30_days = [0.5, 0.2, 0.02]
        [contact_lines]
        band_edges_m = [400, 1500]
        intensity = [1.0, 0.1]
        [trench_lines]
        band_edges_m = [260, 900]
        intensity = [1.5, 0.2]
        [zones]
        occupied = 0.005
        liberated = 0.1
        [events]
        lattice_m = 250.0
        [events.fire]
        sigma_m = 900.0
        weight = 0.01
        baseline = [2021-01-01, 2021-12-31]
        period = [2022-02-24, 2023-12-31]
        [events.armed_violence]
        sigma_m = 1200.0
        weight = 0.05
        """
    )
    rng = np.random.default_rng(7)

    def wavy(k: float, dy: float) -> shapely.LineString:
        xs = np.arange(-500, 32_000, 700.0)
        return shapely.LineString(np.c_[X0 + xs, Y0 + 9000 + dy + 2500 * np.sin(xs / 3000 + k)])

    dates = [dt.date(2022, 4, 3), dt.date(2022, 11, 15), dt.date(2023, 6, 2)]
    n = 300
    xy = np.c_[X0 + rng.uniform(0, 12_000, n), Y0 + rng.uniform(10_000, 18_000, n)]
    days = rng.choice(np.array(["2021-03-01", "2022-07-01", "2023-02-01"], "datetime64[D]"), n)
    types = rng.choice(np.array(["fire", "armed_violence"], dtype=object), n)
    inputs = hazard.HazardInputs(
        aoi=shapely.Point(X0 + 15_000, Y0 + 9000).buffer(14_000),
        front_lines=[(d, wavy(k, 600 * i)) for i, (d, k) in enumerate(zip(dates, (0, 0.1, 0.5), strict=True))],
        contact_lines=[wavy(1.5, -4000)],
        trench_lines=[shapely.MultiLineString([[(X0 + 3000, Y0 + 3000), (X0 + 12_000, Y0 + 6100)],
                                               [(X0 + 20_000, Y0 + 2000), (X0 + 21_000, Y0 + 15_000)]])],
        zones=[
            ("occupied", dates[0], shapely.box(X0, Y0, X0 + 30_000, Y0 + 8000)),
            ("liberated", dates[1], shapely.Point(X0 + 25_000, Y0 + 14_000).buffer(3300)),
        ],
        events=hazard.EventTable(xy[:, 0], xy[:, 1], days, types, np.full(n, "", dtype=object)),
    )  # fmt: skip
    grid = hazard.Grid("EPSG:3035", 100.0, X0, Y0 + 18_000, 301, 177)
    return model, inputs, grid


def test_streamed_build_equals_in_memory_build(tmp_path):
    model, inputs, grid = _rich_case()
    prepared = hazard.prepare_hazard(model, inputs, grid)
    p_mem, c_mem = hazard.build_hazard_arrays(prepared, block_size=10_000)
    assert set(np.unique(c_mem).tolist()) == {0, 1, 2, 3, 255}
    for block in (64, 37):
        p_b, c_b = hazard.build_hazard_arrays(prepared, block_size=block)
        np.testing.assert_array_equal(c_b, c_mem)
        np.testing.assert_array_equal(p_b, p_mem)
    region = ("all", shapely.box(*grid.bounds))
    summary = hazard.write_hazard_rasters(
        prepared, tmp_path / "c.tif", tmp_path / "p.tif", regions=[region], block_size=256
    )
    with rasterio.open(tmp_path / "c.tif") as c, rasterio.open(tmp_path / "p.tif") as p:
        np.testing.assert_array_equal(c.read(1), c_mem)
        np.testing.assert_array_equal(p.read(1), p_mem)
        assert c.nodata == 255 and math.isnan(p.nodata) and p.dtypes[0] == "float32"
        assert c.profile["tiled"] and c.overviews(1) and p.overviews(1)
        assert c.tags()["HAZARD_MODEL_SHA256"] == model.sha256
    # Class areas: every data cell counted once, 1 ha each; expected area = sum of p x 1 ha.
    areas = summary.class_area_km2["all"]
    inside = c_mem != 255
    assert sum(areas.values()) == pytest.approx(inside.sum() * 0.01, rel=1e-9)
    for k, name in enumerate(("none", "low", "medium", "high")):
        assert areas[name] == pytest.approx((c_mem == k).sum() * 0.01, abs=0.005)
    assert summary.expected_area_km2["all"] == pytest.approx(
        np.nansum(p_mem.astype(float)) * 0.01, rel=1e-6, abs=0.005
    )
    md = hazard.summary_markdown(summary)
    assert "| high (≥ 0.6) |" in md and "expected contaminated" in md


# ---------------------------------------------------------------------------------------------
# Model validation and input checks
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[contact_lines]\nband_edge_m = [1]\n", r"unknown key 'band_edge_m': did you mean 'band_edges_m'"),
        ("[contact_line]\n", r"unknown key 'contact_line': did you mean 'contact_lines'"),
        ("[contact_lines]\nband_edges_m = [100, 50]\nintensity = [1, 1]\n", "must increase strictly"),
        ("[contact_lines]\nband_edges_m = [100, 200]\nintensity = [0.1, 1]\n", "must not increase with distance"),
        ("[contact_lines]\nband_edges_m = [100, 200]\nintensity = [1]\n", "must be a list of 2 numbers"),
        ("[trench_lines]\nband_edges_m = [1e9]\nintensity = [1]\n", "must be <= 100000 m"),
        ("[zones]\noccupied = -1\n", r"\[zones\] occupied = -1.0: must be >= 0"),
        ("[zones]\noccupid = 0.1\n", "did you mean 'occupied'"),
        ("[events.fire]\nsigma_m = 1\nweight = 1\nbaseline = [2021-01-01, 2021-02-01]\n", "baseline and period go together"),
        ("[events.fire]\nsigma_m = 1\nweight = 1\nbaseline = [2021-01-01, 2021-02-01]\nperiod = [2021-01-15, 2021-03-01]\n", "must start after the baseline"),
        ("[front_lines]\nband_edges_m = [1]\nintensity_per_30_days = [1]\n", "missing key 'hold_radius_m'"),
        ("[zones]\noccupied = 0.1\n[classes2]\n", "unknown key 'classes2'"),
    ],
)  # fmt: skip
def test_invalid_models_rejected(body, message):
    with pytest.raises(ParameterError, match=message):
        _model(body)


def test_bad_classes_grid_and_version(tmp_path):
    good = "[zones]\noccupied = 0.1\n"
    with pytest.raises(ParameterError, match="no class starts at 0.0"):
        hazard.parse_hazard_model(HEADER.replace("none = 0.0", "none = 0.001") + good, source="x")
    with pytest.raises(ParameterError, match="must be a projected CRS in metres"):
        hazard.parse_hazard_model(HEADER.replace("EPSG:3035", "EPSG:4326") + good, source="x")
    with pytest.raises(ParameterError, match="schema_version = 1: must be 2"):
        hazard.parse_hazard_model(HEADER.replace("= 2", "= 1", 1) + good, source="x")
    with pytest.raises(ParameterError, match="invalid TOML"):
        hazard.parse_hazard_model(HEADER + "[zones\n", source="x")
    with pytest.raises(ParameterError, match="missing.toml: cannot read"):
        hazard.load_hazard_model(tmp_path / "missing.toml")


def test_inputs_without_a_model_term_are_errors():
    model = _model("[zones]\noccupied = 0.1\n")
    with pytest.raises(ParameterError, match=r"trench lines given but the model has no \[trench_l"):
        hazard.prepare_hazard(model, hazard.HazardInputs(trench_lines=[_row_line(5)]), _grid())
    ev = _events([(X0, Y0)], ["2022-01-01"], ["shelling"])
    with pytest.raises(ParameterError, match=r"events of type 'shelling' \(1\) have no \[events"):
        hazard.prepare_hazard(model, hazard.HazardInputs(events=ev), _grid())
    zone = [("contested", None, shapely.box(X0, Y0, X0 + 10, Y0 + 10))]
    with pytest.raises(ParameterError, match=r"\[zones\] has no 'contested' key"):
        hazard.prepare_hazard(model, hazard.HazardInputs(zones=zone), _grid())


def test_read_events_and_control_errors(tmp_path):
    bad = tmp_path / "ev.csv"
    bad.write_text("date,latitude,longitude,type\n2022-01-01,48.0,abc,fire\n", encoding="utf-8")
    with pytest.raises(InputDataError, match=r"row 2: coordinates 'abc', '48.0'|row 2: coord"):
        hazard.read_events(bad, crs="EPSG:3035")
    nodate = tmp_path / "ev2.csv"
    nodate.write_text("when,latitude,longitude,type\n2022-01-01,48.0,37.0,fire\n", encoding="utf-8")
    with pytest.raises(InputDataError, match="no field 'date'; fields: when, latitude"):
        hazard.read_events(nodate, crs="EPSG:3035")
    zones = tmp_path / "z.geojson"
    gpd.GeoDataFrame({"class": ["occupied", "annexed"], "date": ["2022-01-01"] * 2},
                     geometry=[shapely.box(37, 48, 37.1, 48.1)] * 2, crs=4326).to_file(zones)  # fmt: skip
    with pytest.raises(InputDataError, match="value 'annexed' is not a control class"):
        hazard.read_control_zones(zones, crs="EPSG:3035")


def test_read_control_zones_categories(tmp_path):
    zones = tmp_path / "z.gpkg"
    gpd.GeoDataFrame(
        {"class": ["Russian_Controlled", "occupied", "contested_or_unknown", "liberated"],
         "date": ["2019-06-01", "2022-06-01", "2022-06-01", "2022-11-15"]},
        geometry=[shapely.box(37, 48, 37.1, 48.1)] * 4, crs=4326,
    ).to_file(zones)  # fmt: skip
    got = [c for c, _, _ in hazard.read_control_zones(zones, crs="EPSG:3035")]
    assert got == ["occupied_since_2014", "occupied", "contested", "liberated"]


# ---------------------------------------------------------------------------------------------
# CLI: demine hazard build -> demine report consumes the raster
# ---------------------------------------------------------------------------------------------

CLI_MODEL = (
    HEADER
    + """
[front_lines]
start_date = 2022-02-24
hold_radius_m = 1000.0
band_edges_m = [500, 2000, 5000]
intensity_per_30_days = [0.6, 0.2, 0.02]
[zones]
occupied = 0.005
[events]
lattice_m = 250.0
[events.fire]
sigma_m = 1500.0
weight = 0.01
"""
)


def _cli_files(tmp_path: Path) -> dict[str, Path]:
    # A 0.2 x 0.2 degree square near Pokrovsk, a front line crossing it at two dates.
    lon0, lat0 = 37.0, 48.2
    region = tmp_path / "region.geojson"
    gpd.GeoDataFrame({"name": ["square"]}, geometry=[shapely.box(lon0, lat0, lon0 + 0.2, lat0 + 0.2)],
                     crs=4326).to_file(region)  # fmt: skip
    fronts = tmp_path / "fronts.geojson"
    line = shapely.LineString([(lon0 + 0.1, lat0 - 0.1), (lon0 + 0.1, lat0 + 0.3)])
    gpd.GeoDataFrame({"date": ["2023-01-01", "2023-06-01"]}, geometry=[line, line],
                     crs=4326).to_file(fronts)  # fmt: skip
    control = tmp_path / "control.geojson"
    gpd.GeoDataFrame({"class": ["russian_controlled"], "date": ["2023-06-01"]},
                     geometry=[shapely.box(lon0 + 0.1, lat0 - 0.1, lon0 + 0.3, lat0 + 0.3)],
                     crs=4326).to_file(control)  # fmt: skip
    events = tmp_path / "events.csv"
    events.write_text(
        "date,latitude,longitude,type\n2023-03-01,48.25,37.05,fire\n2023-03-02,48.26,37.05,fire\n",
        encoding="utf-8",
    )
    deposits = tmp_path / "deposits.geojson"
    gpd.GeoDataFrame({"name": ["test deposit"]}, geometry=[shapely.box(37.08, 48.28, 37.12, 48.31)],
                     crs=4326).to_file(deposits)  # fmt: skip
    model = tmp_path / "model.toml"
    model.write_text(CLI_MODEL, encoding="utf-8")
    return {"region": region, "fronts": fronts, "control": control, "events": events,
            "deposits": deposits, "model": model}  # fmt: skip


def test_cli_build_then_report(tmp_path):
    f = _cli_files(tmp_path)
    out = tmp_path / "proxy.tif"
    runner = CliRunner()
    args = ["hazard", "build", "-o", str(out), "--front-lines", str(f["fronts"]), "--control",
            str(f["control"]), "--events", str(f["events"]), "--region-file", str(f["region"]),
            "--hazard-model", str(f["model"]), "--resolution", "200", "--crs", "EPSG:32637",
            "--map", str(tmp_path / "map.png"), "--deposits", str(f["deposits"]), "-q"]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "| square km² |" in res.output
    summary = json.loads((tmp_path / "proxy_summary.json").read_text(encoding="utf-8"))
    total = sum(summary["class_area_km2"]["square"].values())
    area_km2 = 0.2 * 0.2 * 111.2 * 111.2 * math.cos(math.radians(48.3))  # ~331 km2
    assert total == pytest.approx(area_km2, rel=0.02)
    assert summary["class_area_km2"]["square"]["high"] > 0
    assert (tmp_path / "proxy_summary.md").is_file()
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with rasterio.open(out) as ds, rasterio.open(tmp_path / "proxy_probability.tif") as pr:
        assert ds.crs.to_epsg() == 32637 and ds.res == (200.0, 200.0)
        assert pr.dtypes[0] == "float32"
    report = runner.invoke(
        app,
        ["report", "--contamination", str(out), "--deposits", str(f["deposits"]), "--regions",
         str(f["region"]), "--no-control", "--draws", "1", "--format", "json"],
    )  # fmt: skip
    assert report.exit_code == 0, report.output
    dep = json.loads(report.stdout)["deposits"][0]
    assert dep["status"] == "assessed"
    assert sum(dep["hazard_area_m2"].values()) == pytest.approx(dep["footprint_area_m2"], rel=1e-6)
    assert dep["hazard_area_m2"]["high"] > 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "give --region-file"),
        (["--extent", "1,2,3"], "LEFT,BOTTOM,RIGHT,TOP"),
        (["--extent", "0,0,1000,1000", "--crs", "EPSG:4326"], "--crs = 'EPSG:4326': must be a projected"),
        (["--extent", "0,0,1000,1000", "--resolution", "-5"], "--resolution: -5.0: must be > 0"),
    ],
)  # fmt: skip
def test_cli_bad_options_exit_2(tmp_path, extra, message):
    f = _cli_files(tmp_path)
    res = CliRunner().invoke(
        app,
        ["hazard", "build", "-o", str(tmp_path / "x.tif"), "--front-lines", str(f["fronts"]),
         "--hazard-model", str(f["model"]), *extra],
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert not (tmp_path / "x.tif").exists()


def test_cli_unknown_event_type_exit_2(tmp_path):
    f = _cli_files(tmp_path)
    ev = tmp_path / "ev.csv"
    ev.write_text("date,latitude,longitude,type\n2023-03-01,48.25,37.05,shelling\n", "utf-8")
    res = CliRunner().invoke(
        app,
        ["hazard", "build", "-o", str(tmp_path / "x.tif"), "--events", str(ev), "--region-file",
         str(f["region"]), "--hazard-model", str(f["model"]), "--resolution", "500"],
    )  # fmt: skip
    assert (
        res.exit_code == 2 and "events of type 'shelling' (1) have no [events.TYPE]" in res.output
    )


def test_cli_on_staged_public_data(tmp_path):
    """Lines and events nobody on the team made (DeepState, FIRMS, UCDP, Bellingcat)."""
    if not SOURCES.is_dir():
        pytest.skip(f"{SOURCES} not found: raw geodata sources not available")
    region = tmp_path / "pokrovsk.geojson"
    gpd.GeoDataFrame({"name": ["Pokrovsk area"]}, geometry=[shapely.box(36.9, 48.1, 37.5, 48.5)],
                     crs=4326).to_file(region)  # fmt: skip
    out = tmp_path / "staged.tif"
    res = CliRunner().invoke(
        app,
        ["hazard", "build", "-o", str(out), "--region-file", str(region), "--resolution", "500",
         "--front-lines", str(SOURCES / "deepstate_frontline_lines_aoi.geojson"),
         "--contact-lines", str(SOURCES / "contact_line_2015_2022_aoi.geojson"),
         "--control", str(SOURCES / "deepstate_control_timeseries_aoi.geojson"),
         "--events", str(SOURCES / "conflict_events_points_aoi.csv"), "-q"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    with rasterio.open(out) as ds:
        values = set(np.unique(ds.read(1)).tolist())
    assert {1, 2, 3} <= values <= {0, 1, 2, 3, 255}
    # demine report consumes it: a deposit west of Pokrovsk, fully inside the grid.
    deposit = tmp_path / "deposit.geojson"
    gpd.GeoDataFrame({"name": ["d"]}, geometry=[shapely.box(37.0, 48.2, 37.05, 48.23)],
                     crs=4326).to_file(deposit)  # fmt: skip
    report = CliRunner().invoke(
        app,
        ["report", "--contamination", str(out), "--deposits", str(deposit), "--regions",
         str(region), "--no-control", "--draws", "1", "--format", "json"],
    )  # fmt: skip
    assert report.exit_code == 0, report.output
    dep = json.loads(report.stdout)["deposits"][0]
    assert dep["status"] == "assessed" and dep["unknown_area_m2"] == 0
