"""Monte Carlo, schedule and sensitivity through the library and the CLI."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json

import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from shapely.geometry import box
from typer.testing import CliRunner

from estimator import report as rep
from estimator.cli import app
from estimator.params import Range
from estimator.pipeline import Inputs, estimate, load_default_params
from estimator.uncertainty import QUANTILES, order_statistics, summarize

X0, Y0 = 6_000_000.0, 2_800_000.0
runner = CliRunner()


@pytest.fixture
def scene(make_raster, make_vector):
    arr = np.ones((40, 40), dtype="uint8")
    arr[:, 20:] = 3
    arr[30:, :] = 2
    raster = make_raster(arr, Affine(100, 0, X0, 0, -100, Y0))
    deposits = make_vector(
        [
            box(X0 + 300, Y0 - 1500, X0 + 1500, Y0 - 300),  # low
            box(X0 + 2500, Y0 - 1500, X0 + 3500, Y0 - 500),  # high
            box(X0 + 500, Y0 - 3900, X0 + 1500, Y0 - 3200),  # medium, occupied
        ],
        crs="EPSG:3035",
        filename="d.gpkg",
        name=["Low", "High", "Occupied"],
        rank=[3, 1, 2],
    )
    regions = make_vector(
        [box(X0 - 1000, Y0 - 5000, X0 + 5000, Y0 + 1000)],
        crs="EPSG:3035",
        filename="r.gpkg",
        name=["Testland"],
    )
    control = make_vector(
        [box(X0, Y0 - 5000, X0 + 2000, Y0 - 3000)],
        crs="EPSG:3035",
        filename="c.gpkg",
        date=["2026-08-22"],
        **{"class": ["russian_controlled"]},
    )
    return Inputs(
        deposits=deposits,
        contamination=raster,
        regions=regions,
        control=control,
        start_date=dt.date(2027, 1, 1),
        buffer_m=0,
    )


def quantity_objects(doc):
    """Every {p10, p50, p90, mean} object in a JSON document."""
    if isinstance(doc, dict):
        if {"p10", "p50", "p90", "mean"} <= set(doc):
            yield doc
        else:
            for v in doc.values():
                yield from quantity_objects(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from quantity_objects(v)


def test_same_seed_same_bytes_and_ordered_quantiles(scene):
    a = rep.to_json(estimate(scene, n_draws=300, seed=11))
    b = rep.to_json(estimate(scene, n_draws=300, seed=11))
    c = rep.to_json(estimate(scene, n_draws=300, seed=12))
    assert a == b and a != c
    found = 0
    for q in quantity_objects(json.loads(a)):
        if all(isinstance(q[k], float | int) for k in ("p10", "p50", "p90")):
            assert q["p10"] <= q["p50"] <= q["p90"], q
            found += 1
        elif q["p10"] is not None:  # ISO dates compare as strings
            assert q["p10"] <= q["p50"] <= q["p90"], q
    assert found > 30
    doc = json.loads(a)
    assert doc["demine"]["seed"] == 11 and doc["demine"]["draws"] == 300


def test_widening_one_range_widens_the_region_interval(scene):
    params = load_default_params()
    manual = params.method("manual")
    wide = dataclasses.replace(manual, productivity_m2_per_team_day=Range(20.0, 150.0, 400.0))
    wider = dataclasses.replace(
        params, methods=tuple(wide if m.name == "manual" else m for m in params.methods)
    )
    base = estimate(scene, params=params, n_draws=1000, seed=5).regions[0].figures["cost_usd"]
    more = estimate(scene, params=wider, n_draws=1000, seed=5).regions[0].figures["cost_usd"]
    assert more["p90"] - more["p10"] > base["p90"] - base["p10"]


def _collapse(params):
    def fix(obj):
        if isinstance(obj, Range):
            return Range.fixed(obj.mode)
        if dataclasses.is_dataclass(obj):
            return dataclasses.replace(
                obj, **{f.name: fix(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
            )
        if isinstance(obj, tuple):
            return tuple(fix(x) for x in obj)
        return obj

    return fix(params)


def test_degenerate_ranges_reproduce_the_deterministic_run(scene):
    params = _collapse(load_default_params())
    mc = estimate(scene, params=params, n_draws=200, seed=3)
    det = estimate(scene, params=params, n_draws=1)
    for a, b in zip(mc.deposits, det.deposits, strict=True):
        for key in ("cost_usd", "clearance_area_m2", "team_days"):
            qa, qb = a.figures[key], b.figures[key]
            assert qa["p10"] == qa["p90"] == pytest.approx(qb["p50"], rel=1e-12)
        if a.ready_day:
            assert a.ready_day["p10"] == a.ready_day["p90"] == pytest.approx(b.ready_day["p50"])


def test_occupied_ground_is_blocked_until_access(scene):
    blocked = estimate(scene, n_draws=1)
    occ = next(d for d in blocked.deposits if d.name == "Occupied")
    assert occ.status == "blocked" and occ.ready_day is None and occ.figures is not None
    assert "occupied" in occ.reason
    later = estimate(dataclasses.replace(scene, access_date=dt.date(2030, 1, 1)), n_draws=1)
    occ = next(d for d in later.deposits if d.name == "Occupied")
    assert occ.status == "assessed"
    assert rep._iso(later, occ.ready_day["p50"]) >= "2030-01-01"


def test_phases_shown_end_on_the_median_ready_day(scene):
    # The phases are those of the draw whose ready day is the P50 (nearest rank), so the
    # timeline a user reads ends on the ready date printed beside it.
    for draws in (300, 301, 2):
        r = estimate(dataclasses.replace(scene, access_date=dt.date(2028, 1, 1)), n_draws=draws)
        shown = [d for d in r.deposits if d.phase_days]
        assert len(shown) == 3
        for d in shown:
            last_end = max(p["end"] for p in d.phase_days.values())
            assert last_end == pytest.approx(d.ready_day["p50"], abs=1e-6), d.name
            starts = [d.phase_days[p]["start"] for p in ("nts", "ts", "clearance")]
            assert starts == sorted(starts)


def test_more_teams_never_later_and_priority_field_orders(scene):
    few = estimate(dataclasses.replace(scene, teams=(("manual", 2),)), n_draws=1)
    many = estimate(dataclasses.replace(scene, teams=(("manual", 20),)), n_draws=1)
    for a, b in zip(few.deposits, many.deposits, strict=True):
        if a.ready_day:
            assert b.ready_day["p50"] <= a.ready_day["p50"] + 1e-9
    ranked = estimate(dataclasses.replace(scene, priority="rank"), n_draws=1)
    ranks = {d.name: d.priority_rank for d in ranked.deposits}
    assert ranks["High"] < ranks["Low"]


def test_sensitivity_ranks_the_drivers(scene):
    r = estimate(scene, n_draws=1, sensitivity=True)
    cost = r.sensitivity["Testland"]["cost_usd"]
    swings = [s.swing for s in cost]
    assert swings == sorted(swings, reverse=True) and len(cost) > 5
    high = next(d for d in r.deposits if d.name == "High")
    assert high.cost_driver is not None and high.cost_driver.startswith(
        ("methods.", "classes.high")
    )
    doc = rep.to_json_dict(r)
    assert doc["sensitivity"]["Testland"]["cost_usd"][0]["parameter"] == cost[0].parameter


def test_a_date_beyond_the_horizon_is_ranked_first_and_explained(scene, write_toml):
    # Manual teams so slow (0.05-1 m2 a team-day, mode 0.06) that below ~0.12 the work
    # outlasts the schedule's 300-year horizon (~13 % of draws); at the high end it does not.
    slow = write_toml(
        "[methods.manual]\nproductivity_m2_per_team_day = { low = 0.05, mode = 0.06, high = 1 }\n",
        "slow.toml",
    )
    r = estimate(dataclasses.replace(scene, params=slow), n_draws=1, sensitivity=True)
    ready = r.sensitivity["Testland"]["ready_day"]
    assert ready[0].parameter == "methods.manual.productivity_m2_per_team_day"
    assert ready[0].at_low == np.inf and np.isfinite(ready[0].at_high)
    doc = rep.to_json_dict(r)
    first = doc["sensitivity"]["Testland"]["extraction_ready_date"][0]
    assert first["swing"] is None and first["at_low"] is None and first["at_high"]
    json.dumps(doc, allow_nan=False)  # no Infinity in the JSON
    rows = rep._swing_rows(r, ready, True, 1)
    assert rows[0][1] == "never" and rows[0][3] == "never at one end"
    # a deposit never ready in some draws says so; the mean date is then null
    r = estimate(dataclasses.replace(scene, params=slow), n_draws=200)
    hit = [d for d in r.deposits if d.reason and "never ready within the 300-year" in d.reason]
    assert hit
    for d in hit:
        assert d.ready_day is None or not np.isfinite(d.ready_day["mean"])
        assert "no teams" not in d.reason  # slow teams, not missing ones


def test_a_method_without_teams_is_named_as_the_reason(scene, write_toml):
    none = write_toml("[methods.manual]\nteams = 0\n", "none.toml")
    r = estimate(dataclasses.replace(scene, params=none), n_draws=20)
    needing = [
        d
        for d in r.deposits
        if d.status != "blocked"
        and d.team_days_by_method
        and d.team_days_by_method["manual"]["mean"] > 0
    ]
    assert needing
    for d in needing:
        assert "in all draws" in d.reason and "(manual: no teams, see --teams)" in d.reason
    # its region is never ready (not "no access", which is for blocked deposits)
    region = next(x for x in r.regions if x.name == needing[0].region)
    assert region.ready_day is not None and not np.isfinite(region.ready_day["p50"])
    row = next(
        x
        for x in rep.compare_rows(r, r)
        if x["region"] == region.name and x["figure"] == "extraction_ready_date_p50"
    )
    assert row["a"] is None and rep.compare_cells(row)[2] == "never"
    # the schedule shows clearance begun and never finished, not "None"
    console = Console(width=400, record=True, file=io.StringIO())
    console.print(rep.render_schedule(r))
    text = console.export_text()
    assert "-> never" in text and "None" not in text


def test_cli_schedule_compare_and_sensitivity(scene, tmp_path, write_toml):
    args = [
        "--deposits",
        str(scene.deposits),
        "--contamination",
        str(scene.contamination),
        "--regions",
        str(scene.regions),
        "--control",
        str(scene.control),
        "--draws",
        "50",
        "--start-date",
        "2027-01-01",
    ]
    csv_path = tmp_path / "plan.csv"
    res = runner.invoke(app, ["schedule", *args, "--csv", str(csv_path)])
    assert res.exit_code == 0, res.stderr
    assert "Timeline" in res.stdout and csv_path.read_text().startswith("rank,id,name")
    assert not [line for line in res.stdout.splitlines() if line != line.rstrip()]
    assert "Testland: last deposit ready" in res.stdout
    # no manual teams: scheduled, never finished; not "nothing scheduled"
    res = runner.invoke(app, ["schedule", *args, "--teams", "manual=0"])
    assert res.exit_code == 0, res.stderr
    assert "Testland: last deposit never ready within the schedule's horizon" in res.stdout
    png = tmp_path / "t.png"
    res = runner.invoke(app, ["report", *args, "--sensitivity", "--sensitivity-png", str(png)])
    assert res.exit_code == 0, res.stderr
    assert "what moves the cost" in res.stdout and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    a = write_toml("schema_version = 1\n", "a.toml")
    b = write_toml("[methods.manual]\nteams = 80\n", "b.toml")
    res = runner.invoke(app, ["compare", str(a), str(b), *args])
    assert res.exit_code == 0, res.stderr
    assert "Testland" in res.stdout and "methods.manual.teams" in res.stdout
    # --teams applies to both runs, as in report: one manual team makes A's ready date later
    dates = {}
    for extra in ([], ["--teams", "manual=1"]):
        out = tmp_path / f"cmp{len(extra)}.csv"
        res = runner.invoke(app, ["compare", str(a), str(b), *args, *extra, "--csv", str(out)])
        assert res.exit_code == 0, res.stderr
        rows = [r.split(",") for r in out.read_text().splitlines()]
        dates[len(extra)] = next(r[2] for r in rows if r[1] == "extraction_ready_date_p50")
    assert dates[2] > dates[0]
    res = runner.invoke(app, ["report", *args, "--teams", "manual=lots"])
    assert res.exit_code == 2 and "--teams" in res.stderr
    res = runner.invoke(app, ["report", *args, "--teams", "manuall=3"])
    assert res.exit_code == 2 and "did you mean 'manual'" in res.stderr


@settings(max_examples=80, deadline=None)
@given(
    rows=st.integers(1, 5),
    n=st.integers(1, 300),
    seed=st.integers(0, 10_000),
    ties=st.booleans(),
    n_ranks=st.integers(1, 7),
)
def test_order_statistics_equal_a_full_sort(rows, n, seed, ties, n_ranks):
    rng = np.random.default_rng(seed)
    x = rng.gamma(2.0, 1e5, (rows, n))
    if ties:
        x = np.round(x / 1e5)  # many equal values
    x[0, : n // 3] = np.inf if ties else x[0, : n // 3]
    ranks = sorted(set(rng.integers(0, n, n_ranks).tolist()))
    got = order_statistics(x, ranks)
    ordered = np.sort(x, axis=1)
    for r in ranks:
        np.testing.assert_array_equal(got[r], ordered[:, r])


def test_summary_quantiles_match_numpy_and_keep_nan():
    rng = np.random.default_rng(5)
    x = rng.gamma(2.0, 1e5, (4, 2000))
    s = summarize(x)
    for name, q in QUANTILES.items():
        np.testing.assert_allclose(s[name], np.quantile(x, q, axis=1), rtol=1e-14)
    # A NaN draw sorts last (as np.sort does): it spoils the mean, not the quantiles below it.
    x[1, 7] = np.nan
    s = summarize(x)
    ordered = np.sort(x[1])
    assert s["p50"][1] == ordered[999] + (ordered[1000] - ordered[999]) * 0.5
    assert np.isnan(s["mean"][1]) and np.isfinite(s["p90"][1])


def _synthetic_assessment(n: int, k: int, seed: int = 1):
    """An assessment of n deposits with random class areas, in four regions (no I/O)."""
    from estimator.aggregate import UNASSIGNED_REGION
    from estimator.pipeline import Assessment, _Prepared

    rng = np.random.default_rng(seed)
    area = rng.gamma(0.6, 2e5, size=(n, k)) * (rng.uniform(size=(n, k)) < 0.7)
    regions = ["North", "South", "East", "West"]
    return Assessment(
        prepared=[
            _Prepared(
                id=str(i),
                name=f"d{i}",
                commodity="x",
                geometry_quality="",
                footprint=None,
                notes=[],
            )
            for i in range(n)
        ],
        footprints=[None] * n,
        footprint_area_m2=area.sum(axis=1) + 1.0,
        hazard_area_m2=area,
        unknown_area_m2=np.ones(n),
        outside_area_m2=np.zeros(n),
        occupied_share=[0.0] * n,
        region_of=[regions[i % 4] for i in range(n)],
        region_names=[*regions, UNASSIGNED_REGION],
        region_geoms=[],
        control_date=None,
        paths={"regions": "synthetic"},
    )


def test_chunks_and_threads_do_not_change_the_results(monkeypatch):
    import estimator.pipeline as pipeline
    import estimator.schedule as schedule

    params = load_default_params()
    a = _synthetic_assessment(150, len(params.classes))
    kw = dict(n_draws=200, seed=3, start_date=dt.date(2027, 1, 1))
    deposits, regions, _, _ = pipeline.run_model(a, params, **kw)
    monkeypatch.setattr(pipeline, "CHUNK", 7)
    monkeypatch.setattr(pipeline, "SUMMARY_THREADS", 1)
    monkeypatch.setattr(schedule, "BLOCK_ROWS", 5)
    deposits_b, regions_b, _, _ = pipeline.run_model(a, params, **kw)
    assert len(deposits) == len(deposits_b) == 150
    for d, e in zip(deposits, deposits_b, strict=True):
        assert d.figures == e.figures and d.team_days_by_method == e.team_days_by_method
        assert d.priority_rank == e.priority_rank
        for q in ("p10", "p50", "p90"):
            assert d.ready_day[q] == pytest.approx(e.ready_day[q], abs=1e-6)
    for r, s in zip(regions, regions_b, strict=True):
        for f, q in r.figures.items():
            for key in q:
                assert q[key] == pytest.approx(s.figures[f][key], rel=1e-12), (r.name, f)
        if r.deposit_count == 0:  # the "(no region)" row
            assert r.ready_day is None and s.ready_day is None
        else:
            assert r.ready_day["p90"] == pytest.approx(s.ready_day["p90"], abs=1e-6)
