"""``demine report``: the per-deposit and per-region estimate."""

from __future__ import annotations

import io
import logging
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from . import options as opt
from ._common import (
    app,
    build_inputs,
    check_output_paths,
    err_console,
    handle_errors,
    setup_logging,
    with_progress,
)

logger = logging.getLogger(__name__)


class Format(StrEnum):
    """Report formats printed to standard output."""

    table = "table"
    markdown = "markdown"
    csv = "csv"
    json = "json"


@app.command()
@handle_errors
def report(
    deposits: opt.Deposits = None,
    contamination: opt.Contamination = None,
    regions: opt.Regions = None,
    control: opt.Control = None,
    params: opt.ParamsFile = None,
    region: opt.Region = None,
    buffer_m: opt.BufferM = None,
    fmt: Annotated[
        Format, typer.Option("--format", help="Report format on stdout.")
    ] = Format.table,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the report to this file instead of stdout."),
    ] = None,
    geojson: Annotated[
        Path | None,
        typer.Option("--geojson", help="Write footprints with results as RFC 7946 GeoJSON."),
    ] = None,
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
    sensitivity: Annotated[
        bool,
        typer.Option(
            "--sensitivity",
            help="Rank the parameters by how much they move each region's cost and ready date.",
        ),
    ] = False,
    sensitivity_png: Annotated[
        Path | None,
        typer.Option("--sensitivity-png", help="Also draw the tornado charts to this PNG."),
    ] = None,
    verbose: opt.Verbose = 0,
    quiet: opt.Quiet = 0,
) -> None:
    """Estimate survey and clearance area, cost and team-days per deposit and region."""
    from .. import io as dio
    from .. import report as rep
    from ..pipeline import estimate

    setup_logging(verbose, quiet)
    check_output_paths(output=output, geojson=geojson, **{"sensitivity-png": sensitivity_png})
    inputs = build_inputs(
        deposits=deposits,
        contamination=contamination,
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
        teams=teams,
    )
    err = err_console()
    result = with_progress(
        quiet,
        lambda progress: estimate(
            inputs,
            n_draws=draws,
            seed=seed,
            sensitivity=sensitivity or sensitivity_png is not None,
            progress=progress,
        ),
    )

    if sensitivity_png is not None:
        from .. import plot

        dio.write_bytes(plot.tornado_png(result), sensitivity_png)
        logger.info("wrote %s", sensitivity_png)

    if geojson is not None:
        dio.write_json(rep.to_geojson(result), geojson, indent=None)
        logger.info("wrote %s", geojson)

    if fmt is Format.table and output is None:
        # A pipe or file gets the full width; a terminal its own.
        out = Console(highlight=False)
        if not out.is_terminal:
            out = Console(highlight=False, width=240)
        _print_table(out, result, quiet=quiet, sensitivity=sensitivity)
        return
    if fmt is Format.json:
        text = rep.to_json(result)
    elif fmt is Format.csv:
        text = rep.to_csv(result)
    elif fmt is Format.markdown:
        text = rep.to_markdown(result)
    else:
        console = Console(record=True, width=240, file=io.StringIO(), highlight=False)
        _print_table(console, result, quiet=quiet, sensitivity=sensitivity)
        text = console.export_text()
    if output is not None:
        dio.write_text(text, output)
        if quiet == 0:
            err.print(f"wrote {output}", markup=False)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def _print_table(console: Console, result, *, quiet: int, sensitivity: bool) -> None:
    from .. import report as rep

    head, notes = rep.caption_lines(result)
    if quiet == 0:
        for line in head:
            console.print(line, style="dim", markup=False)
    for table in rep.render_tables(result):
        console.print(table)
    if notes:
        console.print("Notes:", style="bold")
        for line in notes:
            console.print(f"  {line}", markup=False)
    if sensitivity:
        for table in rep.render_sensitivity(result):
            console.print(table)
