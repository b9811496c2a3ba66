"""Schedule: hand-checked calendars, and the vectorised scan against a plain loop."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from estimator.schedule import (
    SEGMENT_TOLERANCE_YEARS,
    WorkingCalendar,
    schedule_deposits,
    to_dates,
)

START = dt.date(2027, 1, 1)
FLAT = WorkingCalendar.build(START, [1] * 12)
WINTER = WorkingCalendar.build(START, [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0])  # no work Dec-Feb


def test_flat_calendar_half_a_year():
    # 100 working days a year, 50 team-days with one team: half a working year.
    end = FLAT.advance(np.array([0.0]), np.array([0.5]))[0]
    assert end == pytest.approx(181.0, abs=1.0)  # 1 Jan + half of 365 days ~ 2 July


def test_winter_stand_down_pushes_work_to_march():
    # Work that would start on 1 January with a winter stop cannot start before 1 March
    # (day 59 in 2027); one working month (1/9 of a 9-month year) ends on 1 April (day 90).
    end = WINTER.advance(np.array([0.0]), np.array([1 / 9]))[0]
    assert to_dates(START, np.array([end])) == ["2027-04-01"]


def test_work_ending_on_a_cycle_boundary_ends_in_november():
    # Exactly 4 working years from 1 Jan 2027 with no December work ends on 1 Dec 2030,
    # not on 1 Jan 2031.
    end = WINTER.advance(np.array([0.0]), np.array([4.0]))[0]
    assert to_dates(START, np.array([end])) == ["2030-12-01"]


def test_zero_work_and_infinite_start():
    out = WINTER.advance(np.array([10.0, np.inf]), np.array([0.0, 1.0]))
    assert out[0] == 10.0 and np.isinf(out[1])


def test_horizon_is_never():
    cal = WorkingCalendar.build(START, [1] * 12, horizon_years=10)
    assert np.isinf(cal.advance(np.array([0.0]), np.array([11.0]))[0])


def _reference(work, order, teams, earliest, per_year_s, per_year_c, cal_s, cal_c):
    """A plain loop over deposits: the rule as written in the module docstring."""
    n, m2, d = work.shape
    free = np.zeros((m2, d))
    ready = np.full((n, d), np.inf)
    per_year = [per_year_s, per_year_s] + [per_year_c] * (m2 - 2)
    cals = [cal_s, cal_s] + [cal_c] * (m2 - 2)

    def run(m, i, after):
        w = work[i, m]
        needs = w > 0
        begin = np.where(needs, np.maximum(after, free[m]), after)
        finish = (
            np.where(needs, np.inf, begin)
            if teams[m] <= 0
            else cals[m].advance(begin, w / teams[m] / per_year[m])
        )
        free[m] = np.where(needs, finish, free[m])
        return finish

    for i in order:
        if not np.isfinite(earliest[i]):
            continue
        e_nts = run(0, i, np.full(d, float(earliest[i])))
        e_ts = run(1, i, e_nts)
        ends = [np.where(work[i, m] > 0, run(m, i, e_ts), e_ts) for m in range(2, m2)]
        ready[i] = np.maximum.reduce([e_ts, *ends])
    return ready


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 6),
    d=st.integers(1, 3),
    seed=st.integers(0, 10_000),
    zero_teams=st.booleans(),
)
def test_vectorised_scan_equals_the_loop(n, d, seed, zero_teams):
    rng = np.random.default_rng(seed)
    m2 = 5
    work = rng.choice([0.0, 1.0], size=(n, m2, d), p=[0.3, 0.7]) * rng.gamma(1.0, 300.0, (n, m2, d))
    teams = np.array([2, 1, 5, 1, 0 if zero_teams else 2], dtype=float)
    earliest = rng.choice([0.0, 100.0, 400.0, np.inf], size=n)
    order = rng.permutation(n)
    ps, pc = rng.uniform(150, 250, d), rng.uniform(120, 200, d)
    t, _ = schedule_deposits(
        work,
        order=order,
        teams=teams,
        earliest_day=earliest,
        survey_days_per_year=ps,
        clearance_days_per_year=pc,
        survey_calendar=FLAT,
        clearance_calendar=WINTER,
    )
    ref = _reference(work, order, teams, earliest, ps, pc, FLAT, WINTER)
    assert np.array_equal(np.isinf(t.ready_day), np.isinf(ref))
    fin = np.isfinite(ref)
    np.testing.assert_allclose(t.ready_day[fin], ref[fin], rtol=0, atol=1e-6)
    # phases are ordered
    assert np.all((t.start_years <= t.end_years) | np.isinf(t.start_years))
    starts, ends = t.phase_days(np.zeros(n, dtype=int))
    ok = np.isfinite(ends)
    assert np.all(starts[ok] <= ends[ok])
    assert np.all(np.diff(np.where(ok, ends, 0), axis=1)[ok[:, 1:]] >= -1e-9)


def test_chunks_carry_capacity():
    rng = np.random.default_rng(3)
    work = rng.gamma(1.0, 300.0, (8, 5, 2))
    kw = dict(
        teams=np.array([1, 1, 2, 1, 1.0]),
        survey_days_per_year=np.array([200.0, 220.0]),
        clearance_days_per_year=np.array([180.0, 150.0]),
        survey_calendar=FLAT,
        clearance_calendar=WINTER,
    )
    whole, _ = schedule_deposits(work, order=range(8), earliest_day=np.zeros(8), **kw)
    a, free = schedule_deposits(work[:5], order=range(5), earliest_day=np.zeros(5), **kw)
    b, _ = schedule_deposits(work[5:], order=range(3), earliest_day=np.zeros(3), free=free, **kw)
    np.testing.assert_allclose(np.vstack([a.ready_day, b.ready_day]), whole.ready_day, atol=1e-9)


def test_blocked_deposits_take_no_capacity():
    work = np.ones((2, 3, 1)) * 100
    kw = dict(
        teams=np.ones(3),
        survey_days_per_year=np.array([100.0]),
        clearance_days_per_year=np.array([100.0]),
        survey_calendar=FLAT,
        clearance_calendar=FLAT,
    )
    t, _ = schedule_deposits(work, order=[0, 1], earliest_day=np.array([np.inf, 0.0]), **kw)
    alone, _ = schedule_deposits(work[1:], order=[0], earliest_day=np.array([0.0]), **kw)
    assert np.isinf(t.ready_day[0, 0])
    assert t.ready_day[1, 0] == pytest.approx(alone.ready_day[0, 0])


@settings(max_examples=40, deadline=None)
@given(
    weights=st.lists(st.sampled_from([0.0, 0.01, 0.5, 1.0, 3.0]), min_size=12, max_size=12),
    start=st.dates(dt.date(2025, 1, 1), dt.date(2035, 12, 31)),
    seed=st.integers(0, 10_000),
)
def test_segment_lookup_equals_binary_search(weights, start, seed):
    if sum(weights) == 0:
        weights[5] = 1.0
    cal = WorkingCalendar.build(start, weights)
    rng = np.random.default_rng(seed)
    # Random times, every month boundary exactly, its neighbours, and the ends of the range.
    edges = cal.seg_cum
    rem = np.concatenate(
        [
            rng.uniform(-0.5, 4.5, 500),
            edges,
            np.nextafter(edges, -np.inf),
            np.nextafter(edges, np.inf),
            [0.0, 4.0, -0.0, 1e-300],
        ]
    )
    tol = SEGMENT_TOLERANCE_YEARS
    expected = np.clip(np.searchsorted(edges, rem - tol, side="left"), 1, edges.size - 1) - 1
    # The table when some power-of-two bin width separates the boundaries, else a binary search.
    np.testing.assert_array_equal(cal._segment(rem), expected)


def test_default_calendars_use_the_lookup_table():
    from estimator.pipeline import load_default_params

    g = load_default_params().general
    for weights in (g.survey_month_weights, g.clearance_month_weights, [1] * 12):
        assert WorkingCalendar.build(START, weights).lut_first is not None


def test_day_at_inverts_elapsed_with_a_stand_down():
    days = np.linspace(1.0, 3000.0, 29_991)
    years = WINTER.elapsed(days)
    back = WINTER.day_at(years)
    # The earliest day with that much work done: the day itself where work went on just
    # before it, else the first day of the stand-down that precedes it.
    np.testing.assert_allclose(WINTER.elapsed(back), years, rtol=0, atol=1e-12)
    assert np.all(back <= days + 1e-6)
    worked_before = WINTER.elapsed(days - 0.05) < years
    np.testing.assert_allclose(back[worked_before], days[worked_before], rtol=0, atol=1e-6)
    assert 0.2 < worked_before.mean() < 0.8


def test_a_phase_waiting_through_the_stand_down_starts_when_work_resumes():
    # Survey (all year) ends in early January; clearance (no work Dec-Feb) cannot begin
    # before 1 March, and the phase dates say so rather than showing it begun in January.
    work = np.array([[[1.0], [1.0], [10.0]]])  # team-days: NTS, TS, one clearance method
    t, _ = schedule_deposits(
        work,
        order=[0],
        earliest_day=np.array([0.0]),
        teams=np.ones(3),
        survey_days_per_year=np.array([100.0]),
        clearance_days_per_year=np.array([100.0]),
        survey_calendar=FLAT,
        clearance_calendar=WINTER,
    )
    starts, ends = t.phase_days(np.array([0]))
    survey_end, clearance_start = ends[0, 1], starts[0, 2]
    assert to_dates(START, np.array([survey_end]))[0] < "2027-01-31"
    assert to_dates(START, np.array([clearance_start])) == ["2027-03-01"]
    assert ends[0, 2] > clearance_start
