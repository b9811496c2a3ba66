"""Pure land-release arithmetic: hazard area by class -> survey, clearance, cost and risk.

No files, rasters or user interface here: numpy arrays in, dataclasses of arrays out. Every figure
is computed for ``D`` parameter draws at once (``D = 1`` for the deterministic run at the modes),
so that a Monte Carlo run is the same code with more columns.

The land-release chain (IMAS 07.11 / 08.10 / 08.20, DSTU 8820-5:2024), per class ``k`` with area
``A_k``, NTS cancel share ``c_k`` and TS reduce share ``r_k``::

    nts_area       = sum_k A_k                          every hectare is looked at by NTS
    ts_area        = sum_k A_k (1 - c_k)                what NTS cannot cancel
    clearance_area = sum_k A_k (1 - c_k) (1 - r_k)      what TS cannot reduce

Worked example (3 classes, one deposit)::

    A = [100, 40, 10] ha,  c = [1.0, 0.7, 0.3],  r = [1.0, 0.6, 0.35]
    nts       = 150 ha
    ts        = 0 + 12 + 7 = 19 ha
    clearance = 0 + 4.8 + 4.55 = 9.35 ha

Clearance area is split by each class's method mix; team-days per method are area divided by the
method's productivity (scaled by the class's productivity factor); cost is team-days times the
team's day cost, plus an overhead share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DrawSet", "LandRelease", "release_land"]

M2_PER_HA = 10_000.0


@dataclass(frozen=True, slots=True)
class DrawSet:
    """Parameter values for ``D`` draws, as arrays.

    Shapes: ``K`` classes, ``M`` clearance methods, ``D`` draws.

    Attributes
    ----------
    class_names : tuple of str
        The ``K`` class names, in column order of the area matrix.
    clearance_methods : tuple of str
        The ``M`` clearance method names.
    nts_cancel_share, ts_reduce_share : numpy.ndarray
        Shares (0-1), shape (K, D).
    items_per_ha : numpy.ndarray
        Explosive items per hectare of clearance area, shape (K, D).
    productivity_factor : numpy.ndarray
        Multiplier of clearance productivity per class, shape (K, D).
    clearance_mix : numpy.ndarray
        Share of each class's clearance area by method, shape (K, M); rows sum to 1.
    nts_m2_per_team_day, ts_m2_per_team_day : numpy.ndarray
        Survey productivity, shape (D,).
    clearance_m2_per_team_day : numpy.ndarray
        Clearance productivity per method, shape (M, D).
    nts_usd_per_team_day, ts_usd_per_team_day : numpy.ndarray
        Survey team day cost, shape (D,).
    clearance_usd_per_team_day : numpy.ndarray
        Clearance team day cost per method, shape (M, D).
    overhead_share : numpy.ndarray
        Indirect cost as a share of direct cost, shape (D,).
    accidents_per_million_m2_cleared : numpy.ndarray
        Deminer accident rate, shape (D,).
    residual_items_per_ha_released : numpy.ndarray
        Items left in land released by survey, per hectare released, shape (K, D).
    clearance_miss_share : numpy.ndarray
        Share of items in cleared ground that clearance misses, shape (D,).
    survey_working_days_per_year, clearance_working_days_per_year : numpy.ndarray
        Working days per year (used by the schedule, not by :func:`release_land`), shape (D,).
    """

    class_names: tuple[str, ...]
    clearance_methods: tuple[str, ...]
    nts_cancel_share: np.ndarray
    ts_reduce_share: np.ndarray
    items_per_ha: np.ndarray
    productivity_factor: np.ndarray
    clearance_mix: np.ndarray
    nts_m2_per_team_day: np.ndarray
    ts_m2_per_team_day: np.ndarray
    clearance_m2_per_team_day: np.ndarray
    nts_usd_per_team_day: np.ndarray
    ts_usd_per_team_day: np.ndarray
    clearance_usd_per_team_day: np.ndarray
    overhead_share: np.ndarray
    accidents_per_million_m2_cleared: np.ndarray
    residual_items_per_ha_released: np.ndarray
    clearance_miss_share: np.ndarray
    survey_working_days_per_year: np.ndarray
    clearance_working_days_per_year: np.ndarray

    def __post_init__(self) -> None:
        k, m, d = len(self.class_names), len(self.clearance_methods), self.n_draws
        expected = {
            "nts_cancel_share": (k, d),
            "ts_reduce_share": (k, d),
            "items_per_ha": (k, d),
            "productivity_factor": (k, d),
            "clearance_mix": (k, m),
            "nts_m2_per_team_day": (d,),
            "ts_m2_per_team_day": (d,),
            "clearance_m2_per_team_day": (m, d),
            "nts_usd_per_team_day": (d,),
            "ts_usd_per_team_day": (d,),
            "clearance_usd_per_team_day": (m, d),
            "overhead_share": (d,),
            "accidents_per_million_m2_cleared": (d,),
            "residual_items_per_ha_released": (k, d),
            "clearance_miss_share": (d,),
            "survey_working_days_per_year": (d,),
            "clearance_working_days_per_year": (d,),
        }
        for name, shape in expected.items():
            got = np.shape(getattr(self, name))
            if got != shape:
                raise ValueError(f"DrawSet.{name} has shape {got}, expected {shape}")

    @property
    def n_draws(self) -> int:
        """Number of draws ``D``."""
        return int(np.shape(self.overhead_share)[0])

    @property
    def method_names(self) -> tuple[str, ...]:
        """All methods in team-day order: ``nts``, ``ts``, then the clearance methods."""
        return ("nts", "ts", *self.clearance_methods)


@dataclass(frozen=True, slots=True)
class LandRelease:
    """Land-release figures for ``N`` footprints and ``D`` draws (arrays of shape (N, D)).

    Attributes
    ----------
    nts_area_m2 : numpy.ndarray
        Area under non-technical survey.
    ts_area_m2 : numpy.ndarray
        Area under technical survey.
    clearance_area_m2 : numpy.ndarray
        Area to clear.
    clearance_area_m2_by_method : numpy.ndarray
        Clearance area per method, shape (N, M, D).
    team_days_by_method : numpy.ndarray
        Team-days per method in ``DrawSet.method_names`` order, shape (N, M + 2, D).
    team_days : numpy.ndarray
        All team-days.
    cost_usd : numpy.ndarray
        Direct cost plus overhead, US dollars.
    expected_items : numpy.ndarray
        Explosive items expected to be found in clearance.
    expected_accidents : numpy.ndarray
        Deminer accidents expected during clearance.
    residual_items : numpy.ndarray
        Items expected to remain after release: those clearance misses plus those in land
        released by survey.
    prob_any_item : numpy.ndarray
        Probability that the footprint holds at least one item, assuming items fall
        independently (Poisson) at the expected densities: ``1 - exp(-(found + residual))``
        where "found" are the items expected in clearance.
    """

    nts_area_m2: np.ndarray
    ts_area_m2: np.ndarray
    clearance_area_m2: np.ndarray
    clearance_area_m2_by_method: np.ndarray
    team_days_by_method: np.ndarray
    team_days: np.ndarray
    cost_usd: np.ndarray
    expected_items: np.ndarray
    expected_accidents: np.ndarray
    residual_items: np.ndarray
    prob_any_item: np.ndarray


def _by_class(area: np.ndarray, per_class: np.ndarray) -> np.ndarray:
    """Sum over classes of area (N, K) times per-class factors (K, ...) -> (N, ...).

    einsum's own loop, not a BLAS product: with a handful of classes it is faster, and it does
    not depend on BLAS threading (whose busy-waiting stalls on a shared machine).
    """
    return np.einsum("nk,k...->n...", area, per_class)


def release_land(area_m2: np.ndarray, draws: DrawSet) -> LandRelease:
    """Run the land-release model on hazard areas by class.

    Parameters
    ----------
    area_m2 : numpy.ndarray
        Hazard area by class, m2, shape (N, K), columns in ``draws.class_names`` order. Unknown
        area must already be added to the class it is assessed as.
    draws : DrawSet
        Parameter values for ``D`` draws.

    Returns
    -------
    LandRelease
        Areas (m2), team-days, cost (USD) and risk figures, each of shape (N, D).

    Raises
    ------
    ValueError
        If ``area_m2`` has the wrong shape or holds negative or non-finite areas.

    Examples
    --------
    One deposit with 10 ha of high-hazard ground; NTS cancels 30 %, TS reduces half of the rest,
    all of the remainder is cleared manually at 100 m2 per team-day and US$500 per team-day:

    >>> d = DrawSet(
    ...     class_names=("high",), clearance_methods=("manual",),
    ...     nts_cancel_share=np.array([[0.3]]), ts_reduce_share=np.array([[0.5]]),
    ...     items_per_ha=np.array([[10.0]]), productivity_factor=np.array([[1.0]]),
    ...     clearance_mix=np.array([[1.0]]),
    ...     nts_m2_per_team_day=np.array([50_000.0]), ts_m2_per_team_day=np.array([7_000.0]),
    ...     clearance_m2_per_team_day=np.array([[100.0]]),
    ...     nts_usd_per_team_day=np.array([1_000.0]), ts_usd_per_team_day=np.array([2_000.0]),
    ...     clearance_usd_per_team_day=np.array([[500.0]]),
    ...     overhead_share=np.array([0.0]), accidents_per_million_m2_cleared=np.array([0.1]),
    ...     residual_items_per_ha_released=np.array([[0.0]]), clearance_miss_share=np.array([0.0]),
    ...     survey_working_days_per_year=np.array([220.0]),
    ...     clearance_working_days_per_year=np.array([180.0]))
    >>> r = release_land(np.array([[100_000.0]]), d)
    >>> float(r.ts_area_m2[0, 0]), float(r.clearance_area_m2[0, 0])
    (70000.0, 35000.0)
    >>> [round(float(x), 6) for x in r.team_days_by_method[0, :, 0]]  # nts, ts, manual
    [2.0, 10.0, 350.0]
    >>> float(r.cost_usd[0, 0])  # 2 x 1,000 + 10 x 2,000 + 350 x 500
    197000.0
    >>> float(r.expected_items[0, 0])  # 3.5 ha x 10 items/ha
    35.0
    """
    area = np.asarray(area_m2, dtype="float64")
    k = len(draws.class_names)
    if area.ndim != 2 or area.shape[1] != k:
        raise ValueError(f"area_m2 must have shape (N, {k}), got {area.shape}")
    if not np.all(np.isfinite(area)) or np.any(area < 0):
        raise ValueError("area_m2 must hold finite areas >= 0")

    n, d = area.shape[0], draws.n_draws
    remain_nts = 1.0 - draws.nts_cancel_share  # (K, D)
    remain_ts = remain_nts * (1.0 - draws.ts_reduce_share)  # (K, D)
    mix = draws.clearance_mix  # (K, M)
    m = mix.shape[1]

    # Every figure that is linear in the areas, in one pass: area (N, K) x factors (K, Q, D).
    # Per method m, clearance area and effort (area weighted by 1 / productivity factor).
    factors = np.empty((k, 4 + 2 * m, d))
    factors[:, 0] = remain_nts
    factors[:, 1] = remain_ts
    factors[:, 2 : 2 + m] = mix[:, :, None] * remain_ts[:, None, :]
    factors[:, 2 + m : 2 + 2 * m] = (
        mix[:, :, None] * (remain_ts / draws.productivity_factor)[:, None, :]
    )
    factors[:, 2 + 2 * m] = remain_ts * draws.items_per_ha / M2_PER_HA
    released_by_survey = 1.0 - remain_ts  # (K, D): share released by NTS or TS
    factors[:, 3 + 2 * m] = released_by_survey * draws.residual_items_per_ha_released / M2_PER_HA
    linear = _by_class(area, factors)  # (N, Q, D)
    ts_area = linear[:, 0]
    clear_area = linear[:, 1]
    by_method_area = linear[:, 2 : 2 + m]
    effort = linear[:, 2 + m : 2 + 2 * m]
    items = linear[:, 2 + 2 * m]
    in_released = linear[:, 3 + 2 * m]

    nts_total = area.sum(axis=1)
    nts_area = np.repeat(nts_total[:, None], d, axis=1)  # (N, D)
    days = np.empty((n, m + 2, d))  # nts, ts, clearance methods
    np.divide(nts_total[:, None], draws.nts_m2_per_team_day[None, :], out=days[:, 0])
    np.divide(ts_area, draws.ts_m2_per_team_day[None, :], out=days[:, 1])
    np.divide(effort, draws.clearance_m2_per_team_day[None, :, :], out=days[:, 2:])

    usd_per_team_day = np.empty((m + 2, d))
    usd_per_team_day[0] = draws.nts_usd_per_team_day
    usd_per_team_day[1] = draws.ts_usd_per_team_day
    usd_per_team_day[2:] = draws.clearance_usd_per_team_day
    cost = np.einsum("nmd,md->nd", days, usd_per_team_day)  # direct cost
    cost *= 1.0 + draws.overhead_share[None, :]

    accidents = clear_area * (draws.accidents_per_million_m2_cleared[None, :] / 1e6)
    residual = items * draws.clearance_miss_share[None, :]
    residual += in_released
    prob_any = items + in_released
    np.negative(prob_any, out=prob_any)
    np.expm1(prob_any, out=prob_any)
    np.negative(prob_any, out=prob_any)

    return LandRelease(
        nts_area_m2=nts_area,
        ts_area_m2=ts_area,
        clearance_area_m2=clear_area,
        clearance_area_m2_by_method=by_method_area,
        team_days_by_method=days,
        team_days=days.sum(axis=1),
        cost_usd=cost,
        expected_items=items,
        expected_accidents=accidents,
        residual_items=residual,
        prob_any_item=prob_any,
    )
