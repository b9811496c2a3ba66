"""The map: a PNG of the requested size that shows the data, an offline HTML map, the command."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from matplotlib import image as mpimg
from typer.testing import CliRunner

from estimator import plot
from estimator.cli import app
from estimator.errors import InputDataError
from estimator.html import map_html
from estimator.mapdata import load_map_data
from estimator.pipeline import Inputs, estimate
from estimator.symbology import class_colours, hex_to_rgb

from .test_outputs import _args, build_scene

SMALL = {"width_px": 700, "height_px": 990, "dpi": 84}  # A4 proportions, 8.3 x 11.8 in


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def result(make_raster, make_vector):
    return estimate(build_scene(make_raster, make_vector), n_draws=20)


def _colour_share(png: bytes, colour: str, tmp_path, opacity: float = 0.92) -> float:
    path = tmp_path / "m.png"
    path.write_bytes(png)
    rgb = (mpimg.imread(path)[..., :3] * 255).round().astype(int)
    target = np.array(hex_to_rgb(colour))
    # Raster classes are painted at 92 % over white.
    blended = np.round(opacity * target + (1 - opacity) * 255)
    return float((np.abs(rgb - blended).max(axis=-1) <= 2).mean())


def test_png_has_the_requested_size_and_shows_the_classes(result, tmp_path):
    png = plot.render_map(result, **SMALL)
    assert _png_size(png) == (700, 990)
    assert len(png) > 20_000
    colours = class_colours(result.params)
    for name in ("low", "medium", "high"):
        assert _colour_share(png, colours[name], tmp_path) > 0.002, name


def test_a4_at_300_dpi_is_the_default(result):
    assert (plot.A4_WIDTH_PX, plot.A4_HEIGHT_PX, plot.A4_DPI) == (2480, 3508, 300)
    png = plot.render_map(result, width_px=1240, height_px=1754, dpi=150)
    assert _png_size(png) == (1240, 1754)


def test_map_layers_are_projected_and_fitted(result):
    aspect = plot.map_aspect(**SMALL)
    data = load_map_data(result, aspect=aspect, grid_width=300)
    xmin, ymin, xmax, ymax = data.extent
    assert (xmax - xmin) / (ymax - ymin) == pytest.approx(aspect)
    assert data.classes.shape == (round(300 / aspect), 300)
    assert data.classes.mask.any() and not data.classes.mask.all()  # nodata and outside
    assert data.focus == ("West", "East")
    assert data.occupied is not None and data.occupied.area > 0
    assert data.front_line is not None and data.front_line.length > 0
    assert data.crs.is_projected and all(f is not None for f in data.footprints)
    # Metres, not degrees: the scene is 6 km across.
    assert 5_000 < xmax - xmin < 20_000


def test_region_zooms(make_raster, make_vector):
    inputs = build_scene(make_raster, make_vector)
    whole = estimate(inputs, n_draws=1)
    west = estimate(Inputs(**{**_fields(inputs), "regions_filter": ("west",)}), n_draws=1)
    a = load_map_data(whole, aspect=0.8, grid_width=100).extent
    b = load_map_data(west, aspect=0.8, grid_width=100).extent
    assert b[2] - b[0] < a[2] - a[0]
    assert plot.render_map(west, **SMALL)[:4] == b"\x89PNG"


def _fields(inputs: Inputs) -> dict:
    return {k: getattr(inputs, k) for k in inputs.__dataclass_fields__}


def test_map_draws_hazardous_area_polygons_without_a_raster(make_raster, make_vector, tmp_path):
    import dataclasses

    from .test_outputs import GRIDS, _pixel_poly

    scene = build_scene(make_raster, make_vector)
    t = GRIDS["EPSG:3035"]
    areas = make_vector(
        [_pixel_poly(t, [(2, 2), (40, 2), (40, 40), (2, 40)])],
        crs="EPSG:3035",
        filename="cha.gpkg",
        **{"class": ["CHA"]},
    )
    r = estimate(dataclasses.replace(scene, hazard_areas=areas, contamination=None), n_draws=1)
    data = plot.map_data_for(r, **SMALL)
    assert data.classes is None and [k for k, _ in data.hazard_polygons] == [3]
    png = plot.render_map(r, data, **SMALL)
    assert _colour_share(png, class_colours(r.params)["high"], tmp_path, opacity=1.0) > 0.01
    assert _png_size(png) == (700, 990)
    # the legend names the polygons, not the embedded proxy and its class descriptions
    svg = plot.render_map(r, data, fmt="svg", **SMALL).decode()
    assert "Hazard class (hazardous-area polygons)" in svg
    assert "PROXY" not in svg and "trench" not in svg


def test_svg_map_has_hover_titles_and_html_is_offline(result):
    svg = plot.render_map(result, fmt="svg", **SMALL)
    text = svg.decode("utf-8")
    assert text.count("<title>") >= len(result.deposits)
    assert "Alpha (Li)" in text
    page = map_html(result, svg)
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    for bad in ("<script", "<link", 'src="http', "@import"):
        assert bad not in page


def test_too_small_a_map_is_refused(result):
    with pytest.raises(InputDataError, match="the map needs at least 4 x 5 in"):
        plot.render_map(result, width_px=300, height_px=300, dpi=300)
    with pytest.raises(InputDataError, match="--dpi 5"):
        plot.render_map(result, width_px=300, height_px=300, dpi=5)


def test_cli_map_png_and_html(make_raster, make_vector, tmp_path):
    scene = build_scene(make_raster, make_vector)
    out = tmp_path / "map.png"
    page = tmp_path / "map.html"
    result = CliRunner().invoke(
        app,
        [
            "map",
            *_args(scene),
            "-o",
            str(out),
            "--html",
            str(page),
            "--width-px",
            "700",
            "--height-px",
            "990",
            "--dpi",
            "84",
            "--region",
            "East",
        ],
    )
    assert result.exit_code == 0, result.output
    assert _png_size(out.read_bytes()) == (700, 990)
    assert "<svg" in page.read_text()
    assert not list(tmp_path.glob(".*.tmp"))


def test_cli_map_draws_hazard_areas(make_raster, make_vector, tmp_path):
    from .test_outputs import GRIDS, _pixel_poly

    scene = build_scene(make_raster, make_vector)
    areas = make_vector(
        [_pixel_poly(GRIDS["EPSG:3035"], [(2, 2), (40, 2), (40, 40), (2, 40)])],
        crs="EPSG:3035",
        filename="cha.gpkg",
        status=["CHA"],
    )
    # Without --contamination: the polygons alone, drawn in the high class's colour.
    args = [a for a in _args(scene) if a not in ("--contamination", str(scene.contamination))]
    out = tmp_path / "map.png"
    size = ["--width-px", "700", "--height-px", "990", "--dpi", "84"]
    result = CliRunner().invoke(
        app,
        ["map", *args, "--hazard-areas", str(areas), "--hazard-class-field", "status", "-o",
         str(out), *size],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    params = estimate(build_scene(make_raster, make_vector), n_draws=1).params
    assert _colour_share(out.read_bytes(), class_colours(params)["high"], tmp_path, 1.0) > 0.01
    result = CliRunner().invoke(
        app, ["map", *args, "--hazard-areas", str(areas), "-o", str(out), *size]
    )
    assert result.exit_code == 2 and "class" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["-o", "map.jpg"], "--output: map.jpg: the map is a PNG; name it *.png"),
        (["-o", "m.png", "--width-px", "100"], "the map needs at least 4 x 5 in"),
        (["-o", "m.png", "--region", "Atlantis"], "--region 'Atlantis': no such region"),
    ],
)
def test_cli_map_bad_options_exit_2(make_raster, make_vector, tmp_path, extra, needle):
    scene = build_scene(make_raster, make_vector)
    extra = [str(tmp_path / e) if e.endswith((".png", ".jpg")) else e for e in extra]
    result = CliRunner().invoke(app, ["map", *_args(scene), *extra])
    assert result.exit_code == 2, result.output
    assert needle.replace("map.jpg", str(tmp_path / "map.jpg")) in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_map_of_the_embedded_data(tmp_path):
    """The real thing: both oblasts, occupied ground and front line, nine labelled deposits."""
    r = estimate(Inputs(), n_draws=1)
    data = plot.map_data_for(r, **SMALL)
    assert data.focus == ("Donetsk", "Zaporizhzhia")
    assert data.front_line.length > 300_000  # hundreds of km of front
    assert data.occupied.area > 2e10  # tens of thousands of km2
    png = plot.render_map(r, data, **SMALL)
    assert _png_size(png) == (700, 990)
    colours = class_colours(r.params)
    assert _colour_share(png, colours["low"], tmp_path) > 0.05
