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
    "copy_file",
    "open_raster",
    "read_vector",
    "default_data",
    "write_bytes",
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


def copy_file(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Copy ``source`` byte for byte to ``target`` atomically."""
    return write_bytes(Path(source).read_bytes(), target)


def write_json(obj: Any, target: str | os.PathLike[str], *, indent: int | None = 2) -> Path:
    """Serialise ``obj`` as JSON (UTF-8, no NaN) to ``target`` atomically."""
    return write_text(json.dumps(obj, indent=indent, ensure_ascii=False, allow_nan=False), target)


# --------------------------------------------------------------------------------------------
# Readers


def _require_file(path: Path, what: str, option: str) -> Path:
    if not path.exists():
        raise InputDataError(f"{path}: {what} file not found; check the path given to {option}")
    if path.is_dir() and path.suffix.lower() not in (".gdb",):
        raise InputDataError(f"{path}: is a directory; give the {what} file to {option}")
    return path


def read_vector(
    path: str | os.PathLike[str],
    *,
    what: str,
    option: str,
    assume_crs: str | None = None,
    layer: str | int | None = None,
):
    """Read a vector layer (any OGR format) into a GeoDataFrame, with clear errors.

    Parameters
    ----------
    path : path-like
        The file to read.
    what : str
        What the layer is ("deposits", "regions", ...), for messages.
    option : str
        The CLI option that names the file, for messages.
    assume_crs : str, optional
        CRS to use when the file declares none (e.g. "EPSG:4326").
    layer : str or int, optional
        Layer of a multi-layer source.

    Returns
    -------
    geopandas.GeoDataFrame
        The features, with a CRS.

    Raises
    ------
    InputDataError
        If the file is missing or unreadable, or has no CRS and ``assume_crs`` is not given.
    """
    import geopandas as gpd
    import pyogrio

    from .errors import CRSMismatchError

    p = _require_file(Path(path), what, option)
    try:
        gdf = gpd.read_file(p, layer=layer, engine="pyogrio", on_invalid="ignore")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputDataError(
            f"{p}: cannot read the {what} layer ({first}); give a vector file GDAL can open "
            "(GeoPackage, GeoJSON, Shapefile, ...)"
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputDataError(f"{p}: cannot read the {what} layer ({exc})") from None
    if "geometry" not in gdf or not isinstance(gdf, gpd.GeoDataFrame):
        raise InputDataError(f"{p}: the {what} layer has no geometry column")
    if gdf.crs is None:
        if assume_crs is None:
            raise CRSMismatchError(
                f"{p}: the {what} layer has no CRS (missing .prj?); add one, or pass "
                "--assume-crs EPSG:XXXX"
            )
        gdf = gdf.set_crs(assume_crs)
    return gdf


@dataclass(frozen=True, slots=True)
class RasterInfo:
    """What the rest of demine needs to know of a raster."""

    path: Path
    crs_wkt: str
    width: int
    height: int
    bounds: tuple[float, float, float, float]
    dtype: str
    nodata: float | None
    band: int


@contextlib.contextmanager
def open_raster(path: str | os.PathLike[str], *, band: int = 1, option: str = "--contamination"):
    """Open a raster for windowed reads, after checking it can be used for exact areas.

    Parameters
    ----------
    path : path-like
        Any raster GDAL can read.
    band : int
        The band holding hazard classes (1-based).
    option : str
        CLI option naming the file, for messages.

    Yields
    ------
    rasterio.DatasetReader
        The open dataset (read windows from it; never read it whole).

    Raises
    ------
    InputDataError
        If the file is missing or unreadable, has no CRS, has a rotated or skewed grid, or has no
        such band.
    """
    import rasterio
    from rasterio.errors import RasterioIOError

    from .errors import CRSMismatchError

    p = _require_file(Path(path), "contamination raster", option)
    try:
        ds = rasterio.open(p)
    except RasterioIOError as exc:
        raise InputDataError(
            f"{p}: cannot read the raster ({str(exc).splitlines()[0]}); give a GeoTIFF or another "
            "GDAL raster"
        ) from None
    with ds:
        if ds.crs is None:
            raise CRSMismatchError(
                f"{p}: the raster has no CRS; assign one (e.g. gdal_edit.py -a_srs EPSG:XXXX)"
            )
        t = ds.transform
        if t.b != 0 or t.d != 0:
            raise InputDataError(
                f"{p}: the raster grid is rotated or skewed; warp it north-up first "
                "(gdalwarp -of GTiff in.tif out.tif)"
            )
        if not 1 <= band <= ds.count:
            raise InputDataError(f"{p}: --band {band}: the raster has {ds.count} band(s)")
        yield ds


def write_bytes(data: bytes, target: str | os.PathLike[str]) -> Path:
    """Write ``data`` to ``target`` atomically and return the path."""
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(target)
