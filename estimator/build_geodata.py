"""Build the embedded default data (``geodata/``) from the raw public sources: ``make geodata``."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
import shapely
from pyproj import CRS, Transformer
from rasterio.enums import Resampling

from . import hazard
from .errors import EstimatorError, InputDataError
from .io import atomic_path, write_text

logger = logging.getLogger(__name__)

__all__ = [
    "BuildSummary",
    "build_contamination",
    "build_control",
    "build_deposits",
    "build_geodata",
    "build_regions",
    "main",
]

WGS84 = "EPSG:4326"

# Raw inputs, relative to --sources (see ../shared/geodata-sources/README.md).
SRC_AOI = "aoi_donetsk_zaporizhzhia_10km_buffer.geojson"
SRC_OBLASTS = "donetsk_zaporizhzhia_oblasts.geojson"
SRC_DEPOSITS = "mineral_deposits_donetsk_zaporizhzhia.csv"
SRC_CONTROL = "deepstate_control_timeseries_aoi.geojson"
SRC_OCCUPIED_2014 = "deepstate_occupied_before_2022_aoi.geojson"
SRC_FRONT_LINES = "deepstate_frontline_lines_aoi.geojson"
SRC_CONTACT_LINE = "contact_line_2015_2022_aoi.geojson"
SRC_TRENCHES = "economist_zaporizhzhia_trench_lines.geojson"

#: DeepState archive A: the only one with all three classes (and ORDLO) per date.
ARCHIVE_A = "DanielRose2310/deepstatemaps-history"

CONTROL_CLASSES = ("russian_controlled", "contested_or_unknown", "liberated")
OCCUPIED_BEFORE_2022 = "occupied_before_2022"
#: Date given to the pre-2022 occupation line: the day before the full-scale invasion.
OCCUPIED_BEFORE_2022_DATE = "2022-02-23"

REGION_DECIMALS = 6
DEPOSIT_DECIMALS = 6
CONTROL_DECIMALS = 5
#: Segments per quarter circle of deposit discs: 128 segments in all.
DISC_QUAD_SEGS = 32
TILE_SIZE = 256

# Hand-checked metadata for each row of the deposit CSV, keyed by its ``name`` column: short id
# and name, a shortened source, and a published area where one exists (DOMAIN.md §(d)).
DEPOSIT_META: dict[str, dict[str, Any]] = {
    "Shevchenkivske (Shevchenko) lithium deposit": {
        "id": "shevchenkivske",
        "name": "Shevchenkivske",
        # 39.84 ha mining allotment (Kyiv Independent 2025-06-27 citing the Ukrainian
        # Geological Survey; DOMAIN.md §(d)).
        "published_area_m2": 398_400.0,
        "source": (
            "coordinates: en.wikipedia 'Shevchenko deposit' infobox; area: 39.84 ha mining "
            "allotment, Kyiv Independent 2025-06-27 citing the Ukrainian Geological Survey; "
            "description: Isakov et al. 2021 (doi:10.31996/mru.2021.4.6-15), Heichenko et al. "
            "2023 (doi:10.15407/mineraljournal.45.01.083)"
        ),
    },
    "Kruta Balka lithium-tantalum deposit": {
        "id": "kruta-balka",
        "name": "Kruta Balka",
        "source": (
            "coordinates: 'Lithium Facilities' table in an unidentified public GitHub repo "
            "(2026-07-30), LOW CONFIDENCE, not checked against a primary source; description: "
            "Isakov et al. 2021 (doi:10.31996/mru.2021.4.6-15)"
        ),
    },
    "Mazurivske rare-metal deposit": {
        "id": "mazurivske",
        "name": "Mazurivske",
        "source": (
            "coordinates: uk.wikipedia 'Мазурівське рідкіснометалічне родовище' infobox; "
            "description: uk.wikipedia; Sheremet et al. 2017 "
            "(doi:10.15407/mineraljournal.39.03.085)"
        ),
    },
    "Novopoltavske apatite-REE deposit": {
        "id": "novopoltavske",
        "name": "Novopoltavske",
        "source": (
            "coordinates: proxy = Petropavlivka village (ru.wikipedia), same council as "
            "Novopoltavka; description: Sheremet et al. 2017 "
            "(doi:10.15407/mineraljournal.39.03.085)"
        ),
    },
    "Pivdenno-Bilozerske iron-ore deposit (Zaporizhzhia Iron Ore Plant, Dniprorudne)": {
        "id": "pivdenno-bilozerske",
        "name": "Pivdenno-Bilozerske",
        "source": (
            "coordinates: GeoNames 'Dniprorudne' (cities1000, CC BY 4.0); commodity link: "
            "general knowledge, not verified"
        ),
    },
    "Soledar rock-salt deposit (Artemsil mine)": {
        "id": "soledar",
        "name": "Soledar rock salt",
        "source": (
            "coordinates: GeoNames 'Soledar' (cities1000, CC BY 4.0); commodity link: general "
            "knowledge, not verified"
        ),
    },
    "Dokuchaievsk flux limestone and dolomite quarries": {
        "id": "dokuchaievsk",
        "name": "Dokuchaievsk limestone",
        "source": (
            "coordinates: GeoNames 'Dokuchayevs'k' (cities1000, CC BY 4.0); commodity link: "
            "general knowledge, not verified"
        ),
    },
    "Chasiv Yar refractory clay deposits": {
        "id": "chasiv-yar",
        "name": "Chasiv Yar clays",
        "source": (
            "coordinates: GeoNames 'Chasiv Yar' (cities1000, CC BY 4.0); commodity link: "
            "general knowledge, not verified"
        ),
    },
}

#: Azovske Zr-REE(Y) deposit: not in the CSV (no coordinates were found); placed at Nikolske.
AZOVSKE: dict[str, Any] = {
    "id": "azovske",
    "name": "Azovske",
    "commodity": "Zr;Y;REE",
    "latitude": 47.2000,
    "longitude": 37.3167,
    "geometry_quality": "settlement_proxy",
    "coord_uncertainty_km": 15.0,
    "context_row": False,
    "source": (
        "deposit: https://geonews.com.ua/ridkisnozemelni-perspektivi-ukraini ; "
        "https://geonews.com.ua/news/detail/chomu-azovsku-dilyanku-z-pokladami-68918 "
        "(former Nikolske raion, now Mariupol raion); coordinates: Nikolske settlement location, "
        "general gazetteer knowledge, not verified"
    ),
}

CLASS_COLOURS = {
    0: (240, 240, 240, 255),
    1: (255, 230, 150, 255),
    2: (245, 150, 60, 255),
    3: (190, 20, 40, 255),
    hazard.NODATA: (0, 0, 0, 0),
}

README_BEGIN = "<!-- BEGIN build_geodata: generated, do not edit by hand -->"
README_END = "<!-- END build_geodata -->"


@dataclass
class BuildSummary:
    """What :func:`build_geodata` wrote, and the class areas of the contamination proxy.

    ``class_areas_km2`` maps a region name (and ``"Total"``) to the km² of each class name.
    """

    out: Path
    files: list[Path] = field(default_factory=list)
    class_areas_km2: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _source(sources: Path, name: str) -> Path:
    path = sources / name
    if not path.is_file():
        raise InputDataError(
            f"{path}: missing source file; re-stage the geodata sources "
            "(see ../shared/geodata-sources/README.md)"
        )
    return path


def _check_columns(path: Path, columns: Iterable[str], required: Sequence[str]) -> None:
    missing = [c for c in required if c not in set(columns)]
    if missing:
        raise InputDataError(
            f"{path}: missing column(s) {missing}; expected the layout described in "
            "geodata-sources/README.md; re-stage the file"
        )


def _read_vector(sources: Path, name: str, required: Sequence[str] = ()) -> gpd.GeoDataFrame:
    path = _source(sources, name)
    try:
        gdf = gpd.read_file(path, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InputDataError(f"{path}: cannot read as a vector file ({exc})") from None
    _check_columns(path, gdf.columns, required)
    if gdf.empty:
        raise InputDataError(f"{path}: no features; re-stage the file")
    if gdf.crs is None or CRS.from_user_input(gdf.crs) != CRS.from_user_input(WGS84):
        raise InputDataError(
            f"{path}: CRS is {gdf.crs!r}, expected EPSG:4326 (lon/lat); re-stage the file"
        )
    invalid = ~gdf.geometry.is_valid
    if invalid.any():
        raise InputDataError(
            f"{path}: {int(invalid.sum())} invalid geometr(y/ies), first at row "
            f"{int(np.flatnonzero(invalid.to_numpy())[0])}; repair it (e.g. make_valid) and retry"
        )
    if "date" in gdf.columns:
        dates = pd.to_datetime(gdf["date"], errors="coerce")
        if dates.isna().any():
            raise InputDataError(f"{path}: column 'date' has missing or unparseable values")
        gdf["date"] = dates.dt.strftime("%Y-%m-%d")
    return gdf


# --------------------------------------------------------------------------------------------
# GeoJSON writing (deterministic, RFC 7946)
# --------------------------------------------------------------------------------------------


def _round_coords(coords: Any, decimals: int) -> Any:
    if isinstance(coords, float | int):
        return round(float(coords), decimals)
    return [_round_coords(c, decimals) for c in coords]


def _geojson_geometry(geom: shapely.Geometry, decimals: int) -> dict[str, Any]:
    """RFC 7946 geometry: snapped to a 10**-decimals grid (kept valid), right-hand rings."""
    geom = shapely.set_precision(geom, 10.0**-decimals)
    geom = shapely.orient_polygons(geom, exterior_cw=False)
    if geom.is_empty or not geom.is_valid:
        raise InputDataError(
            f"geometry became empty or invalid when rounded to {decimals} decimals"
        )
    mapping = shapely.geometry.mapping(geom)
    return {"type": mapping["type"], "coordinates": _round_coords(mapping["coordinates"], decimals)}


def _feature_collection(features: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> str:
    """One feature per line: compact, deterministic and diff-friendly."""
    lines = [
        json.dumps(
            {"type": "Feature", "properties": props, "geometry": geom},
            ensure_ascii=False,
            allow_nan=False,
            separators=(",", ":"),
        )
        for props, geom in features
    ]
    return '{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n"


# --------------------------------------------------------------------------------------------
# Vector products
# --------------------------------------------------------------------------------------------


def build_regions(sources: Path) -> tuple[str, gpd.GeoDataFrame]:
    """Return the regions GeoJSON text and the region polygons (EPSG:4326).

    Parameters
    ----------
    sources : Path
        Folder of raw sources.

    Returns
    -------
    tuple of (str, GeoDataFrame)
        GeoJSON text (``name``, ``iso_3166_2``) and the polygons, ordered by name.

    Raises
    ------
    InputDataError
        If the oblast file is missing, malformed or does not hold exactly the two oblasts.
    """
    gdf = _read_vector(sources, SRC_OBLASTS, ["oblast", "iso_3166_2"])
    expected = {"Donetsk": "UA-14", "Zaporizhzhia": "UA-23"}
    got = dict(zip(gdf["oblast"], gdf["iso_3166_2"], strict=True))
    if got != expected or len(gdf) != 2:
        raise InputDataError(
            f"{sources / SRC_OBLASTS}: expected exactly {expected} (oblast: iso_3166_2), "
            f"found {got}; re-stage the file"
        )
    gdf = gdf.sort_values("oblast").reset_index(drop=True)
    features = [
        (
            {"name": row.oblast, "iso_3166_2": row.iso_3166_2},
            _geojson_geometry(row.geometry, REGION_DECIMALS),
        )
        for row in gdf.itertuples()
    ]
    regions = gpd.GeoDataFrame({"name": gdf["oblast"]}, geometry=gdf.geometry.values, crs=WGS84)
    return _feature_collection(features), regions


def _geodesic_disc(lon: float, lat: float, radius_m: float) -> shapely.Geometry:
    """Disc of ``radius_m`` metres on the ellipsoid (local azimuthal-equidistant buffer)."""
    local = CRS.from_proj4(
        f"+proj=aeqd +lat_0={lat!r} +lon_0={lon!r} +datum=WGS84 +units=m +no_defs"
    )
    to_wgs84 = Transformer.from_crs(local, WGS84, always_xy=True)
    disc = shapely.Point(0.0, 0.0).buffer(radius_m, quad_segs=DISC_QUAD_SEGS)
    return shapely.transform(
        disc, lambda xy: np.column_stack(to_wgs84.transform(xy[:, 0], xy[:, 1]))
    )


def build_deposits(sources: Path) -> str:
    """Return the deposits GeoJSON text: the CSV rows plus Azovske, as honest discs.

    A disc has the published area where one is published (``published_area_disc``), otherwise
    the coordinate uncertainty as radius (``geometry_quality`` = the CSV's ``coord_quality``).

    Parameters
    ----------
    sources : Path
        Folder of raw sources.

    Returns
    -------
    str
        GeoJSON text; properties ``id``, ``name``, ``commodity``, ``geometry_quality``,
        ``coord_uncertainty_km``, ``radius_m``, ``source``, ``context_row``.

    Raises
    ------
    InputDataError
        If the CSV is missing, lacks columns, has bad coordinates or an unknown deposit.
    """
    path = _source(sources, SRC_DEPOSITS)
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    required = ["name", "latitude", "longitude", "commodity_primary", "coord_quality"]
    required += ["coord_uncertainty_km", "notes"]
    _check_columns(path, df.columns, required)
    records = []
    for i, row in df.iterrows():
        meta = DEPOSIT_META.get(row["name"])
        if meta is None:
            raise InputDataError(
                f"{path}: row {i + 2}: unknown deposit {row['name']!r}; add its id, short name "
                "and source to DEPOSIT_META in estimator/build_geodata.py"
            )
        try:
            lat, lon = float(row["latitude"]), float(row["longitude"])
            unc_km = float(row["coord_uncertainty_km"])
        except ValueError:
            raise InputDataError(
                f"{path}: row {i + 2} ({row['name']!r}): latitude, longitude and "
                "coord_uncertainty_km must be numbers; fix the CSV"
            ) from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180 and unc_km > 0):
            raise InputDataError(
                f"{path}: row {i + 2} ({row['name']!r}): lat {lat!r}, lon {lon!r}, "
                f"uncertainty {unc_km!r} km out of range; fix the CSV"
            )
        records.append(
            {
                "id": meta["id"],
                "name": meta["name"],
                "commodity": row["commodity_primary"],
                "latitude": lat,
                "longitude": lon,
                "geometry_quality": row["coord_quality"],
                "coord_uncertainty_km": unc_km,
                "published_area_m2": meta.get("published_area_m2"),
                "source": meta["source"],
                "context_row": "context row" in row["notes"].lower(),
            }
        )
    records.append(dict(AZOVSKE))
    features = []
    for rec in records:
        area = rec.pop("published_area_m2", None)
        if area is not None:
            radius_m = math.sqrt(area / math.pi)
            rec["geometry_quality"] = "published_area_disc"
        else:
            radius_m = rec["coord_uncertainty_km"] * 1000.0
        disc = _geodesic_disc(rec.pop("longitude"), rec.pop("latitude"), radius_m)
        props = {
            "id": rec["id"],
            "name": rec["name"],
            "commodity": rec["commodity"],
            "geometry_quality": rec["geometry_quality"],
            "coord_uncertainty_km": rec["coord_uncertainty_km"],
            "radius_m": round(radius_m, 1),
            "source": rec["source"],
            "context_row": rec["context_row"],
        }
        features.append((props, _geojson_geometry(disc, DEPOSIT_DECIMALS)))
    ids = [p["id"] for p, _ in features]
    if len(set(ids)) != len(ids):
        raise InputDataError(f"{path}: duplicate deposit ids {ids}; each CSV row must be unique")
    return _feature_collection(features)


def _read_control(sources: Path) -> gpd.GeoDataFrame:
    """Control polygons, one per (date, class), plus the pre-2022 occupation."""
    ts = _read_vector(sources, SRC_CONTROL, ["date", "source", "class"])
    unknown = sorted(set(ts["class"]) - set(CONTROL_CLASSES))
    if unknown:
        raise InputDataError(
            f"{sources / SRC_CONTROL}: unknown class value(s) {unknown}; expected "
            f"{list(CONTROL_CLASSES)}"
        )
    # A date may come from both archives (2025-08-03). Keep, per date, the archive that gives the
    # most classes, so the classes of one date come from one snapshot and stay disjoint.
    n_classes = ts.groupby(["date", "source"])["class"].transform("nunique")
    ts = ts.assign(_n=n_classes, _a=(ts["source"] != ARCHIVE_A).astype(int))
    ts = ts.sort_values(["date", "class", "_n", "_a"], ascending=[True, True, False, True])
    dropped = ts.duplicated(["date", "class"], keep="first")
    for date, cls, src in ts.loc[dropped, ["date", "class", "source"]].itertuples(index=False):
        logger.info("control: %s %s from %s dropped (same date in %s)", date, cls, src, ARCHIVE_A)
    ts = ts[~dropped]
    occ = _read_vector(sources, SRC_OCCUPIED_2014)
    occ_row = gpd.GeoDataFrame(
        {
            "date": [OCCUPIED_BEFORE_2022_DATE],
            "class": [OCCUPIED_BEFORE_2022],
            # The ORDLO layer of archive A's 2022-04-03 export (geodata-sources README §2).
            "source": [ARCHIVE_A],
        },
        geometry=[shapely.union_all(occ.geometry.values)],
        crs=WGS84,
    )
    out = pd.concat([ts[["date", "class", "source", "geometry"]], occ_row], ignore_index=True)
    order = {c: i for i, c in enumerate((*CONTROL_CLASSES, OCCUPIED_BEFORE_2022))}
    out = out.assign(_o=out["class"].map(order)).sort_values(["date", "_o"]).drop(columns="_o")
    return gpd.GeoDataFrame(out.reset_index(drop=True), geometry="geometry", crs=WGS84)


def build_control(control: gpd.GeoDataFrame) -> str:
    """Return the control zones GeoJSON text (``date``, ``class``, ``source``).

    Parameters
    ----------
    control : GeoDataFrame
        Output of ``_read_control``.

    Returns
    -------
    str
        GeoJSON text, one feature per (date, class), ordered by date then class.
    """
    features = [
        (
            {"date": date, "class": cls, "source": f"DeepStateMap.Live via {src}"},
            _geojson_geometry(geom, CONTROL_DECIMALS),
        )
        for date, cls, src, geom in zip(
            control["date"], control["class"], control["source"], control.geometry, strict=True
        )
    ]
    return _feature_collection(features)


# --------------------------------------------------------------------------------------------
# Contamination proxy raster
# --------------------------------------------------------------------------------------------


def _hazard_layers(sources: Path, control: gpd.GeoDataFrame, crs: str) -> hazard.HazardLayers:
    aoi = _read_vector(sources, SRC_AOI).to_crs(crs)
    fronts = _read_vector(sources, SRC_FRONT_LINES, ["date"]).to_crs(crs)
    # One snapshot per distinct date (2025-08-03 is in both archives: one date, one snapshot).
    snapshots = [
        shapely.multilinestrings(shapely.get_parts(group.geometry.values))
        for _, group in fronts.groupby("date", sort=True)
    ]
    contact = _read_vector(sources, SRC_CONTACT_LINE).to_crs(crs)
    trenches = _read_vector(sources, SRC_TRENCHES).to_crs(crs)
    zones = control.to_crs(crs)
    ever = {
        "ever_russian_controlled": ("russian_controlled", OCCUPIED_BEFORE_2022),
        "ever_contested_or_unknown": ("contested_or_unknown",),
        "ever_liberated": ("liberated",),
    }
    return hazard.HazardLayers(
        aoi=shapely.union_all(aoi.geometry.values),
        lines={
            "front_lines": snapshots,
            "contact_line_2015_2022": list(contact.geometry.values),
            "trench_lines": [shapely.multilinestrings(shapely.get_parts(trenches.geometry.values))],
        },
        zones={
            name: list(zones.geometry[zones["class"].isin(classes)].values)
            for name, classes in ever.items()
        },
    )


def build_contamination(
    sources: Path,
    control: gpd.GeoDataFrame,
    regions: gpd.GeoDataFrame,
    model: hazard.HazardModel,
    target: Path,
    *,
    block_size: int = 512,
    model_sha256: str = "",
) -> dict[str, dict[str, float]]:
    """Write the contamination proxy GeoTIFF block by block and return class areas.

    Parameters
    ----------
    sources : Path
        Folder of raw sources.
    control : GeoDataFrame
        Control polygons (EPSG:4326), see ``_read_control``.
    regions : GeoDataFrame
        Region polygons (EPSG:4326) with a ``name`` column, for the area table.
    model : HazardModel
        Validated hazard model.
    target : Path
        Output GeoTIFF path (written atomically).
    block_size : int, optional
        Processing block edge in cells, a multiple of 256 (default 512).
    model_sha256 : str, optional
        Hash of the hazard model file, recorded in the GeoTIFF tags.

    Returns
    -------
    dict
        km² of each class (``none``, ``low``, ``medium``, ``high``) per region name and
        ``"Total"`` (sum over regions), counting cells by their centre.
    """
    t0 = time.perf_counter()
    layers = _hazard_layers(sources, control, model.crs)
    prepared = hazard.prepare_hazard(model, layers)
    grid = hazard.grid_for_bounds(
        shapely.bounds(layers.aoi).tolist(), cell_size_m=model.cell_size_m, crs=model.crs
    )
    logger.info(
        "contamination: grid %d x %d cells of %g m, layers prepared in %.1f s",
        grid.width, grid.height, grid.cell_size_m, time.perf_counter() - t0,
    )  # fmt: skip
    region_geoms = list(regions.to_crs(model.crs).geometry.values)
    counts = np.zeros((len(region_geoms) + 1, 5), dtype=np.int64)
    profile = {
        "driver": "GTiff",
        "dtype": "uint8",
        "count": 1,
        "width": grid.width,
        "height": grid.height,
        "crs": CRS.from_user_input(model.crs).to_wkt(),
        "transform": grid.transform,
        "nodata": hazard.NODATA,
        "tiled": True,
        "blockxsize": TILE_SIZE,
        "blockysize": TILE_SIZE,
        "compress": "deflate",
        "zlevel": 9,
        "interleave": "band",
    }
    with atomic_path(target) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            # The colour table must be set before any pixel is written (TIFF photometric tag).
            dst.write_colormap(1, CLASS_COLOURS)
            for window, block in hazard.iter_hazard_blocks(prepared, grid, block_size=block_size):
                dst.write(block, 1, window=window)
                labels = hazard.label_block(region_geoms, grid, window)
                counts += hazard.count_classes(block, labels, len(region_geoms))
            dst.set_band_description(1, "hazard class proxy (0 none, 1 low, 2 medium, 3 high)")
            dst.update_tags(
                DESCRIPTION=(
                    "Contamination PROXY built from conflict geography by demine's make geodata; "
                    "NOT an official hazard map (no open SHA/CHA data exists for Ukraine)"
                ),
                CLASSES="0=none 1=low 2=medium 3=high 255=nodata (outside the area of interest)",
                HAZARD_MODEL="geodata/hazard_model.toml",
                HAZARD_MODEL_SHA256=model_sha256,
                SOURCES=(
                    "DeepStateMap.Live (front lines, control); The Economist (trench lines, CC BY "
                    "4.0); Minregion (AOI, CC BY-SA); see geodata/README.md"
                ),
            )
            dst.build_overviews([2, 4, 8, 16], Resampling.nearest)
            dst.update_tags(ns="rio_overview", resampling="nearest")
    cell_km2 = grid.cell_size_m**2 / 1e6
    areas: dict[str, dict[str, float]] = {}
    names = [str(n) for n in regions["name"]]
    for i, name in enumerate(names, start=1):
        areas[name] = {
            hazard.CLASS_NAMES[k]: round(float(counts[i, k] * cell_km2), 2) for k in range(4)
        }
        if counts[i, 4]:
            logger.warning("contamination: %d nodata cells inside %s", counts[i, 4], name)
    areas["Total"] = {k: round(sum(areas[n][k] for n in names), 2) for k in hazard.CLASS_VALUES}
    logger.info("contamination: written in %.1f s", time.perf_counter() - t0)
    return areas


# --------------------------------------------------------------------------------------------
# README generated section
# --------------------------------------------------------------------------------------------


def _area_table(areas: Mapping[str, Mapping[str, float]]) -> list[str]:
    names = list(areas)
    rows = [
        "| class | " + " | ".join(f"{n} km²" for n in names) + " | share of total |",
        "|---|" + "---:|" * (len(names) + 1),
    ]
    total = sum(areas["Total"].values())
    for k in hazard.CLASS_VALUES:
        cells = " | ".join(f"{areas[n][k]:,.0f}" for n in names)
        rows.append(f"| {hazard.CLASS_VALUES[k]} {k} | {cells} | {areas['Total'][k] / total:.1%} |")
    sums = " | ".join(f"{sum(areas[n].values()):,.0f}" for n in names)
    rows.append(f"| all | {sums} | 100% |")
    return rows


def _generated_section(summary: BuildSummary) -> str:
    lines = [
        README_BEGIN,
        "",
        "Class areas of `contamination.tif` in each oblast (cells counted by centre, 1 ha each):",
        "",
        *_area_table(summary.class_areas_km2),
        "",
        "| file | size |",
        "|---|---:|",
    ]
    for path in sorted(summary.files, key=lambda p: p.name):
        lines.append(f"| `{path.name}` | {path.stat().st_size / 1e6:.2f} MB |")
    lines += ["", README_END]
    return "\n".join(lines)


def _update_readme(summary: BuildSummary) -> Path | None:
    readme = summary.out / "README.md"
    if not readme.is_file():
        logger.info("%s: not found; class-area table only logged", readme)
        return None
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        logger.warning("%s: no build_geodata markers; class-area table not written", readme)
        return None
    new = text[:start] + _generated_section(summary) + text[end + len(README_END) :]
    if new != text:
        write_text(new, readme)
    return readme


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def build_geodata(
    sources: str | Path,
    out: str | Path,
    *,
    hazard_model: str | Path | None = None,
    block_size: int = 512,
) -> BuildSummary:
    """Build regions, deposits, control zones and the contamination proxy into ``out``.

    ``out/parameters.toml`` and ``out/hazard_model.toml`` are read or left alone, never written.
    GeoJSON outputs are byte-identical for identical inputs.

    Parameters
    ----------
    sources : str or Path
        Folder of raw sources (``../shared/geodata-sources``).
    out : str or Path
        Output folder (``geodata``); created if missing.
    hazard_model : str or Path, optional
        Hazard model TOML; default ``out/hazard_model.toml``.
    block_size : int, optional
        Raster processing block edge in cells (multiple of 256; default 512).

    Returns
    -------
    BuildSummary
        Files written and class areas (km²) per oblast.

    Raises
    ------
    InputDataError
        If a source is missing or malformed.
    ParameterError
        If the hazard model is missing or invalid.
    """
    t0 = time.perf_counter()
    sources, out = Path(sources), Path(out)
    if not sources.is_dir():
        raise InputDataError(f"{sources}: sources folder not found")
    if block_size % TILE_SIZE:
        raise ValueError(f"block_size = {block_size!r}: must be a multiple of {TILE_SIZE}")
    model_path = Path(hazard_model) if hazard_model is not None else out / "hazard_model.toml"
    model = hazard.load_hazard_model(model_path)
    out.mkdir(parents=True, exist_ok=True)
    summary = BuildSummary(out=out)

    regions_text, regions = build_regions(sources)
    summary.files.append(write_text(regions_text, out / "regions.geojson"))
    summary.files.append(write_text(build_deposits(sources), out / "deposits.geojson"))
    control = _read_control(sources)
    summary.files.append(write_text(build_control(control), out / "control.geojson"))
    logger.info("vector files written in %.1f s", time.perf_counter() - t0)

    tif = out / "contamination.tif"
    summary.class_areas_km2 = build_contamination(
        sources,
        control,
        regions,
        model,
        tif,
        block_size=block_size,
        model_sha256=hashlib.sha256(model_path.read_bytes()).hexdigest(),
    )
    summary.files.append(tif)
    for line in _area_table(summary.class_areas_km2):
        logger.info("%s", line)
    _update_readme(summary)
    summary.seconds = time.perf_counter() - t0
    logger.info("geodata built in %.1f s into %s", summary.seconds, out)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m estimator.build_geodata``; return the exit code (0, 1 or 2).

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 on bad data or parameters, 2 on bad usage (e.g. no sources folder).
    """
    parser = argparse.ArgumentParser(
        prog="python -m estimator.build_geodata", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--sources", type=Path, required=True, help="raw sources folder")
    parser.add_argument("--out", type=Path, default=Path("geodata"), help="output folder")
    parser.add_argument(
        "--hazard-model",
        type=Path,
        default=None,
        help="hazard model TOML (default OUT/hazard_model.toml)",
    )
    parser.add_argument("--block-size", type=int, default=512, help="raster block edge (cells)")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument("-q", "--quiet", action="count", default=0)
    args = parser.parse_args(argv)
    if not args.sources.is_dir():
        print(
            f"{args.sources} not found: make geodata needs the raw sources; "
            "the committed geodata/ already works without them",
            file=sys.stderr,
        )
        return 2
    level = min(50, max(10, 20 - 10 * args.verbose + 10 * args.quiet))
    logging.basicConfig(stream=sys.stderr, level=level, format="%(levelname)s %(message)s")
    try:
        build_geodata(
            args.sources, args.out, hazard_model=args.hazard_model, block_size=args.block_size
        )
    except (EstimatorError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
