"""Benchmark: the Monte Carlo model and schedule on many deposits x draws (issue: 10k x 2k).

Usage: python bench/bench_model.py [--deposits 10000] [--draws 2000]
Prints wall time and peak memory (RSS) of run_model on a synthetic assessment; no raster I/O.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from estimator.aggregate import UNASSIGNED_REGION
from estimator.io import default_data
from estimator.params import load_params
from estimator.pipeline import Assessment, _Prepared, run_model


def synthetic_assessment(n: int, k: int, seed: int = 1) -> Assessment:
    rng = np.random.default_rng(seed)
    area = rng.gamma(0.6, 2e5, size=(n, k))  # m2 per class, a few to tens of ha
    regions = ["North", "South", "East", "West"]
    prepared = [
        _Prepared(
            id=str(i), name=f"d{i}", commodity="x", geometry_quality="", footprint=None, notes=[]
        )
        for i in range(n)
    ]
    return Assessment(
        prepared=prepared,
        footprints=[None] * n,
        footprint_area_m2=area.sum(axis=1),
        hazard_area_m2=area,
        unknown_area_m2=np.zeros(n),
        outside_area_m2=np.zeros(n),
        occupied_share=[0.0] * n,
        region_of=[regions[i % 4] for i in range(n)],
        region_names=[*regions, UNASSIGNED_REGION],
        region_geoms=[],
        control_date=None,
        paths={"regions": "synthetic"},
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--deposits", type=int, default=10_000)
    ap.add_argument("--draws", type=int, default=2_000)
    args = ap.parse_args()
    params = load_params(defaults=default_data().parameters)
    a = synthetic_assessment(args.deposits, len(params.classes))
    t0 = time.perf_counter()
    c0 = time.process_time()
    deposits, regions, _, _ = run_model(a, params, n_draws=args.draws, seed=7)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    total = sum(r.figures["cost_usd"]["p50"] for r in regions)
    print(f"model+schedule: {args.deposits:,} deposits x {args.draws:,} draws")
    print(f"  wall time  {wall:6.2f} s   (target < 10 s)")
    print(f"  CPU time   {cpu:6.2f} s   (all threads; wall time on a busy machine is unreliable)")
    print(f"  peak RSS   {peak_gib:6.2f} GiB (target < 2 GiB)")
    print(f"  check: {len(deposits):,} deposit rows, sum of regional P50 cost US$ {total:,.0f}")


if __name__ == "__main__":
    main()
