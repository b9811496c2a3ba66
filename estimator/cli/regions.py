"""``demine regions``: hazard area and release cost of whole regions (the needs-assessment view)."""

from __future__ import annotations

import csv
import io
import json
import logging
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from . import options as opt
from ._common import (
    announce,
    app,
    bar_callback,
    check_hazard_options,
    check_output_paths,
    checkpoint_only,
    err_console,
    handle_errors,
    print_table,
    setup_logging,
    stdout_console,
    stop_checkpoint,
)

logger = logging.getLogger(__name__)

KM2 = 1e6


class Format(StrEnum):
    """Output formats."""

    table = "table"
    markdown = "markdown"
    csv = "csv"
    json = "json"


def _rows(result) -> list[dict[str, object]]:
    """Return one row per region, named as the report's columns are.

    Classes are ``hazard_area_m2_CLASS``; the model runs at the modes of the parameters, so
    its figures end in ``_mode``. Rounded to the cent and the hundredth of a square metre.
    """

    def clean(x: float | None) -> float | None:
        return None if x is None else float(round(x, 2))

    rows = []
    for r in result.regions:
        row: dict[str, object] = {"name": r.name, "area_m2": clean(r.area_m2)}
        for name in result.class_names:
            row[f"hazard_area_m2_{name}"] = clean(r.hazard_area_m2[name])
        row["unknown_area_m2"] = clean(r.unknown_area_m2)
        row["outside_raster_area_m2"] = clean(r.outside_raster_area_m2)
        row["expected_hazard_area_m2"] = clean(r.expected_hazard_area_m2)
        for f, v in r.figures.items():
            row[f"{f}_mode"] = clean(v)
        for m, v in r.clearance_area_m2_by_method.items():
            row[f"clearance_area_m2_{m}_mode"] = clean(v)
        for m, v in r.team_days_by_method.items():
            row[f"team_days_{m}_mode"] = clean(v)
        row["notes"] = "; ".join(r.notes)
        rows.append(row)
    return rows


def _has_expected(result) -> bool:
    return any(r.expected_hazard_area_m2 is not None for r in result.regions)


def _km2(area_m2: float | None) -> str:
    return "n/a" if area_m2 is None else f"{area_m2 / KM2:,.1f}"


def _table(result) -> Table:
    t = Table(
        title=(
            "Whole regions: hazard area and the cost of releasing all of it "
            f"(modes of the parameters, {result.meta['currency']} {result.meta['price_year']})"
        ),
        title_justify="left",
    )
    t.add_column("Region", overflow="fold")
    expected = _has_expected(result)
    for col in (
        "Area km²",
        *(f"{name} km²" for name in result.class_names),
        "Unknown km²",
        *(["Expected hazard km²"] if expected else []),
        "TS km²",
        "Clearance km²",
        "Team-days",
        "Cost",
    ):
        t.add_column(col, justify="right", no_wrap=True)
    for r in result.regions:
        f = r.figures
        t.add_row(
            r.name,
            f"{r.area_m2 / KM2:,.1f}",
            *(f"{r.hazard_area_m2[n] / KM2:,.1f}" for n in result.class_names),
            f"{r.unknown_area_m2 / KM2:,.1f}",
            *([_km2(r.expected_hazard_area_m2)] if expected else []),
            f"{f['ts_area_m2'] / KM2:,.1f}",
            f"{f['clearance_area_m2'] / KM2:,.2f}",
            f"{f['team_days']:,.0f}",
            f"{f['cost_usd'] / 1e6:,.1f} M",
        )
    return t


def _notes(result) -> list[str]:
    return [f"{r.name}: {note}" for r in result.regions for note in r.notes]


def _print(console: Console, result) -> None:
    print_table(console, _table(result))
    for note in _notes(result):
        console.print(f"  {note}", markup=False)


def _markdown(result) -> str:
    head = ["Region", "Area km²", *(f"{n} km²" for n in result.class_names)]
    expected = _has_expected(result)
    head += ["Unknown km²", *(["Expected hazard km²"] if expected else [])]
    head += ["TS km²", "Clearance km²", "Team-days", "Cost US$ M"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in result.regions:
        f = r.figures
        cells = [r.name, f"{r.area_m2 / KM2:,.1f}"]
        cells += [f"{r.hazard_area_m2[n] / KM2:,.1f}" for n in result.class_names]
        cells += [
            f"{r.unknown_area_m2 / KM2:,.1f}",
            *([_km2(r.expected_hazard_area_m2)] if expected else []),
            f"{f['ts_area_m2'] / KM2:,.1f}",
            f"{f['clearance_area_m2'] / KM2:,.2f}",
            f"{f['team_days']:,.0f}",
            f"{f['cost_usd'] / 1e6:,.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    notes = _notes(result)
    if notes:
        lines += ["", *(f"- {note}" for note in notes)]
    return "\n".join(lines) + "\n"


def _csv(result) -> str:
    rows = _rows(result)
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()


class _LineProgress:
    """Progress lines on stderr when it is not a terminal: blocks done and ETA, every 10 s."""

    def __init__(self, console: Console, every_s: float = 10.0):
        self.console = console
        self.every_s = every_s
        self.start = time.monotonic()
        self.last = self.start

    def __call__(self, frac: float, msg: str) -> None:
        stop_checkpoint()
        now = time.monotonic()
        if now - self.last < self.every_s or frac <= 0 or frac >= 1:
            return
        self.last = now
        eta = (now - self.start) * (1 - frac) / frac
        self.console.print(f"demine: {msg} ({frac:.0%}), ETA {eta:,.0f} s", markup=False)


@app.command()
@handle_errors
def regions(
    contamination: opt.Contamination = None,
    probability: Annotated[
        Path | None,
        typer.Option(
            "--probability",
            help="Raster of hazard probabilities 0-1 (any GDAL raster, any CRS, band 1) for each "
            "region's expected hazard area.",
            show_default="embedded, with the embedded contamination raster; none with your own",
        ),
    ] = None,
    hazard_areas: opt.HazardAreas = None,
    hazard_class_field: opt.HazardClassField = "class",
    regions_path: Annotated[
        Path | None,
        typer.Option(
            "--regions", help="Region polygons with a 'name' field.", show_default="embedded"
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
    band: Annotated[int, typer.Option("--band", help="Raster band holding the classes.")] = 1,
    assume_crs: Annotated[
        str | None,
        typer.Option("--assume-crs", help="CRS for vector files that declare none (EPSG:XXXX)."),
    ] = None,
    workers: opt.Workers = None,
    scheduler: opt.Scheduler = None,
    fmt: Annotated[
        Format, typer.Option("--format", help="Output format on stdout.")
    ] = Format.table,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the result to this file instead of stdout."),
    ] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More logging.")] = 0,
    quiet: Annotated[int, typer.Option("--quiet", "-q", count=True, help="Less output.")] = 0,
) -> None:
    """Hazard area by class of each whole region and the cost of releasing all of it."""
    from .. import io as dio
    from ..wholeregion import summarize_whole_regions

    setup_logging(verbose, quiet)
    if band < 1:
        raise typer.BadParameter(f"{band}: bands are numbered from 1", param_hint="--band")
    if workers is not None and workers < 1:
        raise typer.BadParameter(f"{workers}: must be at least 1", param_hint="--workers")
    check_output_paths(output=output)
    check_hazard_options(hazard_areas, hazard_class_field)
    err = err_console()

    def run(progress):
        return summarize_whole_regions(
            contamination=contamination,
            regions=regions_path,
            params=params,
            regions_filter=tuple(region or ()),
            band=band,
            assume_crs=assume_crs,
            workers=workers,
            scheduler=scheduler,
            progress=progress,
            hazard_areas=hazard_areas,
            hazard_class_field=hazard_class_field,
            probability=probability,
        )

    if quiet == 0 and err.is_terminal:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
            auto_refresh=False,  # no refresh thread: the overlay may fork (see bar_callback)
        ) as bar:
            result = run(bar_callback(bar, "overlay"))
    else:
        result = run(_LineProgress(err) if quiet == 0 else checkpoint_only)

    if fmt is Format.table and output is None:
        _print(stdout_console(200, soft_wrap=False), result)
        return
    if fmt is Format.json:
        text = json.dumps({"demine": result.meta, "regions": _rows(result)}, indent=2) + "\n"
    elif fmt is Format.csv:
        text = _csv(result)
    elif fmt is Format.markdown:
        text = _markdown(result)
    else:
        buf = Console(record=True, width=200, file=io.StringIO(), highlight=False)
        _print(buf, result)
        text = buf.export_text()
    if output is not None:
        dio.write_text(text, output)
        announce(output, quiet=quiet)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
