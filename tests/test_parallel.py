"""Serial, local threads, local processes and a Dask LocalCluster give bit-identical overlays."""

from __future__ import annotations

import math
import os

import numpy as np
import pyproj
import pytest
import shapely
from affine import Affine

from estimator import overlay, parallel
from estimator.errors import InputDataError
from estimator.overlay import overlay_footprints, zonal_sums
from estimator.parallel import Workers, map_tasks, resolve_workers

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


def _processes(monkeypatch):
    """Make every job long enough for processes (short jobs run on threads)."""
    monkeypatch.setattr(parallel, "THREADS_BELOW_S", 0.0)


def test_serial_threads_processes_and_cluster_are_identical(job, cluster, monkeypatch):
    class_path, prob_path, lonlat, geoms = job
    monkeypatch.setattr(overlay, "_TASK_CELLS", 256 * 256)  # many tasks: 2 x 3 tiles
    serial = overlay_footprints(class_path, lonlat, workers=1)
    threads = overlay_footprints(class_path, lonlat, workers=2)
    dask = overlay_footprints(class_path, lonlat, scheduler=cluster.scheduler_address)
    z1 = zonal_sums(prob_path, geoms, workers=1)
    z2 = zonal_sums(prob_path, geoms, workers=2)
    z3 = zonal_sums(prob_path, geoms, scheduler=cluster.scheduler_address)
    _processes(monkeypatch)
    procs = overlay_footprints(class_path, lonlat, workers=2)
    z4 = zonal_sums(prob_path, geoms, workers=2)
    assert _flat(serial) == _flat(threads) == _flat(procs) == _flat(dask)  # bit for bit
    for name in ("value_area", "data_area_m2", "nodata_area_m2", "outside_area_m2"):
        assert (
            getattr(z1, name).tobytes()
            == getattr(z2, name).tobytes()
            == getattr(z3, name).tobytes()
            == getattr(z4, name).tobytes()
        )
    assert z1.data_area_m2.sum() > 0


def test_whole_regions_are_identical_on_every_backend(make_raster, cluster, monkeypatch):
    # a few large polygons: whole tiles counted together (_run_batch), boundary tiles by runs
    rng = np.random.default_rng(4)
    h, w = 1100, 1600
    arr = np.repeat(np.repeat(rng.integers(0, 4, (h // 50, w // 50)), 50, 0), 50, 1)
    arr = arr.astype("uint8")
    arr[rng.random((h, w)) < 0.01] = 255
    path = make_raster(arr, T, crs="EPSG:32637")
    to_ll = pyproj.Transformer.from_crs(32637, 4326, always_xy=True)
    x0, y1 = T.c, T.f
    x1, y0 = x0 + 20 * w, y1 - 20 * h
    regions = [
        shapely.box(x0 - 500, y0 - 500, x0 + 14_006, y1 + 500),
        shapely.Polygon(
            [(x0 + 14_006, y1 + 500), (x1 + 500, y1 + 500), (x1 + 500, y0), (x0 + 25_000, y0)]
        ),
    ]
    lonlat = [
        shapely.transform(g, lambda xy: np.column_stack(to_ll.transform(*xy.T))) for g in regions
    ]
    serial = overlay_footprints(path, lonlat, workers=1)
    threads = overlay_footprints(path, lonlat, workers=2)
    dask = overlay_footprints(path, lonlat, scheduler=cluster.scheduler_address)
    _processes(monkeypatch)
    procs = overlay_footprints(path, lonlat, workers=2)
    assert _flat(serial) == _flat(threads) == _flat(procs) == _flat(dask)
    ref = overlay_footprints(path, lonlat, method="exactextract")
    for a, b in zip(serial, ref, strict=True):
        assert a.values.tolist() == b.values.tolist() == [0, 1, 2, 3]
        np.testing.assert_allclose(a.area_m2, b.area_m2, rtol=1e-7)
        assert a.nodata_area_m2 == pytest.approx(b.nodata_area_m2, rel=1e-7)


def test_progress_reports_blocks(job):
    class_path, _, lonlat, _ = job
    seen = []
    overlay_footprints(class_path, lonlat, workers=1, progress=lambda f, m: seen.append((f, m)))
    assert seen[0][0] == 0 and seen[-1][0] == 1.0
    assert any("blocks" in m for _, m in seen)


def _square(x):
    return x * x


def test_map_tasks_keeps_task_order():
    for threads, fork in ((False, False), (True, False), (False, True)):
        assert list(
            map_tasks(_square, range(7), workers=2, threads=threads, fork=fork, max_in_flight=3)
        ) == [x * x for x in range(7)]
    done = []
    list(map_tasks(_square, range(3), on_done=lambda i, r: done.append((i, r))))
    assert done == [(0, 0), (1, 1), (2, 4)]


def test_short_jobs_run_on_forked_processes_or_threads_long_ones_on_processes(monkeypatch):
    monkeypatch.setattr(parallel, "available_cores", lambda: 2)
    monkeypatch.setattr(parallel, "can_fork", lambda: True)
    assert resolve_workers(None, estimated_s=0.5, n_tasks=10) == Workers(2, "forked")
    monkeypatch.setattr(parallel, "can_fork", lambda: False)  # another thread is running
    assert resolve_workers(None, estimated_s=0.5, n_tasks=10) == Workers(2, "threads")
    assert resolve_workers(None, estimated_s=600, n_tasks=10) == Workers(2, "processes")
    assert resolve_workers(None, estimated_s=600, n_tasks=1) == Workers(1, "serial")
    assert resolve_workers(1, estimated_s=600, n_tasks=10) == Workers(1, "serial")
    assert resolve_workers(8, estimated_s=600, n_tasks=3) == Workers(3, "processes")
    assert resolve_workers(None, estimated_s=600, n_tasks=10, scheduler="tcp://x:1").count == 1
    monkeypatch.setattr(parallel, "available_cores", lambda: 1)
    assert resolve_workers(None, estimated_s=0.5, n_tasks=10) == Workers(1, "serial")
    with pytest.raises(InputDataError, match="--workers 0"):
        resolve_workers(0, estimated_s=1, n_tasks=2)


_FORKED_JOB = """
import json, sys
import threading
from estimator import overlay, parallel
from estimator.overlay import overlay_footprints
import shapely

overlay._TASK_CELLS = 256 * 256  # many tasks
path, geoms = sys.argv[1], [shapely.from_wkt(w) for w in json.loads(sys.argv[2])]
kinds = []
resolve = parallel.resolve_workers
parallel.resolve_workers = lambda *a, **k: kinds.append(resolve(*a, **k)) or kinds[-1]
out = {}
for workers in (1, 2, 2):
    r = overlay_footprints(path, geoms, workers=workers)
    out.setdefault(str(workers), []).append(
        [(v.values.tolist(), [a.hex() for a in v.area_m2.tolist()], v.nodata_area_m2.hex())
         for v in r]
    )
parallel.can_fork()  # waits for it, as the next fork would
print(json.dumps({"kinds": [k.kind for k in kinds], "threads": threading.active_count(), **out}))
"""


def test_forked_workers_give_the_serial_results_bit_for_bit(job):
    # In a process of its own: this one runs threads (the Dask cluster's), so it never forks.
    import json
    import subprocess
    import sys

    class_path, _, lonlat, _ = job
    wkts = json.dumps([g.wkt for g in lonlat])
    done = subprocess.run(
        [sys.executable, "-c", _FORKED_JOB, str(class_path), wkts],
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(done.stdout)
    assert out["kinds"] == ["serial", "forked", "forked"]
    assert out["threads"] == 1
    assert out["1"][0] == out["2"][0] == out["2"][1]
    assert any(values for values, _, _ in out["1"][0])


_SHARED = """
import json, os, threading, time
from estimator import parallel

def work(x):
    time.sleep(0.002 if x % 3 else 0.02)  # uneven tasks
    if x in (13, 15):
        raise ValueError(f"task {x} failed")
    return os.getpid(), x * x

def here(x):
    pid, y = work(x)
    return -pid, y

side = []
out = list(
    parallel.map_tasks(
        work, range(12), workers=2, fork=True, here=here, meanwhile=lambda: side.append(1)
    )
)
import multiprocessing
exiting = len(parallel._EXITING)  # the job returned without waiting for its worker to exit
reaped = parallel.can_fork()  # ... the next fork waits for it
after_reap = (threading.active_count(), len(multiprocessing.active_children()))
ran = []
try:
    for r in parallel.map_tasks(work, range(40), workers=2, fork=True, here=here):
        ran.append(r[1])
    error = None
except ValueError as exc:
    error = str(exc)
def steady(x):
    time.sleep(0.003)
    return os.getpid(), x * x

def slow(x):  # this thread is busy while the worker's callbacks ask for tasks
    time.sleep(0.3)
    return steady(x)

def failing_source():
    for x in range(30):
        if x == 17:
            raise RuntimeError("the tasks' source failed")
        yield x

got = []
try:
    for r in parallel.map_tasks(
        steady, failing_source(), workers=2, fork=True, count=30, here=slow
    ):
        got.append(r[1])
    source_error = None
except RuntimeError as exc:
    source_error = str(exc)
print(json.dumps({"out": out, "parent": os.getpid(), "ran": ran, "error": error,
                  "threads": threading.active_count(), "side": len(side),
                  "source_error": source_error, "got": got, "exiting": exiting,
                  "reaped": reaped, "after_reap": after_reap}))
"""


def test_forked_workers_and_this_process_share_the_tasks_in_order():
    # In a process of its own, as above: this one never forks.
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _SHARED], capture_output=True, text=True, check=True
    )
    out = json.loads(done.stdout)
    assert [y for _, y in out["out"]] == [x * x for x in range(12)]
    here = [x for x, (pid, _) in enumerate(out["out"]) if pid == -out["parent"]]
    forked = [x for x, (pid, _) in enumerate(out["out"]) if pid > 0 and pid != out["parent"]]
    assert here and forked and len(here) + len(forked) == 12  # both worked, by `here` here
    # A failed task is raised in its turn, wherever it ran: every earlier result is yielded
    # first, and a later task's failure (15) does not come before it.
    assert out["ran"] == [x * x for x in range(13)]
    assert out["error"] == "task 13 failed"
    assert out["threads"] == 1  # the pool is gone, its threads too
    # A finished job leaves its worker to exit on its own; the next fork waits for it.
    assert out["exiting"] == 1
    assert out["reaped"] is True and out["after_reap"] == [1, 0]
    assert out["side"] == 1  # the caller's side work ran once
    # A source of tasks that fails is raised, wherever it was asked for its next task (this
    # thread, or a worker's callback): the run is never cut short silently.
    assert out["source_error"] == "the tasks' source failed"
    assert out["got"] == [x * x for x in range(len(out["got"]))] and len(out["got"]) <= 17


_BACK_TO_BACK = """
import json, os
from estimator import parallel

def work(x):
    return os.getpid()

forks = []
for _ in range(30):
    forks.append(parallel.can_fork())
    list(parallel.map_tasks(work, range(4), workers=2, fork=True))
threads = parallel.threading.active_count()
print(json.dumps({"forks": forks, "threads": threads}))
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_jobs_one_after_another_fork_every_time():
    # The threads of a pool just shut down can linger in /proc for a few ms after Python has
    # joined them; a job that followed at once could take them for a library's pool and not
    # fork (see also the test below).
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _BACK_TO_BACK], capture_output=True, text=True, check=True
    )
    out = json.loads(done.stdout)
    assert out["forks"] == [True] * 30
    assert out["threads"] <= 3  # the last job's pool, exiting


def test_side_work_runs_once_whatever_runs_the_tasks():
    for kw in ({}, {"workers": 2, "threads": True}):
        for tasks in (range(5), range(0)):
            events = []
            for r in map_tasks(_square, tasks, meanwhile=lambda e=events: e.append("side"), **kw):
                events.append(r)
            assert events.count("side") == 1
            assert sorted(e for e in events if e != "side") == [x * x for x in tasks]
    events = []  # serially: after the first result, while the next tasks wait
    for r in map_tasks(_square, range(3), meanwhile=lambda: events.append("side")):
        events.append(r)
    assert events == [0, "side", 1, 4]


_CAN_FORK = """
import ctypes, threading, time
from estimator import parallel

alone = parallel.can_fork()
t = threading.Thread(target=time.sleep, args=(0.5,))
t.start()
with_python_thread = parallel.can_fork()
t.join()
libc = ctypes.CDLL(None)
tid = ctypes.c_ulong()  # a native thread, as a library's pool would start one
libc.pthread_create(ctypes.byref(tid), None, ctypes.cast(libc.sleep, ctypes.c_void_p), 1)
time.sleep(0.1)
with_native_thread = parallel.can_fork()
print(alone, with_python_thread, with_native_thread)
"""


_LINGERING = """
import ctypes
from estimator import parallel

libc = ctypes.CDLL(None)
usleep = ctypes.cast(libc.usleep, ctypes.c_void_p)
for _ in range(3):  # native threads that end after 20 ms, as a joined pool's threads do
    tid = ctypes.c_ulong()
    libc.pthread_create(ctypes.byref(tid), None, usleep, ctypes.c_void_p(20_000))
print(parallel.can_fork())
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_threads_that_are_ending_do_not_stop_a_fork():
    # Once newcomer.sh saw a whole-job test fail: a job that followed another at once saw
    # the last pool's threads, still listed in /proc after Python had joined them, and ran
    # on fresh processes that could not import the test's functions.
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _LINGERING], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["True"]


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_no_fork_while_another_thread_runs():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _CAN_FORK], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["True", "False", "False"]


def test_a_scheduler_is_checked_before_any_work(cluster):
    parallel.check_scheduler(cluster.scheduler_address)  # reachable: no error
    with pytest.raises(InputDataError, match="not an address like tcp://HOST:8786"):
        parallel.check_scheduler("127.0.0.1:8786x")
    with pytest.raises(InputDataError, match="cannot reach the Dask scheduler"):
        parallel.check_scheduler("tcp://127.0.0.1:1")
