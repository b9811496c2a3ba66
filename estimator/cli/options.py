"""Each option shared by several commands, defined once (one spelling, one help text)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..uncertainty import DEFAULT_DRAWS, DEFAULT_SEED

__all__ = ["DEFAULT_DRAWS", "DEFAULT_SEED"]

Deposits = Annotated[
    Path | None,
    typer.Option(
        "--deposits", help="Deposit polygons (any OGR format, any CRS).", show_default="embedded"
    ),
]
Contamination = Annotated[
    Path | None,
    typer.Option(
        "--contamination",
        help="Contamination raster of hazard classes (any GDAL raster, any CRS).",
        show_default="embedded proxy; none with --hazard-areas",
    ),
]
Probability = Annotated[
    Path | None,
    typer.Option(
        "--probability",
        help="Raster of hazard probabilities 0-1 (any GDAL raster, any CRS, band 1) for the "
        "expected hazard area and the bounds of P(any hazard) per footprint.",
        show_default="embedded, with the embedded contamination raster; none with your own",
    ),
]
HazardAreas = Annotated[
    Path | None,
    typer.Option(
        "--hazard-areas",
        help="Suspected/confirmed hazardous-area polygons (SHA/CHA, any OGR format), overlaid "
        "exactly; they take precedence over the raster, which fills the rest only if "
        "--contamination is given (else the rest is unknown).",
    ),
]
HazardClassField = Annotated[
    str,
    typer.Option(
        "--hazard-class-field",
        help="Field of --hazard-areas holding the class: a class name, a raster value, or SHA/CHA.",
    ),
]
Regions = Annotated[
    Path | None,
    typer.Option("--regions", help="Region polygons with a 'name' field.", show_default="embedded"),
]
Control = Annotated[
    Path | None,
    typer.Option(
        "--control",
        help="Control zones (fields 'date' and 'class'; occupied classes count).",
        show_default="embedded",
    ),
]
ParamsFile = Annotated[
    Path | None,
    typer.Option("--params", help="Parameter file (TOML) laid over the defaults."),
]
Region = Annotated[
    list[str] | None,
    typer.Option("--region", help="Only this region (repeatable, case-insensitive)."),
]
BufferM = Annotated[
    float | None,
    typer.Option("--buffer-m", help="Footprint buffer around each deposit, metres."),
]
Band = Annotated[int, typer.Option("--band", help="Raster band holding the classes.")]
PointRadiusM = Annotated[
    float | None, typer.Option("--point-radius-m", help="Radius for point deposits, metres.")
]
AssumeCrs = Annotated[
    str | None,
    typer.Option("--assume-crs", help="CRS for vector files that declare none (EPSG:XXXX)."),
]
AsOf = Annotated[
    str | None,
    typer.Option("--as-of", help="Use the control snapshot on or before this date (YYYY-MM-DD)."),
]
NoControl = Annotated[bool, typer.Option("--no-control", help="Do not compute occupied shares.")]
#: More draws than this add nothing to P10/P50/P90 but memory (~4 GB at 1,000,000).
MAX_DRAWS = 100_000
Draws = Annotated[
    int,
    typer.Option("--draws", help="Monte Carlo draws (1 = modes only).", min=1, max=MAX_DRAWS),
]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the Monte Carlo draws (>= 0).", min=0)]
Teams = Annotated[
    str | None,
    typer.Option(
        "--teams",
        help="Teams per method, e.g. manual=40,mechanical=6,mdd=4,nts=10,ts=8.",
        show_default="parameter file",
    ),
]
StartDate = Annotated[
    str | None,
    typer.Option("--start-date", help="First day of work (YYYY-MM-DD).", show_default="today"),
]
AccessDate = Annotated[
    str | None,
    typer.Option(
        "--access-date",
        help="When occupied ground becomes accessible (YYYY-MM-DD); without it, it is blocked.",
    ),
]
Priority = Annotated[
    str | None,
    typer.Option(
        "--priority",
        help="Deposit field ordering the work (lower first).",
        show_default="cheapest per hectare first",
    ),
]
IdField = Annotated[
    str | None,
    typer.Option("--id-field", help="Deposit field holding each deposit's id.", show_default="id"),
]
NameField = Annotated[
    str | None,
    typer.Option(
        "--name-field", help="Deposit field holding each deposit's name.", show_default="name"
    ),
]
Verbose = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More logging.")]
Quiet = Annotated[int, typer.Option("--quiet", "-q", count=True, help="Less output.")]
Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        help="Local workers for the overlay (1 = serial): forked processes (or threads) for "
        "jobs of a few seconds, fresh processes for longer ones; results are the same bit for "
        "bit. Default: the number of cores.",
        show_default="auto",
    ),
]


def _check_scheduler(address: str | None) -> str | None:
    """Reach the scheduler before any work: a wrong address fails in seconds, not after it."""
    if address is not None:
        from ..errors import InputDataError
        from ..parallel import check_scheduler

        try:
            check_scheduler(address)
        except InputDataError as exc:
            raise typer.BadParameter(str(exc).removeprefix(f"--scheduler {address!r}: ")) from None
    return address


Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Run the overlay on a Dask scheduler (tcp://host:8786).",
        callback=_check_scheduler,
    ),
]
