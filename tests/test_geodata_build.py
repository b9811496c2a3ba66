"""The embedded data (geodata/) and its build: shipped files, face validity, reproducibility."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.windows import Window

from estimator import build_geodata as bg
from estimator import hazard
from estimator.build_geodata import main
from estimator.params import load_params

ROOT = Path(__file__).resolve().parents[1]
GEODATA = ROOT / "geodata"
SOURCES = Path(__file__).resolve().parents[2] / "shared" / "geodata-sources"


def _features(name: str) -> list[dict]:
    data = json.loads((GEODATA / name).read_text(encoding="utf-8"))
    assert data["type"] == "FeatureCollection"
    assert "crs" not in data  # RFC 7946: always EPSG:4326
    return data["features"]


# ---------------------------------------------------------------------------------------------
# Shipped files
# ---------------------------------------------------------------------------------------------


def test_shipped_files_exist_and_are_small():
    names = ["regions.geojson", "deposits.geojson", "control.geojson", "contamination.tif",
             "contamination_probability.tif", "contamination.png", "hazard_model.toml",
             "README.md"]  # fmt: skip
    for name in names:
        assert (GEODATA / name).is_file(), name
    total = sum(p.stat().st_size for p in GEODATA.iterdir() if p.is_file())
    assert total < 15e6
    model = hazard.load_hazard_model(GEODATA / "hazard_model.toml")
    params = load_params(None, defaults=GEODATA / "parameters.toml")
    model.class_raster_values({c.name: c.raster_value for c in params.classes}, "parameters")


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


def test_shipped_rasters_agree():
    model = hazard.load_hazard_model(GEODATA / "hazard_model.toml")
    bounds = dict(model.classes)
    with (
        rasterio.open(GEODATA / "contamination.tif") as c,
        rasterio.open(GEODATA / "contamination_probability.tif") as p,
    ):
        assert c.count == 1 and c.dtypes[0] == "uint8" and p.dtypes[0] == "float32"
        assert c.crs.to_epsg() == 3035 and c.res == (100.0, 100.0)
        assert c.nodata == 255 and math.isnan(p.nodata)
        assert c.transform == p.transform and c.shape == p.shape
        assert c.transform.c % 100 == 0 and c.transform.f % 100 == 0
        assert c.overviews(1) and p.overviews(1)
        assert c.tags()["HAZARD_MODEL_SHA256"] == model.sha256
        window = Window(1024, 1024, 1024, 1024)
        classes, prob = c.read(1, window=window), p.read(1, window=window)
    assert set(np.unique(classes).tolist()) <= {0, 1, 2, 3, 255}
    assert {1, 2, 3} <= set(np.unique(classes).tolist())
    assert (np.isnan(prob) == (classes == 255)).all()
    inside = classes != 255
    assert ((prob[inside] >= 0) & (prob[inside] <= 1)).all()
    # The class of a cell is the band of its stored probability.
    for value, name in enumerate(("none", "low", "medium", "high")):
        sel = classes == value
        assert (prob[sel] >= bounds[name]).all()


def test_shipped_readme_has_tables_and_map():
    text = (GEODATA / "README.md").read_text(encoding="utf-8")
    assert "NOT an official hazard map" in " ".join(text.replace(">", " ").split())
    assert "| 3 high (≥ 0.23) |" in text
    assert "pre-2022 proxy (as of 2022-02-23)" in text
    assert "](contamination.png)" in text


def test_shipped_face_validity():
    """The proxy's totals stay within the ranges the README argues for."""
    text = (GEODATA / "README.md").read_text(encoding="utf-8")
    row = re.search(r"\| all \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \|", text)
    assert row is not None
    total = float(row.group(3).replace(",", ""))
    assert total == pytest.approx(53_736, abs=5)  # the two oblasts' land, km²
    high = float(re.search(r"\| 3 high \(≥ 0.23\) \| [\d,]+ \| [\d,]+ \| ([\d,]+) \|", text)
                 .group(1).replace(",", ""))  # fmt: skip
    expected = re.search(
        r"\| expected contaminated, Σ p × area \| [\d,]+ \| [\d,]+ \| ([\d,]+)", text
    )
    exp_km2 = float(expected.group(1).replace(",", ""))
    none = float(re.search(r"\| 0 none \(≥ 0\) \| [\d,]+ \| [\d,]+ \| ([\d,]+) \|", text)
                 .group(1).replace(",", ""))  # fmt: skip
    assert 0.05 * total < high < 0.35 * total
    assert 0.10 * (total - none) < exp_km2 < 0.30 * (total - none)  # HDC: 15-20 % nationally
    assert none < 0.2 * total  # "all land fought over, occupied or struck"


# ---------------------------------------------------------------------------------------------
# The build
# ---------------------------------------------------------------------------------------------


def test_cli_refuses_missing_sources(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert main(["--sources", str(missing), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nowhere not found: make geodata needs the raw sources" in err
    assert not (tmp_path / "out").exists()


def test_cli_bad_hazard_model_exits_1(tmp_path, capsys):
    bad = tmp_path / "hm.toml"
    bad.write_text(
        "schema_version = 2\n[grid]\ncrs = 'EPSG:3035'\ncell_size_m = 100.0\n"
        "[classes]\nnone = 0.0\n[zones]\noccupied = 0.1\nklass = 'low'\n",
        encoding="utf-8",
    )
    sources = tmp_path / "src"
    sources.mkdir()
    assert (
        main(["--sources", str(sources), "--out", str(tmp_path), "--hazard-model", str(bad)]) == 1
    )
    assert "unknown key 'klass'" in capsys.readouterr().err


def test_rebuild_matches_committed(tmp_path):
    """Same sources, same outputs: GeoJSON byte for byte, raster blocks pixel for pixel.

    The full raster takes ~1 min to rebuild (``make geodata``); three blocks where the fronts,
    the contact line, the trench lines and the coast meet are recomputed here.
    """
    if not SOURCES.is_dir():
        pytest.skip(f"{SOURCES} not found: raw geodata sources not available")
    text, regions = bg.build_regions(SOURCES)
    assert text.encode() == (GEODATA / "regions.geojson").read_bytes()
    assert bg.build_deposits(SOURCES).encode() == (GEODATA / "deposits.geojson").read_bytes()
    control = bg._read_control(SOURCES)
    assert bg.build_control(control).encode() == (GEODATA / "control.geojson").read_bytes()
    model = hazard.load_hazard_model(GEODATA / "hazard_model.toml")
    params = load_params(None, defaults=GEODATA / "parameters.toml")
    values = model.class_raster_values({c.name: c.raster_value for c in params.classes}, "p")
    inputs, _ = bg.hazard_inputs(SOURCES, control, model.crs)
    grid = hazard.grid_for_bounds(
        shapely.bounds(inputs.aoi).tolist(), cell_size_m=model.cell_size_m, crs=model.crs
    )
    prepared = hazard.prepare_hazard(model, inputs, grid, class_values=values)
    with (
        rasterio.open(GEODATA / "contamination.tif") as c,
        rasterio.open(GEODATA / "contamination_probability.tif") as p,
    ):
        assert (c.width, c.height) == (grid.width, grid.height)
        assert c.transform == grid.transform
        for window in (Window(1536, 1536, 512, 512), Window(512, 2560, 512, 512),
                       Window(2048, 2048, 300, 200)):  # fmt: skip
            prob, classes = hazard.compute_block(prepared, window)
            np.testing.assert_array_equal(classes, c.read(1, window=window))
            np.testing.assert_array_equal(prob, p.read(1, window=window))
