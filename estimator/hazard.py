"""Contamination proxy builder: hazard classes from distances to conflict lines and zones."""

from __future__ import annotations

import difflib
import logging
import math
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from affine import Affine
from pyproj import CRS
from pyproj.exceptions import CRSError
from rasterio.features import rasterize
from rasterio.windows import Window

from .errors import ParameterError

logger = logging.getLogger(__name__)

__all__ = [
    "CLASS_NAMES",
    "CLASS_VALUES",
    "LINE_LAYERS",
    "NODATA",
    "ZONE_LAYERS",
    "Grid",
    "HazardLayers",
    "HazardModel",
    "LineRule",
    "PersistenceRule",
    "PreparedHazard",
    "ZoneRule",
    "build_hazard_array",
    "classify_block",
    "count_classes",
    "grid_for_bounds",
    "iter_windows",
    "iter_hazard_blocks",
    "label_block",
    "load_hazard_model",
    "parse_hazard_model",
    "prepare_hazard",
]

#: Raster value of each hazard class. ``geodata/parameters.toml`` refers to these values.
CLASS_VALUES: dict[str, int] = {"none": 0, "low": 1, "medium": 2, "high": 3}
#: Class name of each raster value (inverse of ``CLASS_VALUES``).
CLASS_NAMES: dict[int, str] = {v: k for k, v in CLASS_VALUES.items()}
#: Raster value outside the area of interest.
NODATA = 255

#: Line layers a hazard model may refer to (``[lines.<name>]``, ``[persistence.<name>]``).
LINE_LAYERS = ("front_lines", "contact_line_2015_2022", "trench_lines")
#: Zone (polygon) layers a hazard model may refer to (``[zones.<name>]``).
ZONE_LAYERS = ("ever_russian_controlled", "ever_contested_or_unknown", "ever_liberated")

SCHEMA_VERSION = 1
#: Upper bound on any distance, so that a typo (extra zero) cannot blanket the whole region.
MAX_DISTANCE_M = 100_000.0
#: Segments per quarter circle of the buffers; radial error <= 0.12 % of the distance.
_QUAD_SEGS = 16
_THRESHOLD_KEYS = ("high_within_m", "medium_within_m", "low_within_m")


# --------------------------------------------------------------------------------------------
# Model (validated TOML)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineRule:
    """Distance thresholds to one line layer.

    A cell whose centre lies within ``high_within_m`` metres of any line of ``layer`` is at least
    ``high``; within ``medium_within_m``, at least ``medium``; within ``low_within_m``, at least
    ``low``. A threshold of ``None`` means the rule never gives that class.
    """

    layer: str
    high_within_m: float | None = None
    medium_within_m: float | None = None
    low_within_m: float | None = None

    def thresholds(self) -> list[tuple[int, float]]:
        """Return ``(class value, distance in m)`` pairs, lowest class first."""
        pairs = [
            (CLASS_VALUES["low"], self.low_within_m),
            (CLASS_VALUES["medium"], self.medium_within_m),
            (CLASS_VALUES["high"], self.high_within_m),
        ]
        return [(value, d) for value, d in pairs if d is not None]


@dataclass(frozen=True, slots=True)
class PersistenceRule:
    """A static front: near the lines of ``layer`` in at least ``min_snapshots`` snapshots.

    A cell whose centre lies within ``within_m`` metres of the line of at least
    ``min_snapshots`` distinct snapshots (dates) of ``layer`` gets at least ``hazard_class``.
    """

    layer: str
    within_m: float
    min_snapshots: int
    hazard_class: str


@dataclass(frozen=True, slots=True)
class ZoneRule:
    """Cells whose centre lies inside the polygons of ``layer`` get at least ``hazard_class``."""

    layer: str
    hazard_class: str


@dataclass(frozen=True, slots=True)
class HazardModel:
    """Validated content of a hazard model TOML file (``geodata/hazard_model.toml``)."""

    source: str
    crs: str
    cell_size_m: float
    lines: tuple[LineRule, ...] = ()
    persistence: tuple[PersistenceRule, ...] = ()
    zones: tuple[ZoneRule, ...] = ()
    schema_version: int = SCHEMA_VERSION

    def layers_used(self) -> tuple[str, ...]:
        """Return the names of every layer the rules refer to, sorted."""
        names = {r.layer for r in self.lines} | {r.layer for r in self.persistence}
        names |= {r.layer for r in self.zones}
        return tuple(sorted(names))


def _fail(source: str, where: str, key: str, value: Any, expectation: str) -> ParameterError:
    return ParameterError(f"{source}: {where} {key} = {value!r}: {expectation}")


def _check_keys(table: Mapping[str, Any], allowed: Sequence[str], source: str, where: str) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"expected one of {sorted(allowed)}"
            raise ParameterError(f"{source}: {where} unknown key {key!r}: {hint}")


def _table(data: Mapping[str, Any], key: str, source: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise _fail(source, where, key, value, "must be a table")
    return value


def _distance(table: Mapping[str, Any], key: str, source: str, where: str) -> float:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(source, where, key, value, "must be a number (distance in metres)")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise _fail(source, where, key, value, "must be > 0 (distance in metres)")
    if value > MAX_DISTANCE_M:
        raise _fail(source, where, key, value, f"must be <= {MAX_DISTANCE_M:.0f} m")
    return value


def _hazard_class(table: Mapping[str, Any], source: str, where: str) -> str:
    if "class" not in table:
        raise ParameterError(f"{source}: {where} missing key 'class' (one of low, medium, high)")
    value = table["class"]
    allowed = ("low", "medium", "high")
    if value not in allowed:
        raise _fail(source, where, "class", value, f"must be one of {', '.join(allowed)}")
    return str(value)


def _parse_lines(data: Mapping[str, Any], source: str) -> tuple[LineRule, ...]:
    rules = []
    lines = _table(data, "lines", source, "")
    _check_keys(lines, LINE_LAYERS, source, "[lines]")
    for layer, table in lines.items():
        where = f"[lines.{layer}]"
        if not isinstance(table, Mapping):
            raise _fail(source, "[lines]", layer, table, "must be a table")
        _check_keys(table, _THRESHOLD_KEYS, source, where)
        if not table:
            raise ParameterError(f"{source}: {where} needs at least one of {_THRESHOLD_KEYS}")
        d = {key: _distance(table, key, source, where) for key in _THRESHOLD_KEYS if key in table}
        rule = LineRule(layer=layer, **d)
        # A higher class reaching further than a lower one would hide the lower class entirely.
        order = [k for k in _THRESHOLD_KEYS if k in d]
        for near, far in zip(order, order[1:], strict=False):
            if d[near] > d[far]:
                raise _fail(source, where, near, d[near], f"must be <= {far} ({d[far]!r})")
        rules.append(rule)
    return tuple(rules)


def _parse_persistence(data: Mapping[str, Any], source: str) -> tuple[PersistenceRule, ...]:
    rules = []
    persistence = _table(data, "persistence", source, "")
    _check_keys(persistence, LINE_LAYERS, source, "[persistence]")
    for layer, table in persistence.items():
        where = f"[persistence.{layer}]"
        if not isinstance(table, Mapping):
            raise _fail(source, "[persistence]", layer, table, "must be a table")
        _check_keys(table, ("within_m", "min_snapshots", "class"), source, where)
        for key in ("within_m", "min_snapshots"):
            if key not in table:
                raise ParameterError(f"{source}: {where} missing key {key!r}")
        n = table["min_snapshots"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise _fail(source, where, "min_snapshots", n, "must be an integer >= 1")
        rules.append(
            PersistenceRule(
                layer=layer,
                within_m=_distance(table, "within_m", source, where),
                min_snapshots=n,
                hazard_class=_hazard_class(table, source, where),
            )
        )
    return tuple(rules)


def _parse_zones(data: Mapping[str, Any], source: str) -> tuple[ZoneRule, ...]:
    rules = []
    zones = _table(data, "zones", source, "")
    _check_keys(zones, ZONE_LAYERS, source, "[zones]")
    for layer, table in zones.items():
        where = f"[zones.{layer}]"
        if not isinstance(table, Mapping):
            raise _fail(source, "[zones]", layer, table, "must be a table")
        _check_keys(table, ("class",), source, where)
        rules.append(ZoneRule(layer=layer, hazard_class=_hazard_class(table, source, where)))
    return tuple(rules)


def _parse_grid(data: Mapping[str, Any], source: str) -> tuple[str, float]:
    grid = _table(data, "grid", source, "")
    where = "[grid]"
    _check_keys(grid, ("crs", "cell_size_m"), source, where)
    for key in ("crs", "cell_size_m"):
        if key not in grid:
            raise ParameterError(f"{source}: {where} missing key {key!r}")
    crs_text = grid["crs"]
    try:
        crs = CRS.from_user_input(crs_text)
    except CRSError as exc:
        raise _fail(source, where, "crs", crs_text, f"not a known CRS ({exc})") from None
    if not crs.is_projected or crs.axis_info[0].unit_name not in ("metre", "meter"):
        raise _fail(source, where, "crs", crs_text, "must be a projected CRS in metres")
    cell = grid["cell_size_m"]
    if isinstance(cell, bool) or not isinstance(cell, int | float):
        raise _fail(source, where, "cell_size_m", cell, "must be a number (metres)")
    if not math.isfinite(cell) or cell <= 0:
        raise _fail(source, where, "cell_size_m", cell, "must be > 0 (metres)")
    return str(crs_text), float(cell)


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
        The validated model. Distances are in metres.

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
    _check_keys(data, ("schema_version", "grid", "lines", "persistence", "zones"), source, "")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise _fail(source, "", "schema_version", version, f"must be {SCHEMA_VERSION}")
    crs, cell_size_m = _parse_grid(data, source)
    model = HazardModel(
        source=source,
        crs=crs,
        cell_size_m=cell_size_m,
        lines=_parse_lines(data, source),
        persistence=_parse_persistence(data, source),
        zones=_parse_zones(data, source),
    )
    if not (model.lines or model.persistence or model.zones):
        raise ParameterError(f"{source}: no [lines], [persistence] or [zones] rule: nothing to do")
    return model


def load_hazard_model(path: str | Path) -> HazardModel:
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
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ParameterError(f"{path}: cannot read hazard model ({exc.strerror})") from None
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


def grid_for_bounds(
    bounds: tuple[float, float, float, float], *, cell_size_m: float, crs: str
) -> Grid:
    """Return the smallest grid snapped to multiples of ``cell_size_m`` that covers ``bounds``.

    Parameters
    ----------
    bounds : tuple of float
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
    left, bottom, right, top = bounds
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
# Layers -> prepared burn geometries -> class blocks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HazardLayers:
    """Input geometries, all in the grid CRS (metres).

    Attributes
    ----------
    aoi : shapely geometry
        Area of interest: cells whose centre is outside it are ``NODATA``.
    lines : mapping of str to sequence of shapely geometries
        Line layers by name (see ``LINE_LAYERS``). Each item of a sequence is one snapshot
        (one date); persistence rules count snapshots, distance rules use them all.
    zones : mapping of str to shapely geometry or sequence of them
        Polygon layers by name (see ``ZONE_LAYERS``); overlapping polygons need no union.
    """

    aoi: shapely.Geometry
    lines: Mapping[str, Sequence[shapely.Geometry]] = field(default_factory=dict)
    zones: Mapping[str, shapely.Geometry | Sequence[shapely.Geometry]] = field(default_factory=dict)


@dataclass(frozen=True)
class _PreparedPersistence:
    min_snapshots: int
    value: int
    polygons: np.ndarray  # buffered line parts of every snapshot
    snapshot: np.ndarray  # snapshot index of each polygon
    tree: shapely.STRtree


@dataclass(frozen=True)
class PreparedHazard:
    """Buffered, exploded geometries ready to be rasterised block by block.

    Build it with :func:`prepare_hazard`; it holds no raster and no open file. Cells covered by
    ``burn_geoms[i]`` get at least class ``burn_values[i]``.
    """

    aoi: np.ndarray
    burn_geoms: np.ndarray
    burn_values: np.ndarray
    burn_tree: shapely.STRtree
    persistence: tuple[_PreparedPersistence, ...]


def _parts(geoms: shapely.Geometry | Sequence[shapely.Geometry] | np.ndarray) -> np.ndarray:
    """Explode geometries into a flat object array of their non-empty single parts."""
    if isinstance(geoms, shapely.Geometry):
        geoms = [geoms]
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = list(geoms)
    parts = shapely.get_parts(arr)
    return parts[~shapely.is_empty(parts)]


def prepare_hazard(model: HazardModel, layers: HazardLayers) -> PreparedHazard:
    """Buffer the line layers by each threshold of ``model``, ready for block rasterisation.

    Lines are exploded into their parts and each part is buffered on its own: rasterising
    the overlapping buffers gives the same cells as buffering their union, far faster.

    Parameters
    ----------
    model : HazardModel
        Validated hazard model.
    layers : HazardLayers
        Geometries in the grid CRS (metres).

    Returns
    -------
    PreparedHazard
        Burn geometries with their class values.

    Raises
    ------
    ParameterError
        If the model refers to a layer that ``layers`` does not provide.
    """
    provided = set(layers.lines) | set(layers.zones)
    missing = [name for name in model.layers_used() if name not in provided]
    if missing:
        raise ParameterError(
            f"{model.source}: rules refer to layer(s) {missing} but the build provides only "
            f"{sorted(provided)}"
        )
    geoms: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for rule in model.lines:
        parts = _parts(layers.lines[rule.layer])
        for value, distance_m in rule.thresholds():
            geoms.append(shapely.buffer(parts, distance_m, quad_segs=_QUAD_SEGS))
            values.append(np.full(len(parts), value, dtype=np.uint8))
        logger.debug("line rule %s: %d parts buffered", rule.layer, len(parts))
    for rule in model.zones:
        parts = _parts(layers.zones[rule.layer])
        geoms.append(parts)
        values.append(np.full(len(parts), CLASS_VALUES[rule.hazard_class], dtype=np.uint8))
    burn_geoms = np.concatenate(geoms) if geoms else np.empty(0, dtype=object)
    burn_values = np.concatenate(values) if values else np.empty(0, dtype=np.uint8)
    persistence = []
    for rule in model.persistence:
        snapshots = layers.lines[rule.layer]
        polys, index = [], []
        for i, snapshot in enumerate(snapshots):
            parts = _parts(snapshot)
            polys.append(shapely.buffer(parts, rule.within_m, quad_segs=_QUAD_SEGS))
            index.append(np.full(len(parts), i, dtype=np.int32))
        p = np.concatenate(polys) if polys else np.empty(0, dtype=object)
        idx = np.concatenate(index) if index else np.empty(0, dtype=np.int32)
        persistence.append(
            _PreparedPersistence(
                rule.min_snapshots, CLASS_VALUES[rule.hazard_class], p, idx, shapely.STRtree(p)
            )
        )
        logger.debug("persistence rule %s: %d snapshots", rule.layer, len(snapshots))
    return PreparedHazard(
        aoi=_parts(layers.aoi),
        burn_geoms=burn_geoms,
        burn_values=burn_values,
        burn_tree=shapely.STRtree(burn_geoms),
        persistence=tuple(persistence),
    )


def _burn(
    geoms: np.ndarray,
    bbox: tuple[float, float, float, float],
    shape: tuple[int, int],
    transform: Affine,
) -> np.ndarray:
    """Boolean mask of cells whose centre is inside any of ``geoms`` (clipped to ``bbox``)."""
    clipped = shapely.clip_by_rect(geoms, *bbox) if len(geoms) else geoms
    clipped = clipped[~shapely.is_empty(clipped)] if len(clipped) else clipped
    if not len(clipped):
        return np.zeros(shape, dtype=bool)
    burnt = rasterize(
        ((g, 1) for g in clipped), out_shape=shape, transform=transform, fill=0, dtype=np.uint8
    )
    return burnt.astype(bool)


def label_block(geoms: Sequence[shapely.Geometry], grid: Grid, window: Window) -> np.ndarray:
    """Label the cells of ``window`` by the polygon their centre falls in.

    Parameters
    ----------
    geoms : sequence of shapely geometries
        Non-overlapping polygons in the grid CRS (e.g. regions).
    grid : Grid
        The grid.
    window : Window
        Window of ``grid``.

    Returns
    -------
    numpy.ndarray
        ``uint8`` array of ``window``'s shape: ``i + 1`` inside ``geoms[i]``, 0 elsewhere.
    """
    shape = (int(window.height), int(window.width))
    transform = grid.window_transform(window)
    bbox = _expanded_bounds(grid, window)
    out = np.zeros(shape, dtype=np.uint8)
    for i, geom in enumerate(geoms):
        out[_burn(_parts(geom), bbox, shape, transform)] = i + 1
    return out


def _expanded_bounds(grid: Grid, window: Window) -> tuple[float, float, float, float]:
    # Clip one cell beyond the window: new vertices on the clip edges stay clear of cell centres,
    # so a cell's class never depends on how the grid is cut into blocks.
    left, bottom, right, top = grid.window_bounds(window)
    c = grid.cell_size_m
    return (left - c, bottom - c, right + c, top + c)


def classify_block(prepared: PreparedHazard, grid: Grid, window: Window) -> np.ndarray:
    """Compute the hazard class of every cell of ``window``.

    The class of a cell is the highest class any rule gives its centre; cells whose centre is
    outside the area of interest are ``NODATA`` (255).

    Parameters
    ----------
    prepared : PreparedHazard
        Output of :func:`prepare_hazard`.
    grid : Grid
        The grid.
    window : Window
        Window of ``grid`` to compute.

    Returns
    -------
    numpy.ndarray
        ``uint8`` array of shape ``(window.height, window.width)`` with values 0, 1, 2, 3 or 255.
    """
    shape = (int(window.height), int(window.width))
    transform = grid.window_transform(window)
    bbox = _expanded_bounds(grid, window)
    box = shapely.box(*bbox)
    out = np.zeros(shape, dtype=np.uint8)
    hits = np.sort(prepared.burn_tree.query(box))
    values = prepared.burn_values[hits]
    # The class of a cell is the max over rules.
    for value in np.unique(values):
        mask = _burn(prepared.burn_geoms[hits[values == value]], bbox, shape, transform)
        out[mask] = np.maximum(out[mask], value)
    for rule in prepared.persistence:
        hits = np.sort(rule.tree.query(box))
        snapshot = rule.snapshot[hits]
        count = np.zeros(shape, dtype=np.int32)
        for i in np.unique(snapshot):
            count += _burn(rule.polygons[hits[snapshot == i]], bbox, shape, transform)
        mask = count >= rule.min_snapshots
        out[mask] = np.maximum(out[mask], rule.value)
    out[~_burn(prepared.aoi, bbox, shape, transform)] = NODATA
    return out


def iter_hazard_blocks(
    prepared: PreparedHazard, grid: Grid, *, block_size: int = 512
) -> Iterator[tuple[Window, np.ndarray]]:
    """Yield ``(window, classes)`` for every block of ``grid``; memory is one block.

    Parameters
    ----------
    prepared : PreparedHazard
        Output of :func:`prepare_hazard`.
    grid : Grid
        The grid.
    block_size : int, optional
        Block edge in cells (default 512).

    Yields
    ------
    tuple of (Window, numpy.ndarray)
        The window and its ``uint8`` class array (see :func:`classify_block`).
    """
    for window in iter_windows(grid, block_size):
        yield window, classify_block(prepared, grid, window)


def build_hazard_array(
    prepared: PreparedHazard, grid: Grid, *, block_size: int = 512
) -> np.ndarray:
    """Assemble the whole class raster in memory (small grids and tests only).

    Parameters
    ----------
    prepared : PreparedHazard
        Output of :func:`prepare_hazard`.
    grid : Grid
        The grid.
    block_size : int, optional
        Block edge in cells; the result does not depend on it.

    Returns
    -------
    numpy.ndarray
        ``uint8`` array of shape ``(grid.height, grid.width)``.
    """
    out = np.full((grid.height, grid.width), NODATA, dtype=np.uint8)
    for window, block in iter_hazard_blocks(prepared, grid, block_size=block_size):
        out[window.toslices()] = block
    return out


def count_classes(classes: np.ndarray, labels: np.ndarray, n_labels: int) -> np.ndarray:
    """Count cells of each hazard class per label.

    Parameters
    ----------
    classes : numpy.ndarray
        ``uint8`` hazard classes (0-3, 255 = nodata).
    labels : numpy.ndarray
        Label of each cell (0 = no label, 1..``n_labels``), same shape as ``classes``.
    n_labels : int
        Number of labels.

    Returns
    -------
    numpy.ndarray
        ``int64`` array of shape ``(n_labels + 1, 5)``: cell counts of classes 0, 1, 2, 3 and
        nodata (last column) for label 0 (unlabelled) .. ``n_labels``.
    """
    cls = np.where(classes == NODATA, 4, classes).astype(np.int64)
    flat = labels.astype(np.int64) * 5 + cls
    return np.bincount(flat.ravel(), minlength=(n_labels + 1) * 5).reshape(n_labels + 1, 5)
