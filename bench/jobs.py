"""One benchmark job per process: ``python bench/jobs.py KIND ...``; prints one JSON line.

Kinds: ``demine``, ``exactextract``, ``rasterstats`` (per-polygon coverage-weighted sums and
covered areas, written to an .npy file), ``read`` (read and decompress every block) and
``regions`` (whole-region statistics). Run by ``bench/run.py``, which times each process from
start to exit and samples the memory of its process tree.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def _polygons(path):
    import geopandas as gpd

    gdf = gpd.read_file(path)
    gdf["pid"] = np.arange(len(gdf), dtype="int64")  # row number: GeoPackage makes "id" the FID
    return gdf


def job_demine(args) -> dict:
    from estimator.overlay import zonal_sums

    gdf = _polygons(args.polygons)
    t = time.perf_counter()
    z = zonal_sums(args.raster, list(gdf.geometry.values), workers=args.workers)
    compute = time.perf_counter() - t
    ids = gdf["pid"].to_numpy(dtype="float64")
    np.save(args.out, np.column_stack([ids, z.value_area, z.data_area_m2, z.nodata_area_m2]))
    return {"compute_s": compute}


def job_exactextract(args) -> dict:
    from exactextract import exact_extract

    gdf = _polygons(args.polygons)
    t = time.perf_counter()
    df = exact_extract(
        args.raster,
        gdf,
        ["sum", "count"],
        include_cols=["pid"],
        output="pandas",
        strategy=args.strategy,
    )
    compute = time.perf_counter() - t
    out = np.column_stack([df["pid"].to_numpy("float64"), df["sum"], df["count"]])
    np.save(args.out, out)
    return {"compute_s": compute}


def job_rasterstats(args) -> dict:
    from rasterstats import zonal_stats

    gdf = _polygons(args.polygons)
    t = time.perf_counter()
    stats = zonal_stats(list(gdf.geometry.values), args.raster, stats=["sum", "count"])
    compute = time.perf_counter() - t
    out = np.array(
        [[i, s["sum"] or 0.0, s["count"] or 0] for i, s in zip(gdf["pid"], stats, strict=True)],
        dtype="float64",
    )
    np.save(args.out, out)
    return {"compute_s": compute}


def job_read(args) -> dict:
    import rasterio

    t = time.perf_counter()
    cells = 0
    with rasterio.Env(GDAL_CACHEMAX=64), rasterio.open(args.raster) as ds:
        for _, window in ds.block_windows(1):
            cells += ds.read(1, window=window).size
    return {"compute_s": time.perf_counter() - t, "cells": cells}


def job_regions(args) -> dict:
    # Library imports are start-up, as in the other jobs (the read floor imports rasterio
    # before its clock starts): geopandas and pyogrio read the regions file.
    import geopandas  # noqa: F401
    import pyogrio  # noqa: F401

    from estimator.wholeregion import summarize_whole_regions

    t = time.perf_counter()
    r = summarize_whole_regions(
        contamination=args.raster, regions=args.regions, workers=args.workers
    )
    compute = time.perf_counter() - t
    return {
        "compute_s": compute,
        "regions": {x.name: [*x.hazard_area_m2.values(), x.unknown_area_m2] for x in r.regions},
    }


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="kind", required=True)
    for kind in ("demine", "exactextract", "rasterstats"):
        s = sub.add_parser(kind)
        s.add_argument("raster")
        s.add_argument("polygons")
        s.add_argument("out")
        if kind == "demine":
            s.add_argument("--workers", type=int, default=None)
        if kind == "exactextract":
            s.add_argument("--strategy", default="feature-sequential")
    s = sub.add_parser("read")
    s.add_argument("raster")
    s = sub.add_parser("regions")
    s.add_argument("raster")
    s.add_argument("regions")
    s.add_argument("--workers", type=int, default=None)
    args = p.parse_args()
    result = globals()[f"job_{args.kind}"](args)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
