"""The parallel backend: run independent tasks serially, on local threads or processes, or on Dask.

The caller cuts its job into tasks whose results do not depend on where they run (each task
opens its own files) and merges the results in task order, so a job gives the same numbers on
one core, on ``N`` local workers (``workers=N``) or on a ``dask.distributed`` cluster
(``scheduler="tcp://host:8786"``). Only a bounded number of tasks is in flight at once, so
memory does not grow with the number of tasks.

Long jobs run on processes started fresh (forkserver: about 0.5 s each, 2-4 s for a Dask
cluster), which share nothing with the caller. Short jobs cannot repay that start-up. They run on
processes forked from this one when that is safe: on a POSIX system, and with no other thread
running in this process, so that no lock can be copied half-held. A fork takes milliseconds, and
forked workers do not contend for one GIL as threads do: on a 2-core machine a whole-region job
ran in 0.9 s on forked workers and in 1.1-1.3 s on threads. This process, already warm, takes
tasks beside ``N - 1`` forked workers rather than waiting for theirs (:func:`_map_shared`).
When forking is not safe (another thread is running: a progress bar, a Dask client), short jobs
run on threads, whose heavy parts (GDAL reading and decompressing blocks, numpy's operations on
arrays) release the GIL (:func:`resolve_workers`).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any, Literal, NamedTuple, TypeVar

import numpy  # noqa: F401  (loaded before _BASELINE_THREADS is taken)

from .errors import EstimatorError, InputDataError

logger = logging.getLogger(__name__)

__all__ = ["Workers", "available_cores", "map_tasks", "resolve_workers"]

T = TypeVar("T")
R = TypeVar("R")

#: A job estimated to take less than this many seconds on one core runs on threads (not
#: processes) by default.
THREADS_BELOW_S = 4.0


class Workers(NamedTuple):
    """How a job runs locally: ``count`` workers of ``kind`` (1 serial: in this thread)."""

    count: int
    kind: Literal["serial", "threads", "forked", "processes"]


def available_cores() -> int:
    """Return the number of cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _native_threads() -> int | None:
    """Threads of this process as the system counts them (None where /proc is missing)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


#: Threads running when demine was imported, numpy loaded: numerical libraries start their
#: pools on import (OpenBLAS's stops itself before a fork and restarts after it).
_BASELINE_THREADS = _native_threads()

#: How long a thread that Python has joined may still be listed in /proc, seconds (seen: up
#: to ~4 ms after a pool's shutdown).
_LINGER_S = 0.05


def _settled_native_threads() -> int | None:
    """Count this process's native threads, once those that Python has joined are gone.

    A joined thread can still be listed in /proc/self/task for a few milliseconds (seen
    after one pool's shutdown in ten); a job that followed another at once could take it
    for a library's pool and not fork. With no other Python thread running, extra native
    threads are given a moment to end before they count.
    """
    native = _native_threads()
    if native is None or _BASELINE_THREADS is None or threading.active_count() > 1:
        return native
    deadline = time.monotonic() + _LINGER_S
    while native > _BASELINE_THREADS and time.monotonic() < deadline:
        time.sleep(0.0005)
        native = _native_threads()
    return native


#: The threads of pools whose forked workers are exiting: a job does not wait for its
#: workers to exit (~15 ms: the kernel unmaps their memory); the next fork does, or the end
#: of the process (concurrent.futures joins them then).
_EXITING: list[threading.Thread] = []


def _reap() -> None:
    """Wait for the forked workers of earlier jobs to exit, and for their pools' threads."""
    while _EXITING:
        _EXITING.pop().join()


def _shutdown_later(pool: ProcessPoolExecutor) -> None:
    """Shut ``pool`` down without waiting for its workers to exit (see :func:`_reap`)."""
    # The pool forgets its thread on shutdown; shutdown(wait=True) would not wait afterwards.
    manager = getattr(pool, "_executor_manager_thread", None)
    if not isinstance(manager, threading.Thread):  # (not CPython 3.9-3.14's pool)
        pool.shutdown(wait=True)
        return
    pool.shutdown(wait=False)
    _EXITING.append(manager)


def can_fork() -> bool:
    """Whether worker processes may be forked from this one.

    On POSIX only, from the main thread, with no other Python thread running and no more
    native threads than at import (a GDAL or Dask pool started since): a fork copies only the
    thread that calls it, and a lock another thread held would stay locked in the child.
    Earlier jobs' forked workers still exiting are waited for first (their pools' threads).
    """
    if threading.current_thread() is threading.main_thread():
        _reap()
    native = _settled_native_threads()
    return (
        "fork" in multiprocessing.get_all_start_methods()
        and threading.current_thread() is threading.main_thread()
        and threading.active_count() == 1
        and (native is None or _BASELINE_THREADS is None or native <= _BASELINE_THREADS)
    )


def resolve_workers(
    workers: int | None, *, estimated_s: float, n_tasks: int, scheduler: str | None = None
) -> Workers:
    """Decide how many local workers to use, and whether threads or processes.

    Parameters
    ----------
    workers : int or None
        What the user asked for: ``None`` (automatic: the number of cores), 1 (serial) or
        ``N`` workers.
    estimated_s : float
        Estimated duration of the job on one core, seconds. Below :data:`THREADS_BELOW_S`
        the workers are forked processes (or threads, when forking is not safe: see
        :func:`can_fork`), else processes started fresh.
    n_tasks : int
        Number of tasks (no more workers than tasks are started).
    scheduler : str, optional
        Address of a Dask scheduler; when given, local workers are not used.

    Returns
    -------
    Workers
        ``(count, kind)``; ``kind`` is ``"serial"`` when ``count`` is 1.

    Raises
    ------
    InputDataError
        If ``workers`` is less than 1.
    """
    if workers is not None and workers < 1:
        raise InputDataError(f"--workers {workers}: must be at least 1")
    if scheduler is not None or n_tasks <= 1:
        return Workers(1, "serial")
    count = max(1, min(available_cores() if workers is None else workers, n_tasks))
    if count == 1:
        return Workers(1, "serial")
    if estimated_s >= THREADS_BELOW_S:
        return Workers(count, "processes")
    return Workers(count, "forked" if can_fork() else "threads")


_FORKED_WORKER = False


def _mark_forked_worker() -> None:
    global _FORKED_WORKER
    _FORKED_WORKER = True
    _EXITING.clear()  # the parent's, copied: not this process's to wait for


def in_forked_worker() -> bool:
    """Whether this process is a worker that :func:`map_tasks` forked (it runs one thread)."""
    return _FORKED_WORKER


def _context(fork: bool = False):
    methods = multiprocessing.get_all_start_methods()
    if fork and can_fork():
        return multiprocessing.get_context("fork")
    # Else never fork: the parent may hold threads (GDAL, a progress bar) and fork copies
    # their locks.
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
    threads: bool = False,
    fork: bool = False,
    scheduler: str | None = None,
    on_done: Callable[[int, R], None] | None = None,
    max_in_flight: int | None = None,
    meanwhile: Callable[[], object] | None = None,
    here: Callable[[T], R] | None = None,
    count: int | None = None,
) -> Iterator[R]:
    """Run ``func`` on every task and yield the results in task order.

    Parameters
    ----------
    func : callable
        A function of one task; picklable (module-level) unless the tasks run in this
        process (serially or on threads).
    tasks : iterable
        The tasks; consumed lazily.
    workers : int
        Local workers (1 runs the tasks one after the other in this thread). Ignored when
        ``scheduler`` is given.
    threads : bool
        Run on ``workers`` threads of this process rather than on processes.
    fork : bool
        Start the processes by forking this one, if :func:`can_fork` (else fresh ones). This
        thread then works too, beside ``workers - 1`` forked processes (:func:`_map_shared`).
    scheduler : str, optional
        Address of a ``dask.distributed`` scheduler (``tcp://host:8786``). Workers must be able
        to import demine and to open the files the tasks name.
    on_done : callable, optional
        Called as ``on_done(task_index, result)`` as each result is yielded.
    max_in_flight : int, optional
        Tasks submitted but not yet yielded (default: twice the number of workers; four
        times for processes, so that their queue does not run dry while the caller works
        on a result).
    meanwhile : callable, optional
        The caller's work that does not need the results, called once with no arguments
        while tasks run: as soon as the first are handed to workers that run apart from this
        thread (threads, fresh processes, Dask), when they are still starting and the cores
        are not yet all busy; beside forked workers, when this thread has no task left to
        take and would wait for theirs; after the first result when the tasks run serially
        in this thread; at the end when there are no tasks.
    here : callable, optional
        The same work as ``func``, for the tasks this process runs (serially, on threads, or
        beside forked workers), e.g. with resources this process keeps for the job; default
        ``func``. Tasks sent to other processes (fresh, forked or Dask's) run ``func``.
    count : int, optional
        The number of tasks, if known: workers beside this thread then hold one task each,
        not two, over the last few (:func:`_map_shared`).

    Yields
    ------
    object
        ``func(task)`` for each task, in the order of ``tasks``.

    Raises
    ------
    InputDataError
        If the scheduler cannot be reached.
    """
    once = _Once(meanwhile)
    here = here or func
    if scheduler is not None:
        results = _map_distributed(func, tasks, scheduler, max_in_flight, once)
    elif workers <= 1:
        results = _serial(here, tasks, once)
    elif threads:
        results = _map_threads(here, tasks, workers, max_in_flight, once)
    elif fork and can_fork():
        results = _map_shared(func, here, tasks, workers, once, count)
    else:
        results = _map_local(func, tasks, workers, max_in_flight, fork, once)
    for i, result in enumerate(results):
        if on_done is not None:
            on_done(i, result)
        yield result
    once()


def _serial(func, tasks: Iterable[Any], meanwhile) -> Iterator[Any]:
    for result in map(func, tasks):
        yield result
        meanwhile()


class _Once:
    """Call ``func`` the first time this is called, and never again."""

    def __init__(self, func: Callable[[], object] | None) -> None:
        self._func = func

    def __call__(self) -> None:
        func, self._func = self._func, None
        if func is not None:
            func()


def _windowed(
    submit, tasks: Iterable[Any], limit: int, meanwhile: Callable[[], object]
) -> Iterator[Any]:
    """Submit at most ``limit`` tasks ahead of the one being yielded; yield results in order.

    ``meanwhile`` is called after each round of submissions (a :class:`_Once`: the first).
    """
    pending: deque = deque()
    it = iter(tasks)
    while True:
        while len(pending) < limit:
            task = next(it, _END)
            if task is _END:
                break
            pending.append(submit(task))
        meanwhile()
        if not pending:
            return
        future = pending.popleft()
        yield future.result()
        if hasattr(future, "release"):
            future.release()


_END = object()


def _map_local(
    func, tasks, workers: int, max_in_flight: int | None, fork: bool, meanwhile
) -> Iterator[Any]:
    limit = max_in_flight or 4 * workers
    ctx = _context(fork)
    forked = ctx.get_start_method() == "fork"
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=_mark_forked_worker if forked else None,
    ) as pool:
        yield from _windowed(lambda t: pool.submit(func, t), tasks, limit, meanwhile)


def _map_shared(
    func, here, tasks: Iterable[Any], workers: int, meanwhile, count: int | None
) -> Iterator[Any]:
    """Run the tasks on ``workers - 1`` forked processes and on this thread; yield them in order.

    This process is warm (the raster open, GDAL started, its memory mapped) and has nothing
    else to do while the tasks run, so it takes tasks as the workers do instead of waiting:
    one fork fewer, and its first task starts without a fork's latency. Each worker holds two
    tasks, the one it runs and the next (handing it one only when a result arrives left it
    idle ~2 ms a task, the time this process's threads take to pass it on), and one each
    over the last ``2 * workers`` of ``count`` tasks, so that no worker holds a queue when the
    others run dry; this thread takes a task whenever it is done with one. The caller's side
    work (``meanwhile``) runs when no task is left to take, while this thread would wait for
    the workers' last ones. Results are yielded in task order, and a task that fails is
    raised in its turn wherever it ran; this thread's results wait (at most ``4 * workers``)
    for an earlier one still running in a worker. Once the last result is yielded, the
    workers exit while the caller goes on (the next fork waits for them, :func:`_reap`);
    after an error, their running tasks end first.
    """
    lock = threading.Lock()
    source = enumerate(tasks)
    futures: dict[int, Future] = {}
    mine: dict[int, Any] = {}
    state: dict[str, Any] = {"taken": 0, "open": True, "in_flight": 0, "error": None}

    def take():
        """Return the next ``(index, task)``, or None (called with ``lock`` held)."""
        if state["error"] is not None:  # the tasks' source failed in a callback: raise it here
            raise state["error"]
        item = next(source, None) if state["open"] else None
        state["taken"] += item is not None
        return item

    def top_up(pool) -> None:
        """Hand the workers tasks until each holds its share (called with ``lock`` free)."""
        while True:
            with lock:
                near_end = count is not None and count - state["taken"] <= 2 * workers
                if state["in_flight"] >= (1 if near_end else 2) * (workers - 1):
                    return
                try:
                    item = take()
                except BaseException as exc:  # (in a callback, it would only be logged)
                    state["error"], state["open"] = exc, False
                    return
                if item is None:
                    return
                i, task = item
                try:
                    future = pool.submit(func, task)
                except BaseException as exc:  # a broken pool: the error is raised in its turn
                    future = Future()
                    future.set_exception(exc)
                    state["open"] = False
                futures[i] = future
                state["in_flight"] += 1
            future.add_done_callback(lambda _: finished(pool))

    def finished(pool) -> None:
        with lock:
            state["in_flight"] -= 1
        top_up(pool)

    def run_here(i: int, task) -> None:
        try:
            mine[i] = here(task)
        except Exception as exc:  # raised in its turn, as a worker's error is
            failed = Future()
            failed.set_exception(exc)
            with lock:
                futures[i] = failed

    def ready(i: int) -> tuple[bool, Any]:
        if i in mine:
            return True, mine.pop(i)
        with lock:
            future = futures.get(i)
            if future is None or not future.done():
                return False, None
            del futures[i]
        return True, future.result()

    limit = 4 * workers
    pool = ProcessPoolExecutor(
        max_workers=workers - 1,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_mark_forked_worker,
    )
    finished_all = False
    try:
        top_up(pool)
        nxt = 0
        while True:
            done, result = ready(nxt)
            if done:
                yield result
                nxt += 1
                continue
            if len(mine) >= limit:  # wait for the earlier result of a worker
                with lock:
                    future = futures[nxt]
                wait_futures([future], return_when=FIRST_COMPLETED)
                continue
            with lock:
                item = take()
            if item is None:
                break
            run_here(*item)
        # Nothing left to take: the side work fills this thread's wait for the workers'
        # last tasks; the rest are this thread's results and theirs.
        meanwhile()
        while True:
            with lock:
                if nxt >= state["taken"]:
                    if state["error"] is not None:  # not a short job: a failed source
                        raise state["error"]
                    break
                future = futures.pop(nxt, None)
            yield mine.pop(nxt) if future is None else future.result()
            nxt += 1
        finished_all = True
    finally:
        with lock:
            state["open"] = False
        if finished_all:  # the workers exit while the caller goes on
            _shutdown_later(pool)
        else:  # an error or an early stop: their running tasks end before this returns
            pool.shutdown(wait=True, cancel_futures=True)


def _map_threads(func, tasks, workers: int, max_in_flight: int | None, meanwhile) -> Iterator[Any]:
    limit = max_in_flight or 2 * workers
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="demine") as pool:
        yield from _windowed(lambda t: pool.submit(func, t), tasks, limit, meanwhile)


def _connect(scheduler: str, timeout: str = "10s"):
    """Connect to the Dask scheduler at ``scheduler`` (InputDataError if it cannot be used)."""
    from distributed import Client
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        parse_host_port(parse_address(scheduler)[1])
    except ValueError as exc:
        raise InputDataError(
            f"--scheduler {scheduler!r}: not an address like tcp://HOST:8786 ({exc})"
        ) from None
    try:
        return Client(scheduler, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise InputDataError(
            f"--scheduler {scheduler!r}: cannot reach the Dask scheduler ({exc}); start one "
            "with `dask scheduler` or check the address"
        ) from None


#: How long a run waits for a scheduler without workers to get one before giving up, seconds.
WORKER_WAIT_S = 10.0


def check_scheduler(scheduler: str) -> None:
    """Fail early (before any work) if the Dask scheduler at ``scheduler`` cannot be used.

    Raises
    ------
    InputDataError
        If the address is malformed, no scheduler answers there within 5 s, or it has no
        workers and gets none within :data:`WORKER_WAIT_S` (its tasks would wait forever).
    """
    with _quiet_dask():
        client = _connect(scheduler, timeout="5s")
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except TimeoutError:
            raise InputDataError(
                f"--scheduler {scheduler!r}: the Dask scheduler has no workers; start some "
                f"with `dask worker {scheduler}`"
            ) from None
        finally:
            client.close()


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    """Keep distributed's own log records (tracebacks of lost connections) off the terminal.

    demine reports what went wrong in one line; ``-vv`` (debug logging) lets them through.
    """
    import distributed  # noqa: F401  (configures its loggers, each with its own level)

    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] == "distributed"]
    levels = {n: logging.getLogger(n).level for n in ["distributed", *names]}
    if not logger.isEnabledFor(logging.DEBUG):
        for n in levels:
            logging.getLogger(n).setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)


def _map_distributed(
    func, tasks, scheduler: str, max_in_flight: int | None, meanwhile
) -> Iterator[Any]:
    from concurrent.futures import CancelledError

    from distributed.comm.core import CommClosedError

    with _quiet_dask():
        client = _connect(scheduler)
        try:
            with client:
                limit = max_in_flight or 2 * max(1, sum(client.nthreads().values()))
                yield from _windowed(
                    lambda t: client.submit(func, t, pure=False), tasks, limit, meanwhile
                )
        except (CancelledError, CommClosedError) as exc:
            raise EstimatorError(
                f"lost the Dask scheduler at {scheduler} ({type(exc).__name__}); the run "
                "stopped and no partial output was written"
            ) from None
