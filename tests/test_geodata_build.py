"""Tests of the contamination proxy (estimator.hazard) and the geodata build."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely

from estimator import hazard
from estimator.build_geodata import build_geodata, main
from estimator.errors import ParameterError

ROOT = Path(__file__).resolve().parents[1]
GEODATA = ROOT / "geodata"
SOURCES = Path(__file__).resolve().parents[2] / "shared" / "geodata-sources"

GRID_HEADER = """
schema_version = 1
[grid]
crs = "EPSG:3035"
cell_size_m = 100.0
"""

N, M, H = 0, 2, 3  # none, medium, high
L = 1  # low
X = hazard.NODATA


def _model(body: str) -> hazard.HazardModel:
    return hazard.parse_hazard_model(GRID_HEADER + body, source="test.toml")


def _grid(width: int = 10, height: int = 10) -> hazard.Grid:
    # Cell centres at x = 50, 150, ..., y = 950, 850, ... (row 0 at the top).
    return hazard.Grid(
        crs="EPSG:3035", cell_size_m=100.0, left=0.0, top=height * 100.0, width=width, height=height
    )


# ---------------------------------------------------------------------------------------------
# (a) hand-checkable proxy on a tiny grid
# ---------------------------------------------------------------------------------------------


def test_one_straight_line_hand_checked():
    # A horizontal line through the centres of row 4 (y = 550), longer than the grid so no
    # line end is near a cell. Cell centres are 0, 100, 200, ... m from it:
    #   0 and 100 m   < 150 m -> high   (rows 3, 4, 5)
    #   200 and 300 m < 350 m -> medium (rows 1, 2, 6, 7)
    #   400 and 500 m         -> none   (rows 0, 8, 9)
    # The AOI stops at x = 900, so column 9 (centre x = 950) is nodata.
    # A low zone over the lower-left 300 m x 300 m raises rows 8-9, columns 0-2 to low, and
    # leaves row 7 (already medium) unchanged: the class is the max over rules.
    model = _model(
        """
        [lines.front_lines]
        high_within_m = 150.0
        medium_within_m = 350.0
        [zones.ever_russian_controlled]
        class = "low"
        """
    )
    layers = hazard.HazardLayers(
        aoi=shapely.box(0, 0, 900, 1000),
        lines={"front_lines": [shapely.LineString([(-1000, 550), (2000, 550)])]},
        zones={"ever_russian_controlled": shapely.box(0, 0, 300, 300)},
    )
    grid = _grid()
    got = hazard.build_hazard_array(hazard.prepare_hazard(model, layers), grid, block_size=4)
    row_class = [N, M, M, H, H, H, M, M, N, N]
    expected = np.array([[c] * 9 + [X] for c in row_class], dtype=np.uint8)
    expected[8:10, 0:3] = L
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.uint8


def test_persistence_counts_snapshots():
    # Three snapshots at y = 450, 550 and 650 (centres of rows 5, 4, 3); within 110 m of at
    # least 2 of them: row 4 (near all 3), rows 3 and 5 (near 2 each). Row 6 is near only one.
    model = _model(
        """
        [persistence.front_lines]
        within_m = 110.0
        min_snapshots = 2
        class = "high"
        """
    )
    lines = [shapely.LineString([(-1000, y), (2000, y)]) for y in (450, 550, 650)]
    layers = hazard.HazardLayers(aoi=shapely.box(-1, -1, 1001, 1001), lines={"front_lines": lines})
    got = hazard.build_hazard_array(hazard.prepare_hazard(model, layers), _grid())
    expected = np.zeros((10, 10), dtype=np.uint8)
    expected[3:6, :] = H
    np.testing.assert_array_equal(got, expected)


def test_grid_for_bounds_snaps_outward():
    g = hazard.grid_for_bounds((120.0, 30.0, 380.0, 290.0), cell_size_m=100.0, crs="EPSG:3035")
    assert (g.left, g.top, g.width, g.height) == (100.0, 300.0, 3, 3)
    assert g.transform.c == 100.0 and g.transform.f == 300.0


def test_count_classes():
    classes = np.array([[0, 1, 2], [3, 255, 1]], dtype=np.uint8)
    labels = np.array([[1, 1, 2], [2, 0, 0]], dtype=np.uint8)
    counts = hazard.count_classes(classes, labels, 2)
    np.testing.assert_array_equal(counts, [[0, 1, 0, 0, 1], [1, 1, 0, 0, 0], [0, 0, 1, 1, 0]])


# ---------------------------------------------------------------------------------------------
# (b) block-wise build equals a single-block build
# ---------------------------------------------------------------------------------------------


def test_blockwise_equals_single_block():
    model = _model(
        """
        [lines.front_lines]
        medium_within_m = 700.0
        low_within_m = 2500.0
        [lines.trench_lines]
        high_within_m = 260.0
        medium_within_m = 900.0
        [persistence.front_lines]
        within_m = 400.0
        min_snapshots = 2
        class = "high"
        [zones.ever_liberated]
        class = "medium"
        """
    )
    wavy = [shapely.LineString([(x, 9000 + 2500 * np.sin(x / 3000 + k)) for x in range(-500, 32000, 700)])
            for k in (0.0, 0.15, 0.6)]  # fmt: skip
    trenches = shapely.MultiLineString(
        [[(3000, 3000), (12000, 6100)], [(20000, 2000), (21000, 15000)]]
    )
    layers = hazard.HazardLayers(
        aoi=shapely.Point(15000, 9000).buffer(14000),
        lines={"front_lines": wavy, "trench_lines": [trenches]},
        zones={"ever_liberated": shapely.Point(25000, 14000).buffer(3300)},
    )
    grid = hazard.Grid("EPSG:3035", 100.0, left=0.0, top=18000.0, width=301, height=177)
    prepared = hazard.prepare_hazard(model, layers)
    whole = hazard.build_hazard_array(prepared, grid, block_size=10_000)
    assert set(np.unique(whole)) == {0, 1, 2, 3, 255}
    for block_size in (64, 37):
        np.testing.assert_array_equal(
            hazard.build_hazard_array(prepared, grid, block_size=block_size), whole
        )


# ---------------------------------------------------------------------------------------------
# (c) hazard model validation
# ---------------------------------------------------------------------------------------------


def test_unknown_key_suggests_closest():
    with pytest.raises(ParameterError, match=r"test.toml: \[lines.front_lines\] unknown key "
                       r"'hihg_within_m': did you mean 'high_within_m'\?"):  # fmt: skip
        _model("[lines.front_lines]\nhihg_within_m = 100.0\n")


def test_unknown_layer_suggests_closest():
    with pytest.raises(
        ParameterError, match=r"unknown key 'front_line': did you mean 'front_lines'"
    ):
        _model("[lines.front_line]\nhigh_within_m = 100.0\n")


def test_negative_distance_rejected():
    with pytest.raises(
        ParameterError,
        match=r"test.toml: \[lines.trench_lines\] low_within_m = -5.0: must be > 0",
    ):
        _model("[lines.trench_lines]\nlow_within_m = -5.0\n")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[lines.trench_lines]\nhigh_within_m = 900.0\nmedium_within_m = 500.0\n",
         "high_within_m = 900.0: must be <= medium_within_m"),
        ("[lines.trench_lines]\nhigh_within_m = '5'\n", "must be a number"),
        ("[lines.trench_lines]\nhigh_within_m = 1e9\n", "must be <= 100000 m"),
        ("[zones.ever_liberated]\nclass = \"severe\"\n", "must be one of low, medium, high"),
        ("[persistence.front_lines]\nwithin_m = 10.0\nmin_snapshots = 0\nclass = \"high\"\n",
         "min_snapshots = 0: must be an integer >= 1"),
        ("[lines.trench_lines\n", "invalid TOML"),
    ],
)  # fmt: skip
def test_invalid_values_rejected(body, message):
    with pytest.raises(ParameterError, match=message):
        _model(body)


def test_bad_grid_and_version(tmp_path):
    with pytest.raises(ParameterError, match="must be a projected CRS in metres"):
        hazard.parse_hazard_model(GRID_HEADER.replace("EPSG:3035", "EPSG:4326"), source="x")
    with pytest.raises(ParameterError, match="schema_version = 2: must be 1"):
        hazard.parse_hazard_model(GRID_HEADER.replace("= 1", "= 2", 1), source="x")
    with pytest.raises(ParameterError, match="missing.toml: cannot read"):
        hazard.load_hazard_model(tmp_path / "missing.toml")


def test_missing_layer_is_reported():
    model = _model('[zones.ever_liberated]\nclass = "medium"\n')
    with pytest.raises(ParameterError, match=r"layer\(s\) \['ever_liberated'\]"):
        hazard.prepare_hazard(model, hazard.HazardLayers(aoi=shapely.box(0, 0, 1, 1)))


# ---------------------------------------------------------------------------------------------
# (d) shipped geodata
# ---------------------------------------------------------------------------------------------


def _features(name: str) -> list[dict]:
    data = json.loads((GEODATA / name).read_text(encoding="utf-8"))
    assert data["type"] == "FeatureCollection"
    assert "crs" not in data  # RFC 7946: always EPSG:4326
    return data["features"]


def test_shipped_files_exist_and_are_small():
    names = ["regions.geojson", "deposits.geojson", "control.geojson", "contamination.tif"]
    names += ["hazard_model.toml", "README.md"]
    for name in names:
        assert (GEODATA / name).is_file(), name
    total = sum(p.stat().st_size for p in GEODATA.iterdir() if p.is_file())
    assert total < 15e6
    hazard.load_hazard_model(GEODATA / "hazard_model.toml")


def test_shipped_regions():
    feats = _features("regions.geojson")
    assert [f["properties"] for f in feats] == [
        {"name": "Donetsk", "iso_3166_2": "UA-14"},
        {"name": "Zaporizhzhia", "iso_3166_2": "UA-23"},
    ]
    for f in feats:
        geom = shapely.geometry.shape(f["geometry"])
        assert geom.is_valid and shapely.is_ccw(geom.exterior)
        assert 34 < geom.centroid.x < 39.5 and 46 < geom.centroid.y < 49.5


def test_shipped_deposits():
    feats = _features("deposits.geojson")
    assert len(feats) == 9
    required = {"id", "name", "commodity", "geometry_quality", "coord_uncertainty_km",
                "radius_m", "source", "context_row"}  # fmt: skip
    ids = [f["properties"]["id"] for f in feats]
    assert len(set(ids)) == 9 and "azovske" in ids and "shevchenkivske" in ids
    for f in feats:
        props = f["properties"]
        assert set(props) == required
        geom = shapely.geometry.shape(f["geometry"])
        assert geom.geom_type == "Polygon" and geom.is_valid and shapely.is_ccw(geom.exterior)
        assert props["radius_m"] > 0 and isinstance(props["context_row"], bool)
        assert props["source"]
    by_id = {f["properties"]["id"]: f["properties"] for f in feats}
    assert by_id["shevchenkivske"]["geometry_quality"] == "published_area_disc"
    assert by_id["shevchenkivske"]["radius_m"] == pytest.approx((398_400 / np.pi) ** 0.5, abs=0.1)
    assert by_id["azovske"]["commodity"] == "Zr;Y;REE"
    assert sum(p["context_row"] for p in by_id.values()) == 4


def test_shipped_control():
    feats = _features("control.geojson")
    keys = [(f["properties"]["date"], f["properties"]["class"]) for f in feats]
    assert len(keys) == len(set(keys))
    classes = {c for _, c in keys}
    assert classes == {"russian_controlled", "contested_or_unknown", "liberated",
                       "occupied_before_2022"}  # fmt: skip
    ru_dates = sorted(d for d, c in keys if c == "russian_controlled")
    assert ru_dates[-1] == "2026-08-22"
    assert ("2022-02-23", "occupied_before_2022") in keys
    assert all(f["properties"]["source"].startswith("DeepStateMap.Live via ") for f in feats)


def test_shipped_raster():
    with rasterio.open(GEODATA / "contamination.tif") as src:
        assert src.count == 1 and src.dtypes[0] == "uint8"
        assert src.crs.to_epsg() == 3035
        assert src.res == (100.0, 100.0)
        assert src.nodata == 255
        assert src.transform.c % 100 == 0 and src.transform.f % 100 == 0
        values = np.unique(src.read(1))
    assert set(values.tolist()) <= {0, 1, 2, 3, 255}
    assert {1, 2, 3, 255} <= set(values.tolist())


def test_shipped_readme_has_table():
    text = (GEODATA / "README.md").read_text(encoding="utf-8")
    assert "NOT an official hazard map" in " ".join(text.replace(">", " ").split())
    assert "| 3 high |" in text


# ---------------------------------------------------------------------------------------------
# (e) full rebuild from the raw sources
# ---------------------------------------------------------------------------------------------


def test_cli_refuses_missing_sources(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert main(["--sources", str(missing), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nowhere not found: make geodata needs the raw sources" in err
    assert not (tmp_path / "out").exists()


def test_cli_bad_hazard_model_exits_1(tmp_path, capsys):
    bad = tmp_path / "hm.toml"
    bad.write_text(GRID_HEADER + "[zones.ever_liberated]\nklass = 'low'\n", encoding="utf-8")
    sources = tmp_path / "src"
    sources.mkdir()
    assert (
        main(["--sources", str(sources), "--out", str(tmp_path), "--hazard-model", str(bad)]) == 1
    )
    assert "did you mean 'class'" in capsys.readouterr().err


def test_full_rebuild_matches_committed(tmp_path):
    if not SOURCES.is_dir():
        pytest.skip(f"{SOURCES} not found: raw geodata sources not available")
    params = GEODATA / "parameters.toml"
    before = params.read_bytes() if params.is_file() else None
    summary = build_geodata(SOURCES, tmp_path, hazard_model=GEODATA / "hazard_model.toml")
    for name in ("regions.geojson", "deposits.geojson", "control.geojson"):
        assert (tmp_path / name).read_bytes() == (GEODATA / name).read_bytes(), name
    with (
        rasterio.open(tmp_path / "contamination.tif") as new,
        rasterio.open(GEODATA / "contamination.tif") as old,
    ):
        assert new.profile == old.profile
        np.testing.assert_array_equal(new.read(1), old.read(1))
    assert not (tmp_path / "parameters.toml").exists()
    if before is not None:
        assert params.read_bytes() == before
    total = summary.class_areas_km2["Total"]
    assert set(total) == {"none", "low", "medium", "high"}
    # Face validity: "high" is a narrow belt, far smaller than "low".
    assert 0 < total["high"] < 5000 < total["low"]
    assert tomllib.loads((GEODATA / "hazard_model.toml").read_text(encoding="utf-8"))
