"""Whole-region statistics: hazard area by class of each region, and the cost of releasing it all.

The needs-assessment view: instead of the ground under deposits, every hectare of each region is
overlaid with the contamination raster (exact coverage, ellipsoidal cell areas, streamed block by
block with the same engine and parallel backend as the deposit overlay) and run through the same
land-release model at the modes of the parameter file. Hazardous-area polygons (SHA/CHA), when
given, are overlaid first as vectors and take precedence; the raster fills the rest of each
region, under the same rules as for deposit footprints (:mod:`estimator.hazard_areas`).
"""

from __future__ import annotations

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
from .aggregate import share_text
from .contamination import class_areas
from .errors import InputDataError
from .io import default_data, read_vector
from .model import release_land
from .overlay import geodesic_area_m2, polygonal_parts, zonal_probability
from .params import Params, load_params
from .uncertainty import mode_draws

logger = logging.getLogger(__name__)

__all__ = ["RegionStatistics", "WholeRegionReport", "summarize_whole_regions"]

Progress = Callable[[float, str], None]

_LONLAT = pyproj.CRS.from_epsg(4326)
#: Densify region borders before reprojection so they stay straight in the raster's CRS.
_DENSIFY_DEG = 0.002
_DENSIFY_M = 200.0

#: Model figures reported per region, in this order.
FIGURES = (
    "nts_area_m2",
    "ts_area_m2",
    "clearance_area_m2",
    "team_days",
    "cost_usd",
    "expected_items",
    "expected_accidents",
)


@dataclass(frozen=True, slots=True)
class RegionStatistics:
    """Hazard areas of one whole region and the modelled cost of releasing all of it.

    Attributes
    ----------
    name : str
        Region name.
    area_m2 : float
        Geodesic area of the region, m2.
    hazard_area_m2 : dict of str to float
        Area of each hazard class inside the region, m2.
    unknown_area_m2 : float
        Area without contamination data (nodata cells and ground outside the raster), m2;
        assessed as the parameter file's ``unknown_area_class``.
    outside_raster_area_m2 : float
        The part of ``unknown_area_m2`` outside the raster's extent, m2.
    figures : dict of str to float
        Model figures at the modes: areas (m2), team-days, cost (US$), expected items and
        accidents (see :data:`FIGURES`).
    clearance_area_m2_by_method, team_days_by_method : dict of str to float
        Clearance area (m2) per clearance method and team-days per method.
    expected_hazard_area_m2 : float or None
        For a raster of probabilities: ``sum(p x covered area)``, the ground it expects to
        prove contaminated, m2 (``None`` for a raster of classes).
    notes : list of str
        What a reader of the figures must know: ground without data and how it was assessed,
        the share covered by hazardous-area polygons.
    """

    name: str
    area_m2: float
    hazard_area_m2: dict[str, float]
    unknown_area_m2: float
    outside_raster_area_m2: float
    figures: dict[str, float]
    clearance_area_m2_by_method: dict[str, float] = field(default_factory=dict)
    team_days_by_method: dict[str, float] = field(default_factory=dict)
    expected_hazard_area_m2: float | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class WholeRegionReport:
    """Whole-region statistics of a run, with what produced them."""

    meta: dict[str, Any]
    class_names: tuple[str, ...]
    clearance_methods: tuple[str, ...]
    method_names: tuple[str, ...]
    regions: list[RegionStatistics]


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
    step = _DENSIFY_DEG if gdf.crs.is_geographic else _DENSIFY_M
    to_lonlat = None  # lon/lat already (GeoJSON's CRS): building the identity took ~3 ms
    if not gdf.crs.equals(_LONLAT, ignore_axis_order=True):
        to_lonlat = pyproj.Transformer.from_crs(gdf.crs, _LONLAT, always_xy=True)
    by_name: dict[str, list[shapely.Geometry]] = {}
    for i, (name, geom) in enumerate(zip(gdf[name_col], gdf.geometry, strict=True)):
        if geom is None or geom.is_empty:
            continue
        if geom.geom_type == "GeometryCollection":
            geom = polygonal_parts(geom)
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise InputDataError(
                f"{path}: feature {i + 1} ({name}) is a {geom.geom_type}; regions must be polygons"
            )
        if not geom.is_valid:
            geom = polygonal_parts(shapely.make_valid(geom))
        lonlat = shapely.segmentize(geom, step)
        if to_lonlat is not None:
            lonlat = shapely.transform(
                lonlat, lambda xy: np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1]))
            )
        if not lonlat.is_valid:
            lonlat = polygonal_parts(shapely.make_valid(lonlat))
        text = "" if name is None or (isinstance(name, float) and math.isnan(name)) else str(name)
        by_name.setdefault(text or "(unnamed region)", []).append(lonlat)
    if not by_name:
        raise InputDataError(f"{path}: the regions layer has no polygons")
    names = list(by_name)
    return names, [shapely.union_all(parts) for parts in by_name.values()]


def _notes(
    area_m2: float,
    covered_m2: float,
    unknown_m2: float,
    outside_m2: float,
    polygons: bool,
    raster: bool,
    unknown_class: str,
) -> list[str]:
    """Return what a reader must know about one region's figures."""
    notes = []
    if polygons:
        share = covered_m2 / area_m2 if area_m2 else 0.0
        notes.append(f"hazardous-area polygons cover {share_text(share)}")
    if area_m2 <= 0 or unknown_m2 <= 1e-6 * area_m2:
        return notes
    if not raster:
        why = "outside the hazardous-area polygons, and no contamination raster was given"
    else:
        parts = []
        if outside_m2 > 0:
            parts.append(f"{outside_m2 / 1e6:,.1f} km² outside the raster")
        if unknown_m2 - outside_m2 > 1e-6 * area_m2:
            parts.append(f"{(unknown_m2 - outside_m2) / 1e6:,.1f} km² of nodata cells")
        why = " and ".join(parts)
    notes.append(
        f"{share_text(unknown_m2 / area_m2)} of the region ({unknown_m2 / 1e6:,.1f} km²) has no "
        f"contamination data ({why}); assessed as class {unknown_class!r}"
    )
    return notes


def _probability_source(
    probability, raster_path, band: int, *, banded: bool, embedded: bool, default
) -> tuple[Path | None, int]:
    """Choose the raster (and band) for the expected hazard area, as the report does."""
    if probability is not None:
        return Path(probability), 1
    if banded:
        return Path(raster_path), band
    if embedded:
        return default(None, "contamination_probability"), 1
    return None, 1


def _expected_hazard_area(
    path: Path,
    band: int,
    geoms: Sequence[shapely.Geometry],
    names: Sequence[str],
    workers: int | None,
    scheduler: str | None,
    *,
    given: bool,
) -> np.ndarray:
    """``sum(p x covered area)`` of each region (NaN where no cell has data), m2."""
    z = zonal_probability(
        path, geoms, crs="EPSG:4326", band=band, workers=workers, scheduler=scheduler
    )
    has_data = z.data_area_m2 > 0
    bad = np.flatnonzero(has_data & ((z.p_min < 0) | (z.p_max > 1)))
    if bad.size and given:
        i = int(bad[0])
        value = float(z.p_max[i]) if z.p_max[i] > 1 else float(z.p_min[i])
        raise InputDataError(
            f"{path}: value {value:g} (in region {names[i]!r}) is not a probability; "
            "--probability needs values in 0-1: rescale percentages to 0-1 and declare any "
            "other value as nodata (gdal_edit.py -a_nodata VALUE)"
        )
    return np.where(has_data, z.value_area, np.nan)


def summarize_whole_regions(
    *,
    contamination: str | os.PathLike[str] | None = None,
    regions: str | os.PathLike[str] | None = None,
    params: Params | str | os.PathLike[str] | None = None,
    regions_filter: Sequence[str] = (),
    band: int = 1,
    assume_crs: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Progress | None = None,
    hazard_areas: str | os.PathLike[str] | None = None,
    hazard_class_field: str = "class",
    probability: str | os.PathLike[str] | None = None,
) -> WholeRegionReport:
    """Hazard area by class of each whole region, and the cost of releasing all of it.

    Parameters
    ----------
    contamination : path-like, optional
        Contamination raster of hazard classes, or of probabilities (0-1, classed by the
        parameter file's probability bands); default: the embedded proxy, or none when
        ``hazard_areas`` is given (the ground outside the polygons is then unknown).
    regions : path-like, optional
        Region polygons with a ``name`` field; default: the embedded oblasts. Features with the
        same name are merged.
    params : Params or path-like, optional
        Parameters, or a parameter file laid over the embedded defaults.
    regions_filter : sequence of str
        Only these regions (case-insensitive); all when empty.
    band : int
        Raster band holding the classes (1-based).
    assume_crs : str, optional
        CRS for a regions file that declares none.
    workers, scheduler : optional
        Local processes or a Dask scheduler address, as in
        :func:`estimator.overlay.overlay_footprints`.
    progress : callable, optional
        Called as ``progress(fraction_done, message)``.
    hazard_areas : path-like, optional
        Suspected/confirmed hazardous-area polygons (SHA/CHA, any OGR format), overlaid as
        vectors exactly as for deposits (:mod:`estimator.hazard_areas`): they take precedence
        over the raster, which is overlaid on the rest of each region only.
    hazard_class_field : str
        Field of ``hazard_areas`` holding each polygon's class.
    probability : path-like, optional
        Raster of hazard probabilities 0-1 (band 1) for each region's expected hazard area,
        ``sum(p x covered area)``. Default: the contamination raster itself when it holds
        probabilities, the embedded probability raster with the embedded classes, else none.

    Returns
    -------
    WholeRegionReport
        One entry per region, in the order of the regions file.

    Raises
    ------
    InputDataError
        If an input cannot be read, a region name is unknown, or a raster value has no class.
    ParameterError
        If the parameter file is invalid.
    """
    data = None

    def default(path, name: str) -> Path:
        nonlocal data
        if path is not None:
            return Path(path)
        data = data or default_data()
        return getattr(data, name)

    if not isinstance(params, Params):
        params = load_params(params, defaults=default(None, "parameters"))
    # As for deposits: SHA/CHA polygons without a raster leave the rest of each region unknown
    # (a hazard database records hazards, not clean ground).
    raster_path: Path | None = None
    if contamination is not None or hazard_areas is None:
        raster_path = default(contamination, "contamination")
    regions_path = default(regions, "regions")
    names, geoms = _read_regions(regions_path, assume_crs)
    if regions_filter:
        lookup = {n.casefold(): i for i, n in enumerate(names)}
        missing = [r for r in regions_filter if r.casefold() not in lookup]
        if missing:
            raise InputDataError(
                f"--region {missing[0]!r}: no such region in {regions_path}; valid names: "
                + ", ".join(names)
            )
        keep = sorted({lookup[r.casefold()] for r in regions_filter})
        names, geoms = [names[i] for i in keep], [geoms[i] for i in keep]

    classes = params.classes
    n, n_classes = len(names), len(classes)
    region_area_m2: list[float] = []

    def region_areas() -> None:
        if not region_area_m2:
            region_area_m2.extend(geodesic_area_m2(g) for g in geoms)

    hazard = np.zeros((n, n_classes))
    unknown = np.zeros(n)
    outside = np.zeros(n)
    covered = np.zeros(n)
    raster_geoms: list[shapely.Geometry | None] = list(geoms)
    if hazard_areas is not None:
        from .hazard_areas import overlay_hazard_areas

        polygons = overlay_hazard_areas(
            geoms,
            hazard_areas,
            class_field=hazard_class_field,
            classes=classes,
            assume_crs=assume_crs,
        )
        hazard += polygons.area_m2
        covered = polygons.covered_m2
        raster_geoms = polygons.remainder
        if raster_path is None:
            region_areas()
            unknown = np.maximum(0.0, np.array(region_area_m2) - polygons.covered_m2)
            outside = unknown.copy()
    banded = False
    if raster_path is not None:
        areas = class_areas(
            raster_path,
            raster_geoms,
            params,
            band=band,
            workers=workers,
            scheduler=scheduler,
            progress=progress,
            meanwhile=region_areas,
        )
        if areas.unmapped:
            value = sorted(areas.unmapped)[0]
            where = names[areas.unmapped[value][0]]
            if areas.probabilities:
                raise InputDataError(
                    f"{raster_path}: value {value:g} (in region {where!r}) is not a probability; "
                    "a floating-point raster must hold values in 0-1 (rescale percentages, "
                    "declare other values as nodata) or only class values"
                )
            raise InputDataError(
                f"{raster_path}: raster value {value:g} (in region {where!r}) has no class in "
                f"the parameter file {params.source}; add a [classes.NAME] table with that "
                "raster_value, or set it to nodata"
            )
        hazard += areas.hazard_area_m2
        unknown, outside = areas.unknown_area_m2, areas.outside_area_m2
        banded = areas.banded
    region_areas()
    prob_path, prob_band = _probability_source(
        probability,
        raster_path,
        band,
        banded=banded,
        embedded=contamination is None and raster_path is not None,
        default=default,
    )
    expected = np.full(n, np.nan)
    if prob_path is not None:
        expected = _expected_hazard_area(
            prob_path, prob_band, geoms, names, workers, scheduler, given=probability is not None
        )

    assessed = hazard.copy()
    unknown_k = params.class_names.index(params.general.unknown_area_class)
    assessed[:, unknown_k] += unknown
    draws = mode_draws(params)
    release = release_land(assessed, draws)
    out: list[RegionStatistics] = []
    for i, name in enumerate(names):
        notes = _notes(
            region_area_m2[i],
            covered[i],
            unknown[i],
            outside[i],
            hazard_areas is not None,
            raster_path is not None,
            params.general.unknown_area_class,
        )
        out.append(
            RegionStatistics(
                name=name,
                area_m2=region_area_m2[i],
                hazard_area_m2={c.name: float(hazard[i, k]) for k, c in enumerate(classes)},
                unknown_area_m2=float(unknown[i]),
                outside_raster_area_m2=float(outside[i]),
                figures={f: float(getattr(release, f)[i, 0]) for f in FIGURES},
                clearance_area_m2_by_method={
                    m: float(release.clearance_area_m2_by_method[i, j, 0])
                    for j, m in enumerate(draws.clearance_methods)
                },
                team_days_by_method={
                    m: float(release.team_days_by_method[i, j, 0])
                    for j, m in enumerate(draws.method_names)
                },
                expected_hazard_area_m2=None if np.isnan(expected[i]) else float(expected[i]),
                notes=notes,
            )
        )
    meta = {
        "version": __version__,
        "params_sha256": params.sha256,
        "params_source": str(params.source),
        "currency": params.currency,
        "price_year": params.price_year,
        "unknown_area_class": params.general.unknown_area_class,
        "inputs": {
            "contamination": None if raster_path is None else str(raster_path),
            "band": band,
            "regions": str(regions_path),
            "hazard_areas": None if hazard_areas is None else str(hazard_areas),
            "hazard_class_field": hazard_class_field if hazard_areas is not None else None,
            "probability": None if prob_path is None else str(prob_path),
            "region_filter": list(regions_filter),
        },
    }
    return WholeRegionReport(
        meta=meta,
        class_names=params.class_names,
        clearance_methods=draws.clearance_methods,
        method_names=draws.method_names,
        regions=out,
    )
