"""Capacity, season and access -> calendar dates for each land-release phase.

Pure numpy, vectorised over parameter draws. The rule, stated once:

* each method's teams work as one pool, on one deposit at a time, in priority order;
* a deposit's phases run in sequence: non-technical survey, then technical survey, then
  clearance, where the clearance methods work side by side and clearance ends when the last
  of them finishes;
* work in team-days becomes calendar time through a working calendar: a number of working days
  per year (a range, so it varies by draw) spread over the months by weights (winter stand-down
  for clearance, survey continuing);
* a deposit cannot start before its earliest start (the start date, or the access date for
  ground under occupation); a deposit with no access is blocked and takes no capacity.

Times are floating-point days since the start date; ``inf`` means "never" (blocked, no teams for
needed work, or beyond the horizon).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["PHASES", "Timeline", "WorkingCalendar", "schedule_deposits", "to_dates"]

PHASES = ("nts", "ts", "clearance")
HORIZON_YEARS = 300


#: The calendar repeats every 4 years (1,461 days) until 2100; a 4-year window holds exactly
#: 4 years of every month, so 4 working years.
CYCLE_DAYS = 1461
CYCLE_YEARS = 4.0


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """Cumulative working time, day by day from a start date, over one 4-year cycle.

    ``cum[t]`` (``0 <= t <= 1461``) is the number of "working years" elapsed between the start
    date and day ``t``, so a crew that works ``w`` days a year has done ``w * cum[t]`` working
    days by then. Later days repeat the cycle.
    """

    start: dt.date
    cum: np.ndarray  # shape (CYCLE_DAYS + 1,)
    horizon_days: float

    @classmethod
    def build(
        cls, start: dt.date, month_weights: Sequence[float], horizon_years: int = HORIZON_YEARS
    ) -> WorkingCalendar:
        """Build the curve from ``start``.

        Parameters
        ----------
        start : datetime.date
            Day 0.
        month_weights : sequence of 12 floats
            Relative share of a year's working days in each month, January to December.
        horizon_years : int
            Work ending later than this is reported as never (``inf``).

        Returns
        -------
        WorkingCalendar
            The curve.

        Examples
        --------
        Equal weights: half a working year has passed after about half a calendar year.

        >>> c = WorkingCalendar.build(dt.date(2027, 1, 1), [1] * 12)
        >>> round(float(c.cum[181]), 2)
        0.5
        """
        w = np.asarray(month_weights, dtype="float64")
        if w.shape != (12,) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("month_weights must be 12 weights >= 0, not all zero")
        day0 = np.datetime64(start)
        dates = np.arange(day0, day0 + CYCLE_DAYS, dtype="datetime64[D]")
        months = dates.astype("datetime64[M]").astype(int) % 12
        years = dates.astype("datetime64[Y]").astype(int) + 1970
        per_day = w[months] / w.sum() / _month_lengths(years, months)
        cum = np.concatenate([[0.0], np.cumsum(per_day)])
        cum *= CYCLE_YEARS / cum[-1]  # remove rounding so that the cycle closes exactly
        return cls(start=start, cum=cum, horizon_days=365.25 * horizon_years)

    def elapsed(self, day: np.ndarray) -> np.ndarray:
        """Working years elapsed from day 0 to ``day``."""
        day = np.asarray(day, dtype="float64")
        cycles = np.floor(day / CYCLE_DAYS)
        within = day - cycles * CYCLE_DAYS
        return cycles * CYCLE_YEARS + np.interp(within, np.arange(CYCLE_DAYS + 1), self.cum)

    def advance(self, start_day: np.ndarray, work_years: np.ndarray) -> np.ndarray:
        """Return the day when ``work_years`` of working time, begun on ``start_day``, ends.

        Parameters
        ----------
        start_day : numpy.ndarray
            Start, days since the calendar start (``inf`` stays ``inf``).
        work_years : numpy.ndarray
            Work to do, in working years (team-days / teams / working days per year).

        Returns
        -------
        numpy.ndarray
            End day (fractional): the earliest day by which the work is done; ``inf`` beyond
            the horizon.
        """
        start_day = np.asarray(start_day, dtype="float64")
        work_years = np.broadcast_to(np.asarray(work_years, dtype="float64"), start_day.shape)
        out = np.full(start_day.shape, np.inf)
        ok = np.isfinite(start_day) & np.isfinite(work_years)
        if not ok.any():
            return out
        s = start_day[ok]
        target = self.elapsed(s) + work_years[ok]
        # Cycle and remainder in (0, 4], so that work ending exactly at a cycle boundary ends
        # on the last working day rather than at the start of the next cycle.
        cycles = np.ceil(target / CYCLE_YEARS) - 1.0
        rem = target - cycles * CYCLE_YEARS
        idx = np.clip(np.searchsorted(self.cum, rem, side="left"), 1, CYCLE_DAYS)
        lo, hi = self.cum[idx - 1], self.cum[idx]
        step = np.where(hi > lo, hi - lo, 1.0)
        end = cycles * CYCLE_DAYS + (idx - 1) + np.clip((rem - lo) / step, 0.0, 1.0)
        end = np.maximum(end, s)
        end[work_years[ok] <= 0] = s[work_years[ok] <= 0]
        end[end > self.horizon_days] = np.inf
        out[ok] = end
        return out


def _month_lengths(years: np.ndarray, months: np.ndarray) -> np.ndarray:
    base = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    leap = ((years % 4 == 0) & (years % 100 != 0)) | (years % 400 == 0)
    return base[months] + ((months == 1) & leap)


@dataclass(frozen=True, slots=True)
class Timeline:
    """Phase start and end days, shape (N, 3, D) in ``PHASES`` order, and the ready day (N, D)."""

    start_day: np.ndarray
    end_day: np.ndarray
    ready_day: np.ndarray


def schedule_deposits(
    team_days_by_method: np.ndarray,
    *,
    order: Sequence[int],
    teams: np.ndarray,
    earliest_day: np.ndarray,
    survey_days_per_year: np.ndarray,
    clearance_days_per_year: np.ndarray,
    survey_calendar: WorkingCalendar,
    clearance_calendar: WorkingCalendar,
    free_day: np.ndarray | None = None,
) -> tuple[Timeline, np.ndarray]:
    """Schedule deposits in priority order with pooled teams per method.

    Parameters
    ----------
    team_days_by_method : numpy.ndarray
        Team-days per deposit, method (``nts``, ``ts``, clearance methods) and draw: (N, M+2, D).
    order : sequence of int
        Deposit indices in the order they are served (others are not scheduled).
    teams : numpy.ndarray
        Teams per method, shape (M+2,).
    earliest_day : numpy.ndarray
        Earliest start per deposit, days since the start date (``inf`` = blocked), shape (N,).
    survey_days_per_year, clearance_days_per_year : numpy.ndarray
        Working days per year per draw, shape (D,).
    survey_calendar, clearance_calendar : WorkingCalendar
        Working-time curves from the same start date.
    free_day : numpy.ndarray, optional
        Day each method's pool becomes free, shape (M+2, D): carries capacity from one chunk of
        deposits to the next. Defaults to all zero.

    Returns
    -------
    (Timeline, numpy.ndarray)
        The timeline of the N deposits (unscheduled ones are ``inf``) and the updated
        ``free_day``.

    Examples
    --------
    Two deposits, one team per method, 100 working days a year, no seasons: each phase of 50
    team-days takes half a year, and the second deposit waits for the survey teams.

    >>> cal = WorkingCalendar.build(dt.date(2027, 1, 1), [1] * 12, horizon_years=5)
    >>> work = np.array([[[50.0], [50.0], [0.0]], [[50.0], [0.0], [0.0]]])
    >>> t, _ = schedule_deposits(
    ...     work, order=[0, 1], teams=np.array([1, 1, 1]), earliest_day=np.zeros(2),
    ...     survey_days_per_year=np.array([100.0]), clearance_days_per_year=np.array([100.0]),
    ...     survey_calendar=cal, clearance_calendar=cal)
    >>> [round(float(x)) for x in t.ready_day[:, 0]]
    [365, 365]
    """
    work = np.asarray(team_days_by_method, dtype="float64")
    n, m2, d = work.shape
    teams = np.asarray(teams, dtype="float64")
    free = np.zeros((m2, d)) if free_day is None else np.array(free_day, dtype="float64")
    start = np.full((n, 3, d), np.inf)
    end = np.full((n, 3, d), np.inf)
    ready = np.full((n, d), np.inf)
    per_year = [survey_days_per_year, survey_days_per_year] + [clearance_days_per_year] * (m2 - 2)
    cals = [survey_calendar, survey_calendar] + [clearance_calendar] * (m2 - 2)

    def run(method: int, deposit: int, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = work[deposit, method]
        needs = w > 0
        begin = np.where(needs, np.maximum(after, free[method]), after)
        if teams[method] <= 0:
            finish = np.where(needs, np.inf, begin)
        else:
            finish = cals[method].advance(begin, w / teams[method] / per_year[method])
        free[method] = np.where(needs, finish, free[method])
        return begin, finish

    for i in order:
        e = float(earliest_day[i])
        if not np.isfinite(e):
            continue
        t0 = np.full(d, e)
        s_nts, e_nts = run(0, i, t0)
        s_ts, e_ts = run(1, i, e_nts)
        starts, ends = [], []
        for m in range(2, m2):
            s, f = run(m, i, e_ts)
            if np.any(work[i, m] > 0):
                starts.append(np.where(work[i, m] > 0, s, np.inf))
                ends.append(np.where(work[i, m] > 0, f, e_ts))
        s_cl = np.minimum.reduce(starts) if starts else e_ts.copy()
        s_cl = np.where(np.isfinite(s_cl), s_cl, e_ts)
        e_cl = np.maximum.reduce(ends) if ends else e_ts.copy()
        start[i] = np.stack([s_nts, s_ts, s_cl])
        end[i] = np.stack([e_nts, e_ts, e_cl])
        ready[i] = e_cl
    return Timeline(start_day=start, end_day=end, ready_day=ready), free


def to_dates(start: dt.date, days: np.ndarray) -> list[str | None]:
    """Convert day offsets to ISO dates (``None`` for ``inf`` or NaN).

    Examples
    --------
    >>> to_dates(dt.date(2027, 1, 1), np.array([0.0, 31.4, np.inf]))
    ['2027-01-01', '2027-02-01', None]
    """
    out: list[str | None] = []
    for x in np.asarray(days, dtype="float64").ravel():
        out.append(None if not np.isfinite(x) else (start + dt.timedelta(days=int(x))).isoformat())
    return out
