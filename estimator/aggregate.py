"""Deposit results -> region results: sums per draw, then quantiles (never sums of quantiles)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .model import LandRelease
from .uncertainty import summarize

__all__ = [
    "DepositResult",
    "RegionResult",
    "UNASSIGNED_REGION",
    "quantity",
    "sum_by_group",
    "summarize_regions",
]

#: Region name for deposits that overlap no region polygon.
UNASSIGNED_REGION = "(no region)"

Quantity = dict[str, float]


def quantity(draws: np.ndarray) -> Quantity:
    """Summarise the draws of one figure as ``{"p10", "p50", "p90", "mean"}`` floats."""
    s = summarize(np.asarray(draws, dtype="float64")[None, :])
    return {k: float(v[0]) for k, v in s.items()}


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


#: The figures of the land-release model reported as quantities, in report order.
FIGURES = (
    "nts_area_m2",
    "ts_area_m2",
    "clearance_area_m2",
    "cost_usd",
    "team_days",
    "expected_items",
    "expected_accidents",
)


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
    out = np.zeros((n_groups, *values.shape[1:]))
    keep = np.asarray(group) >= 0
    np.add.at(out, np.asarray(group)[keep], values[keep])
    return out


def summarize_regions(
    region_names: Sequence[str],
    deposits: Sequence[DepositResult],
    release: LandRelease,
    *,
    class_names: Sequence[str],
    method_names: Sequence[str],
    clearance_methods: Sequence[str],
) -> list[RegionResult]:
    """Aggregate deposit results into region totals.

    Parameters
    ----------
    region_names : sequence of str
        Regions to report, in order (regions without deposits are reported with zeros).
    deposits : sequence of DepositResult
        Deposit rows; row ``i`` matches row ``i`` of ``release``.
    release : LandRelease
        Per-deposit, per-draw model output (rows of invalid deposits must be zero).
    class_names, method_names, clearance_methods : sequence of str
        Column names of the class, team-day and clearance-method axes.

    Returns
    -------
    list of RegionResult
        One per region, in ``region_names`` order.
    """
    index = {name: i for i, name in enumerate(region_names)}
    group = np.array([index.get(d.region, -1) if d.region else -1 for d in deposits], dtype=int)
    n = len(region_names)
    sums = {f: sum_by_group(getattr(release, f), group, n) for f in FIGURES}
    by_method = sum_by_group(release.clearance_area_m2_by_method, group, n)
    days_by_method = sum_by_group(release.team_days_by_method, group, n)
    out = []
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
                figures={f: quantity(sums[f][r]) for f in FIGURES},
                clearance_area_m2_by_method={
                    m: quantity(by_method[r, j]) for j, m in enumerate(clearance_methods)
                },
                team_days_by_method={
                    m: quantity(days_by_method[r, j]) for j, m in enumerate(method_names)
                },
                deposit_ids=tuple(d.id for d in members),
            )
        )
    return out
