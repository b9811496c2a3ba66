"""Serial, local processes and a Dask LocalCluster give bit-identical overlays."""

from __future__ import annotations

import math

import numpy as np
import pyproj
import pytest
import shapely
from affine import Affine

from estimator import overlay
from estimator.errors import InputDataError
from estimator.overlay import overlay_footprints, zonal_sums
from estimator.parallel import map_tasks, resolve_workers

T = Affine(20, 0, 400_000, 0, -20, 5_300_000)  # UTM 37N


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=50,
    ) as c:
        yield c


@pytest.fixture
def job(make_raster):
    rng = np.random.default_rng(11)
    h, w = 400, 600
    classes = rng.integers(0, 4, size=(h, w)).astype("uint8")
    classes[rng.random((h, w)) < 0.02] = 255
    probs = rng.random((h, w)).astype("float32")
    probs[rng.random((h, w)) < 0.02] = np.nan
    class_path = make_raster(classes, T, crs="EPSG:32637")
    prob_path = make_raster(probs, T, crs="EPSG:32637", nodata=np.nan)
    to_ll = pyproj.Transformer.from_crs(32637, 4326, always_xy=True)
    geoms = []
    for _ in range(40):
        cx, cy = 400_000 + rng.uniform(0, w * 20), 5_300_000 - rng.uniform(0, h * 20)
        r = rng.uniform(100, 2500)
        ang = np.sort(rng.uniform(0, 2 * math.pi, 30))
        ring = np.column_stack([cx + r * np.cos(ang), cy + r * np.sin(ang)])
        geoms.append(shapely.Polygon(ring))
    lonlat = [
        shapely.transform(g, lambda xy: np.column_stack(to_ll.transform(*xy.T))) for g in geoms
    ]
    return class_path, prob_path, lonlat, geoms


def _flat(results):
    return [
        (v.values.tolist(), v.area_m2.tolist(), v.nodata_area_m2, v.outside_area_m2)
        for v in results
    ]


def test_serial_processes_and_cluster_are_identical(job, cluster, monkeypatch):
    class_path, prob_path, lonlat, geoms = job
    monkeypatch.setattr(overlay, "_TASK_CELLS", 256 * 256)  # many tasks: 2 x 3 tiles
    serial = overlay_footprints(class_path, lonlat, workers=1)
    procs = overlay_footprints(class_path, lonlat, workers=2)
    dask = overlay_footprints(class_path, lonlat, scheduler=cluster.scheduler_address)
    assert _flat(serial) == _flat(procs) == _flat(dask)  # bit for bit

    z1 = zonal_sums(prob_path, geoms, workers=1)
    z2 = zonal_sums(prob_path, geoms, workers=2)
    z3 = zonal_sums(prob_path, geoms, scheduler=cluster.scheduler_address)
    for name in ("value_area", "data_area_m2", "nodata_area_m2", "outside_area_m2"):
        assert (
            getattr(z1, name).tobytes()
            == getattr(z2, name).tobytes()
            == getattr(z3, name).tobytes()
        )
    assert z1.data_area_m2.sum() > 0


def test_progress_reports_blocks(job):
    class_path, _, lonlat, _ = job
    seen = []
    overlay_footprints(class_path, lonlat, workers=1, progress=lambda f, m: seen.append((f, m)))
    assert seen[0][0] == 0 and seen[-1][0] == 1.0
    assert any("blocks" in m for _, m in seen)


def _square(x):
    return x * x


def test_map_tasks_keeps_task_order():
    assert list(map_tasks(_square, range(7), workers=2, max_in_flight=3)) == [
        x * x for x in range(7)
    ]
    done = []
    list(map_tasks(_square, range(3), on_done=lambda i, r: done.append((i, r))))
    assert done == [(0, 0), (1, 1), (2, 4)]


def test_small_jobs_stay_serial_by_default():
    assert resolve_workers(None, estimated_s=0.5, n_tasks=10) == 1
    assert resolve_workers(None, estimated_s=600, n_tasks=1) == 1
    assert resolve_workers(2, estimated_s=0.5, n_tasks=10) == 2  # asked for: honoured
    assert resolve_workers(8, estimated_s=600, n_tasks=3) == 3
    assert resolve_workers(None, estimated_s=600, n_tasks=10, scheduler="tcp://x:1") == 1
    with pytest.raises(InputDataError, match="--workers 0"):
        resolve_workers(0, estimated_s=1, n_tasks=2)
