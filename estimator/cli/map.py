"""``demine map``: the printable map of a report (A4 PNG at 300 dpi) and an offline HTML map."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from . import options as opt
from ._common import (
    announce,
    app,
    build_inputs,
    check_output_paths,
    handle_errors,
    setup_logging,
)
from ._steps import run_step

logger = logging.getLogger(__name__)

WidthPx = Annotated[int, typer.Option("--width-px", help="Image width, pixels.", min=1)]
HeightPx = Annotated[int, typer.Option("--height-px", help="Image height, pixels.", min=1)]
Dpi = Annotated[
    int,
    typer.Option("--dpi", help="Pixels per inch: with the size, sets the paper size and fonts."),
]


@app.command(name="map")
@handle_errors
def map_command(
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="The PNG to write (A4 portrait at 300 dpi by default)."
        ),
    ],
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Also write a self-contained HTML map (vector, zoomable, deposit figures on "
            "hover; works offline).",
        ),
    ] = None,
    width_px: WidthPx = 2480,
    height_px: HeightPx = 3508,
    dpi: Dpi = 300,
    deposits: opt.Deposits = None,
    contamination: opt.Contamination = None,
    hazard_areas: opt.HazardAreas = None,
    hazard_class_field: opt.HazardClassField = "class",
    regions: opt.Regions = None,
    control: opt.Control = None,
    params: opt.ParamsFile = None,
    region: opt.Region = None,
    buffer_m: opt.BufferM = None,
    band: opt.Band = 1,
    point_radius_m: opt.PointRadiusM = None,
    assume_crs: opt.AssumeCrs = None,
    as_of: opt.AsOf = None,
    no_control: opt.NoControl = False,
    draws: opt.Draws = opt.DEFAULT_DRAWS,
    seed: opt.Seed = opt.DEFAULT_SEED,
    teams: opt.Teams = None,
    start_date: opt.StartDate = None,
    access_date: opt.AccessDate = None,
    priority: opt.Priority = None,
    id_field: opt.IdField = None,
    name_field: opt.NameField = None,
    verbose: opt.Verbose = 0,
    quiet: opt.Quiet = 0,
) -> None:
    """Draw the map: contamination classes, occupation, front line, deposits by P50 cost.

    Hazardous-area polygons (--hazard-areas) are drawn in their classes' colours.

    With a legend, a scale bar and the data credits; --region zooms to a region.
    """
    from .. import io as dio
    from .. import plot
    from ..html import map_html
    from ..pipeline import estimate

    setup_logging(verbose, quiet)
    check_output_paths(output=output, html=html)
    if output.suffix.lower() != ".png":
        raise typer.BadParameter(
            f"{output}: the map is a PNG; name it *.png", param_hint="--output"
        )
    inputs = build_inputs(
        deposits=deposits,
        contamination=contamination,
        hazard_areas=hazard_areas,
        hazard_class_field=hazard_class_field,
        regions=regions,
        control=control,
        params=params,
        region=region,
        buffer_m=buffer_m,
        band=band,
        assume_crs=assume_crs,
        point_radius_m=point_radius_m,
        as_of=as_of,
        no_control=no_control,
        start_date=start_date,
        access_date=access_date,
        priority=priority,
        id_field=id_field,
        name_field=name_field,
        teams=teams,
    )
    # Check the size before the estimate, so a bad size fails at once.
    size = {"width_px": width_px, "height_px": height_px, "dpi": dpi}
    plot.check_map_size(width_px, height_px, dpi)
    result = run_step(
        "estimate",
        quiet,
        lambda progress: estimate(inputs, n_draws=draws, seed=seed, progress=progress),
    )
    data = run_step("map layers", quiet, lambda _: plot.map_data_for(result, **size))
    png = run_step("map (PNG)", quiet, lambda _: plot.render_map(result, data, **size))
    dio.write_bytes(png, output)
    written = [output]
    if html is not None:
        svg = run_step(
            "map (SVG)", quiet, lambda _: plot.render_map(result, data, fmt="svg", **size)
        )
        dio.write_text(map_html(result, svg), html)
        written.append(html)
    announce(*written, quiet=quiet)
