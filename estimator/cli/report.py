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

from ..uncertainty import DEFAULT_DRAWS, DEFAULT_SEED
from ._common import app, err_console, handle_errors, parse_date, parse_teams, setup_logging

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
    deposits: Annotated[
        Path | None,
        typer.Option(
            "--deposits",
            help="Deposit polygons (any OGR format, any CRS).",
            show_default="embedded",
        ),
    ] = None,
    contamination: Annotated[
        Path | None,
        typer.Option(
            "--contamination",
            help="Contamination raster of hazard classes (any GDAL raster, any CRS).",
            show_default="embedded proxy",
        ),
    ] = None,
    regions: Annotated[
        Path | None,
        typer.Option(
            "--regions", help="Region polygons with a 'name' field.", show_default="embedded"
        ),
    ] = None,
    control: Annotated[
        Path | None,
        typer.Option(
            "--control",
            help="Control zones (fields 'date' and 'class'; occupied classes count).",
            show_default="embedded",
        ),
    ] = None,
    params: Annotated[
        Path | None,
        typer.Option("--params", help="Parameter file (TOML) laid over the defaults."),
    ] = None,
    region: Annotated[
        list[str] | None,
        typer.Option("--region", help="Only this region (repeatable, case-insensitive)."),
    ] = None,
    buffer_m: Annotated[
        float | None,
        typer.Option("--buffer-m", help="Footprint buffer around each deposit, metres."),
    ] = None,
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
    band: Annotated[int, typer.Option("--band", help="Raster band holding the classes.")] = 1,
    point_radius_m: Annotated[
        float | None,
        typer.Option("--point-radius-m", help="Radius for point deposits, metres."),
    ] = None,
    assume_crs: Annotated[
        str | None,
        typer.Option("--assume-crs", help="CRS for vector files that declare none (EPSG:XXXX)."),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="Use the control snapshot on or before this date (YYYY-MM-DD)."
        ),
    ] = None,
    no_control: Annotated[
        bool, typer.Option("--no-control", help="Do not compute occupied shares.")
    ] = False,
    draws: Annotated[
        int, typer.Option("--draws", help="Monte Carlo draws (1 = modes only).", min=1)
    ] = DEFAULT_DRAWS,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the Monte Carlo draws.")
    ] = DEFAULT_SEED,
    teams: Annotated[
        str | None,
        typer.Option(
            "--teams",
            help="Teams per method, e.g. manual=40,mechanical=6,mdd=4,nts=10,ts=8.",
            show_default="parameter file",
        ),
    ] = None,
    start_date: Annotated[
        str | None,
        typer.Option("--start-date", help="First day of work (YYYY-MM-DD).", show_default="today"),
    ] = None,
    access_date: Annotated[
        str | None,
        typer.Option(
            "--access-date",
            help="When occupied ground becomes accessible (YYYY-MM-DD); without it, it is blocked.",
        ),
    ] = None,
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
    priority: Annotated[
        str | None,
        typer.Option(
            "--priority",
            help="Deposit field ordering the work (lower first).",
            show_default="cheapest per hectare first",
        ),
    ] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More logging.")] = 0,
    quiet: Annotated[int, typer.Option("--quiet", "-q", count=True, help="Less output.")] = 0,
) -> None:
    """Estimate survey and clearance area, cost and team-days per deposit and region."""
    from .. import io as dio
    from .. import report as rep
    from ..pipeline import Inputs, estimate

    setup_logging(verbose, quiet)
    if band < 1:
        raise typer.BadParameter(f"{band}: bands are numbered from 1", param_hint="--band")
    if point_radius_m is not None and not point_radius_m > 0:
        raise typer.BadParameter(f"{point_radius_m}: must be > 0", param_hint="--point-radius-m")
    for path, opt in (
        (output, "--output"),
        (geojson, "--geojson"),
        (sensitivity_png, "--sensitivity-png"),
    ):
        if path is not None and path.is_dir():
            raise typer.BadParameter(f"{path} is a directory; give a file path", param_hint=opt)
        if path is not None and not path.parent.exists():
            raise typer.BadParameter(
                f"{path}: directory {path.parent} does not exist", param_hint=opt
            )
    inputs = Inputs(
        deposits=deposits,
        contamination=contamination,
        regions=regions,
        control=control,
        params=params,
        regions_filter=tuple(region or ()),
        buffer_m=buffer_m,
        band=band,
        assume_crs=assume_crs,
        point_radius_m=point_radius_m,
        as_of=parse_date(as_of, "--as-of"),
        no_control=no_control,
        start_date=parse_date(start_date, "--start-date"),
        access_date=parse_date(access_date, "--access-date"),
        priority=priority,
        teams=parse_teams(teams),
    )
    err = err_console()
    show_progress = quiet == 0 and err.is_terminal
    if show_progress:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("overlay", total=1.0)
            result = estimate(
                inputs,
                n_draws=draws,
                seed=seed,
                sensitivity=sensitivity or sensitivity_png is not None,
                progress=lambda f, msg: bar.update(task, completed=f, description=msg[:40]),
            )
    else:
        result = estimate(
            inputs,
            n_draws=draws,
            seed=seed,
            sensitivity=sensitivity or sensitivity_png is not None,
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
