"""The only module that opens files: readers, validators, atomic writers and default data paths."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputDataError

logger = logging.getLogger(__name__)

__all__ = [
    "DefaultData",
    "atomic_path",
    "check_output_path",
    "copy_file",
    "open_raster",
    "read_vector",
    "default_data",
    "read_text",
    "write_bytes",
    "write_gpkg",
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
    contamination_probability: Path


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
        Paths to regions, deposits, control zones, the contamination rasters (classes and
        probabilities) and parameter files.

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
        contamination_probability=root / "contamination_probability.tif",
    )


def _output_parent(target: Path) -> Path:
    """Return the directory of an output, after checking the target can be a file there."""
    if target.is_dir():
        raise InputDataError(f"{target}: is a directory; give a file path for the output")
    parent = target.parent if str(target.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise InputDataError(f"{target}: {parent} is a file, not a directory; choose another path")
    if not parent.is_dir():
        raise InputDataError(f"{target}: directory {parent} does not exist; create it first")
    return parent


def _temp_name(target: Path) -> Path:
    """Return an unused temporary path beside ``target`` (nothing is created)."""
    parent = _output_parent(target)
    while True:
        tmp = parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
        if not tmp.exists():
            return tmp


def _probe(target: Path, tmp: Path) -> None:
    """Create and remove ``tmp``: proof that the directory takes new files, even for root."""
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except PermissionError:
        raise InputDataError(
            f"{target}: permission denied in {tmp.parent}; choose another directory"
        ) from None
    except OSError as exc:
        raise InputDataError(
            f"{target}: cannot write in {tmp.parent} ({exc.strerror}); choose another directory"
        ) from None
    # Drivers such as GDAL's refuse to write over an existing (empty) file.
    tmp.unlink()


def check_output_path(target: str | os.PathLike[str]) -> Path:
    """Check, before a long run, that ``target`` can be written atomically.

    Creates and removes a temporary file beside ``target``, so a read-only directory or file
    system is found even when running as root.

    Parameters
    ----------
    target : path-like
        Final path of an output file.

    Returns
    -------
    Path
        ``target`` as a path.

    Raises
    ------
    InputDataError
        If ``target`` is a directory, its directory is missing or is not writable.
    """
    target = Path(target)
    tmp = _temp_name(target)
    try:
        _probe(target, tmp)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return target


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    Readers see either the old file or the complete new one, never a partial file. On any
    exception (including ``KeyboardInterrupt``, which the CLI also raises on SIGTERM), at any
    moment from the creation of the temporary file on, the temporary file is removed.

    Parameters
    ----------
    target : path-like
        Final path of the output file.

    Yields
    ------
    Path
        A path in the same directory (same file system) to write to; it does not exist yet.

    Raises
    ------
    InputDataError
        If ``target`` is an existing directory, its directory does not exist or cannot be
        written, or the finished file cannot be renamed onto ``target``.
    """
    target = Path(target)
    tmp = _temp_name(target)
    # Everything from the first byte on disk is inside try: an interruption anywhere leaves
    # no temporary file (only a second signal during the cleanup itself could).
    try:
        _probe(target, tmp)
        yield tmp
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise InputDataError(
                f"{target}: cannot replace it ({exc.strerror}); choose another path"
            ) from None
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


#: QGIS's way to name one layer of a multi-layer file: ``world.gpkg|layername=countries``.
_LAYER_SEP = "|layername="
#: Legacy code page tried when a shapefile declares no encoding and its text is not UTF-8:
#: Windows Cyrillic, the usual one in Ukrainian mine-action and cadastre data.
_LEGACY_ENCODING = "cp1251"


def _split_layer(path: str | os.PathLike[str]) -> tuple[Path, str | None]:
    text = os.fspath(path)
    if _LAYER_SEP in text:
        base, _, name = text.partition(_LAYER_SEP)
        return Path(base), name
    return Path(text), None


def _source(p: Path):
    # pyogrio reads "a!b" as member b of archive a; a file object avoids that reading.
    return open(p, "rb") if "!" in p.name else p  # the caller closes it


def _pick_layer(p: Path, what: str, option: str, layer: str | int | None) -> str | int | None:
    """Choose the layer to read: the one named, else the only one that holds geometries."""
    import warnings

    import pyogrio

    with warnings.catch_warnings():
        # e.g. "Measured (M) geometry types are not supported": harmless for listing layers.
        warnings.simplefilter("ignore")
        src = _source(p)
        try:
            layers = pyogrio.list_layers(src)
        finally:
            if src is not p:
                src.close()
    names = [str(name) for name, _ in layers]
    if layer is not None:
        if isinstance(layer, str) and layer not in names:
            raise InputDataError(
                f"{p}: no layer {layer!r} in the {what} file; its layers: {', '.join(names)}"
            )
        return layer
    spatial = [str(name) for name, geometry_type in layers if geometry_type is not None]
    if len(layers) <= 1 or not spatial:
        return None
    if len(spatial) == 1:
        return spatial[0]
    shown = ", ".join(spatial[:8]) + (", ..." if len(spatial) > 8 else "")
    raise InputDataError(
        f"{p}: {len(spatial)} layers hold geometries ({shown}); demine reads one {what} layer: "
        f"name it as {option} '{p}{_LAYER_SEP}{spatial[0]}'"
    )


def _guess_shapefile_encoding(p: Path, layer: str | int | None) -> tuple[str | None, str | None]:
    """Guess the encoding of a shapefile's text when the file does not declare it.

    GDAL reads a .dbf without a .cpg file (and without a code page mark) as ISO-8859-1, which
    turns UTF-8 or Windows Cyrillic names into mojibake without a word. The raw bytes of the
    text fields decide instead: valid UTF-8 is UTF-8; text whose letters are mostly not ASCII
    (no Latin-script language writes like that) is read as CP1251.

    Returns
    -------
    (encoding, note)
        The encoding to read with and a note for the report, or ``(None, None)`` to let GDAL
        decide.
    """
    import pyogrio

    if p.suffix.lower() not in (".shp", ".dbf"):
        return None, None
    if any(p.with_suffix(ext).exists() for ext in (".cpg", ".CPG")):
        return None, None
    if str(pyogrio.read_info(p, layer=layer).get("encoding") or "").upper() != "ISO-8859-1":
        return None, None  # the .dbf names its code page
    # GDAL knows "ISO-8859-1" (not "latin-1"): every byte maps to one character and back.
    table = pyogrio.read_dataframe(p, layer=layer, read_geometry=False, encoding="ISO-8859-1")
    raw = [
        value.encode("latin-1")
        for column in table.columns
        for value in table[column]
        if isinstance(value, str) and not value.isascii()
    ]
    if not raw:
        return None, None
    cpg = p.with_suffix(".cpg").name
    try:
        for value in raw:
            value.decode("utf-8")
        encoding = "UTF-8"
    except UnicodeDecodeError:
        letters = [c for c in b"".join(raw).decode("latin-1") if c.isalpha()]
        if not letters or sum(not c.isascii() for c in letters) / len(letters) <= 0.5:
            return None, None
        encoding = _LEGACY_ENCODING.upper()
    note = (
        f"text read as {encoding}, guessed because {p.name} has no {cpg}; if names look "
        f"wrong, write the right code page (e.g. CP1251, UTF-8) in {cpg}"
    )
    return encoding, note


def read_vector(
    path: str | os.PathLike[str],
    *,
    what: str,
    option: str,
    assume_crs: str | None = None,
    layer: str | int | None = None,
    require_features: bool = False,
):
    """Read a vector layer (any OGR format) into a GeoDataFrame, with clear errors.

    Parameters
    ----------
    path : path-like
        The file to read; ``FILE|layername=NAME`` (QGIS's syntax) picks one layer.
    what : str
        What the layer is ("deposits", "regions", ...), for messages.
    option : str
        The CLI option that names the file, for messages.
    assume_crs : str, optional
        CRS to use when the file declares none (e.g. "EPSG:4326").
    layer : str or int, optional
        Layer of a multi-layer source. By default the only layer that holds geometries.
    require_features : bool
        A layer without features is an error (deposits, regions: an empty layer is most
        often the wrong one of a file).

    Returns
    -------
    geopandas.GeoDataFrame
        The features, with a CRS. ``attrs["demine_notes"]`` lists what was guessed about
        every feature (such as WGS84 for a CSV's longitude/latitude columns),
        ``attrs["demine_text_notes"]`` what was guessed about their text (the encoding of a
        shapefile without a .cpg file).

    Raises
    ------
    InputDataError
        If the file is missing, empty or unreadable (or has no features and they are
        required), holds several layers with geometries and
        none is named, or has no CRS and ``assume_crs`` is not given (``CRSMismatchError``);
        also if ``assume_crs`` is not a CRS.
    """
    import warnings

    import geopandas as gpd
    import pyogrio
    import pyproj

    from .errors import CRSMismatchError, EstimatorError

    if assume_crs is not None:
        try:
            pyproj.CRS.from_user_input(assume_crs)
        except pyproj.exceptions.CRSError:
            raise InputDataError(
                f"--assume-crs {assume_crs!r}: not a CRS PROJ knows; give one such as "
                "EPSG:4326 (longitude/latitude) or EPSG:32637 (UTM 37N)"
            ) from None
    p, named = _split_layer(path)
    p = _require_file(p, what, option)
    if p.is_file() and p.stat().st_size == 0:
        raise InputDataError(f"{p}: the {what} file is empty (0 bytes); give the real file")
    notes: list[str] = []  # about every feature
    text_notes: list[str] = []  # about the text of features (names with non-ASCII letters)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            layer = _pick_layer(p, what, option, layer if layer is not None else named)
            encoding, note = _guess_shapefile_encoding(p, layer)
            if note:
                text_notes.append(note)
                logger.warning("%s: %s", p, note)

            csv_options, lonlat_csv = _csv_point_options(p)

            def read(enc: str | None):
                src = _source(p)
                try:
                    return gpd.read_file(
                        src,
                        layer=layer,
                        engine="pyogrio",
                        on_invalid="ignore",
                        encoding=enc,
                        **csv_options,
                    )
                finally:
                    if src is not p:
                        src.close()

            try:
                gdf = read(encoding)
            except UnicodeDecodeError as exc:
                if encoding is not None:
                    raise
                # Declared (or required) UTF-8 but not: most often Windows Cyrillic.
                gdf = read(_LEGACY_ENCODING)
                note = (
                    f"text is not UTF-8 (byte {exc.start} of a value), read as "
                    f"{_LEGACY_ENCODING.upper()}, a guess; if names look wrong, save "
                    f"{p.name} as UTF-8"
                )
                text_notes.append(note)
                logger.warning("%s: %s", p, note)
        for w in caught:
            logger.info("%s: %s", p, w.message)
    except EstimatorError:
        raise
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputDataError(
            f"{p}: cannot read the {what} layer ({first}); give a vector file GDAL can open "
            "(GeoPackage, GeoJSON, Shapefile, ...)"
        ) from None
    except UnicodeDecodeError as exc:
        raise InputDataError(
            f"{p}: cannot read the {what} layer: its text is neither UTF-8 nor "
            f"{_LEGACY_ENCODING.upper()} ({exc.reason} at byte {exc.start}); save it as UTF-8"
        ) from None
    except (ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputDataError(f"{p}: cannot read the {what} layer ({first})") from None
    if require_features and len(gdf) == 0:
        raise InputDataError(
            f"{p}: the {what} layer has no features; give the layer that holds them "
            "(FILE|layername=NAME)"
        )
    if "geometry" not in gdf or not isinstance(gdf, gpd.GeoDataFrame):
        hint = (
            "; a CSV needs longitude/latitude columns (or x/y with --assume-crs) or a WKT column"
            if p.suffix.lower() == ".csv"
            else ""
        )
        raise InputDataError(f"{p}: the {what} layer has no geometry column{hint}")
    if gdf.crs is None and lonlat_csv and assume_crs is None:
        note = "coordinates from longitude/latitude columns, read as WGS84 (EPSG:4326)"
        notes.append(note)
        logger.info("%s: %s", p, note)
        gdf = gdf.set_crs("EPSG:4326")
    if gdf.crs is None:
        if assume_crs is None:
            if p.suffix.lower() == ".csv":
                raise CRSMismatchError(
                    f"{p}: a CSV carries no CRS; pass --assume-crs EPSG:4326 if its "
                    "coordinates are longitude/latitude, else the EPSG code they are in"
                )
            raise CRSMismatchError(
                f"{p}: the {what} layer has no CRS (missing .prj?); add one, or pass "
                "--assume-crs EPSG:XXXX"
            )
        gdf = gdf.set_crs(assume_crs)
    gdf.attrs["demine_notes"] = notes
    gdf.attrs["demine_text_notes"] = text_notes
    if "X_POSSIBLE_NAMES" in csv_options and len(gdf):
        gdf.attrs["demine_row_notes"] = _csv_coordinate_problems(p, csv_options, gdf)
    return gdf


#: CSV columns read as point coordinates (first match, case-insensitive): longitude/latitude
#: names are taken as WGS84, x/y names need --assume-crs.
_CSV_LON = ("longitude", "lon", "lng", "long")
_CSV_LAT = ("latitude", "lat")
_CSV_X = ("x", "easting")
_CSV_Y = ("y", "northing")


#: GDAL's names of the CSV field separators demine recognises (comma is its default).
_CSV_SEPARATORS = {";": "SEMICOLON", "\t": "TAB"}


def _csv_point_options(p: Path) -> tuple[dict[str, str], bool]:
    """GDAL open options that read a CSV's coordinate columns as points, and whether lon/lat."""
    if p.suffix.lower() != ".csv" or not p.is_file():
        return {}, False
    import csv

    with p.open(encoding="utf-8-sig", errors="replace", newline="") as f:
        first = f.readline()
    # Spreadsheets in locales with a decimal comma save CSV with semicolons (or tabs).
    delimiter = max((",", ";", "\t"), key=first.count)
    header = [h.strip().lower() for h in next(csv.reader([first], delimiter=delimiter), [])]
    options = {} if delimiter == "," else {"SEPARATOR": _CSV_SEPARATORS[delimiter]}
    for xs, ys, lonlat in ((_CSV_LON, _CSV_LAT, True), (_CSV_X, _CSV_Y, False)):
        x = next((h for h in header if h in xs), None)
        y = next((h for h in header if h in ys), None)
        if x and y:
            options |= {"X_POSSIBLE_NAMES": x, "Y_POSSIBLE_NAMES": y, "KEEP_GEOM_COLUMNS": "NO"}
            return options, lonlat
    return options, False


def _csv_coordinate_problems(p: Path, options: dict[str, str], gdf) -> dict[int, str]:
    """For the rows of a CSV of points that got no point: their coordinates, and why not.

    GDAL leaves the geometry empty when a coordinate is not a number; the row's reason should
    show the value rather than say "no geometry".
    """
    import csv

    missing = [i for i, g in enumerate(gdf.geometry.values) if g is None or g.is_empty]
    if not missing:
        return {}
    separator = options.get("SEPARATOR")
    delimiter = next((d for d, name in _CSV_SEPARATORS.items() if name == separator), ",")
    with p.open(encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        header = [h.strip().lower() for h in next(reader, [])]
        rows = [r for r in reader if any(c.strip() for c in r)]
    xs, ys = options["X_POSSIBLE_NAMES"], options["Y_POSSIBLE_NAMES"]
    if len(rows) != len(gdf) or xs not in header or ys not in header:
        return {}  # rows do not line up (quoted line breaks, ...): say nothing rather than wrong
    ix, iy = header.index(xs), header.index(ys)
    out = {}
    for i in missing:
        x = rows[i][ix].strip() if ix < len(rows[i]) else ""
        y = rows[i][iy].strip() if iy < len(rows[i]) else ""
        out[i] = f"no point: {xs} {x!r}, {ys} {y!r} (each must be a number)"
    return out


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
def open_raster(
    path: str | os.PathLike[str],
    *,
    band: int = 1,
    option: str = "--contamination",
    what: str = "contamination raster",
):
    """Open a raster for windowed reads, after checking it can be used for exact areas.

    Parameters
    ----------
    path : path-like
        Any raster GDAL can read.
    band : int
        The band holding hazard classes (1-based).
    option : str
        CLI option naming the file, for messages.
    what : str
        What the file is, for messages.

    Yields
    ------
    rasterio.DatasetReader
        The open dataset (read windows from it; never read it whole).

    Raises
    ------
    InputDataError
        If the file is missing, empty or unreadable, holds no band or not this band, has no
        CRS or georeferencing, or has a rotated, skewed or not north-up grid.
    """
    import warnings

    import rasterio
    from rasterio.errors import RasterioIOError

    from .errors import CRSMismatchError

    p = _require_file(Path(path), what, option)
    if p.is_file() and p.stat().st_size == 0:
        raise InputDataError(f"{p}: the raster file is empty (0 bytes); give the real file")
    try:
        with warnings.catch_warnings():
            # NotGeoreferencedWarning: reported below as an error that says what to do.
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            ds = rasterio.open(p)
    except RasterioIOError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputDataError(
            f"{p}: cannot read the raster ({first}); give a GeoTIFF or another GDAL raster "
            f"to {option}"
        ) from None
    with ds:
        if ds.count == 0:
            raise InputDataError(
                f"{p}: the file holds no raster band (a netCDF/HDF container?); export the "
                "class band to a GeoTIFF first (gdal_translate)"
            )
        t = ds.transform
        if ds.crs is None:
            if t.is_identity and not ds.gcps[0]:
                raise CRSMismatchError(
                    f"{p}: the raster has no georeferencing (no CRS, no geotransform): it is "
                    "an image, not a map; georeference it and save it as a GeoTIFF"
                )
            raise CRSMismatchError(
                f"{p}: the raster has no CRS; assign one with `rio edit-info --crs EPSG:XXXX "
                f"{p}` (installed with demine) or gdal_edit.py -a_srs EPSG:XXXX"
            )
        if ds.gcps[0] and t.is_identity:
            raise InputDataError(
                f"{p}: the raster is placed by ground control points only; warp it to a grid "
                "first (gdalwarp -t_srs EPSG:XXXX in.tif out.tif)"
            )
        if t.b != 0 or t.d != 0:
            raise InputDataError(
                f"{p}: the raster grid is rotated or skewed; warp it north-up first "
                "(gdalwarp -of GTiff in.tif out.tif)"
            )
        if not (t.a > 0 and t.e < 0):
            raise InputDataError(
                f"{p}: the raster is not north-up (pixel size {t.a:g} x {t.e:g}); warp it "
                "north-up first (gdalwarp -of GTiff in.tif out.tif)"
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


def read_text(path: str | os.PathLike[str]) -> str:
    """Read a UTF-8 text file (a parameter file, for its comments) and return its text.

    Raises
    ------
    InputDataError
        If the file is missing or is not UTF-8 text.
    """
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputDataError(f"{p}: file not found") from None
    except (UnicodeDecodeError, IsADirectoryError) as exc:
        raise InputDataError(f"{p}: cannot read it as UTF-8 text ({exc})") from None


def write_gpkg(
    layers: dict[str, Any],
    target: str | os.PathLike[str],
    *,
    metadata: dict[str, str] | None = None,
    layer_options: dict[str, dict[str, str]] | None = None,
    dataset_options: dict[str, str] | None = None,
) -> Path:
    """Write layers to a GeoPackage atomically and return the path.

    The file is built beside ``target`` under a temporary ``.gpkg`` name (GDAL checks the
    extension) and renamed into place, so a reader sees the old file or the complete new one.

    Parameters
    ----------
    layers : dict of str to (Geo)DataFrame
        Layer name -> features, in writing order. A plain ``DataFrame`` becomes an attribute
        table (no geometry), such as QGIS's ``layer_styles``.
    target : path-like
        The GeoPackage to write; its name must end in ``.gpkg``.
    metadata : dict of str to str, optional
        Dataset metadata (GDAL stores it in ``gpkg_metadata``).
    layer_options : dict of str to dict, optional
        GDAL layer creation options per layer name, e.g. ``{"layer_styles": {"FID": "id"}}``.
    dataset_options : dict of str to str, optional
        GDAL dataset creation options, e.g. ``{"VERSION": "1.2"}`` for older readers.

    Raises
    ------
    InputDataError
        If ``target`` does not end in ``.gpkg``, is a directory or sits in a missing directory.
    """
    import pyogrio

    target = Path(target)
    if target.suffix.lower() != ".gpkg":
        raise InputDataError(f"{target}: a GeoPackage file name must end in .gpkg")
    with atomic_path(target) as tmp:
        gpkg = tmp.with_name(tmp.name + ".gpkg")
        try:
            for i, (name, df) in enumerate(layers.items()):
                spatial = hasattr(df, "geometry") and getattr(df, "crs", None) is not None
                pyogrio.write_dataframe(
                    df,
                    gpkg,
                    layer=name,
                    driver="GPKG",
                    promote_to_multi=spatial,
                    dataset_metadata=metadata if i == 0 else None,
                    layer_options=(layer_options or {}).get(name),
                    dataset_options=dataset_options if i == 0 else None,
                )
            os.replace(gpkg, tmp)
        finally:
            with contextlib.suppress(FileNotFoundError):
                gpkg.unlink()
    return target
