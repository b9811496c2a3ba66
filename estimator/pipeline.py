"""Orchestration: input paths and parameters in, per-deposit and per-region results out.

No argument parsing and no printing here; the CLI calls :func:`estimate` and formats its result.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely

from . import __version__
from .aggregate import UNASSIGNED_REGION, DepositResult, RegionResult, quantity, summarize_regions
from .errors import InputDataError
from .io import default_data, read_vector
from .model import release_land
from .overlay import (
    geodesic_area_m2,
    geodesic_buffer,
    overlap_areas_m2,
    overlay_footprints,
    polygonal_parts,
)
from .params import Params, load_params
from .uncertainty import DEFAULT_SEED, mode_draws, sample_draws

logger = logging.getLogger(__name__)

__all__ = ["Inputs", "Report", "estimate", "load_default_params"]

Progress = Callable[[float, str], None]

_LONLAT = pyproj.CRS.from_epsg(4326)
#: Classes in a control layer that count as occupied (no access for humanitarian demining).
OCCUPIED_CLASSES = ("russian_controlled", "occupied", "occupied_before_2022")
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


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _densify(geom: shapely.Geometry, geographic: bool) -> shapely.Geometry:
    return shapely.segmentize(geom, _DENSIFY_DEG if geographic else _DENSIFY_M)


def _prepare_deposits(gdf, *, buffer_m: float, point_radius_m: float | None) -> list[_Prepared]:
    columns = {c.lower(): c for c in gdf.columns}
    id_col = columns.get("id")
    ids: list[str]
    if id_col is not None and gdf[id_col].notna().all() and gdf[id_col].astype(str).is_unique:
        ids = [str(v) for v in gdf[id_col]]
    else:
        ids = [str(i + 1) for i in range(len(gdf))]
    name_col = columns.get("name")
    commodity_col = columns.get("commodity")
    quality_col = columns.get("geometry_quality")
    radius_col = columns.get("radius_m")
    geographic = bool(gdf.crs.is_geographic)
    to_lonlat = pyproj.Transformer.from_crs(gdf.crs, _LONLAT, always_xy=True)

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
            notes=[],
        )
        out.append(prep)
        if geom is None or geom.is_empty:
            prep.invalid_reason = "no geometry (null or empty); draw the deposit outline"
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
        elif geom.geom_type in ("LineString", "MultiLineString", "LinearRing"):
            prep.invalid_reason = "a line is not a deposit outline; give polygons (or points)"
            continue
        elif geom.geom_type == "GeometryCollection":
            geom = polygonal_parts(geom)
            if geom.is_empty:
                prep.invalid_reason = "geometry collection without polygons"
                continue
        if not geom.is_valid and geom.geom_type in ("Polygon", "MultiPolygon"):
            why = shapely.is_valid_reason(geom)
            geom = polygonal_parts(shapely.make_valid(geom))
            if geom.is_empty:
                prep.invalid_reason = f"invalid polygon that cannot be repaired ({why})"
                continue
            prep.notes.append(f"invalid polygon repaired ({why})")
        dense = _densify(geom, geographic)
        lonlat = shapely.transform(
            dense, lambda xy: np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1]))
        )
        if not np.all(np.isfinite(shapely.get_coordinates(lonlat))):
            prep.invalid_reason = "coordinates cannot be transformed to longitude/latitude"
            continue
        footprint = geodesic_buffer(lonlat, buffer_m + extra)
        if not footprint.is_valid:
            footprint = polygonal_parts(shapely.make_valid(footprint))
        if footprint.is_empty or geodesic_area_m2(footprint) <= 0:
            prep.invalid_reason = "footprint has no area (zero-area polygon and no buffer)"
            continue
        prep.footprint = footprint
    return out


# --------------------------------------------------------------------------------------------
# Regions and control


def _read_regions(path: Path, assume_crs: str | None) -> tuple[list[str], list[shapely.Geometry]]:
    gdf = read_vector(path, what="regions", option="--regions", assume_crs=assume_crs)
    columns = {c.lower(): c for c in gdf.columns}
    name_col = columns.get("name")
    if name_col is None:
        raise InputDataError(
            f"{path}: the regions layer has no 'name' field; add one holding each region's name"
        )
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty].to_crs(_LONLAT)
    names: list[str] = []
    geoms: list[shapely.Geometry] = []
    by_name: dict[str, list[shapely.Geometry]] = {}
    for name, geom in zip(gdf[name_col].map(_text), gdf.geometry, strict=True):
        if not geom.is_valid:
            geom = polygonal_parts(shapely.make_valid(geom))
        by_name.setdefault(name or "(unnamed region)", []).append(geom)
    for name, parts in by_name.items():
        names.append(name)
        geoms.append(shapely.union_all(parts))
    return names, geoms


def _read_control(
    path: Path, assume_crs: str | None, as_of: dt.date | None
) -> tuple[shapely.Geometry | None, str | None]:
    """Occupied territory at ``as_of`` (default: the latest snapshot) and its date."""
    gdf = read_vector(path, what="control zones", option="--control", assume_crs=assume_crs)
    columns = {c.lower(): c for c in gdf.columns}
    class_col, date_col = columns.get("class"), columns.get("date")
    if class_col is not None:
        gdf = gdf[gdf[class_col].astype(str).str.lower().isin(OCCUPIED_CLASSES)]
    snapshot: str | None = None
    if date_col is not None and len(gdf):
        dates = gdf[date_col].map(_text).str.slice(0, 10)
        try:
            parsed = dates.map(dt.date.fromisoformat)
        except ValueError:
            raise InputDataError(
                f"{path}: field {date_col!r} must hold dates as YYYY-MM-DD"
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
        gdf = gdf[(parsed == chosen).to_numpy()]
    elif as_of is not None:
        raise InputDataError(f"{path}: --as-of needs a 'date' field in the control layer")
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty].to_crs(_LONLAT)
    geoms = [g if g.is_valid else polygonal_parts(shapely.make_valid(g)) for g in gdf.geometry]
    return (shapely.union_all(geoms) if geoms else shapely.Polygon()), snapshot


# --------------------------------------------------------------------------------------------
# The run


def _class_table(params: Params) -> dict[int, int]:
    return {c.raster_value: i for i, c in enumerate(params.classes)}


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
        f"{share:.1%} of the footprint has no contamination data; assessed as class "
        f"{unknown_class!r}"
    )


def estimate(
    inputs: Inputs,
    *,
    params: Params | None = None,
    n_draws: int = 1,
    seed: int = DEFAULT_SEED,
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

    def default(path: Path | None, name: str) -> Path:
        return Path(path) if path is not None else getattr(default_data(), name)

    deposits_path = default(inputs.deposits, "deposits")
    raster_path = default(inputs.contamination, "contamination")
    regions_path = default(inputs.regions, "regions")
    control_path = None if inputs.no_control else default(inputs.control, "control")

    def report_progress(frac: float, msg: str) -> None:
        if progress is not None:
            progress(frac, msg)

    gdf = read_vector(
        deposits_path, what="deposits", option="--deposits", assume_crs=inputs.assume_crs
    )
    if len(gdf) == 0:
        raise InputDataError(f"{deposits_path}: the deposits layer has no features")
    prepared = _prepare_deposits(
        gdf, buffer_m=params.general.footprint_buffer_m, point_radius_m=inputs.point_radius_m
    )
    region_names, region_geoms = _read_regions(regions_path, inputs.assume_crs)
    occupied, control_date = (None, None)
    if control_path is not None:
        occupied, control_date = _read_control(control_path, inputs.assume_crs, inputs.as_of)

    footprints = [p.footprint for p in prepared]
    valid_idx = [i for i, f in enumerate(footprints) if f is not None]
    valid_fp = [footprints[i] for i in valid_idx]

    # Region: the one with the largest overlap.
    region_of: list[str | None] = [None] * len(prepared)
    if valid_fp and region_geoms:
        overlaps = overlap_areas_m2(valid_fp, region_geoms)
        for j, i in enumerate(valid_idx):
            if overlaps[j].max() > 0:
                region_of[i] = region_names[int(np.argmax(overlaps[j]))]
    if inputs.regions_filter:
        lookup = {n.casefold(): n for n in region_names}
        unknown = [r for r in inputs.regions_filter if r.casefold() not in lookup]
        if unknown:
            raise InputDataError(
                f"--region {unknown[0]!r}: no such region in {regions_path}; valid names: "
                + ", ".join(region_names)
            )
        wanted = {lookup[r.casefold()] for r in inputs.regions_filter}
    else:
        wanted = None

    # Occupied share.
    occupied_share: list[float | None] = [None] * len(prepared)
    fp_area = [geodesic_area_m2(f) if f is not None else 0.0 for f in footprints]
    if occupied is not None:
        occ = overlap_areas_m2(valid_fp, [occupied]) if valid_fp else np.zeros((0, 1))
        for j, i in enumerate(valid_idx):
            occupied_share[i] = min(1.0, float(occ[j, 0]) / fp_area[i]) if fp_area[i] else 0.0

    # Exact overlay, one window per footprint.
    classes = params.classes
    class_index = _class_table(params)
    unknown_k = params.class_names.index(params.general.unknown_area_class)
    n = len(prepared)
    hazard = np.zeros((n, len(classes)))
    unknown_area = np.zeros(n)
    outside_area = np.zeros(n)
    overlays = overlay_footprints(
        raster_path,
        footprints,
        band=inputs.band,
        workers=inputs.workers,
        scheduler=inputs.scheduler,
        progress=report_progress,
    )
    unmapped: dict[float, list[str]] = {}
    for i, va in enumerate(overlays):
        if va is None:
            continue
        for value, area in zip(va.values.tolist(), va.area_m2.tolist(), strict=True):
            k = class_index.get(int(value)) if float(value).is_integer() else None
            if k is None:
                unmapped.setdefault(value, []).append(prepared[i].name)
                continue
            hazard[i, k] += area
        unknown_area[i] = va.unknown_area_m2
        outside_area[i] = va.outside_area_m2
    if unmapped:
        shown = ", ".join(f"{v:g}" for v in sorted(unmapped)[:10])
        raise InputDataError(
            f"{raster_path}: raster value(s) {shown} (in {unmapped[sorted(unmapped)[0]][0]!r}) "
            f"have no class in the parameter file {params.source}; add a [classes.NAME] table "
            "with that raster_value, or set them to nodata"
        )

    # Model: unknown ground is assessed as the configured class.
    assessed_area = hazard.copy()
    assessed_area[:, unknown_k] += unknown_area
    draws = mode_draws(params) if n_draws == 1 else sample_draws(params, n_draws, seed)
    release = release_land(assessed_area, draws)

    clearance_methods = draws.clearance_methods
    method_names = draws.method_names
    deposits: list[DepositResult] = []
    for i, p in enumerate(prepared):
        if p.invalid_reason is not None:
            status, reason = "invalid", p.invalid_reason
            figures = by_method = days_by_method = None
        else:
            status, reason = _status(
                fp_area[i], hazard[i].sum(), unknown_area[i], params.general.unknown_area_class
            )
            figures = {
                f: quantity(getattr(release, f)[i])
                for f in (
                    "nts_area_m2",
                    "ts_area_m2",
                    "clearance_area_m2",
                    "cost_usd",
                    "team_days",
                    "expected_items",
                    "expected_accidents",
                )
            }
            by_method = {
                m: quantity(release.clearance_area_m2_by_method[i, j])
                for j, m in enumerate(clearance_methods)
            }
            days_by_method = {
                m: quantity(release.team_days_by_method[i, j]) for j, m in enumerate(method_names)
            }
        if p.notes:
            reason = "; ".join([*([reason] if reason else []), *p.notes])
        deposits.append(
            DepositResult(
                index=i,
                id=p.id,
                name=p.name,
                commodity=p.commodity,
                region=region_of[i] if p.invalid_reason is None else None,
                status=status,
                reason=reason,
                geometry_quality=p.geometry_quality,
                footprint_area_m2=fp_area[i],
                hazard_area_m2={c.name: float(hazard[i, k]) for k, c in enumerate(classes)},
                unknown_area_m2=float(unknown_area[i]),
                outside_raster_area_m2=float(outside_area[i]),
                occupied_share=occupied_share[i],
                figures=figures,
                clearance_area_m2_by_method=by_method,
                team_days_by_method=days_by_method,
            )
        )

    # Keep only the requested regions (deposits outside them are not part of the report).
    names = list(region_names)
    if any(d.region is None for d in deposits):
        names.append(UNASSIGNED_REGION)
        deposits = [
            d if d.region is not None else _with_region(d, UNASSIGNED_REGION) for d in deposits
        ]
    if wanted is not None:
        keep = [i for i, d in enumerate(deposits) if d.region in wanted]
        names = [r for r in names if r in wanted]
    else:
        keep = list(range(len(deposits)))
    sub_release = _take(release, keep)
    kept = [deposits[i] for i in keep]
    regions = summarize_regions(
        names,
        kept,
        sub_release,
        class_names=params.class_names,
        method_names=method_names,
        clearance_methods=clearance_methods,
    )
    meta = {
        "version": __version__,
        "params_sha256": params.sha256,
        "params_source": str(params.source),
        "params_overridden_keys": list(params.overridden_keys),
        "schema_version": params.schema_version,
        "currency": params.currency,
        "price_year": params.price_year,
        "footprint_buffer_m": params.general.footprint_buffer_m,
        "draws": n_draws,
        "seed": seed if n_draws > 1 else None,
        "control_date": control_date,
        "inputs": {
            "deposits": str(deposits_path),
            "contamination": str(raster_path),
            "band": inputs.band,
            "regions": str(regions_path),
            "control": str(control_path) if control_path else None,
            "params": str(inputs.params) if inputs.params else None,
            "region_filter": list(inputs.regions_filter),
        },
    }
    return Report(
        meta=meta,
        params=params,
        class_names=params.class_names,
        clearance_methods=clearance_methods,
        method_names=method_names,
        deposits=kept,
        regions=regions,
        footprints=[footprints[i] for i in keep],
        region_geometries=dict(zip(region_names, region_geoms, strict=True)),
    )


def _with_region(d: DepositResult, region: str) -> DepositResult:
    from dataclasses import replace

    return replace(d, region=region)


def _take(release, keep: Sequence[int]):
    from dataclasses import fields, replace

    idx = np.asarray(keep, dtype=int)
    # Invalid deposits carry zero areas already (their hazard rows are zero), so sums are safe.
    return replace(release, **{f.name: getattr(release, f.name)[idx] for f in fields(release)})
