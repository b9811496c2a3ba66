"""The shared parts of the ``demine`` command: the app, error translation, logging, options."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from .. import __version__
from ..errors import EstimatorError, InputDataError, ParameterError

logger = logging.getLogger(__name__)

app = typer.Typer(
    name="demine",
    help=(
        "How much ground must be surveyed and cleared of mines and explosive remnants of war "
        "before a deposit can be worked: area, cost, time and uncertainty."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
params_app = typer.Typer(help="Create and check parameter files.", no_args_is_help=True)
app.add_typer(params_app, name="params")

F = TypeVar("F", bound=Callable[..., Any])

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


def err_console() -> Console:
    return Console(stderr=True, soft_wrap=True, highlight=False)


def fail(message: str, code: int) -> typer.Exit:
    err_console().print(f"demine: error: {message}", markup=False)
    return typer.Exit(code)


def handle_errors(func: F) -> F:
    """Translate library errors into one-line messages and exit codes (no tracebacks)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (InputDataError, ParameterError) as exc:
            raise fail(str(exc), EXIT_BAD_INPUT) from None
        except typer.BadParameter as exc:
            hint = exc.param_hint if isinstance(exc.param_hint, str) else None
            raise fail(f"{hint}: {exc.message}" if hint else exc.message, EXIT_BAD_INPUT) from None
        except EstimatorError as exc:
            raise fail(str(exc), EXIT_FAILURE) from None
        except KeyboardInterrupt:
            err_console().print("demine: interrupted; no partial output was written", markup=False)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except BrokenPipeError:
            raise typer.Exit(EXIT_FAILURE) from None
        except typer.Exit:
            raise
        except Exception as exc:  # noqa: BLE001 - last line of defence: never a traceback
            logger.debug("internal error", exc_info=True)
            raise fail(
                f"internal error: {type(exc).__name__}: {exc} (run with -vv for details and "
                "please report it)",
                EXIT_FAILURE,
            ) from None

    return wrapper  # type: ignore[return-value]


def setup_logging(verbose: int, quiet: int) -> None:
    level = max(logging.DEBUG, logging.WARNING - 10 * verbose + 10 * quiet)
    logging.basicConfig(
        stream=sys.stderr, level=level, format="%(levelname)s %(name)s: %(message)s"
    )


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"demine {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Show the version."
        ),
    ] = False,
) -> None:
    """Estimate land release before mineral extraction in mined land."""


def parse_date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date; use YYYY-MM-DD", param_hint=option
        ) from None


def parse_teams(value: str | None) -> tuple[tuple[str, int], ...]:
    """Parse ``--teams manual=40,mechanical=6`` into ``(("manual", 40), ...)``."""
    if not value:
        return ()
    out = []
    for part in value.split(","):
        name, sep, count = part.strip().partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(
                f"{part.strip()!r}: write METHOD=COUNT, e.g. manual=40", param_hint="--teams"
            )
        try:
            n = int(count)
        except ValueError:
            raise typer.BadParameter(
                f"{part.strip()!r}: the count must be a whole number", param_hint="--teams"
            ) from None
        out.append((name.strip(), n))
    return tuple(out)


def check_output_paths(**paths: Path | None) -> None:
    """Refuse output paths that are directories or sit in a missing directory (exit 2)."""
    for name, path in paths.items():
        if path is None:
            continue
        hint = "--" + name.replace("_", "-")
        if path.is_dir():
            raise typer.BadParameter(f"{path} is a directory; give a file path", param_hint=hint)
        if not path.parent.exists():
            raise typer.BadParameter(
                f"{path}: directory {path.parent} does not exist", param_hint=hint
            )


def build_inputs(
    *,
    region: list[str] | None,
    band: int,
    point_radius_m: float | None,
    as_of: str | None,
    start_date: str | None,
    access_date: str | None,
    teams: str | None,
    **paths_and_flags: Any,
):
    """Validate the shared options and build the pipeline's ``Inputs``."""
    from ..pipeline import Inputs

    if band < 1:
        raise typer.BadParameter(f"{band}: bands are numbered from 1", param_hint="--band")
    if point_radius_m is not None and not point_radius_m > 0:
        raise typer.BadParameter(f"{point_radius_m}: must be > 0", param_hint="--point-radius-m")
    return Inputs(
        regions_filter=tuple(region or ()),
        band=band,
        point_radius_m=point_radius_m,
        as_of=parse_date(as_of, "--as-of"),
        start_date=parse_date(start_date, "--start-date"),
        access_date=parse_date(access_date, "--access-date"),
        teams=parse_teams(teams),
        **paths_and_flags,
    )


def with_progress(quiet: int, job: Callable[[Callable[[float, str], None] | None], Any]) -> Any:
    """Run ``job(progress)`` with a rich progress bar on stderr when it is a terminal."""
    err = err_console()
    if quiet or not err.is_terminal:
        return job(None)
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=1.0)
        return job(lambda f, msg: bar.update(task, completed=f, description=msg[:40]))
