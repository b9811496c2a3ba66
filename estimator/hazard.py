"""Contamination proxy: hazard probability and classes from conflict lines, zones and events.

The model (coefficients in a TOML file, ``geodata/hazard_model.toml`` by default) gives every cell
a hazard *intensity* ``L``, the sum of independent terms, and the probability
``p = 1 - exp(-L)`` that the ground there will prove contaminated (the expected share of it that
land release ends up clearing). Terms:

* **front lines**, dated: per snapshot, ``intensity_per_30_days[band] x hold_days / 30``, where
  ``band`` is the distance band of the cell from the line and ``hold_days`` is how long the
  nearest stretch of that line held (estimated from the neighbouring snapshots, see
  :func:`front_hold_days`): a line that stood for months counts far more than one that moved in
  days;
* **contact lines** and **trench lines**: an intensity per distance band;
* **zones** (occupied since 2014, occupied, contested, liberated): the highest intensity of the
  zones a cell ever belonged to;
* **events** (fires in excess of a baseline, armed violence, civilian-harm incidents with
  per-weapon weights): ``weight x sum(exp(-r^2 / 2 sigma^2))`` over events at distance ``r``.

Classes are bands of ``p`` (``[classes]`` in the model), written with the raster values of the
parameter file. Everything is computed block by block: memory is one block plus the prepared
geometries and a coarse event lattice, whatever the resolution of the grid.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import io as _bytes_io
import json
import logging
import math
import os
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely
from affine import Affine
from pyproj.exceptions import CRSError
from rasterio.features import rasterize
from rasterio.windows import Window

from .control import CONTROL_CLASSES, control_classes
from .errors import InputDataError, ParameterError

logger = logging.getLogger(__name__)

__all__ = [
    "FULL_SCALE_INVASION",
    "NODATA",
    "ZONE_CATEGORIES",
    "BandKernel",
    "EventRule",
    "EventTable",
    "FrontLineRule",
    "Grid",
    "HazardInputs",
    "HazardModel",
    "HazardSummary",
    "PreparedHazard",
    "build_hazard_arrays",
    "compute_block",
    "front_hold_days",
    "grid_for_bounds",
    "hazard_map_png",
    "iter_hazard_blocks",
    "iter_windows",
    "load_hazard_model",
    "parse_hazard_model",
    "prepare_hazard",
    "read_control_zones",
    "read_events",
    "read_front_lines",
    "read_lines",
    "read_regions",
    "summarize_hazard",
    "summary_markdown",
    "write_summary",
    "write_hazard_rasters",
]

#: Class raster value outside the area of interest.
NODATA = 255
#: Zone categories a hazard model gives intensities to (``[zones]``).
ZONE_CATEGORIES = ("occupied_since_2014", "occupied", "contested", "liberated")
#: Start of Russia's full-scale invasion; occupied polygons dated earlier are "since 2014".
FULL_SCALE_INVASION = dt.date(2022, 2, 24)

SCHEMA_VERSION = 2
#: Upper bound on any distance, so that a typo (extra zero) cannot blanket a whole region.
MAX_DISTANCE_M = 100_000.0
#: Front-line intensities are given per this many days the line held.
DAYS_PER_MONTH = 30.0
#: Segments per quarter circle of the buffers; radial error <= 0.12 % of the distance.
_QUAD_SEGS = 16
#: Gaussian event kernels are cut at this many sigmas (exp(-8) = 0.03 % of the peak).
_KERNEL_SIGMAS = 4.0
#: Largest event lattice, nodes; a larger one asks for a coarser [events] lattice_m.
_MAX_LATTICE_NODES = 50_000_000
#: Burn polygons are split until each piece has at most this many vertices and cells across.
_MAX_PIECE_VERTICES = 1024
_MAX_PIECE_CELLS = 512
#: Mantissa bits kept in the probability raster (see ``_round_mantissa``).
_PROBABILITY_BITS = 10
_WGS84 = "EPSG:4326"


# --------------------------------------------------------------------------------------------
# Model (validated TOML)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BandKernel:
    """Intensity by distance band.

    A cell whose centre lies within ``edges_m[0]`` metres of a line gets ``values[0]``; within
    ``edges_m[i]`` but beyond ``edges_m[i - 1]``, ``values[i]``; beyond the last edge, 0. Values
    never increase with distance.
    """

    edges_m: tuple[float, ...]
    values: tuple[float, ...]

    def at(self, distance_m: float | np.ndarray) -> np.ndarray:
        """Return the intensity at ``distance_m`` metres (for checks; rasters use buffers).

        Examples
        --------
        >>> BandKernel((100.0, 500.0), (2.0, 0.5)).at([0.0, 100.0, 300.0, 900.0]).tolist()
        [2.0, 2.0, 0.5, 0.0]
        """
        d = np.asarray(distance_m, dtype="float64")
        idx = np.searchsorted(np.asarray(self.edges_m), d, side="left")
        vals = np.append(np.asarray(self.values, dtype="float64"), 0.0)
        return vals[idx]


@dataclass(frozen=True, slots=True)
class FrontLineRule:
    """Dated front lines: banded intensity per 30 days each stretch of line held.

    ``hold_radius_m``: the front counts as still in place while the next (or previous) snapshot
    stays within this distance. ``start_date``: when the first snapshot's line began to form
    (its hold time before that snapshot is counted from this date).
    """

    kernel: BandKernel
    hold_radius_m: float
    start_date: dt.date | None = None


@dataclass(frozen=True, slots=True)
class EventRule:
    """Point events of one ``type``: ``weight x sum of exp(-r^2 / 2 sigma^2)`` over events.

    With ``baseline`` and ``period`` (date pairs, inclusive), only the excess of events in
    ``period`` over the baseline rate (scaled to the period's length) counts, cell by cell.
    ``subtype_weight`` multiplies single events by subtype (case-insensitive keys).
    """

    type: str
    sigma_m: float
    weight: float
    subtype_weight: tuple[tuple[str, float], ...] = ()
    baseline: tuple[dt.date, dt.date] | None = None
    period: tuple[dt.date, dt.date] | None = None


@dataclass(frozen=True, slots=True)
class HazardModel:
    """Validated content of a hazard model TOML file (``geodata/hazard_model.toml``)."""

    source: str
    sha256: str
    crs: str
    cell_size_m: float
    classes: tuple[tuple[str, float], ...]
    front_lines: FrontLineRule | None = None
    contact_lines: BandKernel | None = None
    trench_lines: BandKernel | None = None
    zones: tuple[tuple[str, float], ...] = ()
    events: tuple[EventRule, ...] = ()
    event_lattice_m: float = 250.0
    schema_version: int = SCHEMA_VERSION

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names, lowest probability band first."""
        return tuple(name for name, _ in self.classes)

    def class_raster_values(self, raster_values: Mapping[str, int], params_source: str) -> dict:
        """Map each model class to its raster value in the parameter file.

        Parameters
        ----------
        raster_values : mapping of str to int
            Class name -> raster value, from the parameter file.
        params_source : str
            The parameter file, for messages.

        Returns
        -------
        dict
            Class name -> raster value, for every class of the model.

        Raises
        ------
        ParameterError
            If a model class is not in the parameter file, or a value is the class nodata 255.
        """
        out = {}
        for name, _ in self.classes:
            if name not in raster_values:
                raise ParameterError(
                    f"{self.source}: [classes] {name!r} is not a class of the parameter file "
                    f"{params_source} (its classes: {', '.join(raster_values)}); rename it"
                )
            value = int(raster_values[name])
            if not 0 <= value < NODATA:
                raise ParameterError(
                    f"{params_source}: [classes.{name}] raster_value = {value!r}: the hazard "
                    f"build writes uint8 classes with {NODATA} as nodata; use 0-{NODATA - 1}"
                )
            out[name] = value
        return out


def _fail(source: str, where: str, key: str, value: Any, expectation: str) -> ParameterError:
    return ParameterError(f"{source}: {where} {key} = {value!r}: {expectation}".replace("  ", " "))


def _check_keys(table: Mapping[str, Any], allowed: Sequence[str], source: str, where: str) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"expected one of {sorted(allowed)}"
            raise ParameterError(
                f"{source}: {where} unknown key {key!r}: {hint}".replace("  ", " ")
            )


def _table(data: Mapping[str, Any], key: str, source: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise _fail(source, where, key, value, "must be a table")
    return value


def _require(table: Mapping[str, Any], key: str, source: str, where: str) -> Any:
    if key not in table:
        raise ParameterError(f"{source}: {where} missing key {key!r}")
    return table[key]


def _number(value: Any, source: str, where: str, key: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(source, where, key, value, "must be a number")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise _fail(source, where, key, value, "must be > 0" if positive else "must be >= 0")
    return value


def _distance(value: Any, source: str, where: str, key: str) -> float:
    d = _number(value, source, where, key, positive=True)
    if d > MAX_DISTANCE_M:
        raise _fail(source, where, key, value, f"must be <= {MAX_DISTANCE_M:.0f} m")
    return d


def _date(value: Any, source: str, where: str, key: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise _fail(source, where, key, value, "must be a date (YYYY-MM-DD)")


def _date_pair(value: Any, source: str, where: str, key: str) -> tuple[dt.date, dt.date]:
    if not isinstance(value, list) or len(value) != 2:
        raise _fail(source, where, key, value, "must be [first_day, last_day]")
    a, b = (_date(v, source, where, key) for v in value)
    if b < a:
        raise _fail(source, where, key, value, "the last day is before the first")
    return a, b


def _kernel(table: Mapping[str, Any], source: str, where: str, values_key: str) -> BandKernel:
    edges = _require(table, "band_edges_m", source, where)
    values = _require(table, values_key, source, where)
    if not isinstance(edges, list) or not edges:
        raise _fail(source, where, "band_edges_m", edges, "must be a non-empty list of metres")
    if not isinstance(values, list) or len(values) != len(edges):
        raise _fail(
            source,
            where,
            values_key,
            values,
            f"must be a list of {len(edges)} numbers (one per band)",
        )
    e = [_distance(v, source, where, "band_edges_m") for v in edges]
    v = [_number(x, source, where, values_key) for x in values]
    if any(b <= a for a, b in zip(e, e[1:], strict=False)):
        raise _fail(source, where, "band_edges_m", edges, "must increase strictly")
    if any(b > a for a, b in zip(v, v[1:], strict=False)):
        raise _fail(
            source, where, values_key, values, "must not increase with distance (nearer is worse)"
        )
    return BandKernel(tuple(e), tuple(v))


def _parse_classes(data: Mapping[str, Any], source: str) -> tuple[tuple[str, float], ...]:
    table = _table(data, "classes", source, "")
    if not table:
        raise ParameterError(f"{source}: [classes] missing: give each class its lowest probability")
    out = []
    for name, value in table.items():
        p = _number(value, source, "[classes]", name)
        if p >= 1:
            raise _fail(source, "[classes]", name, value, "must be a probability below 1")
        out.append((str(name), p))
    out.sort(key=lambda item: item[1])
    if out[0][1] != 0.0:
        raise ParameterError(
            f"{source}: [classes] no class starts at 0.0; the lowest class must take p >= 0"
        )
    for (a, pa), (b, pb) in zip(out, out[1:], strict=False):
        if pa == pb:
            raise _fail(source, "[classes]", b, pb, f"is also the lower bound of {a!r}")
    return tuple(out)


def _parse_front_lines(data: Mapping[str, Any], source: str) -> FrontLineRule | None:
    if "front_lines" not in data:
        return None
    table = _table(data, "front_lines", source, "")
    where = "[front_lines]"
    keys = ("band_edges_m", "intensity_per_30_days", "hold_radius_m", "start_date")
    _check_keys(table, keys, source, where)
    kernel = _kernel(table, source, where, "intensity_per_30_days")
    radius = _distance(
        _require(table, "hold_radius_m", source, where), source, where, "hold_radius_m"
    )
    start = table.get("start_date")
    return FrontLineRule(
        kernel=kernel,
        hold_radius_m=radius,
        start_date=None if start is None else _date(start, source, where, "start_date"),
    )


def _parse_line_kernel(data: Mapping[str, Any], key: str, source: str) -> BandKernel | None:
    if key not in data:
        return None
    table = _table(data, key, source, "")
    _check_keys(table, ("band_edges_m", "intensity"), source, f"[{key}]")
    return _kernel(table, source, f"[{key}]", "intensity")


def _parse_zones(data: Mapping[str, Any], source: str) -> tuple[tuple[str, float], ...]:
    table = _table(data, "zones", source, "")
    _check_keys(table, ZONE_CATEGORIES, source, "[zones]")
    return tuple(
        (k, _number(table[k], source, "[zones]", k)) for k in ZONE_CATEGORIES if k in table
    )


def _parse_events(data: Mapping[str, Any], source: str) -> tuple[tuple[EventRule, ...], float]:
    table = _table(data, "events", source, "")
    lattice = 250.0
    rules = []
    for key, sub in table.items():
        if key == "lattice_m":
            lattice = _distance(sub, source, "[events]", "lattice_m")
            continue
        where = f"[events.{key}]"
        if not isinstance(sub, Mapping):
            close = difflib.get_close_matches(key, ["lattice_m"], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _fail(source, "[events]", key, sub, f"must be a table of one event type{hint}")
        allowed = ("sigma_m", "weight", "subtype_weight", "baseline", "period")
        _check_keys(sub, allowed, source, where)
        sigma = _distance(_require(sub, "sigma_m", source, where), source, where, "sigma_m")
        weight = _number(_require(sub, "weight", source, where), source, where, "weight")
        sw = sub.get("subtype_weight", {})
        if not isinstance(sw, Mapping):
            raise _fail(source, where, "subtype_weight", sw, "must be a table {subtype = factor}")
        subtype_weight = tuple(
            (str(k).casefold(), _number(v, source, f"{where} subtype_weight", str(k)))
            for k, v in sw.items()
        )
        baseline = period = None
        if "baseline" in sub or "period" in sub:
            if "baseline" not in sub or "period" not in sub:
                raise ParameterError(
                    f"{source}: {where} baseline and period go together (the excess of events in "
                    "period over the baseline rate); give both or neither"
                )
            baseline = _date_pair(sub["baseline"], source, where, "baseline")
            period = _date_pair(sub["period"], source, where, "period")
            if period[0] <= baseline[1]:
                raise _fail(source, where, "period", sub["period"], "must start after the baseline")
        rules.append(EventRule(str(key), sigma, weight, subtype_weight, baseline, period))
    return tuple(rules), lattice


def _parse_grid(data: Mapping[str, Any], source: str) -> tuple[str, float]:
    grid = _table(data, "grid", source, "")
    where = "[grid]"
    _check_keys(grid, ("crs", "cell_size_m"), source, where)
    crs_text = _require(grid, "crs", source, where)
    check_projected_crs(crs_text, f"{source}: {where} crs")
    cell = _number(_require(grid, "cell_size_m", source, where), source, where, "cell_size_m",
                   positive=True)  # fmt: skip
    return str(crs_text), cell


def check_projected_crs(crs_text: Any, where: str) -> pyproj.CRS:
    """Return the CRS if it is projected with metre units, else raise ``ParameterError``.

    Parameters
    ----------
    crs_text : Any
        Anything pyproj accepts (``"EPSG:3035"``, WKT, ...).
    where : str
        Prefix of the message (file and key, or option).

    Returns
    -------
    pyproj.CRS
        The CRS.

    Raises
    ------
    ParameterError
        If the CRS is unknown, geographic, or not in metres.
    """
    try:
        crs = pyproj.CRS.from_user_input(crs_text)
    except CRSError as exc:
        raise ParameterError(f"{where} = {crs_text!r}: not a known CRS ({exc})") from None
    if not crs.is_projected or crs.axis_info[0].unit_name not in ("metre", "meter"):
        raise ParameterError(
            f"{where} = {crs_text!r}: must be a projected CRS in metres (distances are measured "
            "in it), e.g. EPSG:3035 or a UTM zone such as EPSG:32637"
        )
    return crs


def parse_hazard_model(text: str, *, source: str = "<hazard model>") -> HazardModel:
    """Parse and validate a hazard model given as TOML text.

    Parameters
    ----------
    text : str
        TOML document (see ``geodata/hazard_model.toml`` for the commented default).
    source : str, optional
        Name used in error messages, normally the file path.

    Returns
    -------
    HazardModel
        The validated model. Distances are in metres, dates are ``datetime.date``.

    Raises
    ------
    ParameterError
        On TOML syntax errors (with line and column), unknown keys (with the closest valid key),
        missing keys, or values out of range. The message names the file, table, key and value.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"{source}: invalid TOML: {exc}") from None
    top = ("schema_version", "grid", "classes", "front_lines", "contact_lines", "trench_lines",
           "zones", "events")  # fmt: skip
    _check_keys(data, top, source, "")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise _fail(source, "", "schema_version", version, f"must be {SCHEMA_VERSION}")
    crs, cell = _parse_grid(data, source)
    events, lattice = _parse_events(data, source)
    model = HazardModel(
        source=source,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        crs=crs,
        cell_size_m=cell,
        classes=_parse_classes(data, source),
        front_lines=_parse_front_lines(data, source),
        contact_lines=_parse_line_kernel(data, "contact_lines", source),
        trench_lines=_parse_line_kernel(data, "trench_lines", source),
        zones=_parse_zones(data, source),
        events=events,
        event_lattice_m=lattice,
    )
    if not (model.front_lines or model.contact_lines or model.trench_lines or model.zones
            or model.events):  # fmt: skip
        raise ParameterError(f"{source}: no line, zone or event term: nothing to do")
    return model


def load_hazard_model(path: str | os.PathLike[str]) -> HazardModel:
    """Read and validate a hazard model TOML file.

    Parameters
    ----------
    path : str or Path
        Path of the TOML file.

    Returns
    -------
    HazardModel
        The validated model.

    Raises
    ------
    ParameterError
        If the file cannot be read or is invalid (see :func:`parse_hazard_model`).
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ParameterError(f"{path}: cannot read hazard model ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ParameterError(f"{path}: hazard model is not UTF-8 text") from None
    return parse_hazard_model(text, source=str(path))


# --------------------------------------------------------------------------------------------
# Grid
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Grid:
    """A north-up raster grid: ``width`` x ``height`` square cells of ``cell_size_m`` metres.

    ``left`` and ``top`` are the coordinates (metres, in ``crs``) of the grid's upper-left corner.
    """

    crs: str
    cell_size_m: float
    left: float
    top: float
    width: int
    height: int

    @property
    def transform(self) -> Affine:
        """Affine transform of the whole grid."""
        return self.window_transform(Window(0, 0, self.width, self.height))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` of the whole grid, metres."""
        return self.window_bounds(Window(0, 0, self.width, self.height))

    def window_transform(self, window: Window) -> Affine:
        """Affine transform of ``window``; exact, since offsets are whole cells."""
        c = self.cell_size_m
        return Affine(
            c, 0.0, self.left + window.col_off * c, 0.0, -c, self.top - window.row_off * c
        )

    def window_bounds(self, window: Window) -> tuple[float, float, float, float]:
        """Return ``(left, bottom, right, top)`` of ``window`` in metres."""
        c = self.cell_size_m
        left = self.left + window.col_off * c
        top = self.top - window.row_off * c
        return (left, top - window.height * c, left + window.width * c, top)


def grid_for_bounds(bounds: Sequence[float], *, cell_size_m: float, crs: str) -> Grid:
    """Return the smallest grid snapped to multiples of ``cell_size_m`` that covers ``bounds``.

    Parameters
    ----------
    bounds : sequence of float
        ``(left, bottom, right, top)`` in metres, in ``crs``.
    cell_size_m : float
        Cell size in metres.
    crs : str
        CRS of the grid (any string pyproj understands).

    Returns
    -------
    Grid
        A grid whose edges are multiples of ``cell_size_m``.

    Examples
    --------
    >>> g = grid_for_bounds((120.0, 30.0, 380.0, 290.0), cell_size_m=100.0, crs="EPSG:3035")
    >>> (g.left, g.top, g.width, g.height)
    (100.0, 300.0, 3, 3)
    """
    left, bottom, right, top = (float(b) for b in bounds)
    if not (right > left and top > bottom) or not all(map(math.isfinite, bounds)):
        raise InputDataError(f"extent {tuple(bounds)!r}: must be finite with left < right and "
                             "bottom < top")  # fmt: skip
    c = cell_size_m
    x0, x1 = math.floor(left / c), math.ceil(right / c)
    y0, y1 = math.floor(bottom / c), math.ceil(top / c)
    return Grid(
        crs=crs,
        cell_size_m=c,
        left=x0 * c,
        top=y1 * c,
        width=max(1, x1 - x0),
        height=max(1, y1 - y0),
    )


def iter_windows(grid: Grid, block_size: int) -> Iterator[Window]:
    """Yield the windows of ``grid`` in blocks of ``block_size`` x ``block_size`` cells, row-major.

    Parameters
    ----------
    grid : Grid
        The grid.
    block_size : int
        Block edge in cells; use a multiple of the GeoTIFF tile size for aligned writes.

    Yields
    ------
    Window
        Windows covering the grid exactly once (edge blocks are smaller).
    """
    if block_size < 1:
        raise ValueError(f"block_size = {block_size!r}: must be >= 1")
    for row in range(0, grid.height, block_size):
        for col in range(0, grid.width, block_size):
            yield Window(
                col, row, min(block_size, grid.width - col), min(block_size, grid.height - row)
            )


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventTable:
    """Point events in the grid CRS: coordinates (m), day, type and subtype of each event."""

    x: np.ndarray
    y: np.ndarray
    day: np.ndarray  # datetime64[D]
    type: np.ndarray  # str objects
    subtype: np.ndarray  # str objects ("" when none)

    def __len__(self) -> int:
        return int(self.x.size)

    @staticmethod
    def concat(tables: Sequence[EventTable]) -> EventTable | None:
        """Concatenate tables (``None`` when there are none)."""
        tables = [t for t in tables if t is not None]
        if not tables:
            return None
        return EventTable(*(np.concatenate([getattr(t, f) for t in tables])
                            for f in ("x", "y", "day", "type", "subtype")))  # fmt: skip


@dataclass(frozen=True)
class HazardInputs:
    """What the proxy is built from; every geometry in the grid CRS (metres).

    Attributes
    ----------
    aoi : shapely geometry, optional
        Area of interest: cells whose centre is outside it are nodata. ``None``: the whole grid.
    front_lines : sequence of (date, geometry)
        Dated front lines; geometries of the same date are one snapshot.
    contact_lines, trench_lines : sequence of geometries
        Undated lines.
    zones : sequence of (category, date or None, geometry)
        Control zones; ``category`` is one of ``ZONE_CATEGORIES``.
    events : EventTable, optional
        Point events.
    """

    aoi: shapely.Geometry | None = None
    front_lines: Sequence[tuple[dt.date, shapely.Geometry]] = ()
    contact_lines: Sequence[shapely.Geometry] = ()
    trench_lines: Sequence[shapely.Geometry] = ()
    zones: Sequence[tuple[str, dt.date | None, shapely.Geometry]] = ()
    events: EventTable | None = None


def _parts(geoms: shapely.Geometry | Sequence[shapely.Geometry] | np.ndarray) -> np.ndarray:
    """Explode geometries into a flat object array of their non-empty single parts."""
    if isinstance(geoms, shapely.Geometry):
        geoms = [geoms]
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = list(geoms)
    if not arr.size:
        return arr
    parts = shapely.get_parts(arr)
    return parts[~shapely.is_empty(parts)]


def _lines(geoms: Sequence[shapely.Geometry]) -> np.ndarray:
    """Linear parts of geometries (polygon rings count as lines)."""
    parts = _parts(geoms)
    kinds = shapely.get_type_id(parts)
    polygons = kinds == 3
    if polygons.any():
        parts = np.concatenate([parts[~polygons], _parts(shapely.boundary(parts[polygons]))])
        kinds = shapely.get_type_id(parts)
    return parts[(kinds == 1) | (kinds == 2)]


# --------------------------------------------------------------------------------------------
# Front-line persistence
# --------------------------------------------------------------------------------------------


def _hold_share(distance_m: np.ndarray, radius_m: float) -> np.ndarray:
    # The front moves from one snapshot's line to the next at a steady pace over the interval:
    # it stays within radius_m of a point of the first line for radius_m / D of the interval,
    # where D is how far it went. Half the interval at most: the other half belongs to the
    # other snapshot's line, which is then near the same ground.
    d = np.asarray(distance_m, dtype="float64")
    with np.errstate(divide="ignore"):
        return np.minimum(0.5, np.where(d > 0, radius_m / d, 0.5))


def _sample_points(line: shapely.Geometry, spacing_m: float) -> np.ndarray:
    """Midpoints of equal pieces (at most ``spacing_m`` long) of every part of ``line``."""
    out = []
    for part in _lines([line]):
        length = part.length
        if length <= 0:
            continue
        n = max(1, math.ceil(length / spacing_m))
        out.append(shapely.line_interpolate_point(part, (np.arange(n) + 0.5) * (length / n)))
    return np.concatenate(out) if out else np.empty(0, dtype=object)


def front_hold_days(
    snapshots: Sequence[tuple[dt.date, shapely.Geometry]],
    rule: FrontLineRule,
    *,
    previous: shapely.Geometry | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Estimate how long each stretch of each dated front line held, in days.

    Each snapshot's line is cut into pieces at most ``rule.hold_radius_m`` long. A piece whose
    midpoint lies ``D`` metres from the next snapshot's line gets
    ``interval_days x min(1/2, hold_radius_m / D)`` of the interval to that snapshot, and likewise
    for the interval from the previous snapshot: a line that stayed put gets half of each
    interval (its neighbour, on the same ground, gets the other half, so the ground gets the
    whole interval), and a line the front left at a steady pace gets the time the front took
    to move ``hold_radius_m`` away. The first snapshot's earlier interval starts at
    ``rule.start_date`` (none without one) and is measured against ``previous`` (the line that
    held before, e.g. the 2015-2022 contact line); with no ``previous`` line that stretch is
    assumed to have held (the cautious choice). The last snapshot gets nothing after its date.

    Parameters
    ----------
    snapshots : sequence of (date, geometry)
        Front lines, one geometry per distinct date, in increasing date order (grid CRS, m).
    rule : FrontLineRule
        The front-line rule of the hazard model.
    previous : shapely geometry, optional
        The line that held before the first snapshot.

    Returns
    -------
    list of (numpy.ndarray, numpy.ndarray)
        Per snapshot: the piece midpoints (shapely points) and their hold times in days.

    Examples
    --------
    Two snapshots 30 days apart of the same line: each piece held 15 days on each line.

    >>> line = shapely.LineString([(0, 0), (1000, 0)])
    >>> rule = FrontLineRule(BandKernel((100.0,), (1.0,)), hold_radius_m=500.0)
    >>> [h.tolist() for _, h in front_hold_days(
    ...     [(dt.date(2022, 1, 1), line), (dt.date(2022, 1, 31), line)], rule)]
    [[15.0, 15.0], [15.0, 15.0]]
    """
    dates = [d for d, _ in snapshots]
    if any(b <= a for a, b in zip(dates, dates[1:], strict=False)):
        raise ValueError("snapshots must have distinct dates in increasing order")
    r = rule.hold_radius_m
    points = [_sample_points(g, r) for _, g in snapshots]
    out = []
    for s, (date, _) in enumerate(snapshots):
        pts = points[s]
        hold = np.zeros(pts.size)
        if s > 0:
            days = (date - dates[s - 1]).days
            hold += days * _hold_share(shapely.distance(pts, snapshots[s - 1][1]), r)
        elif rule.start_date is not None and rule.start_date < date:
            days = (date - rule.start_date).days
            if previous is not None and not previous.is_empty:
                hold += days * _hold_share(shapely.distance(pts, previous), r)
            else:
                hold += days * 0.5
        if s + 1 < len(snapshots):
            days = (dates[s + 1] - date).days
            hold += days * _hold_share(shapely.distance(pts, snapshots[s + 1][1]), r)
        out.append((pts, hold))
    return out


# --------------------------------------------------------------------------------------------
# Burn layers: polygons with values, rasterised block by block
# --------------------------------------------------------------------------------------------


def _split(geoms: np.ndarray, values: np.ndarray, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Cut polygons into pieces of at most ``_MAX_PIECE_VERTICES`` vertices and 512 cells across.

    Polygons of at most 256 vertices are kept whole whatever their size.

    Cuts run along cell edges, so no cell centre lies on a cut and every cell is burnt by the
    same value whatever piece holds it. A block then converts and rasterises only the few small
    pieces that touch it, never a whole front-line buffer.
    """
    out_g, out_v = [], []
    stack = list(zip(geoms.tolist(), values.tolist(), strict=True))
    c = grid.cell_size_m
    span = _MAX_PIECE_CELLS * c
    while stack:
        geom, value = stack.pop()
        if geom.is_empty:
            continue
        x0, y0, x1, y1 = geom.bounds
        n = shapely.get_num_coordinates(geom)
        # A polygon of few vertices costs little however large (GDAL clips it to the block).
        if n <= _MAX_PIECE_VERTICES and (n <= 256 or max(x1 - x0, y1 - y0) <= span):
            out_g.append(geom)
            out_v.append(value)
            continue
        xm = grid.left + round((0.5 * (x0 + x1) - grid.left) / c) * c
        ym = grid.top - round((grid.top - 0.5 * (y0 + y1)) / c) * c
        cut_x, cut_y = x0 < xm < x1, y0 < ym < y1
        if not (cut_x or cut_y):  # too small to cut on cell edges: keep whole
            out_g.append(geom)
            out_v.append(value)
            continue
        xs = (x0, xm, x1) if cut_x else (x0, x1)
        ys = (y0, ym, y1) if cut_y else (y0, y1)
        for a, b in zip(xs, xs[1:], strict=False):
            for d, e in zip(ys, ys[1:], strict=False):
                piece = shapely.clip_by_rect(geom, a, d, b, e)
                # clip_by_rect can return lines or points along the cut: keep polygons only.
                parts = [p for p in _parts(piece) if shapely.get_type_id(p) == 3]
                if parts:
                    stack.append((shapely.multipolygons(parts), value))
    g = np.empty(len(out_g), dtype=object)
    g[:] = out_g
    return g, np.asarray(out_v, dtype="float64")


class _BurnLayer:
    """Polygons with values; a cell gets the highest value among the polygons holding its centre.

    Pieces are stored in increasing value order and burnt with "replace", so the last (highest)
    value wins. Nested distance buffers whose values fall with distance thus give each cell the
    value of its band; non-overlapping polygons (Voronoi cells) give their own value. Pieces are
    converted to GeoJSON mappings once, here, not in every block.
    """

    def __init__(self, name: str, geoms: np.ndarray, values: np.ndarray):
        self.name = name
        self.values = values
        self.tree = shapely.STRtree(geoms)
        self.shapes = [json.loads(s) for s in shapely.to_geojson(geoms)] if geoms.size else []
        self.n_vertices = int(shapely.get_num_coordinates(geoms).sum()) if geoms.size else 0

    @classmethod
    def build(
        cls, name: str, geoms: Sequence[shapely.Geometry], values: Sequence[float], grid: Grid
    ) -> _BurnLayer:
        """Split, sort and index polygons (any geometry's polygonal parts) with their values."""
        g = np.empty(len(geoms), dtype=object)
        g[:] = list(geoms)
        v = np.asarray(values, dtype="float64")
        keep = ~shapely.is_empty(g) if g.size else np.zeros(0, dtype=bool)
        g, v = _split(g[keep], v[keep], grid)
        order = np.argsort(v, kind="stable")
        return cls(name, g[order], v[order])

    def burn(self, grid: Grid, window: Window) -> np.ndarray | None:
        """Values of the cells of ``window`` (0 outside every polygon); ``None`` if none touch."""
        hits = self.tree.query(shapely.box(*grid.window_bounds(window)))
        if not hits.size:
            return None
        hits.sort()
        return rasterize(
            ((self.shapes[k], self.values[k]) for k in hits.tolist()),
            out_shape=(int(window.height), int(window.width)),
            transform=grid.window_transform(window),
            fill=0.0,
            dtype="float64",
        )


def _band_layer(name: str, lines: np.ndarray, kernel: BandKernel, grid: Grid) -> _BurnLayer:
    """Nested buffers of ``lines`` at the kernel's band edges, with the band values.

    The first buffer is of the lines; each next one grows the previous by the difference of the
    edges (a buffer of a buffer is the buffer by the sum of the distances), which is far faster
    than buffering thousands of line parts again. Each is simplified by a quarter cell or
    0.25 % of its distance, whichever is smaller: band edges are exact to ~0.5 % of the distance.
    """
    geoms, values = [], []
    if lines.size:
        current = shapely.multilinestrings(shapely.get_parts(_lines(lines)))
        done = 0.0
        for edge, value in zip(kernel.edges_m, kernel.values, strict=True):
            if value <= 0:
                break  # values never rise with distance: every further band is 0 too
            current = shapely.buffer(current, edge - done, quad_segs=_QUAD_SEGS)
            current = shapely.simplify(current, min(grid.cell_size_m / 4, edge / 400))
            done = edge
            geoms.append(current)
            values.append(value)
    return _BurnLayer.build(name, geoms, values, grid)


def _voronoi_layer(
    name: str, points: np.ndarray, values: np.ndarray, extent: shapely.Geometry, grid: Grid
) -> _BurnLayer:
    """Cells take the value of the nearest point (Voronoi cells of the points)."""
    xy = shapely.get_coordinates(points)
    xy, first = np.unique(xy, axis=0, return_index=True)
    vals = np.asarray(values, dtype="float64")[first]
    if len(xy) == 1:
        return _BurnLayer.build(name, [extent], vals, grid)
    cells = shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=extent, ordered=True)
    parts = shapely.get_parts(cells)
    # ordered=True gives one cell per input point, in input order.
    return _BurnLayer.build(name, list(parts), vals, grid)


# --------------------------------------------------------------------------------------------
# Event lattice
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Lattice:
    """Values on nodes ``(x0 + j h, y0 - i h)``, sampled bilinearly at cell centres.

    ``x0`` is ``margin`` lattice steps left of the first cell centre, so a cell's lattice
    coordinate is ``margin + col x cell / h`` whatever block it is in.
    """

    margin: int
    h: float
    values: np.ndarray

    def sample(self, grid: Grid, window: Window) -> np.ndarray:
        c = grid.cell_size_m
        rows = np.arange(window.row_off, window.row_off + window.height, dtype="float64")
        cols = np.arange(window.col_off, window.col_off + window.width, dtype="float64")
        u = self.margin + cols * c / self.h
        v = self.margin + rows * c / self.h
        j0 = np.floor(u).astype(np.int64)
        i0 = np.floor(v).astype(np.int64)
        fu, fv = u - j0, v - i0
        sub = self.values[i0[0] : i0[-1] + 2, j0[0] : j0[-1] + 2]
        j, i = j0 - j0[0], i0 - i0[0]
        top = sub[i][:, j] * (1 - fu) + sub[i][:, j + 1] * fu
        bottom = sub[i + 1][:, j] * (1 - fu) + sub[i + 1][:, j + 1] * fu
        return top * (1 - fv)[:, None] + bottom * fv[:, None]


def _gauss_filter(values: np.ndarray, h: float, sigma_m: float) -> np.ndarray:
    """Separable Gaussian (peak 1, cut at 4 sigma) over lattice values, zero beyond the edges.

    Convolved by FFT along each axis (zero-padded, so nothing wraps round); values below 1e-12
    of the largest are rounding noise and set to 0.
    """
    k = int(math.ceil(_KERNEL_SIGMAS * sigma_m / h))
    taps = np.exp(-0.5 * (np.arange(-k, k + 1) * h / sigma_m) ** 2)
    out = np.asarray(values, dtype="float64")
    for axis in (0, 1):
        n = out.shape[axis]
        size = 1 << int(math.ceil(math.log2(n + 2 * k + 1)))
        spectrum = np.fft.rfft(out, n=size, axis=axis)
        kernel = np.fft.rfft(taps, n=size)
        shape = [1, 1]
        shape[axis] = kernel.size
        full = np.fft.irfft(spectrum * kernel.reshape(shape), n=size, axis=axis)
        index = [slice(None), slice(None)]
        index[axis] = slice(k, k + n)
        out = full[tuple(index)]
    peak = float(np.abs(out).max()) if out.size else 0.0
    out[np.abs(out) <= 1e-12 * peak] = 0.0
    return np.maximum(out, 0.0)


def _event_lattice(
    model: HazardModel, events: EventTable | None, grid: Grid, as_of: dt.date | None,
    info: dict[str, Any],
) -> _Lattice | None:  # fmt: skip
    if not model.events or events is None or not len(events):
        return None
    h = model.event_lattice_m
    sigma_max = max(r.sigma_m for r in model.events)
    margin = int(math.ceil(_KERNEL_SIGMAS * sigma_max / h)) + 2
    c = grid.cell_size_m
    nx = int(math.ceil(grid.width * c / h)) + 2 * margin + 2
    ny = int(math.ceil(grid.height * c / h)) + 2 * margin + 2
    if nx * ny > _MAX_LATTICE_NODES:
        raise ParameterError(
            f"{model.source}: [events] lattice_m = {h!r}: the grid needs {nx * ny:,} lattice "
            f"nodes (limit {_MAX_LATTICE_NODES:,}); use a coarser lattice_m"
        )
    x0 = grid.left + 0.5 * c - margin * h
    y0 = grid.top - 0.5 * c + margin * h
    j = np.rint((events.x - x0) / h).astype(np.int64)
    i = np.rint((y0 - events.y) / h).astype(np.int64)
    inside = (j >= 0) & (j < nx) & (i >= 0) & (i < ny)
    total = np.zeros((ny, nx))
    end = np.datetime64(as_of) if as_of is not None else None
    counts: dict[str, Any] = {}

    def density(mask: np.ndarray, weights: np.ndarray, sigma: float) -> np.ndarray:
        arr = np.zeros(ny * nx)
        sel = mask & inside
        np.add.at(arr, i[sel] * nx + j[sel], weights[sel])
        return _gauss_filter(arr.reshape(ny, nx), h, sigma)

    for rule in model.events:
        of_type = events.type == rule.type
        if end is not None:
            of_type &= events.day <= end
        weights = np.ones(len(events))
        sub = np.char.lower(events.subtype.astype(str))
        for name, factor in rule.subtype_weight:
            weights[sub == name] = factor
        if rule.period is None:
            counts[rule.type] = {"events": int(of_type.sum())}
            if of_type.any():
                total += rule.weight * density(of_type, weights, rule.sigma_m)
            continue
        b0, b1 = (np.datetime64(d) for d in rule.baseline)
        p0, p1 = (np.datetime64(d) for d in rule.period)
        if end is not None:
            p1 = min(p1, end)
        in_base = of_type & (events.day >= b0) & (events.day <= b1)
        in_period = of_type & (events.day >= p0) & (events.day <= p1)
        counts[rule.type] = {"period": int(in_period.sum()), "baseline": int(in_base.sum())}
        if p1 < p0 or not in_period.any():
            continue
        scale = float((p1 - p0).astype(int) + 1) / float((b1 - b0).astype(int) + 1)
        excess = density(in_period, weights, rule.sigma_m)
        if in_base.any():
            excess = np.maximum(0.0, excess - scale * density(in_base, weights, rule.sigma_m))
        total += rule.weight * excess
    info["events"] = counts
    return _Lattice(margin, h, total)


# --------------------------------------------------------------------------------------------
# Preparation and block computation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedHazard:
    """Everything needed to compute any block of a grid; holds no raster and no open file.

    Build it with :func:`prepare_hazard`.
    """

    grid: Grid
    model: HazardModel
    class_names: tuple[str, ...]
    class_lower: np.ndarray  # lower bound of p of each class, increasing
    class_values: np.ndarray  # uint8 raster value of each class
    fronts: tuple[tuple[_BurnLayer, _BurnLayer], ...]  # (distance bands, hold days) per snapshot
    layers: tuple[_BurnLayer, ...]  # contact, trench lines, zones: added
    events: _Lattice | None
    aoi: _BurnLayer | None
    info: dict[str, Any] = field(default_factory=dict)


def _check_inputs(model: HazardModel, inputs: HazardInputs) -> None:
    def need(given: bool, term: Any, what: str, table: str) -> None:
        if given and not term:
            raise ParameterError(
                f"{model.source}: {what} given but the model has no [{table}] table: they "
                f"would be ignored; add [{table}] or leave the input out"
            )

    need(bool(inputs.front_lines), model.front_lines, "front lines", "front_lines")
    need(bool(inputs.contact_lines), model.contact_lines, "contact lines", "contact_lines")
    need(bool(inputs.trench_lines), model.trench_lines, "trench lines", "trench_lines")
    zones = dict(model.zones)
    for category in sorted({c for c, _, _ in inputs.zones}):
        if category not in ZONE_CATEGORIES:
            raise InputDataError(f"zone category {category!r}: expected one of {ZONE_CATEGORIES}")
        if category not in zones:
            raise ParameterError(
                f"{model.source}: [zones] has no {category!r} key but the control zones hold "
                f"{category} ground; add `{category} = ...` (0.0 to ignore it)"
            )
    if inputs.events is not None and len(inputs.events):
        types = {r.type for r in model.events}
        found, n = np.unique(inputs.events.type.astype(str), return_counts=True)
        missing = [f"{str(t)!r} ({c})" for t, c in zip(found, n, strict=True) if t not in types]
        if missing:
            raise ParameterError(
                f"{model.source}: events of type {', '.join(missing)} have no [events.TYPE] "
                f"table (tables: {', '.join(sorted(types)) or 'none'}); add one or drop them"
            )


def prepare_hazard(
    model: HazardModel,
    inputs: HazardInputs,
    grid: Grid,
    *,
    class_values: Mapping[str, int] | None = None,
    as_of: dt.date | None = None,
) -> PreparedHazard:
    """Buffer the lines, estimate how long fronts held and build the event lattice.

    Parameters
    ----------
    model : HazardModel
        Validated hazard model.
    inputs : HazardInputs
        Geometries in the grid CRS (metres) and events.
    grid : Grid
        The output grid.
    class_values : mapping of str to int, optional
        Raster value of each model class (see :meth:`HazardModel.class_raster_values`); by
        default the class's rank (0, 1, 2, ...).
    as_of : datetime.date, optional
        Ignore front lines, zones and events dated after this day.

    Returns
    -------
    PreparedHazard
        Ready for :func:`compute_block`.

    Raises
    ------
    ParameterError
        If an input has no term in the model (it would be silently ignored).
    InputDataError
        If an input is malformed (e.g. an unknown zone category).
    """
    t0 = time.perf_counter()
    _check_inputs(model, inputs)
    names = model.class_names
    values = class_values or {n: i for i, n in enumerate(names)}
    info: dict[str, Any] = {"as_of": as_of.isoformat() if as_of else None}
    extent = shapely.box(*grid.bounds)

    fronts: list[tuple[_BurnLayer, _BurnLayer]] = []
    if model.front_lines is not None and inputs.front_lines:
        by_date: dict[dt.date, list[shapely.Geometry]] = {}
        for date, geom in inputs.front_lines:
            if as_of is None or date <= as_of:
                by_date.setdefault(date, []).append(geom)
        snapshots = [
            (d, shapely.multilinestrings(shapely.get_parts(_lines(by_date[d]))))
            for d in sorted(by_date)
        ]
        previous = None
        if inputs.contact_lines:
            previous = shapely.multilinestrings(shapely.get_parts(_lines(inputs.contact_lines)))
        rule = model.front_lines
        reach = rule.kernel.edges_m[-1]
        holds = front_hold_days(snapshots, rule, previous=previous)
        info["front_lines"] = []
        for (date, line), (pts, hold) in zip(snapshots, holds, strict=True):
            area = shapely.box(*shapely.bounds(shapely.union(extent, line.envelope)))
            area = shapely.buffer(area, reach, quad_segs=1, join_style="mitre")
            bands = _band_layer(f"front {date}", np.array([line]), rule.kernel, grid)
            if pts.size == 0:
                continue
            held = _voronoi_layer(f"hold {date}", pts, hold / DAYS_PER_MONTH, area, grid)
            fronts.append((bands, held))
            info["front_lines"].append(
                {
                    "date": date.isoformat(),
                    "length_km": round(line.length / 1000, 1),
                    "hold_days_median": round(float(np.median(hold)), 1),
                    "hold_days_max": round(float(hold.max()), 1),
                }
            )
    layers = []
    if model.contact_lines is not None and inputs.contact_lines:
        layers.append(_band_layer("contact lines", _lines(inputs.contact_lines),
                                  model.contact_lines, grid))  # fmt: skip
    if model.trench_lines is not None and inputs.trench_lines:
        layers.append(_band_layer("trench lines", _lines(inputs.trench_lines),
                                  model.trench_lines, grid))  # fmt: skip
    zone_value = dict(model.zones)
    zone_geoms, zone_values = [], []
    for category, date, geom in inputs.zones:
        if (as_of is None or date is None or date <= as_of) and zone_value[category] > 0:
            for part in _parts(geom):
                zone_geoms.append(part)
                zone_values.append(zone_value[category])
    if zone_geoms:
        layers.append(_BurnLayer.build("zones", zone_geoms, zone_values, grid))
    events = _event_lattice(model, inputs.events, grid, as_of, info)
    aoi = None
    if inputs.aoi is not None:
        aoi = _BurnLayer.build("aoi", list(_parts(inputs.aoi)), [1.0] * len(_parts(inputs.aoi)),
                               grid)  # fmt: skip
    info["prepare_seconds"] = round(time.perf_counter() - t0, 2)
    logger.info("hazard prepared in %.1f s", time.perf_counter() - t0)
    return PreparedHazard(
        grid=grid,
        model=model,
        class_names=names,
        class_lower=np.array([p for _, p in model.classes], dtype="float64"),
        class_values=np.array([values[n] for n in names], dtype=np.uint8),
        fronts=tuple(fronts),
        layers=tuple(layers),
        events=events,
        aoi=aoi,
        info=info,
    )


def intensity_block(prepared: PreparedHazard, window: Window) -> np.ndarray:
    """Hazard intensity ``L`` of every cell of ``window`` (float64; ``p = 1 - exp(-L)``).

    Parameters
    ----------
    prepared : PreparedHazard
        Output of :func:`prepare_hazard`.
    window : Window
        Window of the prepared grid.

    Returns
    -------
    numpy.ndarray
        Array of shape ``(window.height, window.width)``.
    """
    grid = prepared.grid
    lam = np.zeros((int(window.height), int(window.width)))
    for bands, held in prepared.fronts:
        band = bands.burn(grid, window)
        if band is None:
            continue
        hold = held.burn(grid, window)
        if hold is not None:
            lam += band * hold
    for layer in prepared.layers:
        burnt = layer.burn(grid, window)
        if burnt is not None:
            lam += burnt
    if prepared.events is not None:
        lam += prepared.events.sample(grid, window)
    return lam


def _round_mantissa(p: np.ndarray) -> np.ndarray:
    """Round float32 values to ``_PROBABILITY_BITS`` mantissa bits (ties away from zero).

    Relative error <= 2**-(bits + 1) (0.05 % at 10 bits): far below the model's precision, and
    the probability raster compresses ~3x better.
    """
    drop = 23 - _PROBABILITY_BITS
    u = p.view(np.uint32)
    u += np.uint32(1 << (drop - 1))
    u &= np.uint32(~((1 << drop) - 1) & 0xFFFFFFFF)
    return p


def compute_block(prepared: PreparedHazard, window: Window) -> tuple[np.ndarray, np.ndarray]:
    """Probability and class of every cell of ``window``.

    Parameters
    ----------
    prepared : PreparedHazard
        Output of :func:`prepare_hazard`.
    window : Window
        Window of the prepared grid.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``float32`` probability (NaN outside the area of interest; 10 mantissa bits, relative
        precision 0.05 %) and ``uint8`` class raster values (255 outside). The class is the one
        whose lower bound is the highest at or below the stored probability, so the two rasters
        always agree.
    """
    shape = (int(window.height), int(window.width))
    outside = None
    if prepared.aoi is not None:
        inside = prepared.aoi.burn(prepared.grid, window)
        if inside is None:  # the block misses the area of interest: nothing to compute
            return np.full(shape, np.nan, dtype=np.float32), np.full(shape, NODATA, np.uint8)
        outside = inside == 0
    lam = intensity_block(prepared, window)
    p = _round_mantissa((-np.expm1(-lam)).astype(np.float32))
    idx = np.searchsorted(prepared.class_lower, p.astype("float64"), side="right") - 1
    classes = prepared.class_values[np.clip(idx, 0, None)]
    if outside is not None:
        p[outside] = np.nan
        classes[outside] = NODATA
    return p, classes


def iter_hazard_blocks(
    prepared: PreparedHazard, *, block_size: int = 512
) -> Iterator[tuple[Window, np.ndarray, np.ndarray]]:
    """Yield ``(window, probability, classes)`` for every block; memory is one block.

    Parameters
    ----------
    prepared : PreparedHazard
        Output of :func:`prepare_hazard`.
    block_size : int, optional
        Block edge in cells (default 512).

    Yields
    ------
    tuple of (Window, numpy.ndarray, numpy.ndarray)
        See :func:`compute_block`.
    """
    for window in iter_windows(prepared.grid, block_size):
        p, classes = compute_block(prepared, window)
        yield window, p, classes


def build_hazard_arrays(
    prepared: PreparedHazard, *, block_size: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Assemble the whole probability and class rasters in memory (small grids and tests only).

    Parameters
    ----------
    prepared : PreparedHazard
        Output of :func:`prepare_hazard`.
    block_size : int, optional
        Block edge in cells; the result does not depend on it.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``float32`` probability and ``uint8`` classes of shape ``(height, width)``.
    """
    grid = prepared.grid
    p_all = np.full((grid.height, grid.width), np.nan, dtype=np.float32)
    c_all = np.full((grid.height, grid.width), NODATA, dtype=np.uint8)
    for window, p, classes in iter_hazard_blocks(prepared, block_size=block_size):
        p_all[window.toslices()] = p
        c_all[window.toslices()] = classes
    return p_all, c_all


# --------------------------------------------------------------------------------------------
# Writing: two GeoTIFFs and a summary of class areas per region
# --------------------------------------------------------------------------------------------


@dataclass
class HazardSummary:
    """Class areas of a build per region (cells counted by centre, ellipsoidal cell areas).

    ``class_area_km2[region][class]``, ``expected_area_km2[region]`` (sum of ``p`` x cell
    area: the area expected to prove contaminated) and ``expected_by_class_km2[region][class]``
    (the same sum over the cells of each class); ``"Total"`` sums the regions.
    """

    class_names: tuple[str, ...]
    class_values: dict[str, int]
    class_lower: dict[str, float]
    class_area_km2: dict[str, dict[str, float]] = field(default_factory=dict)
    expected_area_km2: dict[str, float] = field(default_factory=dict)
    expected_by_class_km2: dict[str, dict[str, float]] = field(default_factory=dict)
    grid: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "classes": [
                {"name": n, "raster_value": self.class_values[n], "p_from": self.class_lower[n]}
                for n in self.class_names
            ],
            "class_area_km2": self.class_area_km2,
            "expected_contaminated_area_km2": self.expected_area_km2,
            "expected_contaminated_area_km2_by_class": self.expected_by_class_km2,
            "grid": self.grid,
            "hazard_model": self.model,
            "build": self.info,
            "files": self.files,
            "seconds": round(self.seconds, 1),
        }


def summary_markdown(summary: HazardSummary) -> str:
    """Markdown table of class areas per region (km²), with the expected contaminated area.

    Parameters
    ----------
    summary : HazardSummary
        A build summary.

    Returns
    -------
    str
        A Markdown table, one row per class, one column per region.
    """
    regions = list(summary.class_area_km2)
    lines = [
        "| class (p from) | " + " | ".join(f"{r} km²" for r in regions) + " | share |",
        "|---|" + "---:|" * (len(regions) + 1),
    ]
    last = regions[-1]
    total = sum(summary.class_area_km2[last].values()) or 1.0
    for name in summary.class_names:
        cells = " | ".join(f"{summary.class_area_km2[r][name]:,.0f}" for r in regions)
        share = summary.class_area_km2[last][name] / total
        lines.append(f"| {name} (≥ {summary.class_lower[name]:g}) | {cells} | {share:.1%} |")
    sums = " | ".join(f"{sum(summary.class_area_km2[r].values()):,.0f}" for r in regions)
    lines.append(f"| all | {sums} | 100% |")
    exp = " | ".join(f"{summary.expected_area_km2[r]:,.0f}" for r in regions)
    share = summary.expected_area_km2[last] / total
    lines.append(f"| expected contaminated (Σ p × area) | {exp} | {share:.1%} |")
    return "\n".join(lines) + "\n"


def _block_cell_areas(grid: Grid, crs: pyproj.CRS, window: Window) -> np.ndarray | float:
    """Ellipsoidal area (m²) of each cell of ``window``; a float for equal-area grids."""
    from .overlay import cell_areas_m2

    transform = grid.transform
    op = crs.coordinate_operation
    if op is not None and "equal area" in op.method_name.lower():
        return float(cell_areas_m2(crs, transform, np.array([0]), np.array([0]))[0])
    # The areal scale of a projection is smooth: exact at every 16th cell, bilinear between.
    h, w = int(window.height), int(window.width)
    step = 16
    rs = np.unique(np.r_[np.arange(0, h, step), h - 1]) + window.row_off
    cs = np.unique(np.r_[np.arange(0, w, step), w - 1]) + window.col_off
    rr, cc = np.meshgrid(rs, cs, indexing="ij")
    coarse = cell_areas_m2(crs, transform, rr.ravel(), cc.ravel()).reshape(rr.shape)
    rows = np.arange(window.row_off, window.row_off + h)
    cols = np.arange(window.col_off, window.col_off + w)
    by_col = np.stack([np.interp(cols, cs, coarse[k]) for k in range(len(rs))])
    return np.stack([np.interp(rows, rs, by_col[:, k]) for k in range(w)], axis=1)


def _overview_factors(width: int, height: int, base: int = 2) -> list[int]:
    """Overview factors (powers of ``base``) down to about 128 cells across."""
    factors, f = [], base
    while max(width, height) / f >= 128:
        factors.append(f)
        f *= base
    return factors or [base]


CLASS_COLOURS = {
    "none": (240, 240, 240, 255),
    "low": (255, 230, 150, 255),
    "medium": (245, 150, 60, 255),
    "high": (190, 20, 40, 255),
}


def class_colours(names: Sequence[str]) -> list[tuple[int, int, int, int]]:
    """RGBA colour of each class: the usual four by name, others from a yellow-red ramp."""
    ramp = [(255, 245, 200), (254, 204, 92), (253, 141, 60), (227, 26, 28), (128, 0, 38)]
    out = []
    for k, name in enumerate(names):
        if name in CLASS_COLOURS:
            out.append(CLASS_COLOURS[name])
        else:
            r, g, b = ramp[min(len(ramp) - 1, round(k * (len(ramp) - 1) / max(1, len(names) - 1)))]
            out.append((r, g, b, 255))
    return out


class _Tally:
    """Class areas and expected contaminated area per region, block by block."""

    def __init__(self, prepared: PreparedHazard, regions: Sequence[tuple[str, shapely.Geometry]]):
        self.prepared = prepared
        self.regions = list(regions)
        self.crs = pyproj.CRS.from_user_input(prepared.grid.crs)
        self.layer = None
        if self.regions:
            self.layer = _BurnLayer.build(
                "regions",
                [g for _, g in self.regions],
                list(range(1, len(self.regions) + 1)),
                prepared.grid,
            )
        k = len(prepared.class_names)
        self.lut = np.full(256, k, dtype=np.int64)  # nodata -> extra column
        self.lut[prepared.class_values] = np.arange(k)
        self.areas = np.zeros((len(self.regions) + 1, k + 1))
        self.expected = np.zeros((len(self.regions) + 1, k + 1))

    def add(self, window: Window, p: np.ndarray, classes: np.ndarray) -> None:
        grid = self.prepared.grid
        labels = np.zeros(p.shape, dtype=np.int64)
        if self.layer is not None:
            burnt = self.layer.burn(grid, window)
            if burnt is not None:
                labels = burnt.astype(np.int64)
        cell = np.broadcast_to(_block_cell_areas(grid, self.crs, window), p.shape)
        width = self.areas.shape[1]
        flat = labels * width + self.lut[classes]
        self.areas += np.bincount(
            flat.ravel(), weights=cell.ravel(), minlength=self.areas.size
        ).reshape(self.areas.shape)
        pe = np.nan_to_num(p.astype("float64"), nan=0.0) * cell
        self.expected += np.bincount(
            flat.ravel(), weights=pe.ravel(), minlength=self.expected.size
        ).reshape(self.expected.shape)

    def summary(self) -> HazardSummary:
        prepared = self.prepared
        names = prepared.class_names
        values = prepared.class_values
        out = HazardSummary(
            class_names=names,
            class_values={n: int(values[k]) for k, n in enumerate(names)},
            class_lower={n: float(prepared.class_lower[k]) for k, n in enumerate(names)},
        )
        if self.regions:
            rows = list(range(1, len(self.regions) + 1))
            labels = [n for n, _ in self.regions]
        else:
            rows, labels = [0], ["grid"]
        for row, name in zip(rows, labels, strict=True):
            out.class_area_km2[name] = {
                n: round(self.areas[row, k] / 1e6, 2) for k, n in enumerate(names)
            }
            out.expected_area_km2[name] = round(self.expected[row].sum() / 1e6, 2)
            out.expected_by_class_km2[name] = {
                n: round(self.expected[row, k] / 1e6, 2) for k, n in enumerate(names)
            }
        if self.regions:
            out.class_area_km2["Total"] = {
                n: round(self.areas[rows, k].sum() / 1e6, 2) for k, n in enumerate(names)
            }
            out.expected_area_km2["Total"] = round(self.expected[rows].sum() / 1e6, 2)
            out.expected_by_class_km2["Total"] = {
                n: round(self.expected[rows, k].sum() / 1e6, 2) for k, n in enumerate(names)
            }
        grid = prepared.grid
        out.grid = {
            "crs": grid.crs,
            "cell_size_m": grid.cell_size_m,
            "width": grid.width,
            "height": grid.height,
            "bounds": list(grid.bounds),
        }
        out.model = {"path": prepared.model.source, "sha256": prepared.model.sha256}
        out.info = dict(prepared.info)
        return out


def summarize_hazard(
    prepared: PreparedHazard,
    regions: Sequence[tuple[str, shapely.Geometry]],
    *,
    block_size: int = 512,
) -> HazardSummary:
    """Class areas per region without writing rasters (e.g. for a scenario check).

    Parameters
    ----------
    prepared : PreparedHazard
        Output of :func:`prepare_hazard`.
    regions : sequence of (name, geometry)
        Regions in the grid CRS; cells count in the region holding their centre.
    block_size : int, optional
        Block edge in cells.

    Returns
    -------
    HazardSummary
        As from :func:`write_hazard_rasters`, without files.
    """
    t0 = time.perf_counter()
    tally = _Tally(prepared, regions)
    for window, p, classes in iter_hazard_blocks(prepared, block_size=block_size):
        tally.add(window, p, classes)
    out = tally.summary()
    out.seconds = time.perf_counter() - t0
    return out


def write_hazard_rasters(
    prepared: PreparedHazard,
    class_path: str | os.PathLike[str],
    probability_path: str | os.PathLike[str],
    *,
    regions: Sequence[tuple[str, shapely.Geometry]] = (),
    block_size: int = 512,
    zlevel: int = 6,
    tags: Mapping[str, str] | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> HazardSummary:
    """Write the class and probability GeoTIFFs block by block and sum class areas per region.

    Both files are tiled (256 x 256), DEFLATE-compressed, with overviews (nearest at factors
    2, 4, 8, ... for classes; average at 4, 16, ... for probability), BigTIFF when large, and
    replaced atomically. Memory is one block
    and a GDAL cache of 256 MB, whatever the size of the grid.

    Parameters
    ----------
    prepared : PreparedHazard
        Output of :func:`prepare_hazard`.
    class_path, probability_path : path-like
        Output files (uint8 classes, 255 = nodata; float32 probability, NaN = nodata).
    regions : sequence of (name, geometry)
        Regions in the grid CRS for the summary; cells count in the region holding their centre.
    block_size : int, optional
        Processing block edge in cells, a multiple of 256.
    zlevel : int, optional
        DEFLATE level (1-9).
    tags : mapping, optional
        Extra GeoTIFF metadata tags written to both files.
    progress : callable, optional
        Called as ``progress(fraction_done, message)``.

    Returns
    -------
    HazardSummary
        Class areas (km²) and expected contaminated area per region and in total.
    """
    import rasterio
    from rasterio.enums import Resampling

    from .io import atomic_path

    if block_size % 256:
        raise ValueError(f"block_size = {block_size!r}: must be a multiple of 256")
    if Path(class_path).resolve() == Path(probability_path).resolve():
        raise InputDataError(f"{class_path}: the class and probability rasters need two paths")
    t0 = time.perf_counter()
    grid = prepared.grid
    crs = pyproj.CRS.from_user_input(grid.crs)
    names = prepared.class_names
    values = prepared.class_values
    tally = _Tally(prepared, regions)
    common = {
        "driver": "GTiff",
        "count": 1,
        "width": grid.width,
        "height": grid.height,
        "crs": crs.to_wkt(),
        "transform": grid.transform,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "zlevel": zlevel,
        "interleave": "band",
        "BIGTIFF": "IF_SAFER",
    }
    cls_profile = {**common, "dtype": "uint8", "nodata": NODATA}
    prob_profile = {**common, "dtype": "float32", "nodata": float("nan"), "predictor": 3}
    model = prepared.model
    classes_tag = " ".join(
        f"{values[k]}={n}(p>={prepared.class_lower[k]:g})" for k, n in enumerate(names)
    )
    base_tags = {
        "DESCRIPTION": (
            "Contamination PROXY built by demine from conflict geography; NOT an official "
            "hazard map"
        ),
        "HAZARD_MODEL": Path(str(model.source)).name,
        "HAZARD_MODEL_SHA256": model.sha256,
        "CLASSES": f"{classes_tag} {NODATA}=nodata",
        "PROBABILITY": "p = 1 - exp(-intensity): chance the ground proves contaminated",
        **(tags or {}),
    }
    windows = list(iter_windows(grid, block_size))
    with (
        rasterio.Env(GDAL_CACHEMAX=256),
        atomic_path(class_path) as ctmp,
        atomic_path(probability_path) as ptmp,
    ):
        with (
            rasterio.open(ctmp, "w", **cls_profile) as cdst,
            rasterio.open(ptmp, "w", **prob_profile) as pdst,
        ):
            cmap = dict(zip(values.tolist(), class_colours(names), strict=True))
            cmap[NODATA] = (0, 0, 0, 0)
            cdst.write_colormap(1, cmap)
            step = max(1, len(windows) // 20)
            for k, window in enumerate(windows):
                if progress is not None:
                    progress(k / len(windows), f"hazard block {k + 1}/{len(windows)}")
                if k % step == 0:
                    logger.info(
                        "block %d/%d (%.0f s)", k + 1, len(windows), time.perf_counter() - t0
                    )
                p, classes = compute_block(prepared, window)
                cdst.write(classes, 1, window=window)
                pdst.write(p, 1, window=window)
                tally.add(window, p, classes)
            if progress is not None:
                progress(1.0, "overviews")
            cdst.set_band_description(1, "hazard class (proxy)")
            pdst.set_band_description(1, "probability that the ground proves contaminated")
            cdst.update_tags(**base_tags)
            pdst.update_tags(**base_tags)
            cdst.build_overviews(_overview_factors(grid.width, grid.height), Resampling.nearest)
            cdst.update_tags(ns="rio_overview", resampling="nearest")
            # Averaged float overviews compress poorly: every other level (4, 16, ...) is enough
            # for display and keeps the file ~40 % smaller than every level.
            pdst.build_overviews(_overview_factors(grid.width, grid.height, 4), Resampling.average)
            pdst.update_tags(ns="rio_overview", resampling="average")
    summary = tally.summary()
    summary.files = {"classes": str(class_path), "probability": str(probability_path)}
    summary.seconds = time.perf_counter() - t0
    logger.info("hazard rasters written in %.1f s", summary.seconds)
    return summary


def write_summary(summary: HazardSummary, json_path: str | os.PathLike[str],
                  markdown_path: str | os.PathLike[str] | None = None) -> None:  # fmt: skip
    """Write the summary as JSON (and Markdown) atomically.

    Parameters
    ----------
    summary : HazardSummary
        A build summary.
    json_path : path-like
        JSON output.
    markdown_path : path-like, optional
        Markdown output.
    """
    from .io import write_text

    write_text(json.dumps(summary.to_dict(), indent=2, ensure_ascii=False) + "\n", json_path)
    if markdown_path is not None:
        write_text(summary_markdown(summary), markdown_path)


# --------------------------------------------------------------------------------------------
# Map
# --------------------------------------------------------------------------------------------


def hazard_map_png(
    class_path: str | os.PathLike[str],
    *,
    class_names: Mapping[int, str],
    regions: Sequence[tuple[str, shapely.Geometry]] = (),
    lines: Sequence[tuple[str, Sequence[shapely.Geometry], dict[str, Any]]] = (),
    points: Sequence[tuple[str, shapely.Geometry]] = (),
    title: str = "",
    max_pixels: int = 1600,
    dpi: int = 120,
) -> bytes:
    """Draw the class raster with regions, lines and labelled points; return PNG bytes.

    Parameters
    ----------
    class_path : path-like
        A class raster (read from its overviews at most ``max_pixels`` wide).
    class_names : mapping of int to str
        Class name of each raster value.
    regions : sequence of (name, geometry)
        Boundaries to draw, in EPSG:4326.
    lines : sequence of (label, geometries, style)
        Line layers in EPSG:4326 with matplotlib keyword arguments.
    points : sequence of (label, geometry)
        Labelled points (e.g. deposits), in EPSG:4326.
    title : str
        Figure title.
    max_pixels : int
        Largest raster dimension drawn.
    dpi : int
        Resolution.

    Returns
    -------
    bytes
        A PNG image.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import rasterio
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    with rasterio.open(class_path) as src:
        scale = max(1, math.ceil(max(src.width, src.height) / max_pixels))
        shape = (max(1, src.height // scale), max(1, src.width // scale))
        data = src.read(1, out_shape=shape)
        left, bottom, right, top = src.bounds
        crs = pyproj.CRS.from_user_input(src.crs.to_wkt())
    to_map = pyproj.Transformer.from_crs(_WGS84, crs, always_xy=True)

    def project(geom: shapely.Geometry) -> shapely.Geometry:
        dense = shapely.segmentize(geom, 0.01)
        return shapely.transform(
            dense, lambda xy: np.column_stack(to_map.transform(xy[:, 0], xy[:, 1]))
        )

    values = sorted(class_names)
    names = [class_names[v] for v in values]
    colours = [tuple(c / 255 for c in rgba) for rgba in class_colours(names)]
    idx = np.full(data.shape, -1, dtype=np.int64)
    for k, v in enumerate(values):
        idx[data == v] = k
    masked = np.ma.masked_less(idx, 0)
    cmap = ListedColormap(colours)
    norm = BoundaryNorm(np.arange(len(values) + 1) - 0.5, len(values))
    aspect = (top - bottom) / max(1e-9, right - left)
    fig, ax = plt.subplots(figsize=(9, max(4.0, 9 * aspect * 0.95)))
    ax.imshow(masked, cmap=cmap, norm=norm, extent=(left, right, bottom, top),
              interpolation="nearest", zorder=1)  # fmt: skip
    handles = [Patch(facecolor=colours[k], edgecolor="0.5", label=names[k])
               for k in range(len(values))]  # fmt: skip
    for label, geoms, style in lines:
        first = True
        for geom in geoms:
            for part in _lines([project(geom)]):
                xy = shapely.get_coordinates(part)
                ax.plot(xy[:, 0], xy[:, 1], label=label if first else None, zorder=3,
                        **style)  # fmt: skip
                first = False
        if not first:
            handles.append(matplotlib.lines.Line2D([], [], label=label, **style))
    for name, geom in regions:
        for ring in _lines([project(geom)]):
            xy = shapely.get_coordinates(ring)
            ax.plot(xy[:, 0], xy[:, 1], color="0.3", linewidth=0.8, zorder=4)
        c = project(geom).representative_point()
        ax.annotate(name, (c.x, c.y), fontsize=9, fontweight="bold", ha="center", zorder=6,
                    color="0.15", alpha=0.8)  # fmt: skip
    if points:
        for name, geom in points:
            p = project(geom.centroid if geom.geom_type != "Point" else geom)
            ax.plot(p.x, p.y, marker="*", color="#2040c0", markersize=11, markeredgecolor="white",
                    markeredgewidth=0.6, zorder=7, linestyle="none")  # fmt: skip
            ax.annotate(name, (p.x, p.y), xytext=(5, 4), textcoords="offset points", fontsize=7,
                        color="#10206a", zorder=8)  # fmt: skip
        handles.append(
            matplotlib.lines.Line2D(
                [],
                [],
                marker="*",
                color="#2040c0",
                linestyle="none",
                markersize=10,
                label="deposits",
            )
        )
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(handles=handles, loc="lower left", fontsize=7, framealpha=0.9)
    ax.set_title(title, fontsize=10, loc="left")
    fig.tight_layout()
    buf = _bytes_io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# Reading user inputs (any OGR format, CSV events)
# --------------------------------------------------------------------------------------------


def _to_crs(gdf, crs: str):
    """Reproject a GeoDataFrame, densifying first so straight edges stay straight."""
    src = pyproj.CRS.from_user_input(gdf.crs)
    step = 0.05 if src.is_geographic else 5000.0
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty].copy()
    gdf["geometry"] = shapely.segmentize(gdf.geometry.values, step)
    return gdf.to_crs(crs)


def _field(gdf, name: str, path: Path, option: str) -> str:
    columns = {str(c).lower(): c for c in gdf.columns}
    col = columns.get(name.lower())
    if col is None:
        fields = ", ".join(str(c) for c in gdf.columns if c != "geometry") or "none"
        raise InputDataError(f"{path}: {option}: no field {name!r}; fields: {fields}")
    return col


def _dates(series, path: Path, col: str) -> list[dt.date]:
    import pandas as pd

    parsed = pd.to_datetime(series.astype(str).str.slice(0, 10), errors="coerce", format="%Y-%m-%d")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputDataError(
            f"{path}: field {col!r} row {row + 1}: {series.iloc[row]!r} is not a date; use "
            "YYYY-MM-DD"
        )
    return [d.date() for d in parsed]


def read_front_lines(
    path: str | os.PathLike[str],
    *,
    crs: str,
    date_field: str = "date",
    assume_crs: str | None = None,
    option: str = "--front-lines",
) -> list[tuple[dt.date, shapely.Geometry]]:
    """Read dated front lines (any OGR format) into ``(date, geometry)`` in ``crs``.

    Parameters
    ----------
    path : path-like
        Lines (polygon boundaries count as lines) with a date field.
    crs : str
        Target CRS.
    date_field : str
        Field holding each feature's date (YYYY-MM-DD).
    assume_crs : str, optional
        CRS of a file that declares none.
    option : str
        CLI option, for messages.

    Returns
    -------
    list of (datetime.date, shapely geometry)
        One entry per feature.

    Raises
    ------
    InputDataError
        If the file cannot be read, has no date field or an unparseable date.
    """
    from .io import read_vector

    path = Path(path)
    gdf = read_vector(path, what="front lines", option=option, assume_crs=assume_crs)
    col = _field(gdf, date_field, path, option)
    gdf = _to_crs(gdf, crs)
    if gdf.empty:
        raise InputDataError(f"{path}: {option}: no line features")
    return list(zip(_dates(gdf[col], path, col), gdf.geometry.values, strict=True))


def read_lines(
    path: str | os.PathLike[str], *, crs: str, assume_crs: str | None = None, option: str
) -> list[shapely.Geometry]:
    """Read undated lines (any OGR format) in ``crs``.

    Parameters
    ----------
    path : path-like
        Lines (polygon boundaries count as lines).
    crs : str
        Target CRS.
    assume_crs : str, optional
        CRS of a file that declares none.
    option : str
        CLI option, for messages.

    Returns
    -------
    list of shapely geometries
        The features' geometries.

    Raises
    ------
    InputDataError
        If the file cannot be read or holds no lines.
    """
    from .io import read_vector

    path = Path(path)
    gdf = _to_crs(read_vector(path, what="lines", option=option, assume_crs=assume_crs), crs)
    geoms = list(gdf.geometry.values)
    if not _lines(geoms).size:
        raise InputDataError(f"{path}: {option}: no line features")
    return geoms


def read_control_zones(
    path: str | os.PathLike[str],
    *,
    crs: str,
    class_field: str = "class",
    date_field: str = "date",
    assume_crs: str | None = None,
    option: str = "--control",
) -> list[tuple[str, dt.date | None, shapely.Geometry]]:
    """Read control-zone polygons into ``(category, date, geometry)`` in ``crs``.

    Class values (case-insensitive): ``russian_controlled`` or ``occupied`` (occupied; dated
    before 2022-02-24: occupied since 2014), ``occupied_before_2022`` or
    ``occupied_since_2014``, ``contested_or_unknown`` or ``contested``, ``liberated``.

    Parameters
    ----------
    path : path-like
        Polygons with a class field and (optionally) a date field.
    crs : str
        Target CRS.
    class_field, date_field : str
        Field names.
    assume_crs : str, optional
        CRS of a file that declares none.
    option : str
        CLI option, for messages.

    Returns
    -------
    list of (str, datetime.date or None, shapely geometry)
        Zone category, date and polygon of each feature.

    Raises
    ------
    InputDataError
        If the file cannot be read, lacks the class field or holds an unknown class.
    """
    from .io import read_vector

    path = Path(path)
    gdf = read_vector(path, what="control zones", option=option, assume_crs=assume_crs)
    ccol = _field(gdf, class_field, path, option)
    columns = {str(c).lower(): c for c in gdf.columns}
    dcol = columns.get(date_field.lower())
    gdf = _to_crs(gdf, crs)
    raw = control_classes(gdf[ccol], path, ccol, option)
    dates: list[dt.date | None] = [None] * len(gdf)
    if dcol is not None:
        dates = _dates(gdf[dcol], path, dcol)
    out = []
    for cls, date, geom in zip(raw, dates, gdf.geometry.values, strict=True):
        category = CONTROL_CLASSES[cls]
        if category == "occupied" and date is not None and date < FULL_SCALE_INVASION:
            category = "occupied_since_2014"
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        polys = [p for p in _parts(geom) if shapely.get_type_id(p) == 3]
        if polys:
            out.append((category, date, shapely.multipolygons(polys)))
    return out


_LON = ("longitude", "lon", "lng", "x")
_LAT = ("latitude", "lat", "y")


def read_events(
    path: str | os.PathLike[str],
    *,
    crs: str,
    assume_crs: str | None = None,
    type_field: str = "type",
    date_field: str = "date",
    subtype_field: str = "subtype",
    option: str = "--events",
) -> EventTable:
    """Read point events (CSV with longitude/latitude columns, or any OGR point layer).

    A CSV needs ``longitude``/``latitude`` (or ``lon``/``lat``, ``x``/``y``) in EPSG:4326
    unless ``assume_crs`` says otherwise, plus the date and type fields; ``subtype`` is optional.

    Parameters
    ----------
    path : path-like
        The events file.
    crs : str
        Target CRS.
    assume_crs : str, optional
        CRS of a CSV's coordinates, or of an OGR file that declares none.
    type_field, date_field, subtype_field : str
        Field names.
    option : str
        CLI option, for messages.

    Returns
    -------
    EventTable
        Events with coordinates in ``crs``.

    Raises
    ------
    InputDataError
        If the file cannot be read, lacks a field, or holds bad coordinates or dates.
    """
    import pandas as pd

    from .io import read_vector

    path = Path(path)
    if path.suffix.lower() in (".csv", ".txt"):
        if not path.is_file():
            raise InputDataError(f"{path}: events file not found; check the path given to {option}")
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise InputDataError(f"{path}: cannot read as CSV ({exc})") from None
        cols = {c.lower(): c for c in df.columns}
        lon = next((cols[c] for c in _LON if c in cols), None)
        lat = next((cols[c] for c in _LAT if c in cols), None)
        if lon is None or lat is None:
            raise InputDataError(
                f"{path}: {option}: no coordinate columns; give longitude and latitude (or lon/"
                f"lat, x/y); columns: {', '.join(df.columns)}"
            )
        x = pd.to_numeric(df[lon], errors="coerce").to_numpy(dtype="float64")
        y = pd.to_numeric(df[lat], errors="coerce").to_numpy(dtype="float64")
        bad = ~(np.isfinite(x) & np.isfinite(y))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputDataError(
                f"{path}: {option}: row {row + 2}: coordinates {df[lon].iloc[row]!r}, "
                f"{df[lat].iloc[row]!r} are not numbers"
            )
        src = assume_crs or _WGS84
        table = df
    else:
        gdf = read_vector(path, what="events", option=option, assume_crs=assume_crs)
        gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
        kinds = set(gdf.geometry.geom_type)
        if kinds - {"Point"}:
            raise InputDataError(
                f"{path}: {option}: events must be points; found {', '.join(sorted(kinds))}"
            )
        x, y = gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()
        src = gdf.crs
        table = gdf
    tcol = _field(table, type_field, path, option)
    dcol = _field(table, date_field, path, option)
    scol = {str(c).lower(): c for c in table.columns}.get(subtype_field.lower())
    days = np.array(_dates(table[dcol], path, dcol), dtype="datetime64[D]")
    to = pyproj.Transformer.from_crs(src, crs, always_xy=True)
    gx, gy = to.transform(x, y)
    if not (np.all(np.isfinite(gx)) and np.all(np.isfinite(gy))):
        raise InputDataError(f"{path}: {option}: coordinates cannot be transformed to {crs}")
    sub = table[scol].astype(str).to_numpy(dtype=object) if scol is not None else None
    return EventTable(
        x=np.asarray(gx, dtype="float64"),
        y=np.asarray(gy, dtype="float64"),
        day=days,
        type=table[tcol].astype(str).str.strip().to_numpy(dtype=object),
        subtype=sub if sub is not None else np.full(len(table), "", dtype=object),
    )


def read_regions(
    path: str | os.PathLike[str],
    *,
    crs: str,
    assume_crs: str | None = None,
    name_field: str = "name",
    option: str = "--region-file",
) -> list[tuple[str, shapely.Geometry]]:  # fmt: skip
    """Read region polygons as ``(name, geometry)`` in ``crs``.

    Parameters
    ----------
    path : path-like
        Polygons; ``name_field`` names them (else ``region 1``, ``region 2``, ...).
    crs : str
        Target CRS.
    name_field : str
        Field holding each region's name (case-insensitive).
    assume_crs : str, optional
        CRS of a file that declares none.
    option : str
        CLI option, for messages.

    Returns
    -------
    list of (str, shapely geometry)
        Regions, features of the same name merged.

    Raises
    ------
    InputDataError
        If the file cannot be read or holds no polygons.
    """
    from .io import read_vector

    path = Path(path)
    gdf = _to_crs(read_vector(path, what="regions", option=option, assume_crs=assume_crs), crs)
    columns = {str(c).lower(): c for c in gdf.columns}
    name_col = columns.get(name_field.lower())
    if name_col is None:
        logger.info("%s: no field %r: regions are numbered", path, name_field)
    by_name: dict[str, list[shapely.Geometry]] = {}
    for k, geom in enumerate(gdf.geometry.values):
        name = str(gdf[name_col].iloc[k]) if name_col is not None else f"region {k + 1}"
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        polys = [p for p in _parts(geom) if shapely.get_type_id(p) == 3]
        if polys:
            by_name.setdefault(name, []).extend(polys)
    if not by_name:
        raise InputDataError(f"{path}: {option}: no polygons")
    return [(name, shapely.union_all(parts)) for name, parts in by_name.items()]
