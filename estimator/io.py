"""The only module that opens files: readers, validators, atomic writers and default data paths."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputDataError

logger = logging.getLogger(__name__)

__all__ = [
    "DefaultData",
    "atomic_path",
    "default_data",
    "write_json",
    "write_text",
]


@dataclass(frozen=True, slots=True)
class DefaultData:
    """Paths of the embedded default data set (``geodata/``)."""

    root: Path
    regions: Path
    deposits: Path
    control: Path
    contamination: Path
    parameters: Path
    hazard_model: Path


def _geodata_dir() -> Path:
    # Installed wheel: force-included as estimator/geodata. Checkout/editable: ../geodata.
    here = Path(__file__).resolve().parent
    for candidate in (here / "geodata", here.parent / "geodata"):
        if (candidate / "parameters.toml").is_file():
            return candidate
    raise InputDataError(
        f"embedded data not found in {here / 'geodata'} or {here.parent / 'geodata'}: "
        "reinstall demine, or pass every input path explicitly"
    )


def default_data() -> DefaultData:
    """Return the paths of the embedded default data.

    Returns
    -------
    DefaultData
        Paths to regions, deposits, control zones, contamination raster and parameter files.

    Raises
    ------
    InputDataError
        If the embedded data cannot be found.
    """
    root = _geodata_dir()
    return DefaultData(
        root=root,
        regions=root / "regions.geojson",
        deposits=root / "deposits.geojson",
        control=root / "control.geojson",
        contamination=root / "contamination.tif",
        parameters=root / "parameters.toml",
        hazard_model=root / "hazard_model.toml",
    )


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    Readers see either the old file or the complete new one, never a partial file. On any
    exception (including ``KeyboardInterrupt``) the temporary file is removed.

    Parameters
    ----------
    target : path-like
        Final path of the output file.

    Yields
    ------
    Path
        A path in the same directory (same file system) to write to.

    Raises
    ------
    InputDataError
        If ``target`` is an existing directory or its directory does not exist.
    """
    target = Path(target)
    if target.is_dir():
        raise InputDataError(f"{target}: is a directory; give a file path for the output")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise InputDataError(f"{target}: directory {parent} does not exist; create it first")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # Drivers such as GDAL's refuse to write over an existing (empty) file.
    tmp.unlink()
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text(text: str, target: str | os.PathLike[str]) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically and return the path."""
    with atomic_path(target) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(target)


def write_json(obj: Any, target: str | os.PathLike[str], *, indent: int | None = 2) -> Path:
    """Serialise ``obj`` as JSON (UTF-8, no NaN) to ``target`` atomically."""
    return write_text(json.dumps(obj, indent=indent, ensure_ascii=False, allow_nan=False), target)
