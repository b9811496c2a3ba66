"""One-at-a-time sensitivity (tornado): swing each ranged parameter low -> high, others at mode.

Pure numpy: every swing is one column of a single :class:`~estimator.model.DrawSet`, so the
model and the schedule run once for all parameters (``1 + 2P`` columns for ``P`` ranges).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import DrawSet
from .params import Params, Range
from .uncertainty import build_draws

__all__ = ["Swing", "rank_swings", "ranged_parameters", "swing_draws", "top_swing"]


def ranged_parameters(params: Params) -> list[tuple[str, Range]]:
    """Every parameter written as a range (low < high), with its dotted name.

    Examples
    --------
    >>> from estimator.params import load_params
    >>> from estimator.io import default_data
    >>> names = [n for n, _ in ranged_parameters(load_params(defaults=default_data().parameters))]
    >>> "methods.manual.productivity_m2_per_team_day" in names
    True
    """
    out: list[tuple[str, Range]] = []
    g = params.general
    for name in (
        "overhead_share",
        "clearance_working_days_per_year",
        "survey_working_days_per_year",
        "accidents_per_million_m2_cleared",
        "clearance_miss_share",
    ):
        out.append((f"general.{name}", getattr(g, name)))
    for m in params.methods:
        out.append(
            (f"methods.{m.name}.productivity_m2_per_team_day", m.productivity_m2_per_team_day)
        )
        out.append((f"methods.{m.name}.team_cost_usd_per_day", m.team_cost_usd_per_day))
    for c in params.classes:
        for name in (
            "nts_cancel_share",
            "ts_reduce_share",
            "items_per_ha",
            "productivity_factor",
            "residual_items_per_ha_released",
        ):
            out.append((f"classes.{c.name}.{name}", getattr(c, name)))
    return [(n, r) for n, r in out if not r.is_fixed]


def swing_draws(params: Params) -> tuple[DrawSet, list[str]]:
    """Build the draw columns of a tornado run.

    Column 0 holds every mode; columns ``2i + 1`` and ``2i + 2`` hold parameter ``i`` at its low
    and high ends with all others at their modes.

    Returns
    -------
    (DrawSet, list of str)
        The draws and the parameter names, in column-pair order.
    """
    ranged = ranged_parameters(params)
    column = {id(r): i for i, (_, r) in enumerate(ranged)}
    n = 1 + 2 * len(ranged)

    def pick(r: Range) -> np.ndarray:
        values = np.full(n, r.mode, dtype="float64")
        i = column.get(id(r))
        if i is not None:
            values[2 * i + 1] = r.low
            values[2 * i + 2] = r.high
        return values

    return build_draws(params, n, pick), [name for name, _ in ranged]


@dataclass(frozen=True, slots=True)
class Swing:
    """How far one parameter moves a figure between its low and high ends."""

    parameter: str
    at_low: float
    at_high: float
    base: float

    @property
    def swing(self) -> float:
        """Absolute difference between the two ends."""
        return abs(self.at_high - self.at_low)


def rank_swings(values: np.ndarray, names: list[str]) -> list[Swing]:
    """Rank parameters by the swing they cause in a figure, largest first.

    Parameters
    ----------
    values : numpy.ndarray
        The figure for each column of :func:`swing_draws`, shape (1 + 2P,).
    names : list of str
        Parameter names from :func:`swing_draws`.

    Returns
    -------
    list of Swing
        Sorted by decreasing swing (ties by name). Parameters that do not move the figure are
        left out; one that moves it to ``inf`` (a date beyond the schedule's horizon) at one
        end has an infinite swing and comes first.

    Examples
    --------
    >>> [s.parameter for s in rank_swings(np.array([10.0, 9, 11, 5, 20]), ["a", "b"])]
    ['b', 'a']
    >>> [s.parameter for s in rank_swings(np.array([10.0, 9, 11, np.inf, 20]), ["a", "b"])]
    ['b', 'a']
    """
    values = np.asarray(values, dtype="float64")
    out = [
        Swing(name, float(values[2 * i + 1]), float(values[2 * i + 2]), float(values[0]))
        for i, name in enumerate(names)
    ]
    # An infinite swing (one end never ready: beyond the schedule's horizon) is the largest;
    # both ends never (NaN) is no swing.
    out = [s for s in out if s.swing > 0]
    return sorted(out, key=lambda s: (-s.swing, s.parameter))


def top_swing(values: np.ndarray, names: list[str]) -> list[tuple[int, str]]:
    """For each row of swing columns, the parameter with the largest swing.

    Parameters
    ----------
    values : numpy.ndarray
        A figure per row and column of :func:`swing_draws`, shape (N, 1 + 2P).
    names : list of str
        Parameter names from :func:`swing_draws`.

    Returns
    -------
    list of (int, str)
        Row index and parameter name, for rows where some parameter moves the figure; ties go
        to the first name in alphabetical order, as in :func:`rank_swings`.

    Examples
    --------
    >>> top_swing(np.array([[10.0, 9, 11, 5, 20], [1.0, 1, 1, 1, 1]]), ["a", "b"])
    [(0, 'b')]
    """
    values = np.asarray(values, dtype="float64")
    if not names:
        return []
    swing = np.abs(values[:, 2::2] - values[:, 1::2])  # (N, P)
    swing = np.where(np.isnan(swing), -1.0, swing)  # never at both ends: no swing
    order = np.argsort(np.array(names), kind="stable")  # alphabetical tie-break
    best = order[np.argmax(swing[:, order], axis=1)]
    return [(i, names[b]) for i, b in enumerate(best) if swing[i, b] > 0]
