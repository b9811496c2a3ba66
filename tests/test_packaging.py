"""The wheel ships geodata/ inside the package, and an installed wheel finds it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_and_finds_the_embedded_data(tmp_path):
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
    )
    if build.returncode != 0:
        pytest.skip(f"cannot build a wheel here (no index?): {build.stderr.strip()[-200:]}")
    wheel = next(tmp_path.glob("demine-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in (
        "parameters.toml",
        "deposits.geojson",
        "regions.geojson",
        "control.geojson",
        "contamination.tif",
        "hazard_model.toml",
        "README.md",
    ):
        assert f"estimator/geodata/{f}" in names, f
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = "import estimator.io as io; print(io.default_data().root)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(out.stdout.strip()) == target / "estimator" / "geodata"
