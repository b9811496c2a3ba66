"""SHA/CHA polygons overlaid exactly on footprints, alone and together with a raster."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio.features
import shapely
from affine import Affine
from typer.testing import CliRunner

from estimator.cli import app
from estimator.errors import InputDataError
from estimator.hazard_areas import overlay_hazard_areas, overlay_polygons
from estimator.overlay import geodesic_area_m2
from estimator.pipeline import Inputs, assess, load_default_params

PARAMS = load_default_params()
CLASSES = PARAMS.classes  # none 0, low 1, medium 2, high 3
K = {c.name: k for k, c in enumerate(CLASSES)}


def _lonlat_box(x0, y0, x1, y1):
    return shapely.box(x0, y0, x1, y1)


# ---------------------------------------------------------------------------------------------
# The overlay itself
# ---------------------------------------------------------------------------------------------


def test_overlaps_counted_once_higher_class_wins(make_vector):
    # Footprint 0.01 x 0.01 degrees. Polygons: low over x 0-0.006, high over x 0.004-0.008,
    # and a second low polygon over x 0-0.003 that overlaps the first low one.
    fp = _lonlat_box(37.0, 48.0, 37.01, 48.01)
    path = make_vector(
        [
            _lonlat_box(37.0, 48.0, 37.006, 48.01),
            _lonlat_box(37.004, 48.0, 37.008, 48.01),
            _lonlat_box(37.0, 48.0, 37.003, 48.01),
        ],
        hazard=["low", "HIGH", "1"],
    )
    res = overlay_hazard_areas([fp, None], path, class_field="hazard", classes=CLASSES)
    strip = lambda a, b: geodesic_area_m2(_lonlat_box(37.0 + a, 48.0, 37.0 + b, 48.01))  # noqa: E731
    assert res.area_m2[0, K["low"]] == pytest.approx(strip(0, 0.004), rel=1e-8)
    assert res.area_m2[0, K["high"]] == pytest.approx(strip(0.004, 0.008), rel=1e-8)
    assert res.area_m2[0, K["none"]] == res.area_m2[0, K["medium"]] == 0
    assert res.covered_m2[0] == pytest.approx(strip(0, 0.008), rel=1e-8)
    assert geodesic_area_m2(res.remainder[0]) == pytest.approx(strip(0.008, 0.01), rel=1e-6)
    assert res.remainder[1] is None and (res.area_m2[1] == 0).all()
    assert res.n_polygons == 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [("high", "high"), (" Medium ", "medium"), (3, "high"), ("2", "medium"), (1.0, "low"),
     ("CHA", "high"), ("sha", "medium"), ("none", "none")],
)  # fmt: skip
def test_class_values(make_vector, value, expected):
    fp = _lonlat_box(37.0, 48.0, 37.01, 48.01)
    path = make_vector([fp], hazard=[value])
    res = overlay_hazard_areas([fp], path, class_field="Hazard", classes=CLASSES)
    assert res.area_m2[0, K[expected]] == pytest.approx(geodesic_area_m2(fp), rel=1e-8)


def test_bad_values_fields_and_geometries(make_vector):
    fp = _lonlat_box(37.0, 48.0, 37.01, 48.01)
    path = make_vector([fp], hazard=["severe"])
    with pytest.raises(InputDataError, match=r"feature 1: hazard = 'severe' is not a hazard class"):
        overlay_hazard_areas([fp], path, class_field="hazard", classes=CLASSES)
    path = make_vector([fp], hazard=[7])
    with pytest.raises(InputDataError, match="hazard = 7 is not a hazard class; use a class name"):
        overlay_hazard_areas([fp], path, class_field="hazard", classes=CLASSES)
    path = make_vector([fp], kind=["high"])
    with pytest.raises(
        InputDataError, match=r"no field 'class' for the hazard class; fields: kind"
    ):
        overlay_hazard_areas([fp], path, class_field="class", classes=CLASSES)
    path = make_vector([shapely.LineString([(37, 48), (37.1, 48.1)])], hazard=["high"])
    with pytest.raises(InputDataError, match="feature 1 is a LineString; hazardous areas must be"):
        overlay_hazard_areas([fp], path, class_field="hazard", classes=CLASSES)


def test_projected_polygons_give_the_same_area(make_vector):
    # The same square in UTM 37N: ellipsoidal areas agree with the lon/lat version.
    utm = pyproj.Transformer.from_crs(4326, 32637, always_xy=True)
    square = _lonlat_box(37.0, 48.0, 37.02, 48.02)
    fp = _lonlat_box(36.99, 47.99, 37.03, 48.03)
    dense = shapely.segmentize(square, 0.0005)
    in_utm = shapely.transform(dense, lambda xy: np.column_stack(utm.transform(*xy.T)))
    a = overlay_hazard_areas([fp], make_vector([square], hazard=["high"]), class_field="hazard",
                             classes=CLASSES)  # fmt: skip
    b = overlay_hazard_areas([fp], make_vector([in_utm], crs="EPSG:32637", hazard=["high"]),
                             class_field="hazard", classes=CLASSES)  # fmt: skip
    assert b.area_m2[0, K["high"]] == pytest.approx(a.area_m2[0, K["high"]], rel=1e-5)


# ---------------------------------------------------------------------------------------------
# In the pipeline: alone, with a raster, and polygons vs raster of the same ground
# ---------------------------------------------------------------------------------------------

X0, Y0 = 6_200_000.0, 2_900_000.0  # EPSG:3035, in eastern Ukraine
CELL = 100.0


def _classes_array() -> np.ndarray:
    # 40 x 40 cells of 100 m: blocks of each class, with a diagonal high band.
    arr = np.zeros((40, 40), dtype=np.uint8)
    arr[:20, 20:] = 1
    arr[20:, :20] = 2
    idx = np.arange(40)
    for w in range(4):
        arr[idx, np.clip(idx + w, 0, 39)] = 3
    return arr


def _to_lonlat(geom, crs="EPSG:3035"):
    t = pyproj.Transformer.from_crs(crs, 4326, always_xy=True)
    return shapely.transform(
        shapely.segmentize(geom, 50.0), lambda xy: np.column_stack(t.transform(*xy.T))
    )


def _deposits(make_vector):
    # Three deposits (polygons in EPSG:3035) cutting cells at odd fractions; buffer 0.
    polys = [
        shapely.Point(X0 + 1234.5, Y0 - 1111.1).buffer(777.7),
        shapely.box(X0 + 333.3, Y0 - 3555.5, X0 + 2987.6, Y0 - 2444.4),
        shapely.Polygon([(X0 + 2500.5, Y0 - 200.2), (X0 + 3900.1, Y0 - 900.9), (X0 + 3100.3, Y0 - 3800.8)]),
    ]  # fmt: skip
    return make_vector(polys, crs="EPSG:3035", filename="deposits.gpkg",
                       name=["round", "box", "triangle"])  # fmt: skip


def _run(deposits, regions, **kw):
    params = load_default_params().with_buffer(0.0)
    return assess(Inputs(deposits=deposits, regions=regions, no_control=True, **kw), params)


def _regions(make_vector):
    region = shapely.box(X0 - 5000, Y0 - 9000, X0 + 9000, Y0 + 5000)
    return make_vector([region], crs="EPSG:3035", filename="regions.gpkg", name=["R"])


def test_polygons_and_raster_of_the_same_ground_agree(make_raster, make_vector, tmp_path):
    arr = _classes_array()
    transform = Affine(CELL, 0, X0, 0, -CELL, Y0)
    raster = make_raster(arr, transform, name="classes.tif")
    # The same ground as polygons: one polygon per connected run of a class (vectorised raster).
    shapes = list(rasterio.features.shapes(arr, transform=transform))
    polys = [shapely.geometry.shape(g) for g, _ in shapes]
    values = [int(v) for _, v in shapes]
    areas_path = make_vector(polys, crs="EPSG:3035", filename="areas.gpkg", hazard=values)
    deposits, regions = _deposits(make_vector), _regions(make_vector)
    from_raster = _run(deposits, regions, contamination=raster)
    from_polys = _run(deposits, regions, hazard_areas=areas_path, hazard_class_field="hazard")
    for i in range(3):
        fp = from_raster.footprint_area_m2[i]
        assert from_polys.unknown_area_m2[i] == pytest.approx(0.0, abs=1e-6 * fp)
        np.testing.assert_allclose(
            from_polys.hazard_area_m2[i], from_raster.hazard_area_m2[i], rtol=0.005, atol=5e-3 * fp
        )
        assert from_polys.hazard_area_m2[i].sum() == pytest.approx(fp, rel=1e-6)


def test_polygons_take_precedence_over_the_raster(make_raster, make_vector):
    arr = np.full((40, 40), 1, dtype=np.uint8)  # raster: all low
    arr[38:, :] = 255  # and some nodata, under the tip of the triangle
    raster = make_raster(arr, Affine(CELL, 0, X0, 0, -CELL, Y0), name="low.tif")
    # A CHA polygon over the left half of the "box" deposit (x < X0 + 1500).
    cha = shapely.box(X0, Y0 - 4000, X0 + 1500, Y0 - 2000)
    areas = make_vector([cha], crs="EPSG:3035", filename="cha.gpkg", kind=["CHA"])
    deposits, regions = _deposits(make_vector), _regions(make_vector)
    both = _run(deposits, regions, contamination=raster, hazard_areas=areas,
                hazard_class_field="kind")  # fmt: skip
    box = 1  # the box deposit: x 333.3 .. 2987.6, y -3555.5 .. -2444.4
    fp = both.footprint_area_m2[box]
    left = geodesic_area_m2(
        _to_lonlat(shapely.box(X0 + 333.3, Y0 - 3555.5, X0 + 1500, Y0 - 2444.4))
    )
    assert both.hazard_area_m2[box, K["high"]] == pytest.approx(left, rel=1e-4)
    assert both.hazard_area_m2[box, K["low"]] == pytest.approx(fp - left, rel=1e-4)
    # Accounting: classes + unknown = footprint, for every deposit.
    total = both.hazard_area_m2.sum(axis=1) + both.unknown_area_m2
    np.testing.assert_allclose(total, both.footprint_area_m2, rtol=1e-6)
    assert both.unknown_area_m2[2] > 0  # the triangle's tip is over nodata
    assert "hazardous-area polygons cover" in " ".join(both.prepared[box].notes)


def test_polygons_without_raster_leave_the_rest_unknown(make_vector):
    cha = shapely.box(X0, Y0 - 4000, X0 + 1500, Y0 - 2000)
    areas = make_vector([cha], crs="EPSG:3035", filename="cha.gpkg", kind=["CHA"])
    res = _run(_deposits(make_vector), _regions(make_vector), hazard_areas=areas,
               hazard_class_field="kind")  # fmt: skip
    box = 1
    fp = res.footprint_area_m2[box]
    high = res.hazard_area_m2[box, K["high"]]
    assert 0 < high < fp
    assert res.unknown_area_m2[box] == pytest.approx(fp - high, rel=1e-8)
    assert res.paths["contamination"] is None and res.paths["hazard_areas"] == str(areas)
    assert res.hazard_area_m2[0].sum() == 0  # the round deposit is outside the CHA: unknown
    assert res.unknown_area_m2[0] == pytest.approx(res.footprint_area_m2[0])


def test_cli_report_with_hazard_areas(make_vector, tmp_path):
    cha = shapely.box(X0, Y0 - 4000, X0 + 1500, Y0 - 2000)
    areas = make_vector([cha], crs="EPSG:3035", filename="cha.gpkg", kind=["CHA"])
    deposits, regions = _deposits(make_vector), _regions(make_vector)
    runner = CliRunner()
    base = ["report", "--deposits", str(deposits), "--regions", str(regions), "--no-control",
            "--buffer-m", "0", "--draws", "1", "--format", "json", "--hazard-areas", str(areas)]  # fmt: skip
    res = runner.invoke(app, [*base, "--hazard-class-field", "kind"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    box = next(d for d in out["deposits"] if d["name"] == "box")
    assert box["status"] == "partial" and box["hazard_area_m2"]["high"] > 0
    bad = runner.invoke(app, base)  # default field "class" does not exist
    assert bad.exit_code == 2
    assert "no field 'class' for the hazard class; fields: kind" in bad.output
    assert isinstance(Path(out["demine"]["inputs"]["hazard_areas"]), Path)


def test_overlay_polygons_doctest_case():
    from types import SimpleNamespace as C

    classes = [C(name="low", raster_value=1), C(name="high", raster_value=3)]
    fp = shapely.box(0, 0, 0.01, 0.01)
    res = overlay_polygons([fp], [0, 1], [shapely.box(0, 0, 0.006, 0.01),
                                          shapely.box(0.004, 0, 0.01, 0.01)], classes)  # fmt: skip
    np.testing.assert_allclose(res.area_m2[0] / geodesic_area_m2(fp), [0.4, 0.6], rtol=1e-6)


SOURCES = Path(__file__).resolve().parents[2] / "shared" / "geodata-sources"


def test_agrees_with_independent_intersection_on_public_polygons(tmp_path):
    """Polygons nobody on the team drew (DeepState, ISW; overlapping) over the 38 raions.

    Independent computation: geopandas/shapely in the equal-area EPSG:3035, planar areas,
    classes dissolved with the higher class winning. Required: within 0.5 %; found ~1e-7.
    """
    if not SOURCES.is_dir():
        pytest.skip(f"{SOURCES} not found: raw geodata sources not available")
    import geopandas as gpd
    import pandas as pd

    ts = gpd.read_file(SOURCES / "deepstate_control_timeseries_aoi.geojson")
    isw = gpd.read_file(SOURCES / "isw_russian_controlled_2023_04_aoi.geojson")
    recode = {"contested_or_unknown": "high", "liberated": "medium", "russian_controlled": "low"}
    layer = pd.concat(
        [
            gpd.GeoDataFrame({"hazard": ts["class"].map(recode)}, geometry=ts.geometry, crs=4326),
            gpd.GeoDataFrame({"hazard": ["SHA"]}, geometry=isw.geometry, crs=4326),  # medium
        ],
        ignore_index=True,
    )
    areas = tmp_path / "areas.gpkg"
    layer.to_file(areas)
    raions = gpd.read_file(SOURCES / "donetsk_zaporizhzhia_raions_pre2020.geojson")
    deposits = tmp_path / "raions.gpkg"
    raions[["raion_en", "geometry"]].rename(columns={"raion_en": "name"}).to_file(deposits)
    got = _run(deposits, _regions_lonlat(tmp_path), hazard_areas=areas, hazard_class_field="hazard")

    def laea(geoms):
        dense = shapely.segmentize(np.asarray(geoms, dtype=object), 0.002)
        return gpd.GeoSeries(dense, crs=4326).to_crs(3035).values

    polys, kinds = laea(layer.geometry), layer["hazard"].replace({"SHA": "medium"}).to_numpy()
    taken, pieces = shapely.Polygon(), {}
    for cls in ("high", "medium", "low"):
        union = shapely.union_all(polys[kinds == cls])
        pieces[cls] = shapely.difference(union, taken)
        taken = shapely.union(taken, union)
    for i, fp in enumerate(laea(raions.geometry)):
        for cls, piece in pieces.items():
            expected = shapely.intersection(fp, piece).area
            assert got.hazard_area_m2[i, K[cls]] == pytest.approx(
                expected, rel=0.005, abs=1e-6 * fp.area
            )


def _regions_lonlat(tmp_path):
    import geopandas as gpd

    path = tmp_path / "region.gpkg"
    gpd.GeoDataFrame({"name": ["all"]}, geometry=[shapely.box(33, 45, 41, 50)], crs=4326).to_file(
        path
    )
    return path


def test_cli_schedule_and_compare_take_hazard_areas(make_vector, tmp_path, write_toml):
    cha = shapely.box(X0, Y0 - 4000, X0 + 1500, Y0 - 2000)
    areas = make_vector([cha], crs="EPSG:3035", filename="cha.gpkg", kind=["CHA"])
    deposits, regions = _deposits(make_vector), _regions(make_vector)
    runner = CliRunner()
    common = ["--deposits", str(deposits), "--regions", str(regions), "--no-control",
              "--draws", "1", "--hazard-areas", str(areas), "--hazard-class-field", "kind"]  # fmt: skip
    csv_path = tmp_path / "timeline.csv"
    res = runner.invoke(app, ["schedule", *common, "--buffer-m", "0", "--csv", str(csv_path)])
    assert res.exit_code == 0, res.output
    import csv

    with csv_path.open(newline="") as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    assert "hazardous-area polygons cover" in rows["box"]["reason"]
    a = write_toml("[general]\nfootprint_buffer_m = 0\n", name="a.toml")
    b = write_toml("[general]\nfootprint_buffer_m = 100\n", name="b.toml")
    res = runner.invoke(app, ["compare", str(a), str(b), *common])
    assert res.exit_code == 0, res.output
    assert "footprint_buffer_m" in res.output
    # the polygons are read: a wrong class field is the same clean error as in `report`
    bad = runner.invoke(app, ["schedule", *common[:-2], "--buffer-m", "0"])
    assert bad.exit_code == 2 and "no field 'class' for the hazard class" in bad.output
