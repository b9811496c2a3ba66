"""Deterministic benchmark data: rasters and polygons, generated once into a cache folder.

Everything is seeded, so two machines generate identical files. Nothing is written inside the
repository: the folder is ``$DEMINE_BENCH_CACHE``, else ``$XDG_CACHE_HOME/demine-bench``
(``~/.cache`` when unset).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

#: Raster grid shared by every job: UTM 37N, 250 x 220 km over Donetsk oblast.
CRS = "EPSG:32637"
X0, Y1 = 300_000.0, 5_420_000.0
WIDTH_M, HEIGHT_M = 250_000.0, 220_000.0
SEED = 20_251
VERSION = 1  # bump when the generated data change


def cache_dir() -> Path:
    root = os.environ.get("DEMINE_BENCH_CACHE")
    if root:
        path = Path(root)
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        path = base / "demine-bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _smooth_field(rows: np.ndarray, cols: np.ndarray, res: float) -> np.ndarray:
    """A smooth 0..1 field of ground coordinates (sum of seeded plane waves)."""
    rng = np.random.default_rng(SEED)
    y = (Y1 - (rows + 0.5) * res)[:, None]
    x = (X0 + (cols + 0.5) * res)[None, :]
    out = np.zeros((rows.size, cols.size))
    for _ in range(12):
        wavelength = rng.uniform(3_000, 60_000)
        theta = rng.uniform(0, math.pi)
        phase = rng.uniform(0, 2 * math.pi)
        k = 2 * math.pi / wavelength
        kx, ky = k * math.cos(theta), k * math.sin(theta)
        # cos(a + b) = cos a cos b - sin a sin b: outer products instead of a cos per cell
        a = kx * x + phase
        b = ky * y
        out += np.cos(b) * np.cos(a) - np.sin(b) * np.sin(a)
    return 0.5 + out / (2 * math.sqrt(12) * 1.6)


def _write_raster(path: Path, res: float, kind: str, bounds=None) -> Path:
    import rasterio
    from affine import Affine

    if path.exists():
        return path
    x0, y1, wm, hm = (X0, Y1, WIDTH_M, HEIGHT_M) if bounds is None else bounds
    width, height = int(round(wm / res)), int(round(hm / res))
    tmp = path.with_suffix(".part.tif")
    profile = dict(
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        crs=CRS,
        transform=Affine(res, 0, x0, 0, -res, y1),
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
        BIGTIFF="YES",
        NUM_THREADS="ALL_CPUS",
    )
    if kind == "float":
        profile.update(dtype="float32", nodata=float("nan"))
    else:
        profile.update(dtype="uint8", nodata=255)
    cols = np.arange(width)
    with rasterio.open(tmp, "w", **profile) as ds:
        for r0 in range(0, height, 512):
            rows = np.arange(r0, min(height, r0 + 512))
            smooth = _smooth_field(rows, cols, res)
            rng = np.random.default_rng([SEED, int(res), r0])
            noise = rng.standard_normal(smooth.shape) * 0.04
            if kind == "float":
                band = np.clip(smooth + noise, 0.0, 1.0).astype("float32")
                band[smooth > 0.93] = np.nan  # lakes and reservoirs: nodata
            else:
                v = smooth + 0.25 * noise
                band = np.digitize(v, [0.35, 0.55, 0.7]).astype("uint8")
                band[smooth > 0.93] = 255
            ds.write(band, 1, window=((r0, r0 + rows.size), (0, width)))
    tmp.rename(path)
    return path


def float_raster(res: float) -> Path:
    """The 250 x 220 km float32 probability raster at ``res`` metres."""
    return _write_raster(cache_dir() / f"v{VERSION}_float_{int(res)}m.tif", res, "float")


def class_raster(res: float) -> Path:
    """The same ground as hazard classes 0-3 (uint8, 255 = nodata)."""
    return _write_raster(cache_dir() / f"v{VERSION}_class_{int(res)}m.tif", res, "class")


def oblast_class_raster(res: float, oblasts: Path) -> Path:
    """A class raster covering Donetsk and Zaporizhzhia oblasts (their bounding box)."""
    import geopandas as gpd

    b = gpd.read_file(oblasts).to_crs(CRS).total_bounds
    x0 = math.floor(b[0] / 1000) * 1000
    y1 = math.ceil(b[3] / 1000) * 1000
    w = math.ceil((b[2] - x0) / 1000) * 1000
    h = math.ceil((y1 - b[1]) / 1000) * 1000
    return _write_raster(
        cache_dir() / f"v{VERSION}_oblasts_class_{int(res)}m.tif", res, "class", (x0, y1, w, h)
    )


def oblast_regions(oblasts: Path) -> Path:
    """The two oblasts as a regions file with the ``name`` field demine expects."""
    import geopandas as gpd

    path = cache_dir() / f"v{VERSION}_oblasts_regions.geojson"
    if not path.exists():
        gdf = gpd.read_file(oblasts)
        gdf["name"] = gdf["name_en"]
        gdf[["name", "geometry"]].to_file(path)
    return path


def _blob(rng: np.random.Generator, cx: float, cy: float, area_m2: float):
    import shapely

    n = int(rng.integers(48, 160))
    ang = np.linspace(0, 2 * math.pi, n, endpoint=False)
    # a smooth random radius: a few harmonics
    r = np.ones(n)
    for k in range(2, 6):
        r += rng.uniform(0, 0.25 / k) * np.cos(k * ang + rng.uniform(0, 2 * math.pi))
    r *= 1 + rng.uniform(-0.02, 0.02, n)
    ring = np.column_stack([np.cos(ang) * r, np.sin(ang) * r])
    poly = shapely.Polygon(ring)
    poly = shapely.affinity.scale(
        poly, math.sqrt(area_m2 / poly.area), math.sqrt(area_m2 / poly.area), origin=(0, 0)
    )
    if rng.random() < 0.1:  # a hole: an excluded plot
        poly = poly.difference(shapely.Point(0, 0).buffer(0.2 * math.sqrt(area_m2), 16))
    return shapely.affinity.translate(poly, cx, cy)


def polygons(n: int) -> Path:
    """``n`` polygons of 1-100 km2 (log-uniform), inside the raster, sorted spatially."""
    import geopandas as gpd
    import shapely

    path = cache_dir() / f"v{VERSION}_polygons_{n}.gpkg"
    if path.exists():
        return path
    rng = np.random.default_rng([SEED, n])
    geoms, ids = [], []
    for i in range(n):
        area = 10 ** rng.uniform(6, 8)
        margin = math.sqrt(area) * 1.5
        cx = rng.uniform(X0 + margin, X0 + WIDTH_M - margin)
        cy = rng.uniform(Y1 - HEIGHT_M + margin, Y1 - margin)
        geoms.append(_blob(rng, cx, cy, area))
        ids.append(i)
    gdf = gpd.GeoDataFrame({"id": ids}, geometry=geoms, crs=CRS)
    # sorted along 15 km strips, so that feature-sequential readers find their blocks cached
    c = shapely.centroid(gdf.geometry.values)
    order = np.lexsort((shapely.get_x(c), np.floor((Y1 - shapely.get_y(c)) / 15_000)))
    gdf = gdf.iloc[order].reset_index(drop=True)
    tmp = path.with_suffix(".part.gpkg")
    gdf.to_file(tmp)
    tmp.rename(path)
    return path


def regions() -> Path:
    """Three regions that tile the raster extent with wiggly borders (and reach past it)."""
    import geopandas as gpd
    import shapely

    path = cache_dir() / f"v{VERSION}_regions.geojson"
    if path.exists():
        return path
    rng = np.random.default_rng([SEED, 7])
    y = np.linspace(Y1 - HEIGHT_M - 10_000, Y1 + 10_000, 400)
    cuts = []
    for frac in (0.35, 0.7):
        x = X0 + frac * WIDTH_M + np.cumsum(rng.normal(0, 800, y.size))
        cuts.append(np.column_stack([x, y]))
    left = X0 - 10_000
    right = X0 + WIDTH_M + 10_000
    bottom, top = y[0], y[-1]
    polys = [
        shapely.Polygon([(left, bottom), *cuts[0], (left, top)]),
        shapely.Polygon([*cuts[0], *cuts[1][::-1]]),
        shapely.Polygon([*cuts[1], (right, top), (right, bottom)]),
    ]
    polys = [shapely.make_valid(p) for p in polys]
    gdf = gpd.GeoDataFrame({"name": ["West", "Centre", "East"]}, geometry=polys, crs=CRS)
    gdf.to_crs("EPSG:4326").to_file(path)
    return path


def describe() -> str:
    return json.dumps({"cache": str(cache_dir()), "version": VERSION})
