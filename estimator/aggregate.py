"""Deposit results -> region results: sums per draw, then quantiles (never sums of quantiles)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .model import LandRelease
from .uncertainty import summarize

__all__ = [
    "FIGURES",
    "DepositResult",
    "RegionAccumulator",
    "RegionResult",
    "UNASSIGNED_REGION",
    "quantities",
    "quantities_of",
    "quantity",
    "sum_by_group",
]

#: Region name for deposits that overlap no region polygon (or could not be located).
UNASSIGNED_REGION = "(no region)"

Quantity = dict[str, float]

#: The figures of the land-release model that add up across deposits, in report order.
FIGURES = (
    "nts_area_m2",
    "ts_area_m2",
    "clearance_area_m2",
    "cost_usd",
    "team_days",
    "expected_items",
    "expected_accidents",
    "residual_items",
)


def quantity(draws: np.ndarray) -> Quantity:
    """Summarise the draws of one figure as ``{"p10", "p50", "p90", "mean"}`` floats."""
    return quantities(np.asarray(draws, dtype="float64")[None, :])[0]


def quantities(rows: np.ndarray) -> list[Quantity]:
    """Summarise each row of draws (shape (n, D)) as a quantity dict.

    Examples
    --------
    >>> quantities(np.array([[1.0, 1.0], [0.0, 2.0]]))[1]
    {'p10': 0.2, 'p50': 1.0, 'p90': 1.8, 'mean': 1.0}
    """
    return quantities_of(np.asarray(rows, dtype="float64"))[0]


def quantities_of(*arrays: np.ndarray) -> list[list[Quantity]]:
    """Apply :func:`quantities` to several (n, D) arrays at once (one pass, less overhead).

    The rows that vary are copied into one block that is then reordered in place; rows that do
    not vary (no uncertain input reaches them) report their one value exactly, without a
    selection (a mean of equal draws can differ from them in the last bit).
    """
    keys = ("p10", "p50", "p90", "mean")
    rows = np.concatenate([np.asarray(a, dtype="float64").reshape(-1, a.shape[-1]) for a in arrays])
    sizes = [a.shape[0] for a in arrays]
    if rows.shape[1] == 0:
        return [[dict.fromkeys(keys, float("nan")) for _ in range(k)] for k in sizes]
    # A row is constant if it equals its first draw; only rows whose ends agree need the check.
    maybe = np.flatnonzero(rows[:, 0] == rows[:, -1])
    constant = np.zeros(len(rows), dtype=bool)
    constant[maybe] = (rows[maybe] == rows[maybe, :1]).all(axis=1)
    varying = np.flatnonzero(~constant)
    columns = {k: rows[:, 0].copy() for k in keys}
    if varying.size:
        block = rows if varying.size == len(rows) else rows[varying]
        s = summarize(block, overwrite=True)
        for k in keys:
            columns[k][varying] = s[k]
    listed = [columns[k].tolist() for k in keys]
    table = [dict(zip(keys, vals, strict=True)) for vals in zip(*listed, strict=True)]
    out, start = [], 0
    for k in sizes:
        out.append(table[start : start + k])
        start += k
    return out


def day_quantities(rows: np.ndarray) -> list[dict[str, float]]:
    """P10/P50/P90 of day offsets by rank (no interpolation, so ``inf`` stays ``inf``)."""
    rows = np.asarray(rows, dtype="float64")
    # Nearest rank (inverted CDF) from a sorted copy: no interpolation, so inf stays inf.
    ordered = np.sort(rows, axis=-1)
    n = ordered.shape[-1]
    q = [ordered[..., max(0, int(np.ceil(p * n)) - 1)] for p in (0.1, 0.5, 0.9)]
    with np.errstate(invalid="ignore"):
        mean = rows.mean(axis=-1)
    return [
        {"p10": float(a), "p50": float(b), "p90": float(c), "mean": float(m)}
        for a, b, c, m in zip(q[0], q[1], q[2], mean, strict=True)
    ]


@dataclass(frozen=True, slots=True)
class DepositResult:
    """Everything reported for one input deposit (one row, always)."""

    index: int
    id: str
    name: str
    commodity: str
    region: str | None
    status: str
    reason: str
    geometry_quality: str
    footprint_area_m2: float
    hazard_area_m2: dict[str, float]
    unknown_area_m2: float
    outside_raster_area_m2: float
    occupied_share: float | None
    figures: dict[str, Quantity] | None
    clearance_area_m2_by_method: dict[str, Quantity] | None
    team_days_by_method: dict[str, Quantity] | None
    prob_any_item: float | None = None
    ready_day: dict[str, float] | None = None
    duration_days: dict[str, float] | None = None
    phase_days: dict[str, dict[str, float]] | None = None
    priority_rank: int | None = None
    cost_driver: str | None = None

    @property
    def assessed(self) -> bool:
        """Whether figures were computed (every status but ``invalid``)."""
        return self.figures is not None


@dataclass(frozen=True, slots=True)
class RegionResult:
    """Totals of one region: per-draw sums of its deposits, then summarised."""

    name: str
    deposit_count: int
    footprint_area_m2: float
    hazard_area_m2: dict[str, float]
    unknown_area_m2: float
    figures: dict[str, Quantity]
    clearance_area_m2_by_method: dict[str, Quantity]
    team_days_by_method: dict[str, Quantity]
    deposit_ids: tuple[str, ...] = field(default=())
    ready_day: dict[str, float] | None = None
    blocked_count: int = 0


def sum_by_group(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum the rows of ``values`` by group, draw by draw.

    Parameters
    ----------
    values : numpy.ndarray
        Shape (N, ...): one row per deposit.
    group : numpy.ndarray
        Group index (0..n_groups-1) of each row; rows with a negative index are left out.
    n_groups : int
        Number of groups.

    Returns
    -------
    numpy.ndarray
        Shape (n_groups, ...).

    Examples
    --------
    >>> sum_by_group(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), np.array([0, 1, 0]), 2)
    array([[6., 8.],
           [3., 4.]])
    """
    values = np.asarray(values, dtype="float64")
    group = np.asarray(group)
    out = np.zeros((n_groups, *values.shape[1:]))
    # One masked sum per group present: far faster than np.add.at, no BLAS threading.
    for g in np.unique(group[group >= 0]):
        out[g] = values[group == g].sum(axis=0)
    return out


class RegionAccumulator:
    """Per-region, per-draw running totals, fed chunk by chunk of deposits.

    Sums are exact whatever the chunking; the ready day of a region is the latest ready day of
    its scheduled (not blocked) deposits, draw by draw.
    """

    def __init__(self, n_regions: int, n_draws: int, n_clearance: int, n_methods: int) -> None:
        self.sums = {f: np.zeros((n_regions, n_draws)) for f in FIGURES}
        self.by_method = np.zeros((n_regions, n_clearance, n_draws))
        self.days_by_method = np.zeros((n_regions, n_methods, n_draws))
        self.ready = np.full((n_regions, n_draws), -np.inf)
        self.scheduled = np.zeros(n_regions, dtype=int)

    def add(self, group: np.ndarray, release: LandRelease, ready_day: np.ndarray) -> None:
        """Add a chunk of deposits (``group`` = region index per deposit, -1 to skip)."""
        n = self.ready.shape[0]
        for f in FIGURES:
            self.sums[f] += sum_by_group(getattr(release, f), group, n)
        self.by_method += sum_by_group(release.clearance_area_m2_by_method, group, n)
        self.days_by_method += sum_by_group(release.team_days_by_method, group, n)
        for i, g in enumerate(np.asarray(group)):
            # Blocked deposits (never scheduled) are counted apart, not as "never ready".
            if g >= 0 and np.isfinite(ready_day[i]).any():
                self.ready[g] = np.maximum(self.ready[g], ready_day[i])
                self.scheduled[g] += 1

    def results(
        self,
        region_names: Sequence[str],
        deposits: Sequence[DepositResult],
        *,
        class_names: Sequence[str],
        method_names: Sequence[str],
        clearance_methods: Sequence[str],
    ) -> list[RegionResult]:
        """Summarise the totals of every region (regions without deposits report zeros)."""
        out = []
        sums = {f: quantities(self.sums[f]) for f in FIGURES}
        ready = day_quantities(np.where(np.isfinite(self.ready), self.ready, np.inf))
        for r, name in enumerate(region_names):
            members = [d for d in deposits if d.region == name]
            out.append(
                RegionResult(
                    name=name,
                    deposit_count=len(members),
                    footprint_area_m2=float(sum(d.footprint_area_m2 for d in members)),
                    hazard_area_m2={
                        c: float(sum(d.hazard_area_m2.get(c, 0.0) for d in members))
                        for c in class_names
                    },
                    unknown_area_m2=float(sum(d.unknown_area_m2 for d in members)),
                    figures={f: sums[f][r] for f in FIGURES},
                    clearance_area_m2_by_method={
                        m: quantity(self.by_method[r, j]) for j, m in enumerate(clearance_methods)
                    },
                    team_days_by_method={
                        m: quantity(self.days_by_method[r, j]) for j, m in enumerate(method_names)
                    },
                    deposit_ids=tuple(d.id for d in members),
                    ready_day=ready[r] if self.scheduled[r] else None,
                    blocked_count=sum(1 for d in members if d.status == "blocked"),
                )
            )
        return out
