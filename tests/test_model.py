"""Land-release arithmetic: hand-computed cases and invariants (hypothesis)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from estimator.aggregate import sum_by_group
from estimator.model import DrawSet, release_land
from estimator.params import load_params
from estimator.uncertainty import mode_draws, sample_draws, summarize

from .conftest import DEFAULT_PARAMS


@pytest.fixture(scope="module")
def params():
    return load_params(defaults=DEFAULT_PARAMS)


@pytest.fixture(scope="module")
def draws(params):
    return mode_draws(params)


def test_hand_computed_default_parameters(draws):
    # 100 ha of each class: none, low, medium, high (defaults at their modes).
    area = np.array([[1e6, 1e6, 1e6, 1e6]])
    r = release_land(area, draws)
    # TS area: none 0, low 1e6 x 0.05, medium 1e6 x 0.3, high 1e6 x 0.68
    assert r.ts_area_m2[0, 0] == pytest.approx(50_000 + 300_000 + 680_000)
    # Clearance: low 1e6 x .05 x .2 = 10,000; medium 1e6 x .3 x .4 = 120,000;
    # high 1e6 x .68 x .65 = 442,000
    assert r.clearance_area_m2[0, 0] == pytest.approx(10_000 + 120_000 + 442_000)
    assert r.nts_area_m2[0, 0] == pytest.approx(4e6)
    # Manual: low 10,000 x .2 / 1.0 + medium 120,000 x .3 / .85 + high 442,000 x .4 / .7 (m2 effort)
    manual_effort = 2_000 + 36_000 / 0.85 + 176_800 / 0.7
    j = draws.method_names.index("manual")
    assert r.team_days_by_method[0, j, 0] == pytest.approx(manual_effort / 150)
    # Cost: every method's team-days x day cost, plus 15 % overhead.
    costs = {"nts": 1_000, "ts": 2_000, "manual": 600, "mechanical": 3_000, "mdd": 1_000}
    direct = sum(
        r.team_days_by_method[0, draws.method_names.index(m), 0] * c for m, c in costs.items()
    )
    assert r.cost_usd[0, 0] == pytest.approx(direct * 1.15)
    # Items: 1 ha x 5 + 12 ha x 20 + 44.2 ha x 50
    assert r.expected_items[0, 0] == pytest.approx(5 + 240 + 2210)
    assert r.expected_accidents[0, 0] == pytest.approx(0.572 * 0.1)


def test_class_none_costs_only_survey(draws):
    r = release_land(np.array([[5e6, 0, 0, 0]]), draws)
    assert r.ts_area_m2[0, 0] == 0 and r.clearance_area_m2[0, 0] == 0
    assert r.team_days[0, 0] == pytest.approx(5e6 / 500_000)
    assert r.cost_usd[0, 0] == pytest.approx(10 * 1_000 * 1.15)


def test_rejects_bad_areas(draws):
    with pytest.raises(ValueError, match="shape"):
        release_land(np.zeros((2, 3)), draws)
    with pytest.raises(ValueError, match="finite"):
        release_land(np.array([[1.0, -1.0, 0, 0]]), draws)


areas = arrays(
    np.float64,
    st.tuples(st.integers(1, 6), st.just(4)),
    # areas of 1 mm2 to 1,000 km2, or exactly zero (subnormal floats are not areas)
    elements=st.one_of(st.just(0.0), st.floats(1e-6, 1e9, allow_nan=False, allow_infinity=False)),
)


@settings(max_examples=60, deadline=None)
@given(area=areas)
def test_zero_area_costs_zero_and_cost_is_monotone(area, draws):
    zero = release_land(np.zeros_like(area), draws)
    assert np.all(zero.cost_usd == 0) and np.all(zero.team_days == 0)
    base = release_land(area, draws)
    more = release_land(area * 1.5 + 1.0, draws)
    assert np.all(more.cost_usd >= base.cost_usd)
    assert np.all(more.clearance_area_m2 >= base.clearance_area_m2)
    # land-release funnel: clearance <= TS <= NTS area
    assert np.all(base.clearance_area_m2 <= base.ts_area_m2 + 1e-6)
    assert np.all(base.ts_area_m2 <= base.nts_area_m2 + 1e-6)


@settings(max_examples=40, deadline=None)
@given(area=areas)
def test_doubling_productivity_halves_team_days(area, draws):
    faster = dataclasses.replace(
        draws,
        nts_m2_per_team_day=draws.nts_m2_per_team_day * 2,
        ts_m2_per_team_day=draws.ts_m2_per_team_day * 2,
        clearance_m2_per_team_day=draws.clearance_m2_per_team_day * 2,
    )
    a, b = release_land(area, draws), release_land(area, faster)
    np.testing.assert_allclose(b.team_days, a.team_days / 2, rtol=1e-12)
    np.testing.assert_allclose(b.cost_usd, a.cost_usd / 2, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(area=areas, data=st.data())
def test_region_totals_are_per_draw_sums_and_order_free(area, data, params):
    d = sample_draws(params, 50, seed=7)
    r = release_land(area, d)
    group = np.array(data.draw(st.lists(st.integers(0, 1), min_size=len(area), max_size=len(area))))
    totals = sum_by_group(r.cost_usd, group, 2)
    for g in (0, 1):
        np.testing.assert_allclose(totals[g], r.cost_usd[group == g].sum(axis=0), rtol=1e-12)
    perm = np.array(data.draw(st.permutations(range(len(area)))))
    shuffled = release_land(area[perm], d)
    np.testing.assert_allclose(
        sum_by_group(shuffled.cost_usd, group[perm], 2), totals, rtol=1e-12, atol=1e-6
    )


def test_degenerate_ranges_reproduce_the_deterministic_result(params, draws):
    area = np.array([[1e6, 2e6, 3e6, 4e6]])
    fixed = DrawSet(
        **{
            f.name: (
                np.repeat(getattr(draws, f.name), 25, axis=-1)
                if f.name not in ("class_names", "clearance_methods", "clearance_mix")
                else getattr(draws, f.name)
            )
            for f in dataclasses.fields(draws)
        }
    )
    a, b = release_land(area, draws), release_land(area, fixed)
    s = summarize(b.cost_usd)
    for k in ("p10", "p50", "p90", "mean"):
        assert s[k][0] == pytest.approx(a.cost_usd[0, 0], rel=1e-12)


def test_sampling_is_seeded_and_within_ranges(params):
    a = sample_draws(params, 500, seed=3)
    b = sample_draws(params, 500, seed=3)
    np.testing.assert_array_equal(a.overhead_share, b.overhead_share)
    np.testing.assert_array_equal(a.clearance_m2_per_team_day, b.clearance_m2_per_team_day)
    manual = params.method("manual").productivity_m2_per_team_day
    j = a.clearance_methods.index("manual")
    assert manual.low <= a.clearance_m2_per_team_day[j].min()
    assert a.clearance_m2_per_team_day[j].max() <= manual.high
    s = summarize(a.clearance_m2_per_team_day[j][None, :])
    assert s["p10"][0] <= s["p50"][0] <= s["p90"][0]


def test_model_layer_imports_no_io_or_ui():
    code = (
        "import sys, estimator.model, estimator.uncertainty, estimator.aggregate, estimator.params\n"
        "bad = [m for m in ('rasterio', 'geopandas', 'typer', 'dask', 'pyogrio', 'exactextract') "
        "if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
