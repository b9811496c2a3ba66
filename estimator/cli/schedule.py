"""``demine schedule`` (the timeline) and ``demine compare`` (two parameter files)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from . import options as opt
from ._common import (
    announce,
    app,
    build_inputs,
    check_output_paths,
    handle_errors,
    print_table,
    setup_logging,
    stdout_console,
    with_progress,
)


@app.command()
@handle_errors
def schedule(
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
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="Write the timeline as CSV to this file.")
    ] = None,
    verbose: opt.Verbose = 0,
    quiet: opt.Quiet = 0,
) -> None:
    """Print when each deposit's survey and clearance phases run and when it is ready."""
    from .. import io as dio
    from .. import report as rep
    from ..pipeline import estimate

    setup_logging(verbose, quiet)
    check_output_paths(csv=csv_path)
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
    )
    result = with_progress(
        quiet, lambda progress: estimate(inputs, n_draws=draws, seed=seed, progress=progress)
    )
    if csv_path is not None:
        dio.write_text(rep.schedule_csv(result), csv_path)
        announce(csv_path, quiet=quiet)
    out = stdout_console(240)
    if not quiet:
        for line in rep.caption_lines(result)[0]:
            out.print(line, style="dim", markup=False)
    print_table(out, rep.render_schedule(result))
    for r in rep.to_json_dict(result)["regions"]:
        ready = r["extraction_ready_date"]  # null: no deposit scheduled; p50 null: never
        when = (ready or {}).get("p50")
        blocked = f"; {r['blocked_count']} blocked (no access)" if r["blocked_count"] else ""
        if ready is None:
            what = "nothing scheduled"
        elif when is None:
            what = "last deposit never ready within the schedule's horizon (P50)"
        else:
            what = f"last deposit ready {when} (P50)"
        out.print(f"{r['name']}: {what}{blocked}", markup=False)


@app.command()
@handle_errors
def compare(
    params_a: Annotated[Path, typer.Argument(help="First parameter file (A).")],
    params_b: Annotated[Path, typer.Argument(help="Second parameter file (B).")],
    deposits: opt.Deposits = None,
    contamination: opt.Contamination = None,
    probability: opt.Probability = None,
    hazard_areas: opt.HazardAreas = None,
    hazard_class_field: opt.HazardClassField = "class",
    regions: opt.Regions = None,
    control: opt.Control = None,
    region: opt.Region = None,
    band: opt.Band = 1,
    point_radius_m: opt.PointRadiusM = None,
    assume_crs: opt.AssumeCrs = None,
    as_of: opt.AsOf = None,
    no_control: opt.NoControl = False,
    draws: opt.Draws = opt.DEFAULT_DRAWS,
    seed: opt.Seed = opt.DEFAULT_SEED,
    start_date: opt.StartDate = None,
    access_date: opt.AccessDate = None,
    teams: opt.Teams = None,
    priority: opt.Priority = None,
    id_field: opt.IdField = None,
    name_field: opt.NameField = None,
    workers: opt.Workers = None,
    scheduler: opt.Scheduler = None,
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="Write the comparison as CSV to this file.")
    ] = None,
    verbose: opt.Verbose = 0,
    quiet: opt.Quiet = 0,
) -> None:
    """Compare two parameter files on the same data: P50 figures per region, B minus A.

    --teams and --priority apply to both runs (they override both files' teams).
    """
    from .. import io as dio
    from .. import report as rep
    from ..pipeline import compare as run_compare

    setup_logging(verbose, quiet)
    check_output_paths(csv=csv_path)
    inputs = build_inputs(
        deposits=deposits,
        contamination=contamination,
        probability=probability,
        hazard_areas=hazard_areas,
        hazard_class_field=hazard_class_field,
        regions=regions,
        control=control,
        region=region,
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
    a, b = with_progress(
        quiet,
        lambda progress: run_compare(
            inputs, params_a, params_b, n_draws=draws, seed=seed, progress=progress
        ),
    )
    rows = rep.compare_rows(a, b)
    if csv_path is not None:
        dio.write_text(rep.compare_csv(rows), csv_path)
    table = Table(title=f"A = {params_a}   B = {params_b}", title_justify="left")
    for col in ("Region", "Figure (P50)", "A", "B", "B - A", "Change"):
        text = col in ("Region", "Figure (P50)")
        table.add_column(col, justify="left" if text else "right", no_wrap=not text)
    for row in rows:
        table.add_row(*rep.compare_cells(row))
    out = stdout_console(200)
    changed_a = ", ".join(a.params.overridden_keys) or "none"
    changed_b = ", ".join(b.params.overridden_keys) or "none"
    if not quiet:
        out.print(f"A changes from the defaults: {changed_a}", style="dim", markup=False)
        out.print(f"B changes from the defaults: {changed_b}", style="dim", markup=False)
    print_table(out, table)
    sys.stdout.flush()
