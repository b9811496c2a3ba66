"""The parallel backend: run independent tasks serially, on local processes or on a Dask cluster.

The caller cuts its job into tasks whose results do not depend on where they run (each task
opens its own files) and merges the results in task order, so a job gives the same numbers on
one core, on ``N`` local processes (``workers=N``) or on a ``dask.distributed`` cluster
(``scheduler="tcp://host:8786"``). Only a bounded number of tasks is in flight at once, so
memory does not grow with the number of tasks.

Processes cost start-up time (about 0.5 s for local processes, 2-4 s for a Dask cluster), so
:func:`resolve_workers` keeps small jobs serial unless the caller asked for workers.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from .errors import InputDataError

logger = logging.getLogger(__name__)

__all__ = ["available_cores", "map_tasks", "resolve_workers"]

T = TypeVar("T")
R = TypeVar("R")

#: A job estimated to take less than this many seconds on one core runs serially by default.
SERIAL_BELOW_S = 4.0


def available_cores() -> int:
    """Return the number of cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def resolve_workers(
    workers: int | None, *, estimated_s: float, n_tasks: int, scheduler: str | None = None
) -> int:
    """Decide how many local processes to use (1 = serial, in this process).

    Parameters
    ----------
    workers : int or None
        What the user asked for: ``None`` (automatic), 1 (serial) or ``N`` processes.
    estimated_s : float
        Estimated duration of the job on one core, seconds.
    n_tasks : int
        Number of tasks (no more processes than tasks are started).
    scheduler : str, optional
        Address of a Dask scheduler; when given, local workers are not used.

    Returns
    -------
    int
        Number of local processes; 1 means the serial path.

    Raises
    ------
    InputDataError
        If ``workers`` is less than 1.
    """
    if workers is not None and workers < 1:
        raise InputDataError(f"--workers {workers}: must be at least 1")
    if scheduler is not None or n_tasks <= 1:
        return 1
    if workers is None:
        if estimated_s < SERIAL_BELOW_S:
            return 1
        workers = available_cores()
    return max(1, min(workers, n_tasks))


def _context():
    methods = multiprocessing.get_all_start_methods()
    # Never fork: the parent may hold threads (GDAL, a progress bar) and fork copies their locks.
    method = "forkserver" if "forkserver" in methods else "spawn"
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["estimator.overlay"])
    return ctx


def map_tasks(
    func: Callable[[T], R],
    tasks: Iterable[T],
    *,
    workers: int = 1,
    scheduler: str | None = None,
    on_done: Callable[[int, R], None] | None = None,
    max_in_flight: int | None = None,
) -> Iterator[R]:
    """Run ``func`` on every task and yield the results in task order.

    Parameters
    ----------
    func : callable
        A picklable module-level function of one task.
    tasks : iterable
        The tasks; consumed lazily.
    workers : int
        Local processes (1 runs the tasks one after the other in this process). Ignored when
        ``scheduler`` is given.
    scheduler : str, optional
        Address of a ``dask.distributed`` scheduler (``tcp://host:8786``). Workers must be able
        to import demine and to open the files the tasks name.
    on_done : callable, optional
        Called as ``on_done(task_index, result)`` as each result is yielded.
    max_in_flight : int, optional
        Tasks submitted but not yet yielded (default: twice the number of workers).

    Yields
    ------
    object
        ``func(task)`` for each task, in the order of ``tasks``.

    Raises
    ------
    InputDataError
        If the scheduler cannot be reached.
    """
    if scheduler is not None:
        results = _map_distributed(func, tasks, scheduler, max_in_flight)
    elif workers <= 1:
        results = map(func, tasks)
    else:
        results = _map_local(func, tasks, workers, max_in_flight)
    for i, result in enumerate(results):
        if on_done is not None:
            on_done(i, result)
        yield result


def _windowed(submit, tasks: Iterable[Any], limit: int) -> Iterator[Any]:
    """Submit at most ``limit`` tasks ahead of the one being yielded; yield results in order."""
    pending: deque = deque()
    it = iter(tasks)
    while True:
        while len(pending) < limit:
            task = next(it, _END)
            if task is _END:
                break
            pending.append(submit(task))
        if not pending:
            return
        future = pending.popleft()
        yield future.result()
        if hasattr(future, "release"):
            future.release()


_END = object()


def _map_local(func, tasks, workers: int, max_in_flight: int | None) -> Iterator[Any]:
    limit = max_in_flight or 2 * workers
    with ProcessPoolExecutor(max_workers=workers, mp_context=_context()) as pool:
        yield from _windowed(lambda t: pool.submit(func, t), tasks, limit)


def _map_distributed(func, tasks, scheduler: str, max_in_flight: int | None) -> Iterator[Any]:
    from distributed import Client

    try:
        client = Client(scheduler, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise InputDataError(
            f"--scheduler {scheduler!r}: cannot reach the Dask scheduler ({exc}); start one "
            "with `dask scheduler` or check the address"
        ) from None
    with client:
        limit = max_in_flight or 2 * max(1, sum(client.nthreads().values()))
        yield from _windowed(lambda t: client.submit(func, t, pure=False), tasks, limit)
