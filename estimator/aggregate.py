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
    "HazardProbability",
    "RegionAccumulator",
    "RegionResult",
    "UNASSIGNED_REGION",
    "combine_hazard_probabilities",
    "hazard_probability",
    "quantities",
    "quantities_of",
    "quantity",
    "share_text",
    "sum_by_group",
]

#: Region name for deposits that overlap no region polygon (or could not be located).
UNASSIGNED_REGION = "(no region)"

Quantity = dict[str, float]


def share_text(share: float) -> str:
    """Format a share as a percentage for notes: never 0.0 % if non-zero, nor 100.0 % for a part."""
    if 0 < share < 0.0005:
        return "<0.1%"
    if 0.9995 <= share < 1:
        return ">99.9%"
    return f"{share:.1%}"


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
class HazardProbability:
    """What a probability raster says of one footprint (or of the deposits of a region).

    Attributes
    ----------
    expected_hazard_area_m2 : float
        ``sum(p x covered area)``: the ground the raster expects to prove contaminated, m2.
    prob_any_hazard_low : float
        Lower bound of the probability that the footprint holds any hazard: the largest ``p``
        of a covered cell (what P(any) is if the cells' hazards were perfectly dependent). A
        value covering less than one whole cell counts in part, ``1 - (1 - p) ** (a / a_cell)``,
        as in the upper bound, so that the low bound never exceeds the high one.
    prob_any_hazard_high : float
        Upper bound: ``1 - prod(1 - p_i) ** (a_i / a_cell)`` (cells independent; a cell
        covered in part counts in part). It depends on the cell size: the same ground in
        smaller cells gives a higher bound.
    probability_data_area_m2 : float
        Area of the footprint with probability data, m2 (the figures cover only this).
    deposit_count : int
        Deposits with figures (1 for a deposit; for a region, those its figures combine).
    """

    expected_hazard_area_m2: float
    prob_any_hazard_low: float
    prob_any_hazard_high: float
    probability_data_area_m2: float
    deposit_count: int = 1


def hazard_probability(
    values: np.ndarray, area_m2: np.ndarray, cell_area_m2: float
) -> HazardProbability | None:
    """Summarise the probability cells a footprint covers.

    Parameters
    ----------
    values : numpy.ndarray
        Distinct probabilities p (0-1) of the covered cells with data.
    area_m2 : numpy.ndarray
        Covered area of each value, m2 (exact coverage x cell area, summed over its cells).
    cell_area_m2 : float
        Nominal area of one raster cell at the footprint, m2: ``area_m2 / cell_area_m2`` is the
        number of whole cells a value covers, the exponent of the independent bound.

    Returns
    -------
    HazardProbability or None
        ``None`` if no covered area has data.

    Examples
    --------
    Two whole 1-ha cells with p = 0.1 and 0.5: 0.6 ha expected, P(any) between 0.5 and
    1 - 0.9 x 0.5 = 0.55:

    >>> h = hazard_probability(np.array([0.1, 0.5]), np.array([1e4, 1e4]), 1e4)
    >>> h.expected_hazard_area_m2, h.prob_any_hazard_low, round(h.prob_any_hazard_high, 12)
    (6000.0, 0.5, 0.55)

    The 0.5 cell half covered enters both bounds as 1 - 0.5 ** 0.5 (0.29):

    >>> h = hazard_probability(np.array([0.1, 0.5]), np.array([1e4, 5e3]), 1e4)
    >>> round(h.prob_any_hazard_low, 4), round(h.prob_any_hazard_high, 4)
    (0.2929, 0.3636)
    """
    p = np.asarray(values, dtype="float64")
    a = np.asarray(area_m2, dtype="float64")
    keep = a > 0
    p, a = p[keep], a[keep]
    if p.size == 0:
        return None
    cells = a / cell_area_m2
    # log(1 - p) summed with cell counts as weights: a product of thousands of factors without
    # underflow; p = 1 gives -inf, so the bound is exactly 1.
    with np.errstate(divide="ignore"):
        log_none = cells * np.log1p(-p)
    # Perfect dependence: the likeliest cell decides. A value covering less than one cell's
    # area counts in part (as above); one covering a cell or more counts its p.
    low = np.where(cells >= 1.0, p, -np.expm1(log_none))
    return HazardProbability(
        expected_hazard_area_m2=float(np.sum(p * a)),
        prob_any_hazard_low=float(low.max()),
        prob_any_hazard_high=float(-np.expm1(log_none.sum())),
        probability_data_area_m2=float(a.sum()),
    )


def combine_hazard_probabilities(
    items: Sequence[HazardProbability | None],
) -> HazardProbability | None:
    """Combine deposits' figures into a region's: expected areas add up, the bounds combine.

    The low bound is the largest of the deposits' low bounds; the high bound treats deposits as
    independent, ``1 - prod(1 - high_i)``. ``None`` entries (no data) are left out; ``None`` if
    every entry is.

    Examples
    --------
    >>> a = HazardProbability(6000.0, 0.5, 0.55, 2e4)
    >>> b = HazardProbability(1000.0, 0.2, 0.2, 1e4)
    >>> r = combine_hazard_probabilities([a, None, b])
    >>> r.expected_hazard_area_m2, r.prob_any_hazard_low, round(r.prob_any_hazard_high, 12)
    (7000.0, 0.5, 0.64)
    >>> r.deposit_count
    2
    """
    present = [h for h in items if h is not None]
    if not present:
        return None
    return HazardProbability(
        expected_hazard_area_m2=float(sum(h.expected_hazard_area_m2 for h in present)),
        prob_any_hazard_low=max(h.prob_any_hazard_low for h in present),
        prob_any_hazard_high=float(1.0 - np.prod([1.0 - h.prob_any_hazard_high for h in present])),
        probability_data_area_m2=float(sum(h.probability_data_area_m2 for h in present)),
        deposit_count=sum(h.deposit_count for h in present),
    )


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
    hazard_probability: HazardProbability | None = None

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
    hazard_probability: HazardProbability | None = None


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

    def add(
        self,
        group: np.ndarray,
        release: LandRelease,
        ready_day: np.ndarray,
        reachable: np.ndarray | None = None,
    ) -> None:
        """Add a chunk of deposits (``group`` = region index per deposit, -1 to skip).

        ``reachable``: the deposits that are scheduled (not blocked); by default those ready in
        some draw. A deposit never ready in any draw (no teams for its methods) is scheduled
        all the same: its region is then never ready, not blocked.
        """
        if reachable is None:
            reachable = np.isfinite(ready_day).any(axis=1)
        n = self.ready.shape[0]
        for f in FIGURES:
            self.sums[f] += sum_by_group(getattr(release, f), group, n)
        self.by_method += sum_by_group(release.clearance_area_m2_by_method, group, n)
        self.days_by_method += sum_by_group(release.team_days_by_method, group, n)
        for i, g in enumerate(np.asarray(group)):
            # Blocked deposits (never scheduled) are counted apart, not as "never ready".
            if g >= 0 and reachable[i]:
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
                    hazard_probability=combine_hazard_probabilities(
                        [d.hazard_probability for d in members]
                    ),
                )
            )
        return out
