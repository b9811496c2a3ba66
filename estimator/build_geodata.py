"""Build the embedded default data (``geodata/``) from the raw public sources: ``make geodata``."""

from __future__ import annotations

import argparse
import datetime as dt
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
import shapely
from pyproj import CRS, Transformer

from . import hazard
from .errors import EstimatorError, InputDataError
from .io import write_bytes, write_text

logger = logging.getLogger(__name__)

__all__ = [
    "BuildSummary",
    "build_contamination",
    "build_control",
    "build_deposits",
    "build_geodata",
    "build_map",
    "build_regions",
    "hazard_inputs",
    "pre2022_check",
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
SRC_FIRMS = "firms_thermal_anomalies_aoi_2021_2023.csv"
SRC_UCDP = "ucdp_ged_events_aoi_2014_2023.csv"
SRC_BELLINGCAT = "bellingcat_civilian_harm_aoi_2022_2024.csv"
SRC_UKRAINE = "ukraine_oblasts_adm1.geojson"

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


def _events(sources: Path, crs: str) -> hazard.EventTable:
    """FIRMS fires (2021 baseline and war period), precisely located UCDP events, Bellingcat."""
    to = Transformer.from_crs(WGS84, crs, always_xy=True)
    tables = []

    def table(df: pd.DataFrame, types: Any, subtypes: Any, date_col: str) -> hazard.EventTable:
        x, y = to.transform(df["longitude"].to_numpy(float), df["latitude"].to_numpy(float))
        days = pd.to_datetime(df[date_col], format="%Y-%m-%d", errors="coerce")
        if days.isna().any():
            raise InputDataError(f"{date_col}: unparseable dates in an events source; re-stage it")
        n = len(df)
        return hazard.EventTable(
            x=np.asarray(x, float),
            y=np.asarray(y, float),
            day=days.to_numpy().astype("datetime64[D]"),
            type=np.full(n, types, dtype=object) if isinstance(types, str) else types,
            subtype=np.full(n, subtypes, dtype=object) if isinstance(subtypes, str) else subtypes,
        )

    path = _source(sources, SRC_FIRMS)
    firms = pd.read_csv(path, dtype={"date": str})
    _check_columns(path, firms.columns, ["date", "latitude", "longitude"])
    tables.append(table(firms, "fire", "", "date"))
    path = _source(sources, SRC_UCDP)
    ucdp = pd.read_csv(path, dtype={"date_start": str}, low_memory=False)
    _check_columns(path, ucdp.columns, ["date_start", "latitude", "longitude", "where_prec"])
    # where_prec 1: the exact place is known. Coarser precisions place an event only within
    # ~25 km or at an administrative centroid: too vague for a kernel of a few km.
    ucdp = ucdp[ucdp["where_prec"] == 1]
    subtype = ucdp["type_of_violence"].map({1: "state_based", 2: "non_state", 3: "one_sided"})
    tables.append(table(ucdp, "armed_violence", subtype.fillna("").to_numpy(object), "date_start"))
    path = _source(sources, SRC_BELLINGCAT)
    bc = pd.read_csv(path, dtype={"date": str})
    _check_columns(path, bc.columns, ["date", "latitude", "longitude", "weapon_system"])
    weapon = bc["weapon_system"].fillna("").astype(str).to_numpy(object)
    tables.append(table(bc, "civilian_harm", weapon, "date"))
    return hazard.EventTable.concat(tables)


#: Box (lon/lat) of the Molochnyi estuary, where the staged front lines follow the lagoon shore
#: (the lagoon's water counts as land outside Russian control in the oblast polygons): not a
#: front. Checked by hand on every snapshot.
MOLOCHNYI_LAGOON_BOX = (35.0, 46.25, 35.45, 46.5)
#: A stretch of a front line more than this far from ground outside Russian control (eroded by
#: 1 km to ignore slivers between differently simplified coasts) is a coast or spit edge.
FRONT_MAX_GAP_M = 5_000.0


def _front_lines(
    sources: Path, control: gpd.GeoDataFrame, crs: str
) -> tuple[list[tuple[dt.date, shapely.Geometry]], dict[str, list[shapely.Geometry]]]:
    """Front lines per date in ``crs``, cleaned of coast and lagoon edges; and lon/lat copies.

    One archive per date (archive A where both have the date, as for the control zones).
    """
    fronts = _read_vector(sources, SRC_FRONT_LINES, ["date", "source"])
    fronts = fronts.assign(_a=(fronts["source"] != ARCHIVE_A).astype(int))
    first = fronts.sort_values(["date", "_a"]).groupby("date")["source"].transform("first")
    fronts = fronts[fronts["source"] == first]
    ukraine = _read_vector(sources, SRC_UKRAINE).to_crs(crs)
    land = shapely.union_all(ukraine.geometry.values)
    lagoon = shapely.box(*MOLOCHNYI_LAGOON_BOX)
    occupied = control[control["class"] == "russian_controlled"].to_crs(crs)
    to_wgs = Transformer.from_crs(crs, WGS84, always_xy=True)
    out, lonlat = [], {}
    for date, group in fronts.groupby("date", sort=True):
        lines = [g for g in group.geometry if not shapely.within(g, lagoon)]
        lines = shapely.difference(shapely.union_all(lines), lagoon)
        line = _project(lines, crs)
        held = occupied.geometry[occupied["date"] == date]
        if len(held):
            free = shapely.difference(land, shapely.union_all(held.values))
            free = shapely.buffer(shapely.buffer(free, -1000.0, quad_segs=4), 1000.0, quad_segs=4)
            near = shapely.buffer(shapely.simplify(free, 200.0), FRONT_MAX_GAP_M, quad_segs=4)
            kept = shapely.intersection(line, near)
            logger.info(
                "front %s: %.0f of %.0f km kept (coast and lagoon edges dropped)",
                date, kept.length / 1000, line.length / 1000,
            )  # fmt: skip
            line = kept
        out.append((dt.date.fromisoformat(date), line))
        lonlat[date] = [
            shapely.transform(
                line, lambda xy: np.column_stack(to_wgs.transform(xy[:, 0], xy[:, 1]))
            )
        ]
    return out, lonlat


def _project(geoms: Any, crs: str) -> Any:
    """Reproject lon/lat geometries to ``crs`` (edges densified at 0.05°, so they stay straight)."""
    to = Transformer.from_crs(WGS84, crs, always_xy=True)
    single = isinstance(geoms, shapely.Geometry)
    arr = np.asarray([geoms] if single else list(geoms), dtype=object)
    # Straight edges stay within ~1 m of straight after projection at this spacing.
    dense = shapely.segmentize(arr, 0.05)
    out = [
        shapely.transform(g, lambda xy: np.column_stack(to.transform(xy[:, 0], xy[:, 1])))
        for g in dense
    ]
    return out[0] if single else out


def hazard_inputs(
    sources: Path, control: gpd.GeoDataFrame, crs: str
) -> tuple[hazard.HazardInputs, dict[str, Any]]:
    """Assemble the proxy's inputs from the staged sources, in ``crs``.

    Parameters
    ----------
    sources : Path
        Folder of raw sources.
    control : GeoDataFrame
        Control polygons (EPSG:4326), see ``_read_control``.
    crs : str
        Grid CRS.

    Returns
    -------
    (HazardInputs, dict)
        The inputs, and lon/lat layers for the map (``fronts`` by date, ``contact``).
    """
    aoi = _read_vector(sources, SRC_AOI)
    contact = _read_vector(sources, SRC_CONTACT_LINE)
    trenches = _read_vector(sources, SRC_TRENCHES)
    fronts, fronts_lonlat = _front_lines(sources, control, crs)

    def project(geoms: Any) -> list[shapely.Geometry]:
        return _project(geoms, crs)

    category = {
        "russian_controlled": "occupied",
        OCCUPIED_BEFORE_2022: "occupied_since_2014",
        "contested_or_unknown": "contested",
        "liberated": "liberated",
    }
    zones = [
        (category[c], dt.date.fromisoformat(d), g)
        for c, d, g in zip(
            control["class"], control["date"], project(control.geometry), strict=True
        )
    ]
    inputs = hazard.HazardInputs(
        aoi=shapely.union_all(project(aoi.geometry)),
        front_lines=fronts,
        contact_lines=project(contact.geometry),
        trench_lines=project(trenches.geometry),
        zones=zones,
        events=_events(sources, crs),
    )
    return inputs, {"fronts": fronts_lonlat, "contact": list(contact.geometry)}


def _params_values(params_path: Path) -> dict[str, int]:
    from .params import load_params

    params = load_params(None, defaults=params_path)
    return {c.name: c.raster_value for c in params.classes}


def _params_clear_shares(params_path: Path) -> dict[str, float]:
    """Share of each class's area cleared at the modes: (1 - NTS cancel) x (1 - TS reduce)."""
    from .params import load_params

    params = load_params(None, defaults=params_path)
    return {
        c.name: (1 - c.nts_cancel_share.mode) * (1 - c.ts_reduce_share.mode) for c in params.classes
    }


def build_contamination(
    inputs: hazard.HazardInputs,
    regions: gpd.GeoDataFrame,
    model: hazard.HazardModel,
    target: Path,
    *,
    params_path: Path,
    block_size: int = 512,
) -> hazard.HazardSummary:
    """Write the contamination proxy (classes and probability) block by block.

    Parameters
    ----------
    inputs : HazardInputs
        Proxy inputs in the model's grid CRS (see :func:`hazard_inputs`).
    regions : GeoDataFrame
        Region polygons (EPSG:4326) with a ``name`` column, for the area table.
    model : HazardModel
        Validated hazard model.
    target : Path
        Class GeoTIFF path; the probability raster is written beside it as
        ``<stem>_probability.tif`` (both atomically).
    params_path : Path
        Parameter file giving each class's raster value.
    block_size : int, optional
        Processing block edge in cells, a multiple of 256 (default 512).

    Returns
    -------
    HazardSummary
        Class areas (km²) and expected contaminated area per oblast and in total.
    """
    values = model.class_raster_values(_params_values(params_path), str(params_path))
    grid = hazard.grid_for_bounds(
        shapely.bounds(inputs.aoi).tolist(), cell_size_m=model.cell_size_m, crs=model.crs
    )
    prepared = hazard.prepare_hazard(model, inputs, grid, class_values=values)
    logger.info(
        "contamination: grid %d x %d cells of %g m", grid.width, grid.height, grid.cell_size_m
    )
    for front in prepared.info.get("front_lines", []):
        logger.info(
            "front %s: %.0f km, stretches held %.0f days (median) to %.0f days",
            front["date"], front["length_km"], front["hold_days_median"], front["hold_days_max"],
        )  # fmt: skip
    region_list = list(zip(regions["name"], regions.to_crs(model.crs).geometry, strict=True))
    return hazard.write_hazard_rasters(
        prepared,
        target,
        target.with_name(f"{target.stem}_probability.tif"),
        regions=region_list,
        block_size=block_size,
        zlevel=9,
        tags={
            "SOURCES": (
                "DeepStateMap.Live (front lines, control); The Economist (trench lines, CC BY "
                "4.0); NASA FIRMS; UCDP GED (CC BY 4.0); Bellingcat; Minregion (AOI, CC BY-SA); "
                "see geodata/README.md"
            ),
        },
    )


def pre2022_check(
    inputs: hazard.HazardInputs,
    regions: gpd.GeoDataFrame,
    model: hazard.HazardModel,
    occupied_2014: shapely.Geometry,
    *,
    params_path: Path,
    block_size: int = 512,
) -> hazard.HazardSummary:
    """Summarise the proxy as of 2022-02-23 over government-held Donetsk (oblast minus ORDLO).

    Compares with the ~7,000 km² reported contaminated in government-held Donetsk and Luhansk
    before 2022 (DOMAIN a.2): only the contact line, the 2014 occupation and events up to that
    day are then in play.
    """
    values = model.class_raster_values(_params_values(params_path), str(params_path))
    grid = hazard.grid_for_bounds(
        shapely.bounds(inputs.aoi).tolist(), cell_size_m=model.cell_size_m, crs=model.crs
    )
    day = hazard.FULL_SCALE_INVASION - dt.timedelta(days=1)
    prepared = hazard.prepare_hazard(model, inputs, grid, class_values=values, as_of=day)
    donetsk = regions.loc[regions["name"] == "Donetsk"].to_crs(model.crs).geometry.iloc[0]
    ordlo = gpd.GeoSeries([occupied_2014], crs=WGS84).to_crs(model.crs).iloc[0]
    check = [
        ("government-held Donetsk", shapely.difference(donetsk, ordlo)),
        ("ORDLO (occupied 2014-2022)", shapely.intersection(donetsk, ordlo)),
    ]
    return hazard.summarize_hazard(prepared, check, block_size=block_size)


def build_map(
    target: Path,
    class_path: Path,
    regions: gpd.GeoDataFrame,
    layers: Mapping[str, Any],
    deposits_path: Path,
    class_names: Mapping[int, str],
) -> Path:
    """Draw ``contamination.png``: the proxy, oblasts, front lines and deposits."""
    deposits = gpd.read_file(deposits_path)
    fronts = layers["fronts"]
    dates = sorted(fronts)
    lines = [
        ("contact line 2015-2022", layers["contact"], {"color": "#6a2c91", "linewidth": 1.3}),
        (
            f"front line {dates[0]}",
            fronts[dates[0]],
            {"color": "#2b7bba", "linewidth": 0.9, "linestyle": "--"},
        ),
        (f"front line {dates[-1]}", fronts[dates[-1]], {"color": "#0b1f5c", "linewidth": 1.4}),
    ]
    png = hazard.hazard_map_png(
        class_path,
        class_names=class_names,
        regions=list(zip(regions["name"], regions.geometry, strict=True)),
        lines=lines,
        points=list(zip(deposits["name"], deposits.geometry, strict=True)),
        title=(
            "demine contamination PROXY (not a hazard map): hazard class, 100 m cells.\n"
            "Sources: DeepStateMap.Live, The Economist, NASA FIRMS, UCDP, Bellingcat, Minregion."
        ),
    )
    write_bytes(png, target)
    return target


# --------------------------------------------------------------------------------------------
# README generated section
# --------------------------------------------------------------------------------------------

#: Official figures the proxy is compared with (DESIGN §2, DOMAIN §a).
UKRAINE_POTENTIALLY_CONTAMINATED_KM2 = 139_000.0  # MoD, Jan 2025; incl. 14,000 km2 of water
UKRAINE_WATER_KM2 = 14_000.0
PRE2022_GOV_DONETSK_LUHANSK_KM2 = 7_000.0  # 2019, government-held Donetsk + Luhansk
#: Share of the 2015-2022 contact line in Donetsk oblast (276.5 km of ~420 km; the rest was in
#: Luhansk oblast), used to scale the Donetsk + Luhansk figure (derived).
CONTACT_LINE_DONETSK_SHARE = 276.5 / 420.0
PRE2022_GOV_DONETSK_SES_KM2 = 2_380.0  # SES: 238,000 ha, liberated (government-held) Donetsk


def _area_table(summary: hazard.HazardSummary) -> list[str]:
    regions = list(summary.class_area_km2)
    rows = [
        "| class (p from) | " + " | ".join(f"{n} km²" for n in regions) + " | share of total |",
        "|---|" + "---:|" * (len(regions) + 1),
    ]
    total = sum(summary.class_area_km2["Total"].values())
    for k in summary.class_names:
        cells = " | ".join(f"{summary.class_area_km2[n][k]:,.0f}" for n in regions)
        value = summary.class_values[k]
        share = summary.class_area_km2["Total"][k] / total
        rows.append(f"| {value} {k} (≥ {summary.class_lower[k]:g}) | {cells} | {share:.1%} |")
    sums = " | ".join(f"{sum(summary.class_area_km2[n].values()):,.0f}" for n in regions)
    rows.append(f"| all | {sums} | 100% |")
    exp = " | ".join(f"{summary.expected_area_km2[n]:,.0f}" for n in regions)
    share = summary.expected_area_km2["Total"] / total
    rows.append(f"| expected contaminated, Σ p × area | {exp} | {share:.1%} |")
    return rows


def _validity_table(
    summary: hazard.HazardSummary, pre: hazard.HazardSummary, shares: Mapping[str, float]
) -> list[str]:
    t = summary.class_area_km2["Total"]
    names = summary.class_names
    suspect = sum(t[k] for k in names[1:])
    land = UKRAINE_POTENTIALLY_CONTAMINATED_KM2 - UKRAINE_WATER_KM2
    exp_by = summary.expected_by_class_km2["Total"]
    high = names[-1]
    mean_p = {k: (exp_by[k] / t[k] if t[k] else 0.0) for k in names}
    gov = pre.class_area_km2["government-held Donetsk"]
    gov_suspect = sum(gov[k] for k in names[1:])
    gov_upper = [k for k in names if k not in (names[0], names[1])]
    gov_mh = sum(gov[k] for k in gov_upper)
    scaled = PRE2022_GOV_DONETSK_LUHANSK_KM2 * CONTACT_LINE_DONETSK_SHARE
    implied = sum(t[k] * shares.get(k, 0.0) for k in names)
    return [
        "| check | proxy | official or published figure |",
        "|---|---:|---|",
        f"| suspected ground (class ≥ {names[1]}), both oblasts | {suspect:,.0f} km² "
        f"({suspect / sum(t.values()):.0%} of their land) | Ukraine: 139,000 km² potentially "
        f"contaminated (2025), of which ~{land:,.0f} km² land: the two oblasts would be "
        f"{suspect / land:.0%} of it |",
        f"| expected contaminated area (Σ p × area) | {summary.expected_area_km2['Total']:,.0f}"
        f" km² ({summary.expected_area_km2['Total'] / suspect:.1%} of the suspected ground) | "
        "15-20 % of potentially dangerous area needs clearance (HDC, MinEcon) |",
        f"| clearance implied by the classes and `parameters.toml` at its modes | "
        f"{implied:,.0f} km² ({implied / suspect:.1%}) | same; the probability raster above is "
        "the proxy's own estimate |",
        f"| mean p of '{names[1]}' ground | {mean_p[names[1]]:.2%} | 2023 NTS confirmed ~0.5 % "
        "of 50,000 km² surveyed (239 km²) |",
        f"| mean p of '{high}' ground | {mean_p[high]:.0%} | mined areas worldwide 2022: 44 % "
        "of land released was cleared (Landmine Monitor) |",
        f"| pre-2022 proxy (as of 2022-02-23), government-held Donetsk, class ≥ {names[1]} | "
        f"{gov_suspect:,.0f} km² | ~7,000 km² in government-held Donetsk + Luhansk (2019); "
        f"scaled by Donetsk's share of the contact line ({CONTACT_LINE_DONETSK_SHARE:.0%}): "
        f"~{scaled:,.0f} km² |",
        f"| same, class ≥ {gov_upper[0] if gov_upper else names[-1]} | {gov_mh:,.0f} km² | "
        f"SES: {PRE2022_GOV_DONETSK_SES_KM2:,.0f} km² contaminated in government-held Donetsk |",
        f"| same, expected contaminated (Σ p × area) | "
        f"{pre.expected_area_km2['government-held Donetsk']:,.0f} km² | 414.56 km² cleared in "
        "Donetsk + Luhansk 2015-2021 (GLOBSEC) |",
    ]


def _generated_section(
    summary: BuildSummary,
    hz: hazard.HazardSummary,
    pre: hazard.HazardSummary,
    shares: Mapping[str, float],
) -> str:
    lines = [
        README_BEGIN,
        "",
        "Class areas of `contamination.tif` per oblast (cells counted by centre, 1 ha each), and "
        "the area expected to prove contaminated (sum of the probability raster x cell area):",
        "",
        *_area_table(hz),
        "",
        "Face validity against published figures (`../shared/DOMAIN.md` §a, `DESIGN.md` §2):",
        "",
        *_validity_table(hz, pre, shares),
        "",
        "| file | size |",
        "|---|---:|",
    ]
    for path in sorted(summary.files, key=lambda p: p.name):
        lines.append(f"| `{path.name}` | {path.stat().st_size / 1e6:.2f} MB |")
    lines += ["", README_END]
    return "\n".join(lines)


def _update_readme(
    summary: BuildSummary,
    hz: hazard.HazardSummary,
    pre: hazard.HazardSummary,
    shares: Mapping[str, float],
) -> Path | None:
    readme = summary.out / "README.md"
    if not readme.is_file():
        logger.info("%s: not found; class-area table only logged", readme)
        return None
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        logger.warning("%s: no build_geodata markers; class-area table not written", readme)
        return None
    section = _generated_section(summary, hz, pre, shares)
    new = text[:start] + section + text[end + len(README_END) :]
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
    params: str | Path | None = None,
    block_size: int = 512,
) -> BuildSummary:
    """Build regions, deposits, control zones and the contamination proxy into ``out``.

    ``out/parameters.toml`` and ``out/hazard_model.toml`` are read or left alone, never written.
    Outputs are identical for identical inputs (GeoJSON byte for byte, rasters pixel for pixel).

    Parameters
    ----------
    sources : str or Path
        Folder of raw sources (``../shared/geodata-sources``).
    out : str or Path
        Output folder (``geodata``); created if missing.
    hazard_model : str or Path, optional
        Hazard model TOML; default ``out/hazard_model.toml``.
    params : str or Path, optional
        Parameter file giving the class raster values; default ``out/parameters.toml``, else the
        embedded one.
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
        If the hazard model or parameter file is missing or invalid.
    """
    from .io import default_data

    t0 = time.perf_counter()
    sources, out = Path(sources), Path(out)
    if not sources.is_dir():
        raise InputDataError(f"{sources}: sources folder not found")
    if block_size % TILE_SIZE:
        raise ValueError(f"block_size = {block_size!r}: must be a multiple of {TILE_SIZE}")
    model_path = Path(hazard_model) if hazard_model is not None else out / "hazard_model.toml"
    model = hazard.load_hazard_model(model_path)
    if params is not None:
        params_path = Path(params)
    elif (out / "parameters.toml").is_file():
        params_path = out / "parameters.toml"
    else:
        params_path = default_data().parameters
    out.mkdir(parents=True, exist_ok=True)
    summary = BuildSummary(out=out)

    regions_text, regions = build_regions(sources)
    summary.files.append(write_text(regions_text, out / "regions.geojson"))
    summary.files.append(write_text(build_deposits(sources), out / "deposits.geojson"))
    control = _read_control(sources)
    summary.files.append(write_text(build_control(control), out / "control.geojson"))
    logger.info("vector files written in %.1f s", time.perf_counter() - t0)

    inputs, layers = hazard_inputs(sources, control, model.crs)
    tif = out / "contamination.tif"
    hz = build_contamination(
        inputs, regions, model, tif, params_path=params_path, block_size=block_size
    )
    summary.class_areas_km2 = hz.class_area_km2
    summary.files += [tif, tif.with_name(f"{tif.stem}_probability.tif")]
    occupied_2014 = control.geometry[control["class"] == OCCUPIED_BEFORE_2022].iloc[0]
    pre = pre2022_check(inputs, regions, model, occupied_2014, params_path=params_path,
                        block_size=block_size)  # fmt: skip
    names = {v: k for k, v in hz.class_values.items()}
    summary.files.append(
        build_map(out / "contamination.png", tif, regions, layers, out / "deposits.geojson", names)
    )
    shares = _params_clear_shares(params_path)
    for line in _area_table(hz) + _validity_table(hz, pre, shares):
        logger.info("%s", line)
    _update_readme(summary, hz, pre, shares)
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
    parser.add_argument(
        "--params",
        type=Path,
        default=None,
        help="parameter file giving class raster values (default OUT/parameters.toml)",
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
            args.sources,
            args.out,
            hazard_model=args.hazard_model,
            params=args.params,
            block_size=args.block_size,
        )
    except (EstimatorError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
