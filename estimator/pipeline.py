"""Orchestration: input paths and parameters in, per-deposit and per-region results out.

No argument parsing and no printing here; the CLI calls :func:`estimate` and formats its result.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely

from . import __version__
from .aggregate import (
    FIGURES,
    UNASSIGNED_REGION,
    DepositResult,
    HazardProbability,
    RegionAccumulator,
    RegionResult,
    day_quantities,
    quantities_of,
    share_text,
)
from .contamination import class_areas
from .control import CONTROL_CLASSES, OCCUPIED_CLASSES, control_classes
from .errors import InputDataError
from .io import default_data, open_raster, read_vector
from .model import DrawSet, LandRelease, release_land
from .overlay import (
    cell_areas_m2,
    geodesic_area_m2,
    geodesic_buffer,
    overlap_areas_m2,
    polygonal_parts,
    zonal_probability,
)
from .params import Params, load_params
from .schedule import HORIZON_YEARS, PHASES, Timeline, WorkingCalendar, schedule_deposits
from .sensitivity import Swing, rank_swings, swing_draws, top_swing
from .uncertainty import DEFAULT_SEED, mode_draws, sample_draws

logger = logging.getLogger(__name__)

__all__ = ["Inputs", "Report", "assess", "compare", "estimate", "load_default_params", "run_model"]

Progress = Callable[[float, str], None]

_LONLAT = pyproj.CRS.from_epsg(4326)
#: Classes in a control layer that count as occupied (no access for humanitarian demining).
#: Densify straight edges before reprojection so they stay straight in the source CRS.
_DENSIFY_DEG = 0.002
_DENSIFY_M = 200.0


@dataclass(frozen=True, slots=True)
class Inputs:
    """Paths and options of one run. ``None`` paths fall back to the embedded data."""

    deposits: Path | None = None
    contamination: Path | None = None
    regions: Path | None = None
    control: Path | None = None
    params: Path | None = None
    regions_filter: tuple[str, ...] = ()
    buffer_m: float | None = None
    band: int = 1
    assume_crs: str | None = None
    point_radius_m: float | None = None
    as_of: dt.date | None = None
    no_control: bool = False
    workers: int | None = None
    scheduler: str | None = None
    start_date: dt.date | None = None
    access_date: dt.date | None = None
    priority: str | None = None
    #: Deposit fields holding the id and the name (default: fields named 'id' and 'name').
    id_field: str | None = None
    name_field: str | None = None
    teams: tuple[tuple[str, int], ...] = ()
    hazard_areas: Path | None = None
    hazard_class_field: str = "class"
    #: Raster of probabilities (0-1); ``None``: the embedded one when the contamination raster
    #: is the embedded default, else no probability figures.
    probability: Path | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """The result of a run: deposits (one per input feature) and region totals."""

    meta: dict[str, Any]
    params: Params
    class_names: tuple[str, ...]
    clearance_methods: tuple[str, ...]
    method_names: tuple[str, ...]
    deposits: list[DepositResult]
    regions: list[RegionResult]
    footprints: list[shapely.Geometry | None] = field(default_factory=list)
    region_geometries: dict[str, shapely.Geometry] = field(default_factory=dict)
    start_date: dt.date | None = None
    sensitivity: dict[str, dict[str, list[Any]]] = field(default_factory=dict)


def load_default_params(path: str | os.PathLike[str] | None = None) -> Params:
    """Load the embedded default parameters, with ``path`` overlaid if given."""
    return load_params(path, defaults=default_data().parameters)


# --------------------------------------------------------------------------------------------
# Deposits: read, validate, build footprints


@dataclass(slots=True)
class _Prepared:
    id: str
    name: str
    commodity: str
    geometry_quality: str
    footprint: shapely.Geometry | None  # lon/lat
    notes: list[str]
    invalid_reason: str | None = None
    priority: float | None = None


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _densify(geom: shapely.Geometry, geographic: bool) -> shapely.Geometry:
    return shapely.segmentize(geom, _DENSIFY_DEG if geographic else _DENSIFY_M)


#: Largest footprint accepted for one deposit, in km². Larger polygons are whole regions or,
#: far more often, a wrong CRS (metres declared as degrees); overlaying them would take hours.
MAX_DEPOSIT_AREA_KM2 = 10_000.0
_GEOD = pyproj.Geod(ellps="WGS84")


def _id_text(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))  # integer ids read as floats because of a null elsewhere
    return _text(value).strip()


def _unique_ids(
    values: list[Any] | None, n: int, field_name: str
) -> tuple[list[str], dict[int, str]]:
    """Return one unique id per row, and a note for every row whose id was made up or changed.

    Without an id field, rows are numbered from 1. With one, a missing id becomes ``#ROW`` and
    the second and later uses of an id become ``ID#2``, ``ID#3``, ...: every row is kept.
    """
    if values is None:
        return [str(i + 1) for i in range(n)], {}
    notes: dict[int, str] = {}
    base: list[str] = []
    for i, value in enumerate(values):
        text = _id_text(value)
        if not text:
            text = f"#{i + 1}"
            notes[i] = f"no {field_name!r} value: id set to the row number {text}"
        base.append(text)
    counts: dict[str, int] = {}
    for text in base:
        counts[text] = counts.get(text, 0) + 1
    taken = set(base)
    seen: dict[str, int] = {}
    ids: list[str] = []
    for i, text in enumerate(base):
        seen[text] = seen.get(text, 0) + 1
        if counts[text] == 1:
            ids.append(text)
            continue
        if seen[text] == 1:
            ids.append(text)
            notes[i] = f"id {text!r} is used by {counts[text]} features; this one keeps it"
            continue
        k = seen[text]
        new = f"{text}#{k}"
        while new in taken:
            k += 1
            new = f"{text}#{k}"
        taken.add(new)
        ids.append(new)
        notes[i] = f"duplicate id {text!r} ({counts[text]} features use it): reported as {new!r}"
    return ids, notes


def _footprint(
    geom: shapely.Geometry,
    *,
    extra_m: float,
    buffer_m: float,
    geographic: bool,
    to_lonlat: pyproj.Transformer,
    notes: list[str],
) -> tuple[shapely.Geometry | None, str | None]:
    """Footprint of one deposit in lon/lat, or ``None`` and the reason it cannot be made."""
    if geom.geom_type in ("LineString", "MultiLineString", "LinearRing"):
        return None, "a line is not a deposit outline; give polygons (or points)"
    if geom.geom_type == "GeometryCollection":
        geom = polygonal_parts(geom)
        if geom.is_empty:
            return None, "geometry collection without polygons"
    if not np.all(np.isfinite(shapely.get_coordinates(geom))):
        return None, "coordinates are not finite numbers (inf or NaN); check the file"
    if not geom.is_valid and geom.geom_type in ("Polygon", "MultiPolygon"):
        why = shapely.is_valid_reason(geom)
        geom = polygonal_parts(shapely.make_valid(geom))
        if geom.is_empty:
            return None, f"invalid polygon that cannot be repaired ({why})"
        notes.append(f"invalid polygon repaired ({why})")
    # Ring orientation is free in most formats, but geodesic areas (and RFC 7946) need holes
    # wound against their shell: a hole wound like its shell would be added, not subtracted.
    geom = shapely.orient_polygons(geom)
    # Check where the vertices land before densifying: a wrong CRS can put them off the Earth.
    xy = shapely.get_coordinates(geom)
    lon, lat = to_lonlat.transform(xy[:, 0], xy[:, 1])
    lon, lat = np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64")
    if xy.size == 0 or not (np.all(np.isfinite(lon)) and np.all(np.isfinite(lat))):
        return None, (
            "coordinates cannot be transformed to longitude/latitude "
            f"(x {xy[:, 0].min():.6g}..{xy[:, 0].max():.6g}); check the layer's CRS"
            if xy.size
            else "coordinates cannot be transformed to longitude/latitude"
        )
    if np.abs(lat).max() > 90 + 1e-9 or np.abs(lon).max() > 180 + 1e-9:
        return None, (
            f"coordinates off the Earth (longitude {lon.min():.6g}..{lon.max():.6g}, latitude "
            f"{lat.min():.6g}..{lat.max():.6g}); check the CRS (metres declared as degrees?)"
        )
    if lon.max() - lon.min() > 180:
        return None, (
            f"spans {lon.max() - lon.min():.0f} degrees of longitude (crosses the antimeridian "
            "or is not one deposit); split it or check the CRS"
        )
    # A degree square holds at most 12,400 km2: only a large bounding box needs the true area.
    km2 = 0.0
    if np.ptp(lon) * np.ptp(lat) * 12_400 > MAX_DEPOSIT_AREA_KM2:
        raw_lonlat = shapely.transform(geom, lambda _: np.column_stack([lon, lat]))
        km2 = abs(_GEOD.geometry_area_perimeter(raw_lonlat)[0]) / 1e6
    if km2 > MAX_DEPOSIT_AREA_KM2:
        return None, (
            f"covers {km2:,.0f} km2, more than the {MAX_DEPOSIT_AREA_KM2:,.0f} km2 one deposit "
            "can; check the CRS or units, or split it"
        )
    dense = _densify(geom, geographic)
    lonlat = shapely.transform(
        dense, lambda xy: np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1]))
    )
    if not np.all(np.isfinite(shapely.get_coordinates(lonlat))):
        return None, "coordinates cannot be transformed to longitude/latitude"
    footprint = geodesic_buffer(lonlat, buffer_m + extra_m)
    if not footprint.is_valid:
        footprint = polygonal_parts(shapely.make_valid(footprint))
    footprint = shapely.orient_polygons(footprint)
    if footprint.is_empty or geodesic_area_m2(footprint) <= 0:
        return None, "footprint has no area (zero-area polygon and no buffer)"
    return footprint, None


def _prepare_deposits(
    gdf,
    *,
    buffer_m: float,
    point_radius_m: float | None,
    priority: str | None,
    path: Path,
    id_field: str | None = None,
    name_field: str | None = None,
) -> list[_Prepared]:
    """One prepared deposit per input feature, in input order: none is ever dropped.

    A feature that cannot be assessed keeps its row with ``invalid_reason`` set; whatever was
    repaired, guessed or renamed is listed in ``notes``.
    """
    columns = {c.lower(): c for c in gdf.columns}

    def chosen(name: str | None, option: str) -> str | None:
        if name is None:
            return None
        col = columns.get(name.lower())
        if col is None:
            fields = ", ".join(c for c in gdf.columns if c != gdf.geometry.name) or "none"
            raise InputDataError(f"{path}: {option} {name!r}: no such field; fields: {fields}")
        return col

    priority_col = chosen(priority, "--priority")
    id_col = chosen(id_field, "--id-field") or columns.get("id")
    ids, id_notes = _unique_ids(
        list(gdf[id_col]) if id_col is not None else None, len(gdf), id_col or "id"
    )
    name_col = chosen(name_field, "--name-field") or columns.get("name")
    commodity_col = columns.get("commodity")
    quality_col = columns.get("geometry_quality")
    radius_col = columns.get("radius_m")
    uncertainty_col = columns.get("coord_uncertainty_km")
    geographic = bool(gdf.crs.is_geographic)
    to_lonlat = pyproj.Transformer.from_crs(gdf.crs, _LONLAT, always_xy=True)
    read_notes = list(gdf.attrs.get("demine_notes", ()))
    text_notes = list(gdf.attrs.get("demine_text_notes", ()))
    row_notes = dict(gdf.attrs.get("demine_row_notes", {}))

    out: list[_Prepared] = []
    for i, (row_id, geom) in enumerate(zip(ids, gdf.geometry, strict=True)):
        row = gdf.iloc[i]
        name = _text(row[name_col]) if name_col else ""
        prep = _Prepared(
            id=row_id,
            name=name or f"deposit {row_id}",
            commodity=_text(row[commodity_col]) if commodity_col else "",
            geometry_quality=_text(row[quality_col]) if quality_col else "",
            footprint=None,
            notes=[id_notes[i]] if i in id_notes else [],
        )
        out.append(prep)
        prep.notes.extend(read_notes)
        if text_notes and not (prep.name + prep.commodity).isascii():
            prep.notes.extend(text_notes)
        if uncertainty_col is not None and prep.geometry_quality != "published_area_disc":
            try:
                km = float(row[uncertainty_col])
            except (TypeError, ValueError):
                km = 0.0
            if km >= 1.0:
                prep.notes.append(
                    f"location +/-{km:g} km ({prep.geometry_quality or 'unstated'}): the footprint"
                    " is the uncertainty disc, so figures are an upper bound"
                )
        if priority_col is not None:
            raw = row[priority_col]
            if _text(raw) != "":
                try:
                    prep.priority = float(raw)
                except (TypeError, ValueError):
                    raise InputDataError(
                        f"{path}: --priority {priority!r}: deposit {prep.name!r} has {raw!r}, not "
                        "a number; the field must hold numbers (lower ones are served first)"
                    ) from None
        if geom is None or geom.is_empty:
            prep.invalid_reason = row_notes.get(i) or (
                "no geometry (null, empty or unreadable); draw the deposit outline"
            )
            continue
        extra = 0.0
        if geom.geom_type in ("Point", "MultiPoint"):
            radius = None
            if radius_col is not None and not _text(row[radius_col]) == "":
                try:
                    radius = float(row[radius_col])
                except (TypeError, ValueError):
                    radius = None
            if radius is None:
                radius = point_radius_m
            if radius is None or not math.isfinite(radius) or radius <= 0:
                prep.invalid_reason = (
                    "point without a radius; give --point-radius-m or a radius_m attribute"
                )
                continue
            extra = radius
            prep.notes.append(f"point given: footprint approximated by a {radius:g} m disc")
            if not prep.geometry_quality:
                prep.geometry_quality = "point_radius"
        try:
            prep.footprint, prep.invalid_reason = _footprint(
                geom,
                extra_m=extra,
                buffer_m=buffer_m,
                geographic=geographic,
                to_lonlat=to_lonlat,
                notes=prep.notes,
            )
        except (shapely.errors.GEOSException, pyproj.exceptions.ProjError, ValueError) as exc:
            # One odd geometry must not stop the run, nor vanish: its row says what happened.
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            prep.footprint = None
            prep.invalid_reason = (
                f"geometry cannot be processed ({type(exc).__name__}: {first}); check it in a GIS"
            )
    if len(out) != len(gdf):
        from .errors import AccountingError

        raise AccountingError(
            f"internal error: {len(out)} deposits prepared from {len(gdf)} features; please report"
        )
    return out


# --------------------------------------------------------------------------------------------
# Regions and control


def _lonlat_polygons(gdf, path: Path, what: str, label_of) -> list[shapely.Geometry]:
    """Polygons of a layer in lon/lat, repaired; an error names a feature that cannot be used.

    ``label_of(i)`` names feature ``i`` in messages. Features without a polygon give an empty
    polygon (they cover nothing).
    """
    try:
        geoms = list(gdf.to_crs(_LONLAT).geometry)
    except (pyproj.exceptions.ProjError, ValueError) as exc:
        raise InputDataError(
            f"{path}: the {what} layer cannot be transformed to longitude/latitude ({exc}); "
            "check its CRS"
        ) from None
    out: list[shapely.Geometry] = []
    for i, geom in enumerate(geoms):
        xy = shapely.get_coordinates(geom)
        if not np.all(np.isfinite(xy)) or (
            xy.size and (np.abs(xy[:, 1]).max() > 90 + 1e-9 or np.abs(xy[:, 0]).max() > 180 + 1e-9)
        ):
            raise InputDataError(
                f"{path}: {what} feature {label_of(i)}: coordinates off the Earth after "
                "transforming to longitude/latitude; check the layer's CRS"
            )
        try:
            if not geom.is_valid:
                geom = shapely.make_valid(geom)
            out.append(shapely.orient_polygons(polygonal_parts(geom)))
        except shapely.errors.GEOSException as exc:
            raise InputDataError(
                f"{path}: {what} feature {label_of(i)}: geometry cannot be repaired ({exc}); "
                "fix it in a GIS"
            ) from None
    return out


def _read_regions(path: Path, assume_crs: str | None) -> tuple[list[str], list[shapely.Geometry]]:
    gdf = read_vector(
        path, what="regions", option="--regions", assume_crs=assume_crs, require_features=True
    )
    columns = {c.lower(): c for c in gdf.columns}
    name_col = columns.get("name")
    if name_col is None:
        raise InputDataError(
            f"{path}: the regions layer has no 'name' field; add one holding each region's name"
        )
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    labels = [_text(v) or "(unnamed region)" for v in gdf[name_col]]
    polygons = _lonlat_polygons(gdf, path, "regions", lambda i: repr(labels[i]))
    by_name: dict[str, list[shapely.Geometry]] = {}
    for name, geom in zip(labels, polygons, strict=True):
        by_name.setdefault(name, []).append(geom)
    names: list[str] = []
    geoms: list[shapely.Geometry] = []
    for name, parts in by_name.items():
        try:
            union = shapely.union_all(parts)
        except shapely.errors.GEOSException as exc:
            raise InputDataError(
                f"{path}: region {name!r}: its polygons cannot be merged ({exc}); fix them in a GIS"
            ) from None
        if union.is_empty:
            raise InputDataError(
                f"{path}: region {name!r} has no polygon (points or lines only); regions must be "
                "areas"
            )
        names.append(name)
        geoms.append(union)
    return names, geoms


def read_occupied(
    path: Path, assume_crs: str | None, as_of: dt.date | None
) -> tuple[shapely.Geometry | None, str | None]:
    """Occupied territory at ``as_of`` (default: the latest snapshot) and its date."""
    gdf = read_vector(path, what="control zones", option="--control", assume_crs=assume_crs)
    columns = {c.lower(): c for c in gdf.columns}
    class_col, date_col = columns.get("class"), columns.get("date")
    if class_col is None:
        fields = ", ".join(str(c) for c in gdf.columns if c != gdf.geometry.name) or "none"
        raise InputDataError(
            f"{path}: --control: no field 'class' (fields: {fields}); give each zone a class "
            f"({', '.join(CONTROL_CLASSES)}), or run with --no-control"
        )
    classes = control_classes(gdf[class_col], path, class_col, "--control")
    gdf = gdf[np.isin(classes, OCCUPIED_CLASSES)]
    snapshot: str | None = None
    if date_col is not None and len(gdf):
        parsed: list[dt.date] = []
        for row, value in zip(gdf.index, gdf[date_col], strict=True):
            text = _text(value)[:10]
            try:
                parsed.append(dt.date.fromisoformat(text))
            except ValueError:
                raise InputDataError(
                    f"{path}: field {date_col!r} of feature {row + 1} is {text!r}, not a date; "
                    "every occupied zone needs a date as YYYY-MM-DD"
                ) from None
        limit = as_of or max(parsed)
        eligible = sorted({d for d in parsed if d <= limit})
        if not eligible:
            raise InputDataError(
                f"{path}: no control snapshot on or before {limit.isoformat()}; "
                f"the earliest is {min(parsed).isoformat()}"
            )
        chosen = eligible[-1]
        snapshot = chosen.isoformat()
        gdf = gdf[np.array([d == chosen for d in parsed], dtype=bool)]
    elif as_of is not None:
        raise InputDataError(f"{path}: --as-of needs a 'date' field in the control layer")
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    rows = list(gdf.index)
    geoms = _lonlat_polygons(gdf, path, "control zones", lambda i: str(rows[i] + 1))
    try:
        return (shapely.union_all(geoms) if geoms else shapely.Polygon()), snapshot
    except shapely.errors.GEOSException as exc:
        raise InputDataError(
            f"{path}: the occupied zones cannot be merged ({exc}); fix them in a GIS"
        ) from None


# --------------------------------------------------------------------------------------------
# The run


def _status(
    footprint_m2: float, data_m2: float, unknown_m2: float, unknown_class: str
) -> tuple[str, str]:
    if unknown_m2 <= 0:
        return "assessed", ""
    share = min(1.0, unknown_m2 / footprint_m2) if footprint_m2 else 1.0
    if data_m2 <= 1e-6 * footprint_m2:
        return "no_data", (
            f"no contamination data covers this footprint; all of it is assessed as class "
            f"{unknown_class!r}"
        )
    return "partial", (
        f"{share_text(share)} of the footprint has no contamination data; assessed as class "
        f"{unknown_class!r}"
    )


#: Occupied share above which a footprint needs an access date before work can start.
OCCUPIED_THRESHOLD = 0.005
#: Deposits modelled at once. Memory is about 3 x CHUNK x draws x 30 floats (one chunk is
#: scheduled while the next is modelled and the previous summarised); with 2,000 draws a chunk's
#: arrays (1 MB each) stay in the processor's cache, which makes the arithmetic ~2x faster than
#: with chunks of a few hundred deposits.
CHUNK = 64
#: Worker threads that model and summarise chunks alongside the schedule.
SUMMARY_THREADS = 2


@dataclass(frozen=True, slots=True)
class Assessment:
    """The geospatial stage: what the footprints cover, computed once for any number of runs."""

    prepared: list[_Prepared]
    footprints: list[shapely.Geometry | None]
    footprint_area_m2: np.ndarray
    hazard_area_m2: np.ndarray  # (N, K)
    unknown_area_m2: np.ndarray
    outside_area_m2: np.ndarray
    occupied_share: list[float | None]
    region_of: list[str]
    region_names: list[str]
    region_geoms: list[shapely.Geometry]
    control_date: str | None
    paths: dict[str, Any]
    #: What the probability raster says of each footprint (empty: no probability raster).
    hazard_probability: list[HazardProbability | None] = field(default_factory=list)
    #: Why a footprint has no probability figures, by deposit index.
    probability_reason: dict[int, str] = field(default_factory=dict)


def _default(path: Path | None, name: str) -> Path:
    return Path(path) if path is not None else getattr(default_data(), name)


def _never_note(share: float, idle: list[str] = ()) -> str:
    """Say that a deposit's work is not done within the schedule's horizon in some draws.

    ``idle``: methods with no teams that the deposit needs (their work is never done).
    """
    shown = "all" if share >= 1 else f"{share_text(share)} of the"
    note = f"never ready within the {HORIZON_YEARS}-year schedule in {shown} draws, so no mean date"
    if idle:
        note += f" ({', '.join(idle)}: no teams, see --teams)"
    return note


def _probability_path(inputs: Inputs, raster_path: Path | None) -> Path | None:
    """Return the probability raster of a run: given, or the embedded one with embedded classes."""
    if inputs.probability is not None:
        return Path(inputs.probability)
    if raster_path is None:
        return None
    try:
        dd = default_data()
    except InputDataError:  # no embedded data: nothing to default to
        return None
    # The embedded probabilities describe the embedded classes only: a user's class raster
    # gets no figures unless they give its probabilities too.
    if Path(raster_path).resolve() != dd.contamination.resolve():
        return None
    return dd.contamination_probability


def _overlay_probability(
    path: Path,
    prepared: list[_Prepared],
    footprint_area_m2: np.ndarray,
    *,
    workers: int | None,
    scheduler: str | None,
    progress: Progress | None,
) -> tuple[list[HazardProbability | None], dict[int, str]]:
    """Overlay every footprint on a probability raster (band 1, values 0-1).

    Returns the figures per deposit (``None`` where it has no footprint or no data) and the
    reason for each footprint that has none.

    Raises
    ------
    InputDataError
        If the raster cannot be read, or a cell under a footprint holds a value outside 0-1.
    """
    what = "probability raster"
    footprints = [p.footprint for p in prepared]
    with open_raster(path, band=1, option="--probability", what=what) as ds:
        crs = pyproj.CRS.from_user_input(ds.crs.to_wkt())
        transform = ds.transform
    try:
        z = zonal_probability(
            path,
            footprints,
            crs=_LONLAT,
            band=1,
            workers=workers,
            scheduler=scheduler,
            progress=None
            if progress is None
            else (lambda f, msg: progress(f, f"probability {msg}")),
        )
    except OSError as exc:  # a truncated or corrupt block met while reading
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputDataError(
            f"{path}: cannot read the {what} ({first}); the file may be truncated or corrupt: "
            "re-export it, or give another to --probability"
        ) from None
    has_data = z.data_area_m2 > 0
    bad = has_data & ((z.p_min < 0) | (z.p_max > 1))
    if bad.any():
        idx = np.flatnonzero(bad)
        i = int(idx[0])
        found = sorted(
            {float(z.p_max[j]) for j in idx if z.p_max[j] > 1}
            | {float(z.p_min[j]) for j in idx if z.p_min[j] < 0}
        )
        shown = ", ".join(f"{v:g}" for v in found[:5])
        raise InputDataError(
            f"{path}: value(s) {shown} (under {prepared[i].name!r}) are not probabilities; "
            "--probability needs values in 0-1: rescale percentages to 0-1 and declare any "
            "other value as nodata (gdal_edit.py -a_nodata VALUE)"
        )
    # Nominal cell area at each footprint (at a point inside it): the unit in which covered
    # area counts cells for the independent bound.
    todo = np.flatnonzero(has_data)
    cell_m2 = np.zeros(len(prepared))
    if todo.size:
        points = shapely.point_on_surface(np.array([footprints[i] for i in todo], dtype=object))
        xy = shapely.get_coordinates(points)
        to_raster = pyproj.Transformer.from_crs(_LONLAT, crs, always_xy=True)
        x, y = to_raster.transform(xy[:, 0], xy[:, 1])
        col, row = ~transform * (np.asarray(x), np.asarray(y))
        try:
            cell_m2[todo] = cell_areas_m2(crs, transform, np.floor(row), np.floor(col))
        except ValueError as exc:
            raise InputDataError(
                f"{path}: cannot compute the {what}'s cell areas at the deposits ({exc}); warp "
                "it to an equal-area CRS such as EPSG:3035"
            ) from None
    figures: list[HazardProbability | None] = [None] * len(prepared)
    reasons: dict[int, str] = {}
    for i, fp in enumerate(footprints):
        if fp is None:
            continue
        if not (has_data[i] and cell_m2[i] > 0):
            reasons[i] = (
                f"no probability data covers this footprint ({Path(path).name}); "
                "its P(any hazard) figures are null"
            )
            continue
        high = -math.expm1(z.log_none_area[i] / cell_m2[i])
        share = float(z.data_area_m2[i]) / footprint_area_m2[i]
        if share < 0.999:
            reasons[i] = (
                f"probability data cover {share_text(share)} of the footprint; its expected "
                "hazard area and P(any hazard) are for that part only"
            )
        figures[i] = HazardProbability(
            expected_hazard_area_m2=float(z.value_area[i]),
            prob_any_hazard_low=min(float(z.low[i]), high),
            prob_any_hazard_high=high,
            probability_data_area_m2=float(z.data_area_m2[i]),
        )
    return figures, reasons


def assess(inputs: Inputs, params: Params, *, progress: Progress | None = None) -> Assessment:
    """Read the inputs and overlay every footprint on the contamination raster.

    Parameters
    ----------
    inputs : Inputs
        Paths and options (``None`` paths use the embedded data).
    params : Params
        Parameters (the footprint buffer and the class table are used here).
    progress : callable, optional
        Called as ``progress(fraction_done, message)``.

    Returns
    -------
    Assessment
        Areas by class per footprint, occupied shares and regions.

    Raises
    ------
    InputDataError
        If an input cannot be read or used.
    """
    deposits_path = _default(inputs.deposits, "deposits")
    # SHA/CHA polygons without a raster: ground outside them is unknown (a hazard database
    # records hazards, not clean ground), not filled from the embedded proxy. Pass
    # --contamination to fill it from a raster.
    raster_path: Path | None = None
    if inputs.contamination is not None or inputs.hazard_areas is None:
        raster_path = _default(inputs.contamination, "contamination")
    regions_path = _default(inputs.regions, "regions")
    control_path = None if inputs.no_control else _default(inputs.control, "control")

    gdf = read_vector(
        deposits_path,
        what="deposits",
        option="--deposits",
        assume_crs=inputs.assume_crs,
        require_features=True,
    )
    prepared = _prepare_deposits(
        gdf,
        buffer_m=params.general.footprint_buffer_m,
        point_radius_m=inputs.point_radius_m,
        priority=inputs.priority,
        id_field=inputs.id_field,
        name_field=inputs.name_field,
        path=deposits_path,
    )
    region_names, region_geoms = _read_regions(regions_path, inputs.assume_crs)
    occupied, control_date = (None, None)
    if control_path is not None:
        occupied, control_date = read_occupied(control_path, inputs.assume_crs, inputs.as_of)

    footprints = [p.footprint for p in prepared]
    valid_idx = [i for i, f in enumerate(footprints) if f is not None]
    valid_fp = [footprints[i] for i in valid_idx]
    n = len(prepared)

    region_of = [UNASSIGNED_REGION] * n
    if valid_fp and region_geoms:
        overlaps = overlap_areas_m2(valid_fp, region_geoms)
        for j, i in enumerate(valid_idx):
            if overlaps[j].max() > 0:
                region_of[i] = region_names[int(np.argmax(overlaps[j]))]
    for i in valid_idx:
        if region_of[i] == UNASSIGNED_REGION:
            prepared[i].notes.append(
                f"outside every region of {regions_path.name}; if it should be inside, check "
                "the deposits' CRS (or longitude/latitude order)"
            )

    fp_area = np.array([geodesic_area_m2(f) if f is not None else 0.0 for f in footprints])
    occupied_share: list[float | None] = [None] * n
    if occupied is not None:
        occ = overlap_areas_m2(valid_fp, [occupied]) if valid_fp else np.zeros((0, 1))
        for j, i in enumerate(valid_idx):
            occupied_share[i] = min(1.0, float(occ[j, 0]) / fp_area[i]) if fp_area[i] else 0.0

    hazard = np.zeros((n, len(params.classes)))
    unknown_area = np.zeros(n)
    outside_area = np.zeros(n)
    # Hazardous-area polygons take precedence: their area goes to their classes, exactly, and
    # the raster is overlaid on the rest of each footprint only (footprint minus polygons), so
    # sum(classes) + unknown == footprint area and nothing is counted twice.
    raster_footprints = footprints
    if inputs.hazard_areas is not None:
        from .hazard_areas import overlay_hazard_areas

        polygons = overlay_hazard_areas(
            footprints,
            inputs.hazard_areas,
            class_field=inputs.hazard_class_field,
            classes=params.classes,
            assume_crs=inputs.assume_crs,
        )
        hazard += polygons.area_m2
        raster_footprints = polygons.remainder
        for i in valid_idx:
            share = polygons.covered_m2[i] / fp_area[i] if fp_area[i] else 0.0
            if share > 0:
                prepared[i].notes.append(f"hazardous-area polygons cover {share_text(share)}")
            if raster_path is None:
                rest = max(0.0, fp_area[i] - polygons.covered_m2[i])
                unknown_area[i] = outside_area[i] = rest

    probabilities = False
    unmapped: dict[float, list[str]] = {}
    if raster_path is not None:
        areas = class_areas(
            raster_path,
            raster_footprints,
            params,
            band=inputs.band,
            workers=inputs.workers,
            scheduler=inputs.scheduler,
            progress=progress,
        )
        hazard += areas.hazard_area_m2
        unknown_area, outside_area = areas.unknown_area_m2, areas.outside_area_m2
        probabilities = areas.probabilities
        unmapped = {v: [prepared[i].name for i in ix] for v, ix in areas.unmapped.items()}
    if unmapped:
        shown = ", ".join(f"{v:g}" for v in sorted(unmapped)[:10])
        where = unmapped[sorted(unmapped)[0]][0]
        if probabilities:
            raise InputDataError(
                f"{raster_path}: value(s) {shown} (in {where!r}) are not probabilities; a "
                "floating-point contamination raster must hold values in 0-1: rescale "
                "percentages to 0-1, declare other values as nodata (gdal_edit.py -a_nodata "
                "VALUE), or convert a raster of class values to an integer type "
                "(gdal_translate -ot Byte)"
            )
        raise InputDataError(
            f"{raster_path}: raster value(s) {shown} (in {where!r}) have no class in the "
            f"parameter file {params.source}; add a [classes.NAME] table with that raster_value, "
            "or set them to nodata"
        )
    probability_path = _probability_path(inputs, raster_path)
    if probability_path is None and probabilities and inputs.band == 1:
        probability_path = Path(raster_path)  # the contamination raster is its own
    probability: list[HazardProbability | None] = []
    probability_reason: dict[int, str] = {}
    if probability_path is not None:
        probability, probability_reason = _overlay_probability(
            probability_path,
            prepared,
            fp_area,
            workers=inputs.workers,
            scheduler=inputs.scheduler,
            progress=progress,
        )
    names = list(region_names)
    if UNASSIGNED_REGION in region_of:
        names.append(UNASSIGNED_REGION)
    return Assessment(
        prepared=prepared,
        footprints=footprints,
        footprint_area_m2=fp_area,
        hazard_area_m2=hazard,
        unknown_area_m2=unknown_area,
        outside_area_m2=outside_area,
        occupied_share=occupied_share,
        region_of=region_of,
        region_names=names,
        region_geoms=region_geoms,
        control_date=control_date,
        paths={
            "deposits": str(deposits_path),
            "contamination": str(raster_path) if raster_path is not None else None,
            "hazard_areas": str(inputs.hazard_areas) if inputs.hazard_areas else None,
            "hazard_class_field": inputs.hazard_class_field if inputs.hazard_areas else None,
            "band": inputs.band,
            "regions": str(regions_path),
            "control": str(control_path) if control_path else None,
            "probability": str(probability_path) if probability_path is not None else None,
        },
        hazard_probability=probability,
        probability_reason=probability_reason,
    )


def _select_regions(
    assessment: Assessment, wanted: tuple[str, ...], regions_path: str
) -> list[str]:
    if not wanted:
        return list(assessment.region_names)
    lookup = {n.casefold(): n for n in assessment.region_names}
    unknown = [r for r in wanted if r.casefold() not in lookup]
    if unknown:
        valid = [n for n in assessment.region_names if n != UNASSIGNED_REGION]
        raise InputDataError(
            f"--region {unknown[0]!r}: no such region in {regions_path}; valid names: "
            + ", ".join(valid)
        )
    chosen = {lookup[r.casefold()] for r in wanted}
    return [r for r in assessment.region_names if r in chosen]


def _earliest_day(
    assessment: Assessment, start: dt.date, access: dt.date | None
) -> tuple[np.ndarray, list[str | None]]:
    """Earliest start per deposit (days since start) and the blocking reason, if any."""
    n = len(assessment.prepared)
    earliest = np.zeros(n)
    why: list[str | None] = [None] * n
    for i, share in enumerate(assessment.occupied_share):
        if share is None or share <= OCCUPIED_THRESHOLD:
            continue
        when = f" (control as of {assessment.control_date})" if assessment.control_date else ""
        if access is None:
            earliest[i] = np.inf
            why[i] = f"{share:.0%} occupied{when}: no work until access (see --access-date)"
        else:
            earliest[i] = max(0.0, float((access - start).days))
    return earliest, why


def _order(
    assessment: Assessment,
    idx: np.ndarray,
    cost_per_ha: np.ndarray,
    by_field: bool,
    earliest_day: np.ndarray,
) -> np.ndarray:
    """Deposit indices in service order.

    Deposits that can be reached sooner come first (occupied ground waits for its access
    date, and teams do not sit idle meanwhile: they serve the ground they can reach), then
    by the priority field, else cheapest per hectare.
    """
    if by_field:
        keys = np.array(
            [p if p is not None else np.inf for p in (assessment.prepared[i].priority for i in idx)]
        )
    else:
        keys = cost_per_ha
    return idx[np.lexsort((idx, keys, earliest_day[idx]))]


#: Largest relative gap between a footprint's area and the areas found in it (every class plus
#: unknown) that needs no comment: exact coverage and ellipsoidal cell areas agree far closer.
ACCOUNTING_TOLERANCE = 1e-3
#: Gaps below this many m2 are rounding, whatever the footprint (slivers of a few cm2).
ACCOUNTING_TOLERANCE_M2 = 1.0
#: A gap this large in a footprint wholly inside the raster can only be a bug (coverage measured
#: in a grid of 1-degree cells is off by up to a few per cent near the poles, never this much).
_ACCOUNTING_BUG = 0.1


def check_accounting(assessment: Assessment) -> dict[int, str]:
    """Check that every footprint's area is accounted for: classes + unknown = footprint.

    Parameters
    ----------
    assessment : Assessment
        The geospatial stage.

    Returns
    -------
    dict of int to str
        A note for each deposit (by input index) whose areas differ from its footprint by more
        than ``ACCOUNTING_TOLERANCE`` (and ``ACCOUNTING_TOLERANCE_M2``); this happens only for
        footprints that reach beyond the raster (whose outside part is measured in the
        raster's CRS) or lie in very coarse geographic cells (coverage measured in degrees).

    Raises
    ------
    AccountingError
        If the number of deposits does not match the number of footprints, or a footprint
        wholly inside the raster is off by more than 10 %.
    """
    from .errors import AccountingError

    n = len(assessment.prepared)
    if not (len(assessment.footprints) == n == assessment.footprint_area_m2.shape[0]):
        raise AccountingError(
            f"internal error: {n} deposits but {len(assessment.footprints)} footprints; "
            "please report"
        )
    found = assessment.hazard_area_m2.sum(axis=1) + assessment.unknown_area_m2
    notes: dict[int, str] = {}
    for i, prep in enumerate(assessment.prepared):
        footprint_m2 = float(assessment.footprint_area_m2[i])
        if prep.footprint is None or prep.invalid_reason is not None or footprint_m2 <= 0:
            continue
        gap = (float(found[i]) - footprint_m2) / footprint_m2
        if abs(gap) <= ACCOUNTING_TOLERANCE or abs(gap) * footprint_m2 <= ACCOUNTING_TOLERANCE_M2:
            continue
        outside_m2 = float(assessment.outside_area_m2[i])
        if outside_m2 <= 0 and abs(gap) > _ACCOUNTING_BUG:
            raise AccountingError(
                f"internal error: deposit {prep.id!r}: classes + unknown = {found[i]:.6g} m2 but "
                f"the footprint is {footprint_m2:.6g} m2 ({gap:+.2%}); please report"
            )
        why = (
            "the part outside the raster is measured in the raster's CRS"
            if outside_m2 > 0
            else "coverage in coarse raster cells is measured in the raster's grid"
        )
        logger.warning("deposit %r: areas off by %+.2f%% (%s)", prep.id, 100 * gap, why)
        notes[i] = f"areas add up to {gap:+.2%} of the footprint ({why})"
    return notes


def run_model(
    assessment: Assessment,
    params: Params,
    *,
    n_draws: int = 1,
    seed: int = DEFAULT_SEED,
    regions: tuple[str, ...] = (),
    start_date: dt.date | None = None,
    access_date: dt.date | None = None,
    priority_field: bool = False,
    draws: DrawSet | None = None,
    progress: Progress | None = None,
) -> tuple[list[DepositResult], list[RegionResult], list[int], dict[str, Any]]:
    """Run the land-release model and the schedule on an assessment, chunk by chunk.

    Parameters
    ----------
    assessment : Assessment
        The geospatial stage.
    params : Params
        Parameters.
    n_draws : int
        1 runs at the modes; more samples every range (Monte Carlo).
    seed : int
        Seed of the draws.
    regions : tuple of str
        Only these regions (case-insensitive); empty for all.
    start_date : datetime.date, optional
        Day 0 of the schedule (default: today).
    access_date : datetime.date, optional
        When occupied ground becomes accessible; without it such deposits are ``blocked``.
    priority_field : bool
        Serve deposits by their priority attribute (else cheapest per hectare first).
    draws : DrawSet, optional
        Pre-built draws (overrides ``n_draws`` and ``seed``).
    progress : callable, optional
        Called as ``progress(fraction_done, message)``.

    Returns
    -------
    (deposits, regions, kept, info)
        Deposit rows (input order, kept regions only), region totals, the input indices kept,
        and run facts (start date, draws, seed).
    """
    start = start_date or dt.date.today()
    names = _select_regions(assessment, regions, assessment.paths["regions"])
    region_index = {r: j for j, r in enumerate(names)}
    prepared = assessment.prepared
    n = len(prepared)
    kept = [i for i in range(n) if assessment.region_of[i] in region_index]
    if draws is None:
        draws = mode_draws(params) if n_draws == 1 else sample_draws(params, n_draws, seed)
    n_draws = draws.n_draws
    unknown_k = params.class_names.index(params.general.unknown_area_class)
    area = assessment.hazard_area_m2.copy()
    area[:, unknown_k] += assessment.unknown_area_m2
    valid = np.array([prepared[i].invalid_reason is None for i in range(n)])
    earliest, blocked_why = _earliest_day(assessment, start, access_date)

    # Service order from a cheap deterministic pass at the modes.
    model_idx = np.array([i for i in kept if valid[i]], dtype=int)
    if model_idx.size:
        modes = release_land(area[model_idx], mode_draws(params))
        ha = np.maximum(assessment.footprint_area_m2[model_idx] / 1e4, 1e-12)
        order = _order(assessment, model_idx, modes.cost_usd[:, 0] / ha, priority_field, earliest)
    else:
        order = model_idx
    rank = {int(i): r + 1 for r, i in enumerate(order)}
    # Which assumption moves each deposit's cost most (one-at-a-time swings, others at mode).
    driver: dict[int, str] = {}
    if model_idx.size:
        swing, swing_names = swing_draws(params)
        for j, name in top_swing(release_land(area[model_idx], swing).cost_usd, swing_names):
            driver[int(model_idx[j])] = name

    g = params.general
    survey_cal = WorkingCalendar.build(start, g.survey_month_weights)
    clear_cal = WorkingCalendar.build(start, g.clearance_month_weights)
    teams = np.array([params.method(m).teams for m in draws.method_names], dtype="float64")
    survey_days = draws.survey_working_days_per_year
    clear_days = draws.clearance_working_days_per_year

    acc = RegionAccumulator(
        len(names), n_draws, len(draws.clearance_methods), len(draws.method_names)
    )
    per_deposit: dict[int, dict[str, Any]] = {}
    n_cm, n_m = len(draws.clearance_methods), len(draws.method_names)

    def summarise(chunk: np.ndarray, rel: LandRelease, timeline: Timeline) -> Callable[[], None]:
        """Start summarising a chunk on the worker threads; return what finishes it."""
        arrays = (
            [getattr(rel, f) for f in FIGURES]
            + [rel.clearance_area_m2_by_method[:, j] for j in range(n_cm)]
            + [rel.team_days_by_method[:, j] for j in range(n_m)]
        )
        half = (len(arrays) + 1) // 2  # one block for each of the two worker threads
        jobs = [
            workers.submit(quantities_of, *arrays[:half]),
            workers.submit(quantities_of, *arrays[half:]),
        ]
        ready_job = workers.submit(day_quantities, timeline.ready_day)
        prob_any = rel.prob_any_item.mean(axis=1)
        # The phases shown are those of the draw whose ready day is the median: one coherent
        # timeline (independent medians of each date need not fit together).
        # (the same rank as the P50 of day_quantities: nearest rank, ceil(D / 2) - 1)
        rank = max(0, math.ceil(0.5 * n_draws) - 1)
        median_draw = np.argpartition(timeline.ready_day, rank, axis=1)[:, rank]
        starts, ends = timeline.phase_days(median_draw)  # (n, 3) days
        # Draws in which the work is not done within the schedule's horizon (their dates are
        # never; the mean date is then undefined).
        never = np.isinf(timeline.ready_day).mean(axis=1)

        def finish() -> None:
            summaries = [q for job in jobs for q in job.result()]
            figs = dict(zip(FIGURES, summaries[: len(FIGURES)], strict=True))
            by_m = summaries[len(FIGURES) : len(FIGURES) + n_cm]
            days_m = summaries[len(FIGURES) + n_cm :]
            ready = ready_job.result()
            for j, i in enumerate(chunk):
                reachable = bool(np.isfinite(earliest[i]))
                # Duration from access to ready is the ready day shifted by a constant.
                duration = {k: v - earliest[i] for k, v in ready[j].items()} if reachable else None
                per_deposit[int(i)] = {
                    "figures": {f: figs[f][j] for f in FIGURES},
                    "prob_any_item": float(prob_any[j]),
                    "by_method": {m: by_m[k][j] for k, m in enumerate(draws.clearance_methods)},
                    "days_by_method": {m: days_m[k][j] for k, m in enumerate(draws.method_names)},
                    "ready": ready[j] if reachable else None,
                    "never": float(never[j]) if reachable else 0.0,
                    "duration": duration,
                    "phases": {
                        ph: {"start": float(starts[j, p]), "end": float(ends[j, p])}
                        for p, ph in enumerate(PHASES)
                    }
                    if reachable
                    else None,
                }

        return finish

    free = None
    pending: Callable[[], None] | None = None
    chunks = [order[c0 : c0 + CHUNK] for c0 in range(0, len(order), CHUNK)]
    # The schedule is sequential (teams carry over from one deposit to the next) and runs on
    # this thread; around it, worker threads model chunk k+1 and summarise chunk k-1 (numpy
    # releases the GIL), and one more thread adds each chunk to the region totals, in chunk
    # order. Results do not depend on the threads.
    with (
        ThreadPoolExecutor(max_workers=SUMMARY_THREADS) as workers,
        ThreadPoolExecutor(max_workers=1) as adder,
    ):
        added = []
        modelled = workers.submit(release_land, area[chunks[0]], draws) if chunks else None
        for k, chunk in enumerate(chunks):
            if progress is not None:
                progress(k * CHUNK / len(order), f"model {k * CHUNK + len(chunk)}/{len(order)}")
            rel = modelled.result()
            if k + 1 < len(chunks):
                modelled = workers.submit(release_land, area[chunks[k + 1]], draws)
            timeline, free = schedule_deposits(
                rel.team_days_by_method,
                order=range(len(chunk)),
                teams=teams,
                earliest_day=earliest[chunk],
                survey_days_per_year=survey_days,
                clearance_days_per_year=clear_days,
                survey_calendar=survey_cal,
                clearance_calendar=clear_cal,
                free=free,
            )
            group = np.array([region_index[assessment.region_of[i]] for i in chunk], dtype=int)
            added.append(
                adder.submit(acc.add, group, rel, timeline.ready_day, np.isfinite(earliest[chunk]))
            )
            started = summarise(chunk, rel, timeline)
            if pending is not None:
                pending()
            pending = started
        if pending is not None:
            pending()
        for job in added:
            job.result()
    if progress is not None:
        progress(1.0, "model done")

    area_notes = check_accounting(assessment)
    no_teams = [m for m in draws.method_names if params.method(m).teams == 0]
    results: list[DepositResult] = []
    for i in kept:
        p = prepared[i]
        d = per_deposit.get(i)
        idle = [m for m in no_teams if d and d["days_by_method"][m]["mean"] > 0]
        if p.invalid_reason is not None:
            status, reason = "invalid", p.invalid_reason
        else:
            status, reason = _status(
                assessment.footprint_area_m2[i],
                assessment.hazard_area_m2[i].sum(),
                assessment.unknown_area_m2[i],
                g.unknown_area_class,
            )
            if blocked_why[i] is not None:
                reason = "; ".join(x for x in (blocked_why[i], reason) if x)
                status = "blocked"
        notes = [
            *p.notes,
            *(
                [_never_note(d["never"], idle)]
                if d and d["never"] > 0 and status != "blocked"
                else []
            ),
            *([area_notes[i]] if i in area_notes else []),
            *([assessment.probability_reason[i]] if i in assessment.probability_reason else []),
        ]
        if notes:
            reason = "; ".join([*([reason] if reason else []), *notes])
        results.append(
            DepositResult(
                index=i,
                id=p.id,
                name=p.name,
                commodity=p.commodity,
                region=assessment.region_of[i],
                status=status,
                reason=reason,
                geometry_quality=p.geometry_quality,
                footprint_area_m2=float(assessment.footprint_area_m2[i]),
                hazard_area_m2={
                    c: float(assessment.hazard_area_m2[i, k])
                    for k, c in enumerate(params.class_names)
                },
                unknown_area_m2=float(assessment.unknown_area_m2[i]),
                outside_raster_area_m2=float(assessment.outside_area_m2[i]),
                occupied_share=assessment.occupied_share[i],
                figures=d["figures"] if d else None,
                clearance_area_m2_by_method=d["by_method"] if d else None,
                team_days_by_method=d["days_by_method"] if d else None,
                prob_any_item=d["prob_any_item"] if d else None,
                ready_day=d["ready"] if d else None,
                duration_days=d["duration"] if d else None,
                phase_days=d["phases"] if d else None,
                priority_rank=rank.get(i),
                cost_driver=driver.get(i),
                hazard_probability=assessment.hazard_probability[i]
                if assessment.hazard_probability
                else None,
            )
        )
    if len(results) != len(kept):
        from .errors import AccountingError

        raise AccountingError(
            f"internal error: {len(results)} result rows for {len(kept)} deposits; please report"
        )
    region_results = acc.results(
        names,
        results,
        class_names=params.class_names,
        method_names=draws.method_names,
        clearance_methods=draws.clearance_methods,
    )
    info = {
        "start_date": start,
        "draws": n_draws,
        "seed": seed if n_draws > 1 else None,
        "accumulator": acc,
        "region_names": names,
    }
    return results, region_results, kept, info


def estimate(
    inputs: Inputs,
    *,
    params: Params | None = None,
    n_draws: int = 1,
    seed: int = DEFAULT_SEED,
    sensitivity: bool = False,
    progress: Progress | None = None,
) -> Report:
    """Estimate land release, cost, time and risk for every deposit and region.

    Parameters
    ----------
    inputs : Inputs
        Paths and options; ``None`` paths use the embedded default data.
    params : Params, optional
        Parameters; by default loaded from ``inputs.params`` over the embedded defaults.
    n_draws : int
        1 runs the model at the modes of every range; more samples the ranges (Monte Carlo).
    seed : int
        Seed of the Monte Carlo draws.
    sensitivity : bool
        Also rank the parameters by how much they move each region's cost and ready date.
    progress : callable, optional
        Called as ``progress(fraction_done, message)``.

    Returns
    -------
    Report
        One result per input deposit (none dropped) and totals per region.

    Raises
    ------
    InputDataError
        If an input cannot be read or used (the message names the file and what to do).
    ParameterError
        If the parameter file is invalid.
    """
    if params is None:
        params = load_default_params(inputs.params)
    if inputs.buffer_m is not None:
        params = params.with_buffer(inputs.buffer_m)
    if inputs.teams:
        params = params.with_teams(dict(inputs.teams))
    if n_draws < 1:
        raise InputDataError(f"--draws {n_draws}: must be >= 1")
    assessment = assess(inputs, params, progress=progress)
    deposits, regions, kept, info = run_model(
        assessment,
        params,
        n_draws=n_draws,
        seed=seed,
        regions=inputs.regions_filter,
        start_date=inputs.start_date,
        access_date=inputs.access_date,
        priority_field=inputs.priority is not None,
        progress=progress,
    )
    tornado: dict[str, dict[str, list[Swing]]] = {}
    if sensitivity:
        swing, swing_names = swing_draws(params)
        *_, s_info = run_model(
            assessment,
            params,
            draws=swing,
            regions=inputs.regions_filter,
            start_date=info["start_date"],
            access_date=inputs.access_date,
            priority_field=inputs.priority is not None,
        )
        acc = s_info["accumulator"]
        for r, name in enumerate(s_info["region_names"]):
            ready = np.where(np.isfinite(acc.ready[r]), acc.ready[r], np.inf)
            tornado[name] = {
                "cost_usd": rank_swings(acc.sums["cost_usd"][r], swing_names),
                "ready_day": rank_swings(ready, swing_names) if acc.scheduled[r] else [],
            }
    meta = {
        "version": __version__,
        "params_sha256": params.sha256,
        "params_source": str(params.source),
        "params_overridden_keys": list(params.overridden_keys),
        "schema_version": params.schema_version,
        "currency": params.currency,
        "price_year": params.price_year,
        "footprint_buffer_m": params.general.footprint_buffer_m,
        "draws": info["draws"],
        "seed": info["seed"],
        "control_date": assessment.control_date,
        "start_date": info["start_date"].isoformat(),
        "access_date": inputs.access_date.isoformat() if inputs.access_date else None,
        "priority": inputs.priority or "cost_per_ha",
        "teams": {m.name: m.teams for m in params.methods},
        "inputs": {
            **assessment.paths,
            "params": str(inputs.params) if inputs.params else None,
            "region_filter": list(inputs.regions_filter),
            "assume_crs": inputs.assume_crs,
        },
    }
    return Report(
        meta=meta,
        params=params,
        class_names=params.class_names,
        clearance_methods=tuple(m.name for m in params.clearance_methods),
        method_names=("nts", "ts", *(m.name for m in params.clearance_methods)),
        deposits=deposits,
        regions=regions,
        footprints=[assessment.footprints[i] for i in kept],
        region_geometries=dict(zip(assessment.region_names, assessment.region_geoms, strict=False)),
        start_date=info["start_date"],
        sensitivity=tornado,
    )


def compare(
    inputs: Inputs,
    params_a: str | os.PathLike[str],
    params_b: str | os.PathLike[str],
    *,
    n_draws: int = 1,
    seed: int = DEFAULT_SEED,
    progress: Progress | None = None,
) -> tuple[Report, Report]:
    """Run the same inputs under two parameter files (same seed, so draws line up).

    Parameters
    ----------
    inputs : Inputs
        Paths and options (``inputs.params`` is ignored).
    params_a, params_b : path-like
        The two parameter files, each laid over the defaults.
    n_draws, seed : int
        Monte Carlo draws and seed, shared by both runs.
    progress : callable, optional
        Called as ``progress(fraction_done, message)``.

    Returns
    -------
    (Report, Report)
        The runs under A and under B.
    """
    pa = load_default_params(params_a)
    pb = load_default_params(params_b)
    ra = estimate(inputs, params=pa, n_draws=n_draws, seed=seed, progress=progress)
    rb = estimate(inputs, params=pb, n_draws=n_draws, seed=seed, progress=progress)
    return ra, rb
