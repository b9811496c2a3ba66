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
#: Deposits scheduled at once: (rows x draws) arrays small enough to stay in the processor's
#: cache (32 x 2,000 draws = 0.5 MB), which makes the schedule ~2x faster than larger blocks.
BLOCK_ROWS = 32


#: The calendar repeats every 4 years (1,461 days) until 2100; a 4-year window holds exactly
#: 4 years of every month, so 4 working years.
CYCLE_DAYS = 1461
CYCLE_YEARS = 4.0
#: Rounding allowance when finding the month that holds a working time (~1 ms of work).
SEGMENT_TOLERANCE_YEARS = 1e-11


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
    # Derived in build(): the day-to-day steps of ``cum``; per segment, its length in days and
    # rate (``inf`` where no work is done, so that time within it is 0); and a lookup table that
    # finds the segment of a working time without a binary search (see _segment).
    step: np.ndarray
    seg_span: np.ndarray
    seg_rate_safe: np.ndarray
    lut_scale: float
    lut_first: np.ndarray | None
    lut_value: np.ndarray | None
    lut_count: np.ndarray | None

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
        day0 = np.datetime64(start, "D")
        dates = np.arange(day0, day0 + np.timedelta64(CYCLE_DAYS, "D"), dtype="datetime64[D]")
        months = dates.astype("datetime64[M]").astype(int) % 12
        years = dates.astype("datetime64[Y]").astype(int) + 1970
        per_day = w[months] / w.sum() / _month_lengths(years, months)
        cum = np.concatenate([[0.0], np.cumsum(per_day)])
        cum *= CYCLE_YEARS / cum[-1]  # remove rounding so that the cycle closes exactly
        change = np.flatnonzero(np.diff(months)) + 1
        seg_day = np.concatenate([[0], change, [CYCLE_DAYS]])
        seg_cum = cum[seg_day]
        seg_rate = np.diff(seg_cum) / np.diff(seg_day)
        scale, first, value, count = _segment_table(seg_cum)
        return cls(
            start=start,
            cum=cum,
            horizon_days=365.25 * horizon_years,
            seg_day=seg_day.astype("float64"),
            seg_cum=seg_cum,
            seg_rate=seg_rate,
            step=np.diff(cum),
            seg_span=np.diff(seg_day).astype("float64"),
            seg_rate_safe=np.where(seg_rate > 0, seg_rate, np.inf),
            lut_scale=scale,
            lut_first=first,
            lut_value=value,
            lut_count=count,
        )

    def elapsed(self, day: np.ndarray) -> np.ndarray:
        """Working years elapsed from day 0 to ``day``."""
        day = np.asarray(day, dtype="float64")
        finite = np.isfinite(day)
        every = bool(finite.all())
        safe = day if every else np.where(finite, day, 0.0)
        cycles = np.floor(safe / CYCLE_DAYS)
        within = safe - cycles * CYCLE_DAYS
        i = np.minimum(within.astype(np.int64), CYCLE_DAYS - 1)
        years = cycles * CYCLE_YEARS + self.cum[i] + (within - i) * self.step[i]
        return years if every else np.where(finite, years, day)

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
        finite = np.isfinite(target)
        every = bool(finite.all())
        t = target if every else target[finite]
        # Cycle and remainder in (0, 4], so that work ending exactly at a cycle boundary ends
        # on the last working day rather than at the start of the next cycle.
        cycles = np.ceil(t / CYCLE_YEARS) - 1.0
        rem = t - cycles * CYCLE_YEARS
        # The first month boundary at or past rem closes the month that holds it; within the
        # month the curve is linear (a month without work takes no time).
        j = self._segment(rem)
        within = (rem - self.seg_cum[j]) / self.seg_rate_safe[j]
        np.clip(within, 0.0, self.seg_span[j], out=within)
        day = cycles * CYCLE_DAYS + self.seg_day[j] + within
        day[day > self.horizon_days] = np.inf
        if every:
            return day
        out = np.full(target.shape, np.inf)
        out[finite] = day
        return out

    def _segment(self, rem: np.ndarray) -> np.ndarray:
        """Index of the segment that closes at the first boundary ``>= rem`` (0 for ``rem <= 0``).

        Same as ``clip(searchsorted(seg_cum, rem, "left"), 1, S) - 1``, by table lookup: bins of
        width ``1 / lut_scale`` (a power of two, so ``rem * lut_scale`` is exact) each hold at
        most one distinct boundary value, so the count of boundaries below ``rem`` is the count
        below the bin plus, past that value, its multiplicity.
        """
        # A boundary within rounding of rem counts as reached: working time that ends exactly
        # at a month boundary followed by a stand-down ends before the stand-down, not after it
        # (cum at the boundary and rem = t - 4 * cycles may differ in their last bits).
        rem = rem - SEGMENT_TOLERANCE_YEARS
        if self.lut_first is None:
            below = np.searchsorted(self.seg_cum, rem, side="left")
        else:
            b = (rem * self.lut_scale).astype(np.intp)  # truncation = floor for rem >= 0
            np.clip(b, 0, self.lut_first.size - 1, out=b)
            below = self.lut_first[b] + self.lut_count[b] * (rem > self.lut_value[b])
        last = self.seg_rate.size
        return np.clip(below, 1, last) - 1


def _segment_table(
    seg_cum: np.ndarray, max_bits: int = 14
) -> tuple[float, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Lookup table for :meth:`WorkingCalendar._segment` over working times in [0, 4].

    Returns ``(scale, first, value, count)``: bin ``b`` covers ``[b / scale, (b + 1) / scale)``
    (the last bin everything from 4 on), ``first[b]`` counts boundaries below the bin, and the
    bin holds ``count[b]`` boundaries all equal to ``value[b]`` (``inf`` and 0 if none). The
    tables are ``None`` if no power-of-two width up to ``2**-max_bits`` separates the values.
    """
    for bits in range(4, max_bits + 1):
        scale = float(2**bits)
        n_bins = int(CYCLE_YEARS * scale) + 1
        edges = np.arange(n_bins + 1, dtype="float64") / scale
        edges[-1] = np.inf
        first = np.searchsorted(seg_cum, edges[:-1], side="left")
        stop = np.searchsorted(seg_cum, edges[1:], side="left")
        count = stop - first
        lo = seg_cum[np.minimum(first, seg_cum.size - 1)]
        hi = seg_cum[np.maximum(stop - 1, 0)]
        if np.all((count == 0) | (lo == hi)):
            value = np.where(count > 0, lo, np.inf)
            return scale, first.astype(np.intp), value, count.astype(np.intp)
    return 0.0, None, None, None


def _month_lengths(years: np.ndarray, months: np.ndarray) -> np.ndarray:
    base = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    leap = ((years % 4 == 0) & (years % 100 != 0)) | (years % 400 == 0)
    return base[months] + ((months == 1) & leap)


#: Working time (years, ~0.3 s) past a phase's start that finds the day its work resumes.
_RESUME_YEARS = 1e-8


@dataclass(frozen=True, slots=True)
class Timeline:
    """When each deposit's phases run, for every draw.

    Phase times are kept in working years of the phase's calendar (survey for NTS and TS,
    clearance for clearance), one (N, D) array per phase in ``PHASES`` order; only the ready
    day (N, D) is converted to days for every draw. :meth:`phase_days` converts chosen entries.
    """

    phase_start_years: tuple[np.ndarray, np.ndarray, np.ndarray]
    phase_end_years: tuple[np.ndarray, np.ndarray, np.ndarray]
    ready_day: np.ndarray
    calendars: tuple[WorkingCalendar, WorkingCalendar, WorkingCalendar]

    @property
    def start_years(self) -> np.ndarray:
        """Start of each phase in working years, shape (N, 3, D)."""
        return np.stack(self.phase_start_years, axis=1)

    @property
    def end_years(self) -> np.ndarray:
        """End of each phase in working years, shape (N, 3, D)."""
        return np.stack(self.phase_end_years, axis=1)

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
            s_y = self.phase_start_years[p][rows, draw]
            e_y = self.phase_end_years[p][rows, draw]
            # (day_at gives the earliest day by which s_y working years have elapsed: the eve
            # of a stand-down; a hair more working time is the day the calendar resumes)
            starts[:, p] = np.maximum(cal.day_at(s_y + _RESUME_YEARS), previous_end)
            ends[:, p] = np.maximum(cal.day_at(e_y), starts[:, p])
            # A phase with no work ends when it starts.
            ends[:, p] = np.where(e_y == s_y, starts[:, p], ends[:, p])
            previous_end = ends[:, p]
        return starts, ends


def _accumulate(ufunc: np.ufunc, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Return ``ufunc.accumulate(x, axis=0)``, computed row by row.

    numpy strides down the columns of a C-order array, several times slower for rows of
    thousands of draws; the order of operations is the same, so are the bits.
    """
    if x.ndim != 2 or x.shape[1] < 64:
        return ufunc.accumulate(x, axis=0, out=out)
    if out is None:
        out = np.empty_like(x)
    if out is not x and x.shape[0]:
        out[0] = x[0]
    for i in range(1, x.shape[0]):
        ufunc(out[i - 1], x[i], out=out[i])
    return out


def _pool(
    work: np.ndarray,
    per_team_year: np.ndarray,
    after: np.ndarray,
    free: np.ndarray,
    active: np.ndarray,
    all_active: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Serve deposits in order with one method's pool of teams, all in working years.

    ``work`` (n, D) is the method's team-days per deposit, ``per_team_year`` (D,) the team-days
    the whole pool does in a working year, ``after`` (n, D) when each deposit is ready for this
    method, ``free`` (D,) when the pool is free (updated in place). Deposit i ends at
    E_i = max(after_i, E_{i-1}) + w_i, solved as a max-plus scan:
    E_i = W_i + max(E_-1, max_{j<=i}(after_j - W_{j-1})), W = cumulative work.

    Returns (start, end, needs); rows without work start and end at ``after``.
    """
    positive = work > 0
    if all_active and positive.all() and np.isfinite(after).all():
        # Every deposit needs this method and none waits forever: no masks (the usual case).
        w = work / per_team_year
        cum_w = _accumulate(np.add, w)
        finish = after - cum_w
        finish += w
        _accumulate(np.maximum, finish, out=finish)
        np.maximum(finish, free, out=finish)
        finish += cum_w
        free[:] = finish[-1]
        return finish - w, finish, positive
    reachable = np.isfinite(after)
    if not all_active:
        positive &= active[:, None]
    needs = positive & reachable
    stuck = positive & ~reachable
    if not needs.any():
        return np.where(stuck, np.inf, after), np.where(stuck, np.inf, after), stuck
    w = np.where(needs, work / per_team_year, 0.0)
    ready_y = np.where(needs, after, -np.inf)
    cum_w = _accumulate(np.add, w)
    with np.errstate(invalid="ignore"):  # inf - inf where a pool is stuck forever
        scan = _accumulate(np.maximum, ready_y - (cum_w - w))
    finish = cum_w + np.maximum(free[None, :], scan)
    finish = np.where(np.isnan(finish), np.inf, finish)
    begin = np.where(needs, finish - w, after)
    finish = np.where(needs, finish, after)
    begin[stuck] = np.inf
    finish[stuck] = np.inf
    free[:] = np.where(needs.any(axis=0), np.max(np.where(needs, finish, -np.inf), axis=0), free)
    return begin, finish, needs | stuck


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
    earliest = np.asarray(earliest_day, dtype="float64")
    identity = idx.size == n and np.array_equal(idx, np.arange(n))
    # Outputs in service order (rows of idx); scattered to input order at the end if needed.
    starts = tuple(np.empty((idx.size, d)) for _ in PHASES)
    ends = tuple(np.empty((idx.size, d)) for _ in PHASES)
    ready = np.empty((idx.size, d))
    per_year = [survey_days_per_year, survey_days_per_year] + [clearance_days_per_year] * (m2 - 2)
    per_team_year = [teams[m] * np.asarray(per_year[m], dtype="float64") for m in range(m2)]
    # Blocks of rows small enough for the processor's cache; the pools' "free" carries over.
    for b0 in range(0, idx.size, BLOCK_ROWS):
        rows = slice(b0, min(b0 + BLOCK_ROWS, idx.size))
        block = work[b0 : rows.stop] if identity else work[idx[rows]]
        phases, ready[rows] = _schedule_block(
            block,
            earliest[idx[rows]],
            teams,
            per_team_year,
            free,
            survey_calendar,
            clearance_calendar,
        )
        for p, (s_p, e_p) in enumerate(phases):
            starts[p][rows] = s_p
            ends[p][rows] = e_p
    if identity:
        return Timeline(starts, ends, ready, cals), free

    def scatter(values: np.ndarray) -> np.ndarray:
        out = np.full((n, d), np.inf)
        out[idx] = values
        return out

    return (
        Timeline(
            tuple(scatter(x) for x in starts), tuple(scatter(x) for x in ends), scatter(ready), cals
        ),
        free,
    )


def _schedule_block(
    sub: np.ndarray,
    earliest: np.ndarray,
    teams: np.ndarray,
    per_team_year: list[np.ndarray],
    free: np.ndarray,
    survey: WorkingCalendar,
    clearance: WorkingCalendar,
) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Schedule consecutive deposits in service order: (start, end) of each phase, ready day.

    ``sub`` is (n, M+2, D) team-days, ``earliest`` (n,) days, ``teams`` (M+2,) teams per method,
    ``per_team_year`` the team-days each method's pool does in a working year (D,); ``free``
    (M+2, D) is updated in place.
    """
    n, m2, d = sub.shape
    active = np.isfinite(earliest)
    all_active = bool(active.all())

    def pool(m: int, after: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if teams[m] <= 0:  # no teams: work for this method never ends
            never = (sub[:, m] > 0) & active[:, None]
            if never.any():
                free[m] = np.where(never.any(axis=0), np.inf, free[m])
            return np.where(never, np.inf, after), np.where(never, np.inf, after), never
        return _pool(sub[:, m], per_team_year[m], after, free[m], active, all_active)

    t0 = np.broadcast_to(
        np.where(active, survey.elapsed(np.where(active, earliest, 0.0)), np.inf)[:, None], (n, d)
    )
    s_nts, e_nts, _ = pool(0, t0)
    s_ts, e_ts, _ = pool(1, e_nts)
    # TS ends in survey time; clearance runs on its own calendar.
    e_ts_day = survey.day_at(e_ts)
    np.maximum(e_ts_day, np.where(active, earliest, np.inf)[:, None], out=e_ts_day)
    after_cl = clearance.elapsed(e_ts_day)
    s_cl = e_cl = any_cl = None
    for m in range(2, m2):
        sm, em, needs = pool(m, after_cl)
        if s_cl is None:
            s_cl, e_cl, any_cl = sm, em, needs
            continue
        if needs.all():
            s_cl = (
                np.minimum(s_cl, sm) if any_cl.all() else np.where(any_cl, np.minimum(s_cl, sm), sm)
            )
            e_cl = np.maximum(e_cl, em)
        else:
            s_cl = np.where(needs, np.where(any_cl, np.minimum(s_cl, sm), sm), s_cl)
            e_cl = np.where(needs, np.maximum(e_cl, em), e_cl)
        any_cl = any_cl | needs
    if s_cl is None:  # no clearance method at all
        s_cl, e_cl, any_cl = after_cl, after_cl, np.zeros((n, d), dtype=bool)
    if any_cl.all():
        ready_day = np.maximum(clearance.day_at(e_cl), e_ts_day)
    else:
        s_cl = np.where(any_cl, s_cl, after_cl)
        e_cl = np.where(any_cl, e_cl, after_cl)
        ready_day = np.where(any_cl, np.maximum(clearance.day_at(e_cl), e_ts_day), e_ts_day)
    phases = [(s_nts, e_nts), (s_ts, e_ts), (s_cl, e_cl)]
    if not all_active:
        ready_day[~active] = np.inf
        phases = [
            (np.where(active[:, None], s, np.inf), np.where(active[:, None], e, np.inf))
            for s, e in phases
        ]
    return phases, ready_day


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
