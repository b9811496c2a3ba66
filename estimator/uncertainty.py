"""Parameter draws (the modes, or seeded samples of the ranges) and P10/P50/P90 summaries."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .model import DrawSet
from .params import Params, Range

__all__ = [
    "QUANTILES",
    "build_draws",
    "mode_draws",
    "order_statistics",
    "sample_draws",
    "summarize",
]

#: The summary every uncertain figure is reported as.
QUANTILES = {"p10": 0.10, "p50": 0.50, "p90": 0.90}

DEFAULT_SEED = 20251
#: Monte Carlo draws of a report unless told otherwise.
DEFAULT_DRAWS = 2000


def _sample_range(rng: np.random.Generator | None, r: Range, n: int) -> np.ndarray:
    if rng is None or r.is_fixed:
        return np.full(n, r.mode if rng is None else r.low, dtype="float64")
    if r.dist == "pert":
        span = r.high - r.low
        alpha = 1.0 + 4.0 * (r.mode - r.low) / span
        beta = 1.0 + 4.0 * (r.high - r.mode) / span
        return r.low + span * rng.beta(alpha, beta, size=n)
    return rng.triangular(r.low, r.mode, r.high, size=n)


def build_draws(params: Params, n: int, pick: Callable[[Range], np.ndarray]) -> DrawSet:
    """Build a DrawSet of ``n`` columns, taking each parameter's values from ``pick(range)``.

    Parameters are visited in a fixed order, so a seeded ``pick`` is reproducible.
    """
    classes = params.classes
    clearance = params.clearance_methods
    nts = params.method("nts")
    ts = params.method("ts")
    g = params.general
    mix = np.array([[c.mix_share(m.name) for m in clearance] for c in classes], dtype="float64")
    return DrawSet(
        class_names=params.class_names,
        clearance_methods=tuple(m.name for m in clearance),
        nts_cancel_share=np.stack([pick(c.nts_cancel_share) for c in classes]),
        ts_reduce_share=np.stack([pick(c.ts_reduce_share) for c in classes]),
        items_per_ha=np.stack([pick(c.items_per_ha) for c in classes]),
        productivity_factor=np.stack([pick(c.productivity_factor) for c in classes]),
        clearance_mix=mix.reshape(len(classes), len(clearance)),
        nts_m2_per_team_day=pick(nts.productivity_m2_per_team_day),
        ts_m2_per_team_day=pick(ts.productivity_m2_per_team_day),
        clearance_m2_per_team_day=np.stack(
            [pick(m.productivity_m2_per_team_day) for m in clearance]
        ),
        nts_usd_per_team_day=pick(nts.team_cost_usd_per_day),
        ts_usd_per_team_day=pick(ts.team_cost_usd_per_day),
        clearance_usd_per_team_day=np.stack([pick(m.team_cost_usd_per_day) for m in clearance]),
        overhead_share=pick(g.overhead_share),
        accidents_per_million_m2_cleared=pick(g.accidents_per_million_m2_cleared),
        residual_items_per_ha_released=np.stack(
            [pick(c.residual_items_per_ha_released) for c in classes]
        ),
        clearance_miss_share=pick(g.clearance_miss_share),
        survey_working_days_per_year=pick(g.survey_working_days_per_year),
        clearance_working_days_per_year=pick(g.clearance_working_days_per_year),
    )


def mode_draws(params: Params) -> DrawSet:
    """Return a single draw holding the mode of every parameter (the deterministic run)."""
    return build_draws(params, 1, lambda r: _sample_range(None, r, 1))


def sample_draws(params: Params, n_draws: int, seed: int = DEFAULT_SEED) -> DrawSet:
    """Sample every ranged parameter ``n_draws`` times, reproducibly.

    Parameters are drawn independently in a fixed order from one seeded generator, so the same
    seed and parameter file give the same draws bit for bit.

    Parameters
    ----------
    params : Params
        Validated parameters.
    n_draws : int
        Number of draws (>= 1).
    seed : int
        Seed of the random generator.

    Returns
    -------
    DrawSet
        Arrays with ``n_draws`` columns.
    """
    if n_draws < 1:
        raise ValueError(f"n_draws = {n_draws!r}: must be >= 1")
    rng = np.random.default_rng(seed)
    return build_draws(params, n_draws, lambda r: _sample_range(rng, r, n_draws))


def summarize(
    values: np.ndarray, axis: int = -1, *, overwrite: bool = False
) -> dict[str, np.ndarray]:
    """Summarise draws by P10, P50, P90 and mean along ``axis``.

    Parameters
    ----------
    values : numpy.ndarray
        Draws of a figure.
    axis : int
        The draw axis.
    overwrite : bool
        Reorder ``values`` in place along the draw axis (saves a copy; it must be a C-ordered
        float64 array with the draws last).

    Returns
    -------
    dict
        ``{"p10", "p50", "p90", "mean"}`` arrays with ``axis`` removed.

    Examples
    --------
    >>> s = summarize(np.array([[1.0, 2.0, 3.0, 4.0, 5.0]]))
    >>> {k: float(v[0]) for k, v in s.items()}
    {'p10': 1.4, 'p50': 3.0, 'p90': 4.6, 'mean': 3.0}
    """
    values = np.moveaxis(np.asarray(values, dtype="float64"), axis, -1)
    shape, n = values.shape[:-1], values.shape[-1]
    rows = values.reshape(-1, n)
    # Linear interpolation between order statistics: numpy's default ("linear", Hyndman & Fan
    # type 7).
    where = {}
    for name, q in QUANTILES.items():
        h = (n - 1) * q
        lo = int(np.floor(h))
        where[name] = (lo, min(lo + 1, n - 1), h - lo)
    ranks = {r for lo, hi, _ in where.values() for r in (lo, hi)}
    mean = rows.mean(axis=-1)
    # NaN sorts last in np.sort, but would spread through the min and max shortcuts of the
    # selection: rows whose mean is NaN are summarised from a full sort.
    bad = np.flatnonzero(np.isnan(mean))
    # Bad rows are redone below.
    stats = order_statistics(rows, sorted(ranks), nan_free=True, overwrite=overwrite)
    if bad.size:
        ordered = np.sort(rows[bad], axis=1)
        for r in ranks:
            stats[r][bad] = ordered[:, r]
    out = {}
    for name, (lo, hi, frac) in where.items():
        a, b = stats[lo], stats[hi]
        out[name] = (a + (b - a) * frac if frac else a.copy()).reshape(shape)
    out["mean"] = mean.reshape(shape)
    return out


def order_statistics(
    rows: np.ndarray, ranks: list[int], *, nan_free: bool = False, overwrite: bool = False
) -> dict[int, np.ndarray]:
    """Return the ``r``-th smallest value of each row (0-based) for each ``r`` in ``ranks``.

    The same values as ``np.sort(rows, axis=1)[:, r]``, found by a few single-rank partitions
    (numpy's SIMD selection) in a balanced order: each partition fixes a pivot that bounds the
    ranges searched for the others, and a rank at the end of its range is a min or max.
    ``nan_free=True`` skips the check for NaN (which would otherwise select by a full sort);
    ``overwrite=True`` reorders ``rows`` in place instead of a copy.

    Examples
    --------
    >>> s = order_statistics(np.array([[5.0, 1.0, 4.0, 2.0, 3.0]]), [0, 2, 3])
    >>> [float(s[r][0]) for r in (0, 2, 3)]
    [1.0, 3.0, 4.0]
    """
    rows = np.asarray(rows, dtype="float64")
    n = rows.shape[1]
    if rows.shape[0] == 0 or (not nan_free and np.isnan(rows).any()):
        ordered = np.sort(rows, axis=1)  # NaN sort last; min and max would spread them
        return {r: ordered[:, r].copy() for r in ranks}
    work = rows if overwrite and rows.flags.c_contiguous else np.array(rows, order="C")
    out: dict[int, np.ndarray] = {}
    # Balanced order (middle rank first, then the middles of each side), kept iterative: a
    # recursive closure would hold ``work`` in a reference cycle until the garbage collector ran.
    fixed: list[int] = []
    stack = [list(dict.fromkeys(sorted(ranks)))]
    while stack:
        todo = stack.pop()
        if not todo:
            continue
        mid = len(todo) // 2
        r = todo[mid]
        lo = max((p + 1 for p in fixed if p < r), default=0)
        hi = min((p for p in fixed if p > r), default=n)
        seg = work[:, lo:hi]
        k = r - lo
        alone = len(todo) == 1  # no other rank left between the pivots around r
        if hi - lo == 1:
            out[r] = seg[:, 0].copy()
        elif alone and k == 0:
            out[r] = seg.min(axis=1)
        elif alone and k == hi - lo - 1:
            out[r] = seg.max(axis=1)
        else:
            seg.partition(k, axis=1)
            fixed.append(r)
            out[r] = seg[:, k].copy()
        stack.append(todo[mid + 1 :])
        stack.append(todo[:mid])
    return out
