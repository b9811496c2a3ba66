"""Outputs people use: task polygons, GeoPackage with QGIS styles, Markdown and HTML reports."""

from __future__ import annotations

import csv
import dataclasses
import json
import sqlite3
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from affine import Affine
from shapely.geometry import Polygon
from typer.testing import CliRunner

from estimator import report as rep
from estimator.cli import app
from estimator.errors import InputDataError
from estimator.gpkg import LAYER_STYLES_COLUMNS, build_layers, write_report_gpkg
from estimator.html import report_html
from estimator.pipeline import Inputs, estimate
from estimator.symbology import class_colours, cost_breaks
from estimator.taskpolygons import UNKNOWN_CLASS, build_task_polygons, to_hazard_geojson

# A 60 x 60 grid near 37 E 48 N in three CRSs: equal-area (cells of exactly 1 ha), geographic
# and UTM (areas from the projection's scale factor).
GRIDS = {
    "EPSG:3035": Affine(100, 0, 6_200_000, 0, -100, 2_950_000),
    "EPSG:4326": Affine(0.0013, 0, 37.0, 0, -0.0009, 48.1),
    "EPSG:32637": Affine(100, 0, 351_000, 0, -100, 5_330_000),
}
N = 60


def _classes() -> np.ndarray:
    rows, cols = np.mgrid[0:N, 0:N]
    arr = (((rows + 2 * cols) // 9) % 4).astype("uint8")
    arr[40:48, 8:30] = 255  # a nodata block
    return arr


def _pixel_poly(t: Affine, coords) -> Polygon:
    """A polygon given in (col, row) pixel coordinates, in the grid's CRS."""
    return Polygon([t * (c, r) for c, r in coords])


def build_scene(make_raster, make_vector, crs: str = "EPSG:3035") -> Inputs:
    t = GRIDS[crs]
    raster = make_raster(_classes(), t, crs=crs, nodata=255, name="hazard.tif")
    deposits = [
        _pixel_poly(t, [(5.5, 5.5), (20.3, 5.5), (20.3, 25.7), (5.5, 25.7)]),  # cuts half cells
        _pixel_poly(t, [(12.2, 35.4), (33.6, 38.1), (18.9, 52.3)]),  # over the nodata block
        _pixel_poly(t, [(50.5, 10.5), (70.0, 10.5), (70.0, 20.5), (50.5, 20.5)]),  # off the edge
        _pixel_poly(t, [(30, 30), (31, 30), (31, 31), (30, 31)]),  # one cell
    ]
    deposits_path = make_vector(
        deposits,
        crs=crs,
        filename="deposits.gpkg",
        name=["Alpha", "Beta", "Gamma", "Delta|pipe"],
        commodity=["Li", "REE", "Fe", "C"],
    )
    whole = _pixel_poly(t, [(-20, -20), (80, -20), (80, 80), (-20, 80)])
    regions = make_vector(
        [
            _pixel_poly(t, [(-20, -20), (30, -20), (30, 80), (-20, 80)]),
            _pixel_poly(t, [(30, -20), (80, -20), (80, 80), (30, 80)]),
        ],
        crs=crs,
        filename="regions.gpkg",
        name=["West", "East"],
    )
    control = make_vector(
        [shapely.intersection(whole, _pixel_poly(t, [(40, -20), (80, -20), (80, 80), (40, 80)]))],
        crs=crs,
        filename="control.gpkg",
        date=["2026-08-22"],
        **{"class": ["russian_controlled"]},
    )
    return Inputs(
        deposits=deposits_path,
        contamination=raster,
        regions=regions,
        control=control,
        buffer_m=0,
    )


@pytest.fixture
def scene(make_raster, make_vector):
    return build_scene(make_raster, make_vector)


@pytest.fixture
def result(scene):
    return estimate(scene, n_draws=30)


def scene_report_and_gpkg(tmp_path, make_raster, make_vector):
    """Build the scene, run it and write its GeoPackage (used by the QGIS check too)."""
    r = estimate(build_scene(make_raster, make_vector), n_draws=30)
    target = tmp_path / "demine.gpkg"
    write_report_gpkg(r, build_task_polygons(r), target)
    return target


# --------------------------------------------------------------------------------------------
# Task polygons


@pytest.mark.parametrize("crs", list(GRIDS))
def test_task_polygon_areas_match_the_overlay(make_raster, make_vector, crs):
    r = estimate(build_scene(make_raster, make_vector, crs), n_draws=1)
    tasks = build_task_polygons(r)
    checked = 0
    for i, d in enumerate(r.deposits):
        expected = {**d.hazard_area_m2, UNKNOWN_CLASS: d.unknown_area_m2}
        got = {c: 0.0 for c in expected}
        for t in tasks:
            if t.deposit_index == i:
                got[t.hazard_class] += t.area_m2
        for c, area in expected.items():
            assert got[c] == pytest.approx(area, rel=0.005, abs=1.0), (d.name, c)
            checked += area > 0
        # The parts of one footprint tile it: they add up to its area.
        assert sum(got.values()) == pytest.approx(d.footprint_area_m2, rel=0.005)
    assert checked >= 10
    names = {t.hazard_class for t in tasks}
    assert UNKNOWN_CLASS in names and {"low", "medium", "high"} <= names


@pytest.mark.parametrize("with_raster", [True, False])
def test_task_polygons_follow_hazardous_area_polygons(make_raster, make_vector, with_raster):
    """SHA/CHA polygons take precedence; the raster (or 'unknown') fills the rest."""
    scene = build_scene(make_raster, make_vector)
    t = GRIDS["EPSG:3035"]
    areas = make_vector(
        [
            _pixel_poly(t, [(2, 2), (12.5, 2), (12.5, 12.5), (2, 12.5)]),
            _pixel_poly(t, [(10.2, 10.2), (16.7, 10.2), (16.7, 30), (10.2, 30)]),
        ],
        crs="EPSG:3035",
        filename="sha_cha.gpkg",
        **{"class": ["CHA", "SHA"]},
    )
    inputs = dataclasses.replace(
        scene,
        hazard_areas=areas,
        contamination=scene.contamination if with_raster else None,
    )
    r = estimate(inputs, n_draws=1)
    tasks = build_task_polygons(r)
    for i, d in enumerate(r.deposits):
        expected = {**d.hazard_area_m2, UNKNOWN_CLASS: d.unknown_area_m2}
        got = dict.fromkeys(expected, 0.0)
        for task in tasks:
            if task.deposit_index == i:
                got[task.hazard_class] += task.area_m2
        for c, area in expected.items():
            assert got[c] == pytest.approx(area, rel=0.005, abs=1.0), (d.name, c)
    alpha = {task.hazard_class: task for task in tasks if task.deposit_index == 0}
    # CHA covers 7 x 7 cells of Alpha; SHA the part of its strip outside CHA.
    assert alpha["high"].area_m2 >= 7 * 7 * 1e4 * 0.999
    if not with_raster:
        assert set(alpha) == {"high", "medium", UNKNOWN_CLASS}


def test_task_polygons_are_exact_on_an_equal_area_grid(result):
    tasks = build_task_polygons(result)
    alpha = [t for t in tasks if t.deposit_index == 0]
    # Alpha covers 14.8 x 20.2 cells of exactly one hectare each.
    assert sum(t.area_m2 for t in alpha) == pytest.approx(14.8 * 20.2 * 1e4, rel=1e-6)
    for t in alpha:
        assert t.area_m2 == pytest.approx(result.deposits[0].hazard_area_m2[t.hazard_class], 1e-6)
    delta = [t for t in tasks if t.deposit_index == 3]
    # One cell. PROJ's LAEA round trip is good to ~0.4 mm, which is 1e-5 of a hectare's area.
    assert len(delta) == 1 and delta[0].area_m2 == pytest.approx(1e4, rel=1e-4)
    assert delta[0].area_m2 == pytest.approx(result.deposits[3].hazard_area_m2["medium"], 1e-4)


def test_unknown_ground_is_assessed_as_the_unknown_class(result):
    tasks = build_task_polygons(result)
    gamma_unknown = [t for t in tasks if t.deposit_index == 2 and t.hazard_class == UNKNOWN_CLASS]
    assert len(gamma_unknown) == 1
    t = gamma_unknown[0]
    assert t.assessed_as == result.params.general.unknown_area_class
    assert t.area_m2 == pytest.approx(result.deposits[2].unknown_area_m2, rel=1e-6)
    props = rep_task = to_hazard_geojson(result, [t])["features"][0]["properties"]
    assert rep_task["release_stage"].startswith("no data, assessed as medium: NTS then TS")
    assert props["raster_value"] is None and props["class_label"] == "No contamination data"


def test_release_stage_follows_the_class_shares(result):
    tasks = build_task_polygons(result)
    feats = to_hazard_geojson(result, tasks)["features"]
    by_class = {f["properties"]["class"]: f["properties"] for f in feats}
    assert by_class["none"]["release_stage"] == "NTS only (expected cancelled)"
    assert by_class["none"]["clearance_area_m2_mode"] == 0
    high = by_class["high"]
    assert high["release_stage"].startswith("NTS then TS; clearance of the confirmed part")
    c, r = high["nts_cancel_share_mode"], high["ts_reduce_share_mode"]
    assert high["clearance_area_m2_mode"] == pytest.approx(high["area_m2"] * (1 - c) * (1 - r))
    assert "manual" in high["clearance_mix"]


def test_hazard_geojson_is_rfc7946(result):
    doc = to_hazard_geojson(result, build_task_polygons(result))
    json.dumps(doc, allow_nan=False)
    assert doc["type"] == "FeatureCollection" and doc["demine"]["version"]
    for f in doc["features"]:
        geom = shapely.geometry.shape(f["geometry"])
        assert geom.is_valid and geom.geom_type == "MultiPolygon"
        for poly in geom.geoms:
            assert poly.exterior.is_ccw
            assert all(not ring.is_ccw for ring in poly.interiors)
        x0, y0, x1, y1 = geom.bounds
        assert 34 < x0 < x1 < 39 and 46 < y0 < y1 < 49  # lon/lat, not metres


def test_unmapped_raster_value_is_an_error(make_raster, scene, result):
    arr = _classes()
    arr[10, 10] = 7
    bad = make_raster(arr, GRIDS["EPSG:3035"], name="bad.tif")
    with pytest.raises(InputDataError, match="raster value 7 .*Alpha.*has no class"):
        build_task_polygons(result, raster_path=bad)


# --------------------------------------------------------------------------------------------
# GeoPackage and QGIS styles


def test_gpkg_layers_fields_and_styles_read_back(tmp_path, result):
    tasks = build_task_polygons(result)
    target = tmp_path / "out.gpkg"
    write_report_gpkg(result, tasks, target)
    assert not list(tmp_path.glob(".*"))  # no temporary files left
    layers = {name: gtype for name, gtype in pyogrio.list_layers(target)}
    assert layers == {
        "deposits": "MultiPolygon",
        "regions": "MultiPolygon",
        "hazard_in_footprints": "MultiPolygon",
        "layer_styles": None,
    }
    expected = build_layers(result, tasks)
    dep_info = pyogrio.read_info(target, layer="deposits")
    assert list(dep_info["fields"]) == list(rep.deposit_properties(result, result.deposits[0]))
    assert dep_info["features"] == len(result.deposits) and dep_info["crs"] == "EPSG:4326"
    assert dep_info["geometry_name"] == "geom"
    # dates are dates (DATETIME at midnight) for QGIS's date filters, not text
    dtypes = dict(zip(dep_info["fields"], dep_info["dtypes"], strict=True))
    assert dtypes["extraction_ready_date_p50"].startswith("datetime64")
    deposits = pyogrio.read_dataframe(target, layer="deposits")
    ready = [d.ready_day for d in result.deposits]
    assert [
        None if pd.isna(x) else x.date().isoformat() for x in deposits["extraction_ready_date_p50"]
    ] == [None if q is None else rep._date_q(result, q)["p50"] for q in ready]
    assert list(deposits["name"]) == [d.name for d in result.deposits]
    assert deposits["cost_usd_p50"].tolist() == pytest.approx(
        [d.figures["cost_usd"]["p50"] for d in result.deposits], abs=0.01
    )
    regions = pyogrio.read_dataframe(target, layer="regions")
    assert list(regions.columns[:-1]) == list(expected["regions"].columns[:-1])
    assert set(regions["name"]) == {"West", "East"}
    hazard = pyogrio.read_dataframe(target, layer="hazard_in_footprints")
    assert len(hazard) == len(tasks)
    assert {"deposit_id", "class", "area_m2", "release_stage", "clearance_area_m2_mode"} <= set(
        hazard.columns
    )
    assert hazard["area_m2"].sum() == pytest.approx(sum(t.area_m2 for t in tasks), rel=1e-6)
    meta = pyogrio.read_info(target, layer="deposits")
    assert meta["geometry_type"] == "MultiPolygon"

    styles = pyogrio.read_dataframe(target, layer="layer_styles")
    assert list(styles.columns) == list(LAYER_STYLES_COLUMNS)
    assert pyogrio.read_info(target, layer="layer_styles")["fid_column"] == "id"
    assert sorted(styles["f_table_name"]) == ["deposits", "hazard_in_footprints", "regions"]
    assert styles["useAsDefault"].all() and (styles["f_geometry_column"] == "geom").all()
    qml = {
        row.f_table_name: ET.fromstring(row.styleQML.split("\n", 1)[1])
        for row in styles.itertuples()
    }
    dep = qml["deposits"].find("renderer-v2")
    assert dep.get("type") == "graduatedSymbol" and dep.get("attr") == "cost_usd_p50"
    ranges = dep.findall("ranges/range")
    lo, hi = float(ranges[0].get("lower")), float(ranges[-1].get("upper"))
    assert all(lo <= c <= hi for c in deposits["cost_usd_p50"])
    assert len(dep.findall("symbols/symbol")) == len(ranges)
    haz = qml["hazard_in_footprints"].find("renderer-v2")
    assert haz.get("type") == "categorizedSymbol" and haz.get("attr") == "class"
    values = [c.get("value") for c in haz.findall("categories/category")]
    assert values == [*result.params.class_names, "unknown"]
    colour = haz.find("symbols/symbol[@name='3']/layer/Option/Option[@name='color']").get("value")
    assert colour == "215,48,39,255"  # "high" is the map's red
    assert qml["regions"].find("renderer-v2").get("type") == "singleSymbol"
    assert qml["regions"].get("labelsEnabled") == "1"
    for sld in styles["styleSLD"]:
        assert ET.fromstring(sld.split("?>", 1)[1]).tag.endswith("StyledLayerDescriptor")


def test_layer_styles_table_follows_the_qgis_convention(tmp_path, result):
    target = tmp_path / "out.gpkg"
    write_report_gpkg(result, build_task_polygons(result), target)
    with sqlite3.connect(target) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(layer_styles)")]
        kinds = dict(db.execute("SELECT table_name, data_type FROM gpkg_contents"))
        when = db.execute("SELECT update_time FROM layer_styles").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
    assert columns == ["id", *LAYER_STYLES_COLUMNS]
    assert kinds["layer_styles"] == "attributes" and kinds["deposits"] == "features"
    assert when.endswith("Z") and len(when) == len("2026-01-01T00:00:00.000Z")
    assert version == 10200  # GeoPackage 1.2, readable by older QGIS and GDAL


def test_gpkg_rewrite_replaces_and_bad_name_is_refused(tmp_path, result):
    target = tmp_path / "out.gpkg"
    tasks = build_task_polygons(result)
    write_report_gpkg(result, tasks, target)
    write_report_gpkg(result, tasks, target)  # rerunning replaces the file whole
    assert len(pyogrio.read_dataframe(target, layer="deposits")) == len(result.deposits)
    with pytest.raises(InputDataError, match=r"must end in \.gpkg"):
        write_report_gpkg(result, tasks, tmp_path / "out.sqlite")


# --------------------------------------------------------------------------------------------
# Markdown and HTML


def test_markdown_is_a_document_with_every_deposit(result, write_toml):
    md = rep.to_markdown(result)
    assert md.startswith("# demine report")
    for d in result.deposits:
        assert d.name.replace("|", "\\|") in md
    for section in ("## Summary", "## Assumptions", "## Data and credits", "## Caveats"):
        assert section in md
    assert "## Map" not in md
    assert "| methods.manual.productivity_m2_per_team_day | 50 / 150 / 250 |" in md
    assert "[HALO-UA]" in md and "JUDGEMENT" in md
    assert "- [LM2023] Landmine Monitor 2023" in md
    assert "hazard.tif (user data)" in md  # the scene's own raster, not the embedded proxy
    with_map = rep.markdown_document(result, map_href="maps/m.png")
    assert "## Map\n\n![" in with_map and "](maps/m.png)" in with_map


def test_assumptions_credit_the_users_file(scene, write_toml):
    path = write_toml(
        "[methods.manual]\n# Our 2025 contract rates [OPS-25].\nteam_cost_usd_per_day = 700\n"
    )
    r = estimate(dataclasses.replace(scene, params=path), n_draws=1)
    rows, _ = rep.parameter_rows(r.params)
    row = next(row for row in rows if row[0] == "methods.manual.team_cost_usd_per_day")
    assert row[1] == "700" and row[2] == "your file params.toml"
    buffer = next(row for row in rows if row[0] == "general.footprint_buffer_m")
    assert buffer[1:] == ["0", "command-line option"]  # --buffer-m 0 in the scene
    md = rep.to_markdown(r)
    assert "methods.manual.team_cost_usd_per_day" in md.split("keys changed from the shipped")[1]


def test_parameter_comments_read_the_default_file():
    from estimator.io import default_data, read_text

    comments, refs = rep.parameter_comments(read_text(default_data().parameters))
    assert "[UA-NTS23]" in comments["classes.low.nts_cancel_share"]
    assert refs["LM2023"].startswith("Landmine Monitor 2023")
    assert "24 % reduced" in refs["LM2023"]  # continuation lines are joined


def test_html_report_is_self_contained(result):
    png = b"\x89PNG\r\n\x1a\nfake"
    page = report_html(result, map_png=png)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "data:image/png;base64,iVBORw0KGgpmYWtl" in page
    for bad in ("<script", "<link", 'src="http', "src='http", "@import", "url("):
        assert bad not in page
    for d in result.deposits:
        assert d.name.replace("|", "|") in page
    assert "<h2>Assumptions</h2>" in page and "<h2>Caveats</h2>" in page
    assert "<h2>Map</h2>" not in report_html(result)


# --------------------------------------------------------------------------------------------
# Symbology


def test_cost_breaks_span_the_costs_with_few_classes():
    costs = [4.8e5, 5.1e5, 2.3e7, 4.7e7, 1.08e8]
    b = cost_breaks(costs)
    assert b[0] <= min(costs) and b[-1] >= max(costs) and 2 <= len(b) - 1 <= 6
    assert b == sorted(b)
    assert cost_breaks([None, float("nan"), 0.0]) == []


def test_class_colours_are_distinct_and_cover_unknown(result):
    colours = class_colours(result.params)
    assert set(colours) == {*result.params.class_names, "unknown"}
    assert len(set(colours.values())) == len(colours)


# --------------------------------------------------------------------------------------------
# CLI


def _args(scene) -> list[str]:
    return [
        "--deposits",
        str(scene.deposits),
        "--contamination",
        str(scene.contamination),
        "--regions",
        str(scene.regions),
        "--control",
        str(scene.control),
        "--buffer-m",
        "0",
        "--draws",
        "20",
    ]


def test_cli_report_writes_every_output(scene, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    result = CliRunner().invoke(
        app,
        [
            "report",
            *_args(scene),
            "--format",
            "markdown",
            "-o",
            str(out / "report.md"),
            "--gpkg",
            str(out / "demine.gpkg"),
            "--hazard-geojson",
            str(out / "hazard.geojson"),
            "--html",
            str(out / "report.html"),
            "--map",
            str(out / "map.png"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "](map.png)" in (out / "report.md").read_text()
    assert pyogrio.read_info(out / "demine.gpkg", layer="hazard_in_footprints")["features"] > 0
    assert json.loads((out / "hazard.geojson").read_text())["features"]
    assert (out / "map.png").read_bytes().startswith(b"\x89PNG")
    assert "data:image/png;base64," in (out / "report.html").read_text()
    assert sorted(p.name for p in out.iterdir()) == [
        "demine.gpkg",
        "hazard.geojson",
        "map.png",
        "report.html",
        "report.md",
    ]


def test_cli_regions_csv_has_the_region_totals_of_the_json(scene, tmp_path):
    out = tmp_path / "regions.csv"
    result = CliRunner().invoke(
        app, ["report", *_args(scene), "--format", "json", "--regions-csv", str(out)]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert [r["name"] for r in rows] == [r["name"] for r in doc["regions"]]
    for row, region in zip(rows, doc["regions"], strict=True):
        for k in ("p10", "p50", "p90"):
            assert float(row[f"cost_usd_{k}"]) == region["cost_usd"][k]
        assert int(row["deposit_count"]) == region["deposit_count"]
    # --sensitivity cannot go into a CSV of deposits: said, not silently dropped
    result = CliRunner().invoke(app, ["report", *_args(scene), "--format", "csv", "--sensitivity"])
    assert result.exit_code == 0 and "tornado tables are in" in " ".join(result.stderr.split())


def test_cli_table_lines_unpadded_and_no_table_for_an_empty_region(scene, make_vector):
    t = GRIDS["EPSG:3035"]
    regions = make_vector(
        [
            _pixel_poly(t, [(-20, -20), (80, -20), (80, 80), (-20, 80)]),
            _pixel_poly(t, [(500, 500), (600, 500), (600, 600), (500, 600)]),
        ],
        crs="EPSG:3035",
        filename="two_regions.gpkg",
        name=["All", "Far"],
    )
    args = [*_args(scene)]
    args[args.index("--regions") + 1] = str(regions)
    result = CliRunner().invoke(app, ["report", *args, "-q"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "All: 4 deposit(s)" in lines and "Far: 0 deposit(s)" in lines
    assert sum("Total (" in line for line in lines) == 1  # the empty region has no table
    assert not [line for line in lines if line != line.rstrip()]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--gpkg", "out.sqlite"], "--gpkg: out.sqlite: name it *.gpkg"),
        (["--map", "map.jpg"], "--map: map.jpg: name it *.png"),
        (["--html", "/no/such/dir/r.html"], "directory /no/such/dir does not exist"),
    ],
)
def test_cli_report_bad_output_names_exit_2(scene, extra, needle):
    result = CliRunner().invoke(app, ["report", *_args(scene), *extra])
    assert result.exit_code == 2, result.output
    assert needle in " ".join(result.output.split())
