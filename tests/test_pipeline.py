"""End to end through the library: synthetic files in, hand-checked results out."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pyogrio
import pyproj
import pytest
import shapely
from affine import Affine
from shapely.geometry import Point, box

from estimator import report as rep
from estimator.errors import CRSMismatchError, InputDataError
from estimator.pipeline import Inputs, estimate

X0, Y0 = 6_000_000.0, 2_800_000.0  # EPSG:3035, eastern Ukraine
TO_LONLAT = pyproj.Transformer.from_crs(3035, 4326, always_xy=True)


def lonlat(geom):
    return shapely.transform(
        shapely.segmentize(geom, 50.0), lambda xy: np.column_stack(TO_LONLAT.transform(*xy.T))
    )


@pytest.fixture
def scene(make_raster, make_vector):
    """A 2 x 2 km raster: west half class 1, east half class 3, a nodata corner; two regions."""
    arr = np.ones((20, 20), dtype="uint8")
    arr[:, 10:] = 3
    arr[:2, :2] = 255
    raster = make_raster(arr, Affine(100, 0, X0, 0, -100, Y0), name="hazard.tif")
    regions = make_vector(
        [
            lonlat(box(X0 - 5000, Y0 - 5000, X0 + 1200, Y0 + 5000)),
            lonlat(box(X0 + 1200, Y0 - 5000, X0 + 7000, Y0 + 5000)),
        ],
        filename="regions.geojson",
        name=["West", "East"],
    )
    control = make_vector(
        [
            lonlat(box(X0 + 1500, Y0 - 5000, X0 + 7000, Y0 + 5000)),
            lonlat(box(X0 + 500, Y0 - 5000, X0 + 7000, Y0 + 5000)),
        ],
        filename="control.geojson",
        date=["2026-01-01", "2024-01-01"],
        **{"class": ["russian_controlled", "russian_controlled"]},
    )
    return raster, regions, control


def run(scene, deposits, **kw):
    raster, regions, control = scene
    return estimate(
        Inputs(deposits=deposits, contamination=raster, regions=regions, control=control, **kw)
    )


def test_hand_checked_areas_and_statuses(scene, make_vector):
    deposits = make_vector(
        [
            box(X0 + 500, Y0 - 1500, X0 + 1500, Y0 - 500),  # 1 km2 across the class boundary
            box(X0 + 1600, Y0 - 1000, X0 + 1900, Y0 - 700),  # 9 ha, all class 3
            box(X0 - 100, Y0 - 150, X0 + 100, Y0 - 50),  # half outside, rest nodata
            box(X0 + 100, Y0 - 400, X0 + 300, Y0 - 100),  # 6 ha, part nodata (cols 1-2, rows 1-3)
            Point(X0 + 700, Y0 - 1900),  # a point, no radius: listed as invalid
        ],
        crs="EPSG:3035",
        filename="deposits.gpkg",
        name=["Across", "High", "Edge", "Corner", "Pin"],
        commodity=["Li", "REE", "Zr", "Ta", "Ti"],
    )
    r = run(scene, deposits, buffer_m=0)
    by = {d.name: d for d in r.deposits}
    assert len(r.deposits) == 5  # one row per input feature, always
    a = by["Across"]
    assert a.status == "assessed" and a.region == "West"
    assert a.hazard_area_m2["low"] == pytest.approx(500_000, rel=1e-4)
    assert a.hazard_area_m2["high"] == pytest.approx(500_000, rel=1e-4)
    assert a.footprint_area_m2 == pytest.approx(1_000_000, rel=1e-4)
    assert a.occupied_share == pytest.approx(0.0, abs=1e-6)  # latest snapshot starts at +1500
    h = by["High"]
    assert h.hazard_area_m2["high"] == pytest.approx(90_000, rel=1e-4)
    assert h.occupied_share == pytest.approx(
        1.0, rel=1e-6
    )  # latest snapshot: occupied east of +1500
    e = by["Edge"]
    assert e.status == "no_data" and e.unknown_area_m2 == pytest.approx(20_000, rel=1e-4)
    assert e.outside_raster_area_m2 == pytest.approx(10_000, rel=1e-4)
    c = by["Corner"]
    # nodata cells are rows 0-1, cols 0-1: x 100..200 of rows 1 (y -200..-100) is nodata: 1 ha
    assert c.status == "partial" and c.unknown_area_m2 == pytest.approx(10_000, rel=1e-4)
    assert c.hazard_area_m2["low"] == pytest.approx(50_000, rel=1e-4)
    assert "16.7%" in c.reason
    p = by["Pin"]
    assert p.status == "invalid" and "radius" in p.reason and p.figures is None
    # Accounting: class areas + unknown = footprint
    for d in (a, h, e, c):
        assert sum(d.hazard_area_m2.values()) + d.unknown_area_m2 == pytest.approx(
            d.footprint_area_m2, rel=1e-3
        )
    # Model at the modes: high class clearance = A x 0.68 x 0.65
    assert h.figures["clearance_area_m2"]["p50"] == pytest.approx(90_000 * 0.68 * 0.65, rel=1e-4)
    # Region totals are the sums of their deposits
    east = next(x for x in r.regions if x.name == "East")
    members = [d for d in r.deposits if d.region == "East"]
    assert east.deposit_count == len(members)
    assert east.figures["cost_usd"]["p50"] == pytest.approx(
        sum(d.figures["cost_usd"]["p50"] for d in members)
    )


def test_points_with_radius_and_buffer(scene, make_vector):
    deposits = make_vector([Point(X0 + 1500, Y0 - 1000)], crs="EPSG:3035", radius_m=[200.0])
    r = run(scene, deposits, buffer_m=100)
    d = r.deposits[0]
    assert d.footprint_area_m2 == pytest.approx(np.pi * 300**2, rel=5e-3)
    assert "approximated" in d.reason and d.geometry_quality == "point_radius"


def test_region_filter_is_case_insensitive_and_unknown_names_are_listed(scene, make_vector):
    deposits = make_vector(
        [
            box(X0 + 200, Y0 - 800, X0 + 400, Y0 - 600),
            box(X0 + 1600, Y0 - 800, X0 + 1800, Y0 - 600),
        ],
        crs="EPSG:3035",
    )
    r = run(scene, deposits, regions_filter=("east",))
    assert [x.name for x in r.regions] == ["East"] and len(r.deposits) == 1
    with pytest.raises(InputDataError, match=r"--region 'Narnia': no such region.*West, East"):
        run(scene, deposits, regions_filter=("Narnia",))


def test_unmapped_raster_values_are_an_error(make_raster, make_vector, scene):
    raster = make_raster(np.full((5, 5), 9, dtype="uint8"), Affine(100, 0, X0, 0, -100, Y0))
    deposits = make_vector([box(X0 + 100, Y0 - 300, X0 + 300, Y0 - 100)], crs="EPSG:3035")
    _, regions, control = scene
    with pytest.raises(
        InputDataError, match=r"raster value\(s\) 9 .*have no class in the parameter file"
    ):
        estimate(Inputs(deposits=deposits, contamination=raster, regions=regions, control=control))


def test_vector_without_crs_needs_assume_crs(scene, tmp_path):
    path = tmp_path / "nocrs.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"name": "x"},
                        "geometry": shapely.geometry.mapping(
                            lonlat(box(X0 + 500, Y0 - 900, X0 + 700, Y0 - 700))
                        ),
                    }
                ],
            }
        )
    )
    # GeoJSON always has a CRS (EPSG:4326); a shapefile without .prj does not.
    import geopandas as gpd

    shp = tmp_path / "nocrs.shp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "'crs' was not provided": the point
        gpd.read_file(path).set_crs(None, allow_override=True).to_file(shp)
    (tmp_path / "nocrs.prj").unlink(missing_ok=True)
    with pytest.raises(CRSMismatchError, match=r"has no CRS .*--assume-crs"):
        run(scene, shp)
    r = run(scene, shp, assume_crs="EPSG:4326")
    assert r.deposits[0].status == "assessed"


def test_geojson_is_rfc7946_and_round_trips(scene, make_vector, tmp_path):
    deposits = make_vector(
        [box(X0 + 500, Y0 - 1500, X0 + 1500, Y0 - 500), Point(X0, Y0)],
        crs="EPSG:3035",
        name=["Across", "Pin"],
    )
    r = run(scene, deposits, buffer_m=50)
    gj = rep.to_geojson(r)
    assert gj["type"] == "FeatureCollection" and gj["demine"]["version"]
    ring = gj["features"][0]["geometry"]["coordinates"][0]
    lon, lat = ring[0]
    assert 30 < lon < 45 and 44 < lat < 53  # lon/lat order
    assert shapely.Polygon(ring).exterior.is_ccw  # right-hand rule: exterior counter-clockwise
    assert (
        gj["features"][1]["geometry"] is None
        and gj["features"][1]["properties"]["status"] == "invalid"
    )
    out = tmp_path / "out.geojson"
    out.write_text(json.dumps(gj))
    back = pyogrio.read_dataframe(out)
    assert back.crs.to_epsg() == 4326
    assert list(back["name"]) == ["Across", "Pin"]
    props = gj["features"][0]["properties"]
    for key in (
        "hazard_area_m2_high",
        "cost_usd_p50",
        "clearance_area_m2_manual_p90",
        "team_days_nts_p50",
    ):
        assert key in props and key in back.columns
    assert back.loc[0, "cost_usd_p50"] == pytest.approx(props["cost_usd_p50"])


def test_json_text_round_trips_with_one_line_per_deposit(scene, make_vector):
    import math

    deposits = make_vector(
        [
            box(X0 + 100, Y0 - 900, X0 + 900, Y0 - 100),
            box(X0 + 1100, Y0 - 900, X0 + 1900, Y0 - 100),
        ],
        crs="EPSG:3035",
        filename="two.gpkg",
        name=["Ünder", 'Two "quoted"'],
    )
    r = run(scene, deposits)
    text = rep.to_json(r)
    assert json.loads(text) == json.loads(json.dumps(rep.to_json_dict(r)))
    lines = text.splitlines()
    deposit_lines = [
        ln for ln in lines if ln.startswith('    {"index"') or '"footprint_area_m2"' in ln
    ]
    assert len(deposit_lines) >= 2
    for ln in deposit_lines:
        obj = json.loads(ln.strip().rstrip(","))
        assert isinstance(obj, dict) and not any(
            isinstance(v, float) and math.isnan(v) for v in obj.values()
        )
    assert "Ünder" in text  # UTF-8, not \u escapes


def test_json_contract_keys(scene, make_vector):
    deposits = make_vector([box(X0 + 500, Y0 - 1500, X0 + 1500, Y0 - 500)], crs="EPSG:3035")
    doc = json.loads(rep.to_json(run(scene, deposits)))
    assert set(doc) == {"demine", "regions", "deposits"}
    assert {"version", "params_sha256", "inputs"} <= set(doc["demine"])
    region_keys = {
        "name",
        "deposit_count",
        "footprint_area_m2",
        "hazard_area_m2",
        "unknown_area_m2",
        "nts_area_m2",
        "ts_area_m2",
        "clearance_area_m2",
        "cost_usd",
        "team_days",
        "hazard_probability",
    }
    deposit_keys = {
        "id",
        "name",
        "commodity",
        "region",
        "status",
        "reason",
        "footprint_area_m2",
        "hazard_area_m2",
        "unknown_area_m2",
        "occupied_share",
        "nts_area_m2",
        "ts_area_m2",
        "clearance_area_m2",
        "clearance_area_m2_by_method",
        "cost_usd",
        "team_days",
        "prob_any_item",
        "hazard_probability",
    }
    assert region_keys <= set(doc["regions"][0])
    d = doc["deposits"][0]
    assert deposit_keys <= set(d)
    assert set(d["hazard_area_m2"]) == {"none", "low", "medium", "high"}
    for key in ("nts_area_m2", "ts_area_m2", "clearance_area_m2", "cost_usd", "team_days"):
        assert set(d[key]) == {"p10", "p50", "p90", "mean"}
    assert set(d["clearance_area_m2_by_method"]) == {"manual", "mechanical", "mdd"}
    # A user's class raster and no --probability: the key is there, the figures are null.
    inputs = doc["demine"]["inputs"]
    assert "probability" in inputs and inputs["probability"] is None
    assert d["hazard_probability"] is None and doc["regions"][0]["hazard_probability"] is None


def test_csv_and_markdown_list_every_deposit(scene, make_vector):
    deposits = make_vector(
        [
            box(X0 + 500, Y0 - 1500, X0 + 1500, Y0 - 500),
            box(X0 + 1600, Y0 - 800, X0 + 1800, Y0 - 600),
        ],
        crs="EPSG:3035",
        name=["Alpha", "Beta|pipe"],
    )
    r = run(scene, deposits)
    csv_text = rep.to_csv(r)
    assert csv_text.count("\n") == 3 and "cost_usd_p50" in csv_text.splitlines()[0]
    md = rep.to_markdown(r)
    assert "Alpha" in md and "Beta\\|pipe" in md and "Total (1)" in md
