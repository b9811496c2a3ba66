"""``demine report``: the per-deposit and per-region estimate."""

from __future__ import annotations

import io
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from . import options as opt
from ._common import (
    announce,
    app,
    build_inputs,
    check_output_paths,
    err_console,
    handle_errors,
    print_table,
    setup_logging,
    stdout_console,
)
from ._steps import run_step


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
    probability: opt.Probability = None,
    hazard_areas: opt.HazardAreas = None,
    hazard_class_field: opt.HazardClassField = "class",
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
    regions_csv: Annotated[
        Path | None,
        typer.Option(
            "--regions-csv",
            help="Write one CSV row per region: totals with P10/P50/P90 of the sums per draw "
            "(not sums of the deposits' quantiles).",
        ),
    ] = None,
    gpkg: Annotated[
        Path | None,
        typer.Option(
            "--gpkg",
            help="Write a GeoPackage for QGIS: deposits, regions and hazard_in_footprints "
            "(clearance-task polygons), each with a default style.",
        ),
    ] = None,
    hazard_geojson: Annotated[
        Path | None,
        typer.Option(
            "--hazard-geojson",
            help="Write the clearance-task polygons (footprint parts per hazard class) as GeoJSON.",
        ),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html", help="Write a self-contained HTML report (tables, assumptions, map)."
        ),
    ] = None,
    map_png: Annotated[
        Path | None,
        typer.Option("--map", help="Also draw the map (A4 PNG); the Markdown report links to it."),
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
    id_field: opt.IdField = None,
    name_field: opt.NameField = None,
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
    workers: opt.Workers = None,
    scheduler: opt.Scheduler = None,
    verbose: opt.Verbose = 0,
    quiet: opt.Quiet = 0,
) -> None:
    """Estimate survey and clearance area, cost and team-days per deposit and region."""
    from .. import io as dio
    from .. import report as rep
    from ..pipeline import estimate

    setup_logging(verbose, quiet)
    check_output_paths(
        output=output,
        geojson=geojson,
        gpkg=gpkg,
        html=html,
        map=map_png,
        **{
            "sensitivity-png": sensitivity_png,
            "regions-csv": regions_csv,
            "hazard-geojson": hazard_geojson,
        },
    )
    _check_suffixes(gpkg=gpkg, map=map_png, geojson=geojson, hazard_geojson=hazard_geojson)
    inputs = build_inputs(
        deposits=deposits,
        contamination=contamination,
        probability=probability,
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
        workers=workers,
        scheduler=scheduler,
    )
    err = err_console()
    result = run_step(
        "estimate",
        quiet,
        lambda progress: estimate(
            inputs,
            n_draws=draws,
            seed=seed,
            sensitivity=sensitivity or sensitivity_png is not None,
            progress=progress,
        ),
    )

    unusable = [d for d in result.deposits if d.status == "invalid"]
    if unusable and len(unusable) == len(result.deposits) and quiet < 2:
        err.print(
            f"demine: warning: none of the {len(unusable)} deposit(s) could be assessed (all "
            "invalid); their reasons say why",
            markup=False,
        )
    if sensitivity_png is not None:
        from .. import plot

        dio.write_bytes(plot.tornado_png(result), sensitivity_png)
        announce(sensitivity_png, quiet=quiet)

    if regions_csv is not None:
        dio.write_text(rep.regions_csv(result), regions_csv)
        announce(regions_csv, quiet=quiet)
    if sensitivity and fmt is Format.csv and quiet == 0:
        err.print(
            "demine: --sensitivity: a CSV holds one row per deposit; the tornado tables are in "
            "the table, Markdown and JSON formats (or --sensitivity-png)",
            markup=False,
        )
    if geojson is not None:
        dio.write_json(rep.to_geojson(result), geojson, indent=None)
        announce(geojson, quiet=quiet)

    _write_outputs(
        result, quiet=quiet, gpkg=gpkg, hazard_geojson=hazard_geojson, html=html, map_png=map_png
    )

    if fmt is Format.table and output is None:
        _print_table(stdout_console(240), result, quiet=quiet, sensitivity=sensitivity)
        return
    if fmt is Format.json:
        text = rep.to_json(result)
    elif fmt is Format.csv:
        text = rep.to_csv(result)
    elif fmt is Format.markdown:
        text = rep.markdown_document(result, map_href=_href(map_png, output))
    else:
        console = Console(record=True, width=240, file=io.StringIO(), highlight=False)
        _print_table(console, result, quiet=quiet, sensitivity=sensitivity)
        text = console.export_text()
    if output is not None:
        dio.write_text(text, output)
        announce(output, quiet=quiet)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def _print_table(console: Console, result, *, quiet: int, sensitivity: bool) -> None:
    from .. import report as rep

    head, notes = rep.caption_lines(result)
    tables = rep.render_tables(result)
    hidden = None
    # A terminal too narrow for the full tables: without the class areas and the P10-P90
    # ranges (fewer wrapped lines, if any); a pipe or file keeps everything.
    if console.is_terminal and not all(rep.fit_table(t, console) for t in tables):
        tables = rep.render_tables(result, compact=True)
        ranges = " and P10-P90 ranges" if result.meta["draws"] > 1 else ""
        hidden = (
            f"hazard class areas{ranges} not shown in {console.width} columns: widen the "
            "terminal, or see them with --format markdown, csv or json"
        )
    if quiet == 0:
        for line in head:
            console.print(line, style="dim", markup=False)
    if hidden is not None:  # even with -q: the table does not say it leaves columns out
        console.print(hidden, style="dim", markup=False)
    for table in tables:
        # A region without deposits: its line, no table.
        if str(table.title).endswith(": 0 deposit(s)"):
            console.print(str(table.title), markup=False)
            continue
        print_table(console, table)
    if notes:
        console.print("Notes:", style="bold")
        for line in notes:
            console.print(f"  {line}", markup=False)
    if sensitivity:
        for table in rep.render_sensitivity(result):
            print_table(console, table)


def _check_suffixes(**paths: Path | None) -> None:
    """Refuse output names GDAL or a browser would not recognise (exit 2, before any work)."""
    wanted = {
        "gpkg": (".gpkg",),
        "map": (".png",),
        "geojson": (".geojson", ".json"),
        "hazard_geojson": (".geojson", ".json"),
    }
    for name, path in paths.items():
        if path is not None and path.suffix.lower() not in wanted[name]:
            raise typer.BadParameter(
                f"{path}: name it *{wanted[name][0]}", param_hint=f"--{name.replace('_', '-')}"
            )


def _href(map_png: Path | None, output: Path | None) -> str | None:
    """Return the map's path as the Markdown file sees it (relative to it when possible)."""
    import os

    if map_png is None:
        return None
    base = output.parent if output is not None else Path.cwd()
    try:
        return Path(os.path.relpath(map_png.resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return map_png.resolve().as_uri()


def _write_outputs(
    result,
    *,
    quiet: int,
    gpkg: Path | None,
    hazard_geojson: Path | None,
    html: Path | None,
    map_png: Path | None,
) -> None:
    """Write the GeoPackage, task-polygon GeoJSON, map and HTML report that were asked for."""
    from .. import io as dio

    written: list[Path] = []
    if gpkg is not None or hazard_geojson is not None:
        from ..taskpolygons import build_task_polygons, to_hazard_geojson

        tasks = run_step(
            "hazard polygons",
            quiet,
            lambda progress: build_task_polygons(result, progress=progress),
        )
        if hazard_geojson is not None:
            dio.write_json(to_hazard_geojson(result, tasks), hazard_geojson, indent=None)
            written.append(hazard_geojson)
        if gpkg is not None:
            from ..gpkg import write_report_gpkg

            run_step("GeoPackage", quiet, lambda _: write_report_gpkg(result, tasks, gpkg))
            written.append(gpkg)
    if html is not None or map_png is not None:
        from .. import plot

        # A4 at 300 dpi for print; a page on screen (HTML alone) needs only 150 dpi.
        size = {} if map_png is not None else {"width_px": 1240, "height_px": 1754, "dpi": 150}
        png = run_step("map", quiet, lambda _: plot.render_map(result, **size))
        if map_png is not None:
            dio.write_bytes(png, map_png)
            written.append(map_png)
        if html is not None:
            from ..html import report_html

            dio.write_text(report_html(result, map_png=png), html)
            written.append(html)
    announce(*written, quiet=quiet)
