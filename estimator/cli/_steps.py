"""Timed steps for the commands: a progress bar for the slow ones, a timing logged with ``-v``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ._common import with_progress

logger = logging.getLogger("estimator.cli")

__all__ = ["run_step"]


def run_step(
    label: str,
    quiet: int,
    job: Callable[[Callable[[float, str], None] | None], Any],
    *,
    progress: bool = True,
) -> Any:
    """Run one step of a command and log how long it took (``-v`` shows it).

    Parameters
    ----------
    label : str
        What the step does ("estimate", "hazard polygons", "map", ...).
    quiet : int
        The ``-q`` count: any quiet level hides the progress bar.
    job : callable
        Called as ``job(progress)`` with a ``(fraction, message)`` callback or ``None``.
    progress : bool
        Show a progress bar (on stderr, when it is a terminal) while the step runs. Steps that
        report no progress get a bar that shows the label while they run.

    Returns
    -------
    object
        What ``job`` returns.
    """
    t0 = time.perf_counter()
    if progress:
        result = with_progress(quiet, lambda cb: job(_labelled(cb, label)))
    else:
        result = job(None)
    logger.info("%s: %.2f s", label, time.perf_counter() - t0)
    return result


def _labelled(cb: Callable[[float, str], None] | None, label: str):
    if cb is None:
        return None
    cb(0.0, label)
    return cb
