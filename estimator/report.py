"""Results -> terminal tables, Markdown, CSV, JSON and RFC 7946 GeoJSON. Never prints."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable
from typing import Any

import shapely
from rich.table import Table

from .aggregate import FIGURES, DepositResult, RegionResult
from .pipeline import Report
from .schedule import day_to_date

__all__ = [
    "caption_lines",
    "control_label",
    "deposit_properties",
    "compare_cells",
    "compare_csv",
    "compare_rows",
    "render_schedule",
    "render_sensitivity",
    "schedule_csv",
    "schedule_rows",
    "render_tables",
    "sensitivity_json",
    "sensitivity_markdown",
    "short_parameter",
    "to_csv",
    "to_geojson",
    "to_json",
    "to_json_dict",
    "to_markdown",
]

QUANTITY_KEYS = ("p10", "p50", "p90", "mean")
_COORD_DECIMALS = 7


def control_label(share: float | None) -> str:
    """Describe a footprint's occupied share in words.

    Examples
    --------
    >>> control_label(1.0), control_label(0.0), control_label(0.42), control_label(None)
    ('occupied', 'free', '42% occ.', 'unknown')
    """
    if share is None:
        return "unknown"
    if share >= 0.995:
        return "occupied"
    if share <= 0.005:
        return "free"
    return f"{share:.0%} occ."


_SHORT = {
    "productivity_m2_per_team_day": "productivity",
    "team_cost_usd_per_day": "day cost",
    "nts_cancel_share": "NTS cancel share",
    "ts_reduce_share": "TS reduce share",
    "items_per_ha": "items/ha",
    "productivity_factor": "productivity factor",
    "residual_items_per_ha_released": "residual items/ha",
    "overhead_share": "overhead",
    "clearance_working_days_per_year": "clearance days/yr",
    "survey_working_days_per_year": "survey days/yr",
    "accidents_per_million_m2_cleared": "accident rate",
    "clearance_miss_share": "miss share",
}


def short_parameter(name: str | None) -> str:
    """Return a short label for a dotted parameter name.

    Examples
    --------
    >>> short_parameter("methods.manual.productivity_m2_per_team_day")
    'manual productivity'
    >>> short_parameter("general.overhead_share")
    'overhead'
    """
    if not name:
        return "-"
    parts = name.split(".")
    key = _SHORT.get(parts[-1], parts[-1])
    return key if parts[0] == "general" else f"{parts[1]} {key}"


def _clean(x: float) -> float:
    """Round away float noise so that reports are stable and readable (mm2 and cents)."""
    return float(round(x, 2)) if math.isfinite(x) else x


def _q(q: dict[str, float] | None) -> dict[str, float] | None:
    return None if q is None else {k: _clean(q[k]) for k in QUANTITY_KEYS}


def _date_q(report: Report, q: dict[str, float] | None) -> dict[str, str | None] | None:
    """Day offsets {p10, p50, p90, mean} -> ISO dates (None where never)."""
    if q is None or report.start_date is None:
        return None
    return {k: _iso(report, q[k]) for k in QUANTITY_KEYS}


def _iso(report: Report, day: float) -> str | None:
    d = None if report.start_date is None else day_to_date(report.start_date, day)
    return None if d is None else d.isoformat()


def _days_q(q: dict[str, float] | None) -> dict[str, float | None] | None:
    if q is None:
        return None
    return {k: (round(q[k], 1) if math.isfinite(q[k]) else None) for k in QUANTITY_KEYS}


def _phases(report: Report, d: DepositResult) -> dict[str, dict[str, str | None]] | None:
    if d.phase_days is None or report.start_date is None:
        return None
    out = {}
    for phase, se in d.phase_days.items():
        out[phase] = {"start_p50": _iso(report, se["start"]), "end_p50": _iso(report, se["end"])}
    return out


# --------------------------------------------------------------------------------------------
# JSON


def _deposit_json(report: Report, d: DepositResult) -> dict[str, Any]:
    fig = d.figures or {}
    return {
        "id": d.id,
        "name": d.name,
        "commodity": d.commodity,
        "region": d.region,
        "status": d.status,
        "reason": d.reason,
        "geometry_quality": d.geometry_quality,
        "control": control_label(d.occupied_share),
        "footprint_area_m2": _clean(d.footprint_area_m2),
        "hazard_area_m2": {k: _clean(v) for k, v in d.hazard_area_m2.items()},
        "unknown_area_m2": _clean(d.unknown_area_m2),
        "outside_raster_area_m2": _clean(d.outside_raster_area_m2),
        "occupied_share": None if d.occupied_share is None else round(d.occupied_share, 6),
        **{f: _q(fig.get(f)) for f in FIGURES},
        "clearance_area_m2_by_method": None
        if d.clearance_area_m2_by_method is None
        else {m: _q(q) for m, q in d.clearance_area_m2_by_method.items()},
        "team_days_by_method": None
        if d.team_days_by_method is None
        else {m: _q(q) for m, q in d.team_days_by_method.items()},
        "prob_any_item": None if d.prob_any_item is None else round(d.prob_any_item, 6),
        "cost_driver": d.cost_driver,
        "priority_rank": d.priority_rank,
        "extraction_ready_date": _date_q(report, d.ready_day),
        "duration_days": _days_q(d.duration_days),
        "phases": _phases(report, d),
    }


def _region_json(report: Report, r: RegionResult) -> dict[str, Any]:
    return {
        "name": r.name,
        "deposit_count": r.deposit_count,
        "footprint_area_m2": _clean(r.footprint_area_m2),
        "hazard_area_m2": {k: _clean(v) for k, v in r.hazard_area_m2.items()},
        "unknown_area_m2": _clean(r.unknown_area_m2),
        **{f: _q(r.figures[f]) for f in FIGURES},
        "clearance_area_m2_by_method": {m: _q(q) for m, q in r.clearance_area_m2_by_method.items()},
        "team_days_by_method": {m: _q(q) for m, q in r.team_days_by_method.items()},
        "blocked_count": r.blocked_count,
        "extraction_ready_date": _date_q(report, r.ready_day),
    }


def _swing_json(report: Report, s: Any, dates: bool) -> dict[str, Any]:
    def conv(x: float) -> Any:
        if not dates:
            return _clean(x)
        return _date_q(report, {k: x for k in QUANTITY_KEYS})["p50"]  # type: ignore[index]

    return {
        "parameter": s.parameter,
        "at_low": conv(s.at_low),
        "at_high": conv(s.at_high),
        "base": conv(s.base),
        "swing": round(s.swing, 1) if dates else _clean(s.swing),
    }


def sensitivity_json(report: Report) -> dict[str, Any]:
    """Return the tornado tables per region (cost in US$, ready date with swing in days)."""
    return {
        region: {
            "cost_usd": [_swing_json(report, s, False) for s in t["cost_usd"]],
            "extraction_ready_date": [_swing_json(report, s, True) for s in t["ready_day"]],
        }
        for region, t in report.sensitivity.items()
    }


def to_json_dict(report: Report) -> dict[str, Any]:
    """Return the stable JSON contract: ``{"demine", "regions", "deposits"}``."""
    doc = {
        "demine": report.meta,
        "regions": [_region_json(report, r) for r in report.regions],
        "deposits": [_deposit_json(report, d) for d in report.deposits],
    }
    if report.sensitivity:
        doc["sensitivity"] = sensitivity_json(report)
    return doc


def to_json(report: Report) -> str:
    """Serialise the report as indented JSON (UTF-8 text, no NaN)."""
    return json.dumps(to_json_dict(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


# --------------------------------------------------------------------------------------------
# Flat properties (GeoJSON, CSV)


def deposit_properties(report: Report, d: DepositResult) -> dict[str, Any]:
    """Flatten one deposit's results into properties named with their units.

    Quantities become ``NAME_p10`` ... ``NAME_mean``; per-class and per-method figures become
    ``hazard_area_m2_<class>`` and ``clearance_area_m2_<method>_p50`` and so on.
    """
    props: dict[str, Any] = {
        "id": d.id,
        "name": d.name,
        "commodity": d.commodity,
        "region": d.region,
        "status": d.status,
        "reason": d.reason,
        "geometry_quality": d.geometry_quality,
        "control": control_label(d.occupied_share),
        "occupied_share": None if d.occupied_share is None else round(d.occupied_share, 6),
        "footprint_area_m2": _clean(d.footprint_area_m2),
    }
    for c in report.class_names:
        props[f"hazard_area_m2_{c}"] = _clean(d.hazard_area_m2.get(c, 0.0))
    props["unknown_area_m2"] = _clean(d.unknown_area_m2)
    props["outside_raster_area_m2"] = _clean(d.outside_raster_area_m2)
    fig = d.figures or {}
    for f in FIGURES:
        q = fig.get(f)
        for k in QUANTITY_KEYS:
            props[f"{f}_{k}"] = None if q is None else _clean(q[k])
    props["prob_any_item"] = None if d.prob_any_item is None else round(d.prob_any_item, 6)
    props["cost_driver"] = d.cost_driver
    props["priority_rank"] = d.priority_rank
    ready = _date_q(report, d.ready_day)
    duration = _days_q(d.duration_days)
    for k in QUANTITY_KEYS:
        props[f"extraction_ready_date_{k}"] = None if ready is None else ready[k]
    for k in QUANTITY_KEYS:
        props[f"duration_days_{k}"] = None if duration is None else duration[k]
    for group, names, values in (
        ("clearance_area_m2", report.clearance_methods, d.clearance_area_m2_by_method),
        ("team_days", report.method_names, d.team_days_by_method),
    ):
        for m in names:
            q = None if values is None else values.get(m)
            for k in QUANTITY_KEYS:
                props[f"{group}_{m}_{k}"] = None if q is None else _clean(q[k])
    return props


def _round_coords(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.set_precision(geom, 10**-_COORD_DECIMALS, mode="pointwise")


def to_geojson(report: Report) -> dict[str, Any]:
    """Return an RFC 7946 FeatureCollection of footprints with flattened results.

    Geometries are lon/lat (EPSG:4326) with counter-clockwise exterior rings; deposits that could
    not be assessed keep their row with a ``null`` geometry or their footprint. The top-level
    ``demine`` member carries the version, parameter hash and inputs.
    """
    features = []
    for d, fp in zip(report.deposits, report.footprints, strict=True):
        geometry = None
        if fp is not None:
            oriented = shapely.orient_polygons(_round_coords(fp), exterior_cw=False)
            geometry = shapely.geometry.mapping(oriented)
        features.append(
            {
                "type": "Feature",
                "id": d.id,
                "geometry": geometry,
                "properties": deposit_properties(report, d),
            }
        )
    return {
        "type": "FeatureCollection",
        "demine": report.meta,
        "features": features,
    }


def to_csv(report: Report) -> str:
    """One CSV row per deposit with the flattened properties (for spreadsheets)."""
    rows = [deposit_properties(report, d) for d in report.deposits]
    header = (
        list(rows[0]) if rows else list(deposit_properties(report, _empty_deposit(report)).keys())
    )
    return _csv_text(rows, header)


def _empty_deposit(report: Report) -> DepositResult:
    return DepositResult(
        index=0,
        id="",
        name="",
        commodity="",
        region=None,
        status="",
        reason="",
        geometry_quality="",
        footprint_area_m2=0.0,
        hazard_area_m2={c: 0.0 for c in report.class_names},
        unknown_area_m2=0.0,
        outside_raster_area_m2=0.0,
        occupied_share=None,
        figures=None,
        clearance_area_m2_by_method=None,
        team_days_by_method=None,
    )


# --------------------------------------------------------------------------------------------
# Human-readable tables (terminal and Markdown share the same cells)


def _ha(m2: float) -> str:
    ha = m2 / 10_000.0
    if ha < 0.05:
        return "0"
    if ha < 10:
        return f"{ha:,.1f}"
    return f"{ha:,.0f}"


def _money(usd: float) -> str:
    for scale, unit, fmt in ((1e9, " bn", ",.2f"), (1e6, " M", ",.1f"), (1e3, " k", ",.0f")):
        if usd >= scale:
            return f"{usd / scale:{fmt}}{unit}"
    return f"{usd:,.0f}"


def _money_range(lo: float, hi: float) -> str:
    """Both ends in the unit of the upper end: ``1.5-4.2 M``."""
    for scale, unit, fmt in ((1e9, " bn", ",.2f"), (1e6, " M", ",.1f"), (1e3, " k", ",.0f")):
        if hi >= scale:
            return f"{lo / scale:{fmt}}-{hi / scale:{fmt}}{unit}"
    return f"{lo:,.0f}-{hi:,.0f}"


def _days(d: float) -> str:
    return f"{d:,.0f}" if d >= 10 else f"{d:,.1f}"


def _spread(q: dict[str, float] | None, fmt, show_range: bool) -> str:
    if q is None:
        return "-"
    mid = fmt(q["p50"])
    if not show_range or q["p10"] == q["p90"]:
        return mid
    rng = _money_range(q["p10"], q["p90"]) if fmt is _money else f"{fmt(q['p10'])}-{fmt(q['p90'])}"
    # The range goes on a second line in the terminal; Markdown puts it in brackets.
    return f"{mid}\n({rng})"


def _class_columns(report: Report) -> tuple[list[str], bool]:
    """Classes with any area in the report, and whether any area is unknown (others hidden)."""
    shown = [
        c
        for c in report.class_names
        if any(d.hazard_area_m2.get(c, 0) >= 500 for d in report.deposits)
    ]
    unknown = any(d.unknown_area_m2 >= 500 for d in report.deposits)
    return shown, unknown


def _header(report: Report) -> list[str]:
    h, unknown = _class_columns(report)
    return [
        "Deposit",
        "Control",
        "Status",
        "Footprint ha",
        *[f"{c} ha" for c in h],
        *(["Unknown ha"] if unknown else []),
        "Clearance ha",
        "Cost US$",
        "Team-days",
        "Ready by",
        "Main cost driver",
    ]


def _deposit_cells(report: Report, d: DepositResult, show_range: bool) -> list[str]:
    fig = d.figures or {}
    h, unknown = _class_columns(report)
    return [
        f"{d.name} ({d.commodity})" if d.commodity else d.name,
        control_label(d.occupied_share),
        d.status,
        _ha(d.footprint_area_m2),
        *[_ha(d.hazard_area_m2.get(c, 0.0)) for c in h],
        *([_ha(d.unknown_area_m2)] if unknown else []),
        _spread(fig.get("clearance_area_m2"), lambda v: _ha(v), show_range),
        _spread(fig.get("cost_usd"), _money, show_range),
        _spread(fig.get("team_days"), _days, show_range),
        _ready_cell(report, d.ready_day, show_range, blocked=d.status == "blocked"),
        short_parameter(d.cost_driver),
    ]


def _month(report: Report, day: float) -> str:
    d = None if report.start_date is None else day_to_date(report.start_date, day)
    return "never" if d is None else d.strftime("%Y-%m")


def _ready_cell(report: Report, q: dict[str, float] | None, show_range: bool, blocked: bool) -> str:
    if q is None:
        return "no access" if blocked else "-"
    mid = _month(report, q["p50"])
    if not show_range or q["p10"] == q["p90"]:
        return mid
    return f"{mid}\n({_month(report, q['p10'])}..{_month(report, q['p90'])})"


def _total_cells(report: Report, r: RegionResult, show_range: bool) -> list[str]:
    h, unknown = _class_columns(report)
    return [
        f"Total ({r.deposit_count})",
        "",
        "",
        _ha(r.footprint_area_m2),
        *[_ha(r.hazard_area_m2.get(c, 0.0)) for c in h],
        *([_ha(r.unknown_area_m2)] if unknown else []),
        _spread(r.figures["clearance_area_m2"], lambda v: _ha(v), show_range),
        _spread(r.figures["cost_usd"], _money, show_range),
        _spread(r.figures["team_days"], _days, show_range),
        _ready_cell(report, r.ready_day, show_range, blocked=r.blocked_count > 0)
        + (f"\n+{r.blocked_count} blocked" if r.blocked_count and r.ready_day else ""),
        "",
    ]


def _by_region(report: Report) -> Iterable[tuple[RegionResult, list[DepositResult]]]:
    for r in report.regions:
        yield r, [d for d in report.deposits if d.region == r.name]


def _caption(report: Report) -> list[str]:
    m = report.meta
    lines = [
        f"demine {m['version']} | parameters: {m['params_source']} "
        f"(sha256 {m['params_sha256'][:12]}) | buffer {m['footprint_buffer_m']:g} m"
        + (f" | control as of {m['control_date']}" if m.get("control_date") else ""),
    ]
    if m.get("params_overridden_keys"):
        lines.append("overridden: " + ", ".join(m["params_overridden_keys"]))
    if m["draws"] > 1:
        lines.append(f"Monte Carlo: {m['draws']} draws, seed {m['seed']}; P50 (P10-P90)")
    else:
        lines.append("figures at the mode of every parameter range")
    teams = ", ".join(f"{k}={v}" for k, v in m.get("teams", {}).items())
    if m.get("start_date"):
        access = m.get("access_date") or "none (occupied ground is blocked)"
        lines.append(
            f"schedule: start {m['start_date']}, access {access}, teams {teams}, "
            f"order by {m.get('priority')}"
        )
    return lines


def _notes(report: Report) -> list[str]:
    return [
        f"{d.name}: {d.status}: {d.reason}"
        for d in report.deposits
        if d.reason or d.status not in ("assessed",)
    ]


def render_tables(report: Report) -> list[Table]:
    """Build one rich table per region (deposit rows plus a totals row)."""
    show_range = report.meta["draws"] > 1
    tables = []
    numeric_from = 3
    for r, members in _by_region(report):
        t = Table(
            title=f"{r.name}: {r.deposit_count} deposit(s)",
            title_justify="left",
            show_footer=False,
            caption_justify="left",
        )
        for i, col in enumerate(_header(report)):
            numeric = i >= numeric_from
            t.add_column(
                col, justify="right" if numeric else "left", overflow="fold", no_wrap=numeric
            )
        for d in members:
            t.add_row(*_deposit_cells(report, d, show_range))
        t.add_section()
        t.add_row(*_total_cells(report, r, show_range), style="bold")
        tables.append(t)
    return tables


def caption_lines(report: Report) -> tuple[list[str], list[str]]:
    """Header lines (provenance) and notes (statuses and reasons) for text reports."""
    return _caption(report), _notes(report)


def to_markdown(report: Report) -> str:
    """Render the per-region tables and notes as GitHub-flavoured Markdown."""
    show_range = report.meta["draws"] > 1
    header = _header(report)
    out = ["# demine report", ""]
    out += [f"_{line}_  " for line in _caption(report)]
    out.append("")
    for r, members in _by_region(report):
        out += [f"## {r.name}", ""]
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "|".join(["---"] * 3 + ["---:"] * (len(header) - 3)) + "|")
        for d in members:
            out.append(
                "| " + " | ".join(_md(c) for c in _deposit_cells(report, d, show_range)) + " |"
            )
        total = _total_cells(report, r, show_range)
        out.append("| " + " | ".join(f"**{_md(c)}**" if c else "" for c in total) + " |")
        out.append("")
    notes = _notes(report)
    if notes:
        out += ["## Notes", ""] + [f"- {_md(n)}" for n in notes] + [""]
    if report.sensitivity:
        out += ["## Sensitivity", "", sensitivity_markdown(report)]
    return "\n".join(out)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _swing_rows(report: Report, swings: list[Any], dates: bool, top: int) -> list[list[str]]:
    rows = []
    for s in swings[:top]:
        if dates:
            rows.append(
                [
                    short_parameter(s.parameter),
                    _month(report, s.at_low),
                    _month(report, s.at_high),
                    f"{s.swing:,.0f} days",
                ]
            )
        else:
            rows.append(
                [
                    short_parameter(s.parameter),
                    _money(s.at_low),
                    _money(s.at_high),
                    _money(s.swing),
                ]
            )
    return rows


def render_sensitivity(report: Report, *, top: int = 10) -> list[Table]:
    """Tornado tables per region: cost and ready date, parameters ranked by swing."""
    tables = []
    for region, t in report.sensitivity.items():
        for key, title, dates in (
            ("cost_usd", "cost US$", False),
            ("ready_day", "ready date", True),
        ):
            if not t[key]:
                continue
            table = Table(
                title=f"{region}: what moves the {title} (low -> high, others at mode)",
                title_justify="left",
            )
            for col in ("Parameter", "At low", "At high", "Swing"):
                table.add_column(col, justify="left" if col == "Parameter" else "right")
            for row in _swing_rows(report, t[key], dates, top):
                table.add_row(*row)
            tables.append(table)
    return tables


def sensitivity_markdown(report: Report, *, top: int = 10) -> str:
    """Render the tornado tables as Markdown."""
    out = []
    for region, t in report.sensitivity.items():
        for key, title, dates in (("cost_usd", "cost", False), ("ready_day", "ready date", True)):
            if not t[key]:
                continue
            out += [f"### {region}: what moves the {title}", ""]
            out += ["| Parameter | At low | At high | Swing |", "|---|---:|---:|---:|"]
            out += [
                "| " + " | ".join(row) + " |" for row in _swing_rows(report, t[key], dates, top)
            ]
            out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# Schedule (timeline) and comparison


def schedule_rows(report: Report) -> list[dict[str, Any]]:
    """One row per deposit in service order: phases (P50 dates) and ready date P10/P50/P90.

    Deposits that are not scheduled (blocked, invalid) come last, with the reason.
    """
    rows = []
    ranked = sorted(
        report.deposits, key=lambda d: (d.priority_rank is None, d.priority_rank or 0, d.index)
    )
    for d in ranked:
        phases = _phases(report, d) or {}
        ready = _date_q(report, d.ready_day) or {}
        row: dict[str, Any] = {
            "rank": d.priority_rank,
            "id": d.id,
            "name": d.name,
            "region": d.region,
            "status": d.status,
        }
        for ph in ("nts", "ts", "clearance"):
            row[f"{ph}_start_p50"] = phases.get(ph, {}).get("start_p50")
            row[f"{ph}_end_p50"] = phases.get(ph, {}).get("end_p50")
        for k in ("p10", "p50", "p90"):
            row[f"extraction_ready_date_{k}"] = ready.get(k)
        row["reason"] = d.reason
        rows.append(row)
    return rows


def schedule_csv(report: Report) -> str:
    """Render the timeline as CSV text."""
    rows = schedule_rows(report)
    return _csv_text(rows, list(rows[0]) if rows else ["rank", "id", "name"])


def _csv_text(rows: list[dict[str, Any]], header: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()


def render_schedule(report: Report) -> Table:
    """Render the timeline as a rich table."""
    t = Table(title="Timeline (P50 dates; ready date P10..P90)", title_justify="left")
    for col in (
        "#",
        "Deposit",
        "Region",
        "Status",
        "NTS",
        "TS",
        "Clearance",
        "Ready (P50)",
        "P10..P90",
    ):
        t.add_column(col, justify="right" if col == "#" else "left")
    for row in schedule_rows(report):

        def span(ph: str, row: dict[str, Any] = row) -> str:
            a, b = row[f"{ph}_start_p50"], row[f"{ph}_end_p50"]
            if a is None:
                return "-"
            return a if a == b else f"{a} -> {b}"

        t.add_row(
            str(row["rank"] or "-"),
            row["name"],
            row["region"] or "",
            row["status"],
            span("nts"),
            span("ts"),
            span("clearance"),
            row["extraction_ready_date_p50"]
            or ("no access" if row["status"] == "blocked" else "-"),
            f"{row['extraction_ready_date_p10']}..{row['extraction_ready_date_p90']}"
            if row["extraction_ready_date_p10"]
            else "",
        )
    return t


def compare_rows(a: Report, b: Report) -> list[dict[str, Any]]:
    """Per-region P50 figures of two runs side by side, with the difference."""
    rows = []
    by_b = {r.name: r for r in b.regions}
    for ra in a.regions:
        rb = by_b.get(ra.name)
        if rb is None or (
            ra.figures["nts_area_m2"]["p50"] == 0 and rb.figures["nts_area_m2"]["p50"] == 0
        ):
            continue  # a region with nothing assessed in either run
        for fig in ("clearance_area_m2", "cost_usd", "team_days", "expected_items"):
            va, vb = ra.figures[fig]["p50"], rb.figures[fig]["p50"]
            rows.append(
                {
                    "region": ra.name,
                    "figure": f"{fig}_p50",
                    "a": _clean(va),
                    "b": _clean(vb),
                    "difference": _clean(vb - va),
                    "change_percent": None if va == 0 else round(100 * (vb - va) / va, 1),
                }
            )
        da = _date_q(a, ra.ready_day) or {}
        db = _date_q(b, rb.ready_day) or {}
        diff = None
        if ra.ready_day and rb.ready_day:
            x, y = ra.ready_day["p50"], rb.ready_day["p50"]
            diff = round(y - x) if math.isfinite(x) and math.isfinite(y) else None
        rows.append(
            {
                "region": ra.name,
                "figure": "extraction_ready_date_p50",
                "a": da.get("p50"),
                "b": db.get("p50"),
                "difference": diff,
                "change_percent": None,
            }
        )
    return rows


def compare_csv(rows: list[dict[str, Any]]) -> str:
    """Render comparison rows as CSV text."""
    return _csv_text(rows, ["region", "figure", "a", "b", "difference", "change_percent"])


def compare_cells(row: dict[str, Any]) -> list[str]:
    """Format one comparison row for a table."""
    fig = row["figure"]
    if fig.startswith("extraction_ready_date"):
        diff = row["difference"]
        return [
            row["region"],
            "ready date",
            row["a"] or "never",
            row["b"] or "never",
            "-" if diff is None else f"{diff:+,} days",
            "",
        ]
    fmt = _money if fig.startswith("cost") else (_ha if "area" in fig else _days)
    unit = " ha" if "area" in fig else ""
    diff = row["difference"]
    sign = "-" if diff < 0 else "+"
    pct = row["change_percent"]
    return [
        row["region"],
        fig.removesuffix("_p50"),
        fmt(row["a"]) + unit,
        fmt(row["b"]) + unit,
        f"{sign}{fmt(abs(diff))}{unit}",
        "" if pct is None else f"{pct:+.1f} %",
    ]
