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

__all__ = [
    "PHASES",
    "Timeline",
    "WorkingCalendar",
    "day_to_date",
    "schedule_deposits",
    "to_dates",
]

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
    # The curve is linear within each calendar month: segment start days, cum at those days and
    # the working years per day inside each segment (for a fast inverse).
    seg_day: np.ndarray
    seg_cum: np.ndarray
    seg_rate: np.ndarray

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
        change = np.flatnonzero(np.diff(months)) + 1
        seg_day = np.concatenate([[0], change, [CYCLE_DAYS]])
        seg_cum = cum[seg_day]
        seg_rate = np.diff(seg_cum) / np.diff(seg_day)
        return cls(
            start=start,
            cum=cum,
            horizon_days=365.25 * horizon_years,
            seg_day=seg_day.astype("float64"),
            seg_cum=seg_cum,
            seg_rate=seg_rate,
        )

    def elapsed(self, day: np.ndarray) -> np.ndarray:
        """Working years elapsed from day 0 to ``day``."""
        day = np.asarray(day, dtype="float64")
        finite = np.isfinite(day)
        safe = np.where(finite, day, 0.0)
        cycles = np.floor(safe / CYCLE_DAYS)
        within = safe - cycles * CYCLE_DAYS
        i = np.minimum(within.astype(np.int64), CYCLE_DAYS - 1)
        years = cycles * CYCLE_YEARS + self.cum[i] + (within - i) * (self.cum[i + 1] - self.cum[i])
        return np.where(finite, years, day)

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
        end = self.day_at(self.elapsed(s) + work_years[ok])
        end = np.maximum(end, s)
        end[work_years[ok] <= 0] = s[work_years[ok] <= 0]
        out[ok] = end
        return out

    def day_at(self, working_years: np.ndarray) -> np.ndarray:
        """Return the earliest day by which ``working_years`` of working time have elapsed.

        ``inf`` stays ``inf``; days beyond the horizon become ``inf``.
        """
        target = np.asarray(working_years, dtype="float64")
        out = np.full(target.shape, np.inf)
        ok = np.isfinite(target)
        t = target[ok]
        # Cycle and remainder in (0, 4], so that work ending exactly at a cycle boundary ends
        # on the last working day rather than at the start of the next cycle.
        cycles = np.ceil(t / CYCLE_YEARS) - 1.0
        rem = t - cycles * CYCLE_YEARS
        # The first month boundary at or past rem closes the month that holds it (a search over
        # ~49 boundaries, not 1,461 days); within the month the curve is linear.
        last = self.seg_rate.size
        j = np.clip(np.searchsorted(self.seg_cum, rem, side="left"), 1, last) - 1
        rate = self.seg_rate[j]
        within = np.where(rate > 0, (rem - self.seg_cum[j]) / np.where(rate > 0, rate, 1.0), 0.0)
        span = self.seg_day[j + 1] - self.seg_day[j]
        day = cycles * CYCLE_DAYS + self.seg_day[j] + np.clip(within, 0.0, span)
        day[day > self.horizon_days] = np.inf
        out[ok] = day
        return out


def _month_lengths(years: np.ndarray, months: np.ndarray) -> np.ndarray:
    base = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    leap = ((years % 4 == 0) & (years % 100 != 0)) | (years % 400 == 0)
    return base[months] + ((months == 1) & leap)


@dataclass(frozen=True, slots=True)
class Timeline:
    """When each deposit's phases run, for every draw.

    Phase times are kept in working years of the phase's calendar (survey for NTS and TS,
    clearance for clearance), shape (N, 3, D) in ``PHASES`` order; only the ready day (N, D) is
    converted to days for every draw. :meth:`phase_days` converts chosen entries.
    """

    start_years: np.ndarray
    end_years: np.ndarray
    ready_day: np.ndarray
    calendars: tuple[WorkingCalendar, WorkingCalendar, WorkingCalendar]

    def phase_days(self, draw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Start and end days of every phase of each deposit in the given draw, shape (N, 3).

        A phase that waits through a stand-down starts when its calendar resumes work, and never
        before the previous phase ends.
        """
        rows = np.arange(self.ready_day.shape[0])
        starts = np.empty((rows.size, 3))
        ends = np.empty((rows.size, 3))
        previous_end = np.full(rows.size, -np.inf)
        for p, cal in enumerate(self.calendars):
            s_y = self.start_years[rows, p, draw]
            e_y = self.end_years[rows, p, draw]
            starts[:, p] = np.maximum(cal.day_at(s_y), previous_end)
            ends[:, p] = np.maximum(cal.day_at(e_y), starts[:, p])
            # A phase with no work ends when it starts.
            ends[:, p] = np.where(e_y == s_y, starts[:, p], ends[:, p])
            previous_end = ends[:, p]
        return starts, ends


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
    free: np.ndarray | None = None,
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
    free : numpy.ndarray, optional
        When each method's pool is free, in working years of its calendar, shape (M+2, D):
        carries capacity from one chunk of deposits to the next (pass back what was returned).

    Returns
    -------
    (Timeline, numpy.ndarray)
        The timeline of the N deposits (unscheduled ones are ``inf``) and the updated ``free``.

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
    free = np.zeros((m2, d)) if free is None else np.array(free, dtype="float64")
    idx = np.asarray(order, dtype=int)
    cals = (survey_calendar, survey_calendar, clearance_calendar)
    start = np.full((n, 3, d), np.inf)
    end = np.full((n, 3, d), np.inf)
    ready = np.full((n, d), np.inf)
    if idx.size == 0:
        return Timeline(start, end, ready, cals), free
    sub = work[idx]
    earliest = np.asarray(earliest_day, dtype="float64")[idx]
    active = np.isfinite(earliest)
    per_year = [survey_days_per_year, survey_days_per_year] + [clearance_days_per_year] * (m2 - 2)

    def pool(m: int, after: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Serve the deposits in order with method m's pool, all in working years.

        E_i = max(after_i, E_{i-1}) + w_i is solved as a max-plus scan:
        E_i = W_i + max(E_-1, max_{j<=i}(after_j - W_{j-1})), W = cumulative work.
        Returns (start, end, needs); rows without work start and end at ``after``.
        """
        needs = (sub[:, m] > 0) & active[:, None] & np.isfinite(after)
        stuck = (sub[:, m] > 0) & active[:, None] & ~np.isfinite(after)
        if teams[m] <= 0:
            never = needs | stuck
            if never.any():
                free[m] = np.where(never.any(axis=0), np.inf, free[m])
            return np.where(never, np.inf, after), np.where(never, np.inf, after), never
        if not needs.any():
            return np.where(stuck, np.inf, after), np.where(stuck, np.inf, after), stuck
        w = np.where(needs, sub[:, m] / teams[m] / per_year[m][None, :], 0.0)
        ready_y = np.where(needs, after, -np.inf)
        cum_w = np.cumsum(w, axis=0)
        with np.errstate(invalid="ignore"):  # inf - inf where a pool is stuck forever
            scan = np.maximum.accumulate(ready_y - (cum_w - w), axis=0)
        finish = cum_w + np.maximum(free[m][None, :], scan)
        finish = np.where(np.isnan(finish), np.inf, finish)
        begin = np.where(needs, finish - w, after)
        finish = np.where(needs, finish, after)
        begin[stuck] = np.inf
        finish[stuck] = np.inf
        free[m] = np.where(
            needs.any(axis=0), np.max(np.where(needs, finish, -np.inf), axis=0), free[m]
        )
        return begin, finish, needs | stuck

    survey, clearance = survey_calendar, clearance_calendar
    t0 = np.broadcast_to(
        np.where(active, survey.elapsed(np.where(active, earliest, 0.0)), np.inf)[:, None],
        (idx.size, d),
    )
    s_nts, e_nts, _ = pool(0, t0)
    s_ts, e_ts, _ = pool(1, e_nts)
    # TS ends in survey time; clearance runs on its own calendar.
    e_ts_day = np.maximum(survey.day_at(e_ts), np.where(active, earliest, np.inf)[:, None])
    after_cl = clearance.elapsed(e_ts_day)
    s_cl = np.full((idx.size, d), np.inf)
    e_cl = after_cl.copy()
    any_cl = np.zeros((idx.size, d), dtype=bool)
    for m in range(2, m2):
        sm, em, needs = pool(m, after_cl)
        s_cl = np.where(needs, np.minimum(s_cl, sm), s_cl)
        e_cl = np.where(needs, np.maximum(e_cl, em), e_cl)
        any_cl |= needs
    s_cl = np.where(any_cl, s_cl, after_cl)
    ready_day = np.where(any_cl, np.maximum(clearance.day_at(e_cl), e_ts_day), e_ts_day)
    ready_day = np.where(active[:, None], ready_day, np.inf)
    start[idx] = np.stack([s_nts, s_ts, s_cl], axis=1)
    end[idx] = np.stack([e_nts, e_ts, e_cl], axis=1)
    ready[idx] = ready_day
    inactive = idx[~active]
    start[inactive] = np.inf
    end[inactive] = np.inf
    return Timeline(start, end, ready, cals), free


def day_to_date(start: dt.date, day: float) -> dt.date | None:
    """Convert a day offset to a date, rounded to the nearest day (``None`` if never)."""
    if not np.isfinite(day):
        return None
    return start + dt.timedelta(days=round(float(day)))


def to_dates(start: dt.date, days: np.ndarray) -> list[str | None]:
    """Convert day offsets to ISO dates, rounded to the nearest day (``None`` if never).

    Examples
    --------
    >>> to_dates(dt.date(2027, 1, 1), np.array([0.0, 31.4, np.inf]))
    ['2027-01-01', '2027-02-01', None]
    """
    dates = (day_to_date(start, x) for x in np.asarray(days, dtype="float64").ravel())
    return [None if d is None else d.isoformat() for d in dates]
