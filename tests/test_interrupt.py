"""Interrupted runs leave the old output or a complete new one, never a partial file.

``demine report --geojson out.geojson`` is started as a subprocess and stopped by SIGTERM or
SIGINT at random moments; afterwards ``out.geojson`` is absent, the old file, or a complete new
one, and no temporary file is left. Run this file directly for a longer campaign::

    python tests/test_interrupt.py --iterations 40 --deposits 1500
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

X0, Y0 = 6_000_000.0, 2_800_000.0


def build_inputs(folder: Path, n_deposits: int, seed: int = 0) -> list[str]:
    """Write a 1000 x 1000 class raster, ``n_deposits`` squares and a region; return CLI args."""
    import geopandas as gpd
    import numpy as np
    import rasterio
    from affine import Affine
    from shapely.geometry import box

    rng = np.random.default_rng(seed)
    raster = folder / "hazard.tif"
    with rasterio.open(
        raster,
        "w",
        driver="GTiff",
        width=1000,
        height=1000,
        count=1,
        dtype="uint8",
        crs="EPSG:3035",
        transform=Affine(20, 0, X0, 0, -20, Y0),
        nodata=255,
        tiled=True,
    ) as ds:
        ds.write(rng.integers(0, 4, (1000, 1000)).astype("uint8"), 1)
    x = rng.uniform(X0, X0 + 19_000, n_deposits)
    y = rng.uniform(Y0 - 19_000, Y0, n_deposits)
    deposits = folder / "deposits.gpkg"
    gpd.GeoDataFrame(
        {"name": [f"deposit {i}" for i in range(n_deposits)]},
        geometry=[box(a, b, a + 300, b + 300) for a, b in zip(x, y, strict=True)],
        crs="EPSG:3035",
    ).to_file(deposits)
    regions = folder / "regions.gpkg"
    gpd.GeoDataFrame(
        {"name": ["Testland"]},
        geometry=[box(X0 - 50_000, Y0 - 50_000, X0 + 50_000, Y0 + 50_000)],
        crs="EPSG:3035",
    ).to_file(regions)
    # --buffer-m 0 keeps the run short (no geodesic buffers) without changing what is written.
    return [
        "--deposits",
        str(deposits),
        "--contamination",
        str(raster),
        "--regions",
        str(regions),
        "--no-control",
        "--buffer-m",
        "0",
        "--format",
        "csv",
        "-q",
    ]


def demine(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "estimator", "report", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, so a stray worker can be cleaned up
    )


def check_output(out: Path, old: bytes | None, n_features: int) -> str:
    """Return what ``out`` is ("absent", "old", "new"); fail if it is anything else."""
    leftovers = [p.name for p in out.parent.iterdir() if p.name.endswith(".tmp")]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    if not out.exists():
        return "absent"
    data = out.read_bytes()
    if old is not None and data == old:
        return "old"
    doc = json.loads(data)  # a truncated file fails here
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == n_features
    assert "old" not in doc
    return "new"


def stop_at(
    proc: subprocess.Popen, delay_s: float | None, signum: int, out: Path
) -> tuple[int, str, bool]:
    """Send ``signum`` after ``delay_s``, or (``None``) as soon as the temporary file of ``out``
    appears, i.e. while it is being written. Return (exit code, stderr, still running)."""
    if delay_s is not None:
        time.sleep(delay_s)
    else:
        prefix = f".{out.name}."
        while proc.poll() is None and not any(
            p.startswith(prefix) and p.endswith(".tmp") for p in os.listdir(out.parent)
        ):
            time.sleep(0.0005)
    running = proc.poll() is None
    if running:
        proc.send_signal(signum)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # never leave a process behind
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, err, running


def campaign(folder: Path, *, n_deposits: int, iterations: int, seed: int) -> list[dict]:
    """A full run, then runs stopped at random moments; every outcome is checked."""
    rng = random.Random(seed)
    args = build_inputs(folder, n_deposits)
    out = folder / "out.geojson"
    t0 = time.perf_counter()
    proc = demine([*args, "--geojson", str(out)], folder)
    _, err = proc.communicate(timeout=600)
    full_s = time.perf_counter() - t0
    assert proc.returncode == 0, err
    assert check_output(out, None, n_deposits) == "new"
    # The same inputs give the same bytes: mark the old file so that it can be told apart.
    marked = json.dumps({**json.loads(out.read_bytes()), "old": True}).encode()
    rows = [{"signal": "-", "at_s": round(full_s, 2), "exit": 0, "file": "new", "stderr": ""}]
    for _ in range(iterations):
        old: bytes | None = None
        if rng.random() < 0.3:
            out.unlink(missing_ok=True)
        else:
            out.write_bytes(marked)
            old = marked
        signum = rng.choice([signal.SIGTERM, signal.SIGINT])
        # SIGINT before the command has started (while Python imports) is Python's own
        # KeyboardInterrupt; SIGTERM there kills at once. Both leave no file behind.
        low = 0.05 if signum == signal.SIGTERM else min(2.0, 0.5 * full_s)
        # One run in three is stopped while out.geojson is being written.
        delay = None if rng.random() < 1 / 3 else rng.uniform(low, 1.1 * full_s)
        proc = demine([*args, "--geojson", str(out)], folder)
        code, err, running = stop_at(proc, delay, signum, out)
        state = check_output(out, old, n_deposits)
        lines = err.strip().splitlines()
        if running and code in (130, 143):
            # Stopped by demine's handler: one line; the file may be old, absent, or the
            # complete new one (when the signal came after the rename).
            assert code == 128 + signum and len(lines) == 1, err
            assert lines[0].startswith("demine: interrupted"), err
        elif running and code == -signum:
            # The default action, outside the command: before it started (Python importing,
            # nothing written yet) or after it ended (interpreter shutdown, the file complete).
            pass
        else:
            assert code == 0 and state == "new", (code, err)
        assert "Traceback" not in err, err
        rows.append(
            {
                "signal": signal.Signals(signum).name,
                "at_s": "writing" if delay is None else round(delay, 2),
                "exit": code,
                "file": state,
                "stderr": lines[-1] if lines else "",
            }
        )
    return rows


@pytest.mark.slow
def test_stopping_report_at_random_moments_never_leaves_a_partial_geojson(tmp_path):
    # Bounded for CI: a full run and three stopped runs of about 3 s each.
    rows = campaign(tmp_path, n_deposits=100, iterations=3, seed=int(time.time()) % 1000)
    assert len(rows) == 4


def test_sigterm_while_writing_is_a_clean_stop(tmp_path):
    """SIGTERM arriving mid-write: exit 143, one line, the old file intact, no temporary file."""
    import typer
    from typer.testing import CliRunner

    from estimator.cli._common import handle_errors
    from estimator.io import atomic_path

    target = tmp_path / "out.geojson"
    target.write_text('{"old": true}')
    mini = typer.Typer()

    @mini.command()
    @handle_errors
    def write(path: Path) -> None:
        with atomic_path(path) as tmp:
            with open(tmp, "w") as fh:
                fh.write('{"type": "FeatureCollection", "features": [')
                fh.flush()
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(10)  # the handler raises first
                fh.write("]}")

    before = signal.getsignal(signal.SIGTERM)
    result = CliRunner().invoke(mini, [str(target)])
    assert result.exit_code == 143, result.output
    assert result.stderr.strip() == "demine: interrupted (SIGTERM); no partial output was written"
    assert target.read_text() == '{"old": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["out.geojson"]
    assert signal.getsignal(signal.SIGTERM) is before  # restored after the command


def test_ctrl_c_while_writing_exits_130_and_leaves_no_file(tmp_path):
    import typer
    from typer.testing import CliRunner

    from estimator.cli._common import handle_errors
    from estimator.io import write_text

    mini = typer.Typer()

    @mini.command()
    @handle_errors
    def write(path: Path) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(10)
        write_text("never", path)

    target = tmp_path / "new.geojson"
    result = CliRunner().invoke(mini, [str(target)])
    assert result.exit_code == 130
    assert result.stderr.strip() == "demine: interrupted (SIGINT); no partial output was written"
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("library", ["raises while unwinding", "swallows the interrupt"])
def test_a_stop_stays_a_stop_whatever_the_library_does_with_it(library):
    """An exception raised from a signal handler can land mid-cleanup in library code (seen:
    ``RuntimeError: release unlocked lock``) or be swallowed; either way the run reports the
    stop (exit 143, one line), never an internal error or success."""
    import typer
    from typer.testing import CliRunner

    from estimator.cli._common import handle_errors

    mini = typer.Typer()

    @mini.command()
    @handle_errors
    def work() -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)
        except BaseException:
            if library == "raises while unwinding":
                raise RuntimeError("release unlocked lock") from None

    result = CliRunner().invoke(mini, [])
    assert result.exit_code == 143, result.output
    what = (
        "no partial output was written"
        if library == "raises while unwinding"
        else "received as the run finished; its outputs are complete"
    )
    assert result.stderr.strip() == f"demine: interrupted (SIGTERM); {what}"


def test_a_swallowed_stop_is_honoured_at_the_next_progress_callback(tmp_path):
    """Seen: Ctrl-C landed in logging's fork handlers, which swallow exceptions, and the run
    went on to write its output. The progress callbacks (a quiet run's too) check for it."""
    import typer
    from typer.testing import CliRunner

    from estimator.cli._common import handle_errors, with_progress
    from estimator.io import write_text

    mini = typer.Typer()

    @mini.command()
    @handle_errors
    def work(path: Path) -> None:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(10)
        except BaseException as exc:  # the library that swallows it, as Python does in a
            sys.unraisablehook(  # fork handler: no "Exception ignored" traceback is printed
                type("Info", (), {"exc_value": exc, "exc_type": type(exc)})()
            )
        with_progress(1, lambda progress: progress(0.5, "half way"))
        write_text("never", path)

    target = tmp_path / "out.json"
    result = CliRunner().invoke(mini, [str(target)])
    assert result.exit_code == 130, result.output
    assert result.stderr.strip() == "demine: interrupted (SIGINT); no partial output was written"
    assert not list(tmp_path.iterdir())


def test_atomic_path_removes_its_temporary_file_on_any_exception(tmp_path):
    from estimator.io import atomic_path

    target = tmp_path / "report.md"
    target.write_text("old")
    for exc in (KeyboardInterrupt, RuntimeError, SystemExit):
        with pytest.raises(exc):
            with atomic_path(target) as tmp:
                tmp.write_text("half")
                raise exc
        assert target.read_text() == "old"
        assert [p.name for p in tmp_path.iterdir()] == ["report.md"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["report.md"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Stop demine report at random moments.")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--deposits", type=int, default=800)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="demine-kill-") as tmp:
        rows = campaign(
            Path(tmp), n_deposits=args.deposits, iterations=args.iterations, seed=args.seed
        )
    print("| # | signal | sent at (s, or while writing) | exit | out.geojson | stderr |")
    print("|---|---|---|---|---|---|")
    for i, r in enumerate(rows):
        print(f"| {i} | {r['signal']} | {r['at_s']} | {r['exit']} | {r['file']} | {r['stderr']} |")
    counts = {k: sum(r["file"] == k for r in rows[1:]) for k in ("old", "absent", "new")}
    print(
        f"\n{len(rows) - 1} stopped runs: old file kept {counts['old']}, no file {counts['absent']}, "
        f"complete new file {counts['new']}; partial files: 0; temporary files left: 0"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
