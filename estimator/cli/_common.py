"""The shared parts of the ``demine`` command: the app, error translation, logging, options."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from typer.core import TyperGroup

from .. import __version__
from ..errors import EstimatorError, InputDataError, ParameterError

logger = logging.getLogger(__name__)


class _OneLineErrors(TyperGroup):
    """The top-level group: option errors (unknown option, bad value) as one line, exit 2.

    typer draws them in a box of five lines or more; every other error of demine is one line
    (:func:`handle_errors`).
    """

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except Exception as exc:
            # click's exceptions, known by name: typer may carry its own copy of click
            kinds = {c.__name__ for c in type(exc).__mro__}
            if "Abort" in kinds:
                sys.exit(EXIT_INTERRUPTED)
            if "ClickException" not in kinds:
                raise
            if "NoArgsIsHelpError" in kinds:  # `demine` alone: the help, as typer prints it
                exc.show()
                sys.exit(exc.exit_code)
            ctx = getattr(exc, "ctx", None)
            where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            err_console().print(f"demine: error: {exc.format_message()}{where}", markup=False)
            sys.exit(EXIT_BAD_INPUT if "UsageError" in kinds else exc.exit_code)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
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


def stdout_console(pipe_width: int, **options: Any) -> Console:
    """Return a console for stdout tables: a terminal's width, else ``pipe_width``."""
    out = Console(highlight=False, **options)
    return out if out.is_terminal else Console(highlight=False, width=pipe_width, **options)


def announce(*paths: Path | None, quiet: int) -> None:
    """Say on stderr which files were written (not with ``-q``)."""
    if quiet == 0:
        err = err_console()
        for path in paths:
            if path is not None:
                err.print(f"wrote {path}", markup=False)


def fail(message: str, code: int) -> typer.Exit:
    err_console().print(f"demine: error: {message}", markup=False)
    return typer.Exit(code)


#: Signals that stop a run cleanly: outputs are written atomically, so none is left half-done.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM or SIGINT, so that every ``finally`` runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class StoppedAfterFinish(Stopped):
    """A stop that a library swallowed, noticed only once the command had finished."""


#: The stop signal received during the current command, if any. The handler raises where the
#: signal lands; code that swallows exceptions (logging's fork handlers, a ``__del__``) can eat
#: that, so the progress callbacks look here too (:func:`stop_checkpoint`).
_STOP: list[int] = []


def stop_checkpoint() -> None:
    """Raise ``Stopped`` if a stop signal arrived and its exception was swallowed."""
    if _STOP:
        raise Stopped(_STOP[0])


def checkpoint_only(fraction: float, message: str) -> None:
    """Show nothing; honour a pending stop (the progress callback of a quiet run)."""
    stop_checkpoint()


@contextlib.contextmanager
def _stop_signals_raise():
    """Turn SIGTERM (and SIGINT) into ``Stopped`` while a command runs; restore after.

    An exception raised from a signal handler can land anywhere, for instance between a lock's
    release and the ``try`` that guards it; whatever then escapes (``RuntimeError: release
    unlocked lock``, ...) is reported as the stop it is, not as an internal error.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = _STOP
    received.clear()

    def stop(signum: int, frame: Any) -> None:
        # A second signal ends the process at once: the first one's cleanup is under way.
        for sig in _STOP_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        received.append(signum)
        raise Stopped(signum)

    previous = {sig: signal.getsignal(sig) for sig in _STOP_SIGNALS}
    for sig in _STOP_SIGNALS:
        signal.signal(sig, stop)
    # Where Python swallows the stop itself (a fork handler, a __del__), it would print its
    # traceback as "Exception ignored in ...": the stop is recorded, so say nothing there.
    unraisable = sys.unraisablehook

    def quiet_stops(info: Any) -> None:
        if not isinstance(info.exc_value, Stopped):
            unraisable(info)

    sys.unraisablehook = quiet_stops
    try:
        yield
    except Stopped:
        raise
    except BaseException as exc:
        if received:
            raise Stopped(received[0]) from exc
        raise
    else:
        if received:  # a library swallowed the interruption, and the command finished
            raise StoppedAfterFinish(received[0])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        sys.unraisablehook = unraisable
        received.clear()


def _read_failure(exc: BaseException) -> str | None:
    """One line for a GDAL read error met mid-run (a truncated or corrupt file), else None."""
    rio_errors = sys.modules.get("rasterio.errors")
    if rio_errors is None or not isinstance(exc, rio_errors.RasterioIOError):
        return None
    causes: list[str] = []
    e: BaseException | None = exc
    while e is not None and len(causes) < 4:
        text = str(e).strip().splitlines()[0] if str(e).strip() else ""
        if text and "See previous exception" not in text and not any(text in c for c in causes):
            causes.append(text)
        e = e.__cause__ or e.__context__
    detail = "; ".join(causes[:2]) or str(exc)
    return (
        f"cannot read raster data ({detail}); the file may be truncated or corrupt: "
        "re-export or re-download it"
    )


def handle_errors(func: F) -> F:
    """Translate library errors into one-line messages and exit codes (no tracebacks).

    Exit codes: 2 for bad input (``InputDataError``, ``ParameterError``, bad options, unreadable
    raster data), 1 for any other failure, 128 + signal number when stopped by SIGINT (130) or
    SIGTERM (143): outputs are written atomically, so an interrupted run leaves none half-done.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with _stop_signals_raise():
                return func(*args, **kwargs)
        except (InputDataError, ParameterError) as exc:
            raise fail(str(exc), EXIT_BAD_INPUT) from None
        except typer.BadParameter as exc:
            hint = exc.param_hint if isinstance(exc.param_hint, str) else None
            raise fail(f"{hint}: {exc.message}" if hint else exc.message, EXIT_BAD_INPUT) from None
        except EstimatorError as exc:
            raise fail(str(exc), EXIT_FAILURE) from None
        except KeyboardInterrupt as exc:
            signum = getattr(exc, "signum", signal.SIGINT)
            name = signal.Signals(signum).name
            if isinstance(exc, StoppedAfterFinish):
                what = "received as the run finished; its outputs are complete"
            else:
                what = "no partial output was written"
            err_console().print(f"demine: interrupted ({name}); {what}", markup=False)
            raise typer.Exit(128 + signum) from None
        except BrokenPipeError:
            raise typer.Exit(EXIT_FAILURE) from None
        except typer.Exit:
            raise
        except OSError as exc:
            message = _read_failure(exc)
            if message is not None:
                raise fail(message, EXIT_BAD_INPUT) from None
            where = f"{exc.filename}: " if exc.filename else ""
            raise fail(f"{where}{exc.strerror or exc}", EXIT_FAILURE) from None
        except Exception as exc:  # noqa: BLE001 - last line of defence: never a traceback
            logger.debug("internal error", exc_info=True)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise fail(
                f"internal error: {type(exc).__name__}: {first} (run with -vv for details and "
                "please report it)",
                EXIT_FAILURE,
            ) from None

    return wrapper  # type: ignore[return-value]


def setup_logging(verbose: int, quiet: int) -> None:
    level = max(logging.DEBUG, logging.WARNING - 10 * verbose + 10 * quiet)
    logging.basicConfig(
        stream=sys.stderr, level=level, format="%(levelname)s %(name)s: %(message)s"
    )
    # Library warnings (GDAL's, pandas') become log records shown with -v only: what matters
    # to a result is in its rows' reasons, and errors stay one line.
    # GDAL's own complaints (logged by rasterio and pyogrio) likewise: a file GDAL cannot use
    # ends in one error line that says so.
    logging.captureWarnings(True)
    for name in ("py.warnings", "rasterio", "pyogrio"):
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.ERROR)


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
        if name.strip() in dict(out):
            raise typer.BadParameter(
                f"{name.strip()!r} is given twice; give each method once", param_hint="--teams"
            )
        out.append((name.strip(), n))
    return tuple(out)


def print_table(console, table) -> None:
    """Print a rich table with its title as a line of its own, every figure whole.

    As a table title, rich pads the line to the table's width: ~200 trailing spaces in a pipe
    or a file. A table too wide for the console is printed wider, not cropped (see
    :func:`estimator.report.fit_table`).
    """
    from ..report import fit_table

    if table.title:
        title, table.title = str(table.title), None
        console.print(title, markup=False)
    fit_table(table, console)
    console.print(table, crop=False)


def check_output_paths(**paths: Path | None) -> None:
    """Refuse, before any work, output paths that cannot be written (exit 2).

    A path that is a directory, sits in a missing directory or in one that cannot be written
    (tried by creating and removing a temporary file there) is refused.
    """
    from ..io import check_output_path

    seen: dict[Path, str] = {}
    for name, path in paths.items():
        if path is None:
            continue
        hint = "--" + name.replace("_", "-")
        key = path.resolve()
        if key in seen:
            raise typer.BadParameter(
                f"{path} is also given to {seen[key]}; give each output its own file",
                param_hint=hint,
            )
        seen[key] = hint
        if path.is_dir():
            raise typer.BadParameter(f"{path} is a directory; give a file path", param_hint=hint)
        if not path.parent.exists():
            raise typer.BadParameter(
                f"{path}: directory {path.parent} does not exist", param_hint=hint
            )
        try:
            check_output_path(path)
        except InputDataError as exc:
            raise typer.BadParameter(str(exc), param_hint=hint) from None


def check_hazard_options(hazard_areas: Path | None, hazard_class_field: str) -> None:
    """Refuse --hazard-class-field without --hazard-areas (it would be silently ignored)."""
    if hazard_areas is None and hazard_class_field != "class":
        raise typer.BadParameter(
            f"{hazard_class_field!r}: names a field of --hazard-areas, which is not given",
            param_hint="--hazard-class-field",
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
    from ..params import MAX_BUFFER_M
    from ..pipeline import Inputs

    if band < 1:
        raise typer.BadParameter(f"{band}: bands are numbered from 1", param_hint="--band")
    if point_radius_m is not None and not 0 < point_radius_m <= MAX_BUFFER_M:
        raise typer.BadParameter(
            f"{point_radius_m}: must be > 0 and <= {MAX_BUFFER_M:g} (metres)",
            param_hint="--point-radius-m",
        )
    if as_of is not None and paths_and_flags.get("no_control"):
        raise typer.BadParameter(
            "picks a control snapshot, and --no-control drops the control zones; give one",
            param_hint="--as-of",
        )
    if paths_and_flags.get("control") is not None and paths_and_flags.get("no_control"):
        raise typer.BadParameter(
            "--control and --no-control contradict each other; give one", param_hint="--control"
        )
    check_hazard_options(
        paths_and_flags.get("hazard_areas"), paths_and_flags.get("hazard_class_field", "class")
    )
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
        return job(checkpoint_only)
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        auto_refresh=False,  # see bar_callback
    ) as bar:
        return job(bar_callback(bar, "starting"))


def bar_callback(bar, description: str) -> Callable[[float, str], None]:
    """Return a progress callback that updates a rich bar made with ``auto_refresh=False``.

    The bar is redrawn from the callback (at most ten times a second) rather than by rich's
    refresh thread: with no other thread running, the overlay may fork its workers
    (:func:`estimator.parallel.can_fork`).
    """
    task = bar.add_task(description, total=1.0)
    last = [-1.0]

    def update(fraction: float, message: str) -> None:
        stop_checkpoint()
        now = time.monotonic()
        redraw = fraction >= 1.0 or now - last[0] >= 0.1
        bar.update(task, completed=fraction, description=message[:40], refresh=redraw)
        if redraw:
            last[0] = now

    return update
