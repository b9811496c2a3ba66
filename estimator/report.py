"""Results -> terminal tables, Markdown, CSV, JSON and RFC 7946 GeoJSON. Never prints."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from .aggregate import FIGURES, DepositResult, HazardProbability, RegionResult
from .errors import EstimatorError
from .params import Params
from .pipeline import Report
from .schedule import day_to_date

__all__ = [
    "DocMap",
    "DocTable",
    "assumptions_markdown",
    "caption_lines",
    "caveats",
    "control_label",
    "data_credits",
    "deposit_properties",
    "embedded_inputs",
    "fit_table",
    "markdown_document",
    "parameter_comments",
    "parameter_rows",
    "region_properties",
    "region_summary_lines",
    "report_document",
    "compare_cells",
    "compare_csv",
    "compare_rows",
    "regions_csv",
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


#: Figures of a probability raster, in report order (JSON object keys and flat properties).
HAZARD_PROBABILITY_FIELDS = (
    "expected_hazard_area_m2",
    "prob_any_hazard_low",
    "prob_any_hazard_high",
    "probability_data_area_m2",
)


def _hazard_probability_values(h: HazardProbability | None) -> dict[str, float | None]:
    """Return the figures of a probability raster, rounded (m2 to cm2, probabilities 1e-6)."""
    if h is None:
        return dict.fromkeys(HAZARD_PROBABILITY_FIELDS)
    return {
        "expected_hazard_area_m2": _clean(h.expected_hazard_area_m2),
        "prob_any_hazard_low": round(h.prob_any_hazard_low, 6),
        "prob_any_hazard_high": round(h.prob_any_hazard_high, 6),
        "probability_data_area_m2": _clean(h.probability_data_area_m2),
    }


def _hazard_probability_json(
    h: HazardProbability | None, *, region: bool = False
) -> dict[str, Any] | None:
    if h is None:
        return None
    out: dict[str, Any] = dict(_hazard_probability_values(h))
    if region:
        out["deposit_count"] = h.deposit_count
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
        "hazard_probability": _hazard_probability_json(d.hazard_probability),
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
        "hazard_probability": _hazard_probability_json(r.hazard_probability, region=True),
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
        "swing": (round(s.swing, 1) if math.isfinite(s.swing) else None)
        if dates
        else _clean(s.swing),
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
    """Serialise the report as JSON (UTF-8 text, no NaN): one line per region and deposit.

    The run facts are indented; each region and each deposit is one line, written by the
    json module's C encoder (indenting every nested object goes through its pure-Python
    encoder: ~6 s for 4,000 deposits instead of ~0.5 s). Every line is a complete object, so
    the file also greps and diffs deposit by deposit.
    """
    doc = to_json_dict(report)
    line = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(", ", ": ")).encode
    parts = []
    for key, value in doc.items():
        if isinstance(value, list):
            body = ",\n".join(f"    {line(item)}" for item in value)
            parts.append(f"  {line(key)}: [\n{body}\n  ]" if value else f"  {line(key)}: []")
        else:
            text = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False)
            parts.append(f"  {line(key)}: " + text.replace("\n", "\n  "))
    return "{\n" + ",\n".join(parts) + "\n}\n"


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
    props.update(_hazard_probability_values(d.hazard_probability))
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


def regions_csv(report: Report) -> str:
    """One CSV row per region: its totals, named as :func:`region_properties` names them."""
    rows = [region_properties(report, r) for r in report.regions]
    return _csv_text(rows, list(rows[0]) if rows else ["name"])


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


def _shows_probability(report: Report) -> bool:
    """Whether any deposit has figures from a probability raster (the column is shown then)."""
    # A region has figures exactly when one of its deposits has: regions are few, deposits
    # may be thousands (and this is asked for every row).
    return any(r.hazard_probability is not None for r in report.regions)


def _prob(p: float) -> str:
    if p == 0:
        return "0"
    if p < 0.005:
        return "<0.01"  # not 0.00: some chance, however small
    return f"{p:.2f}"


def _prob_cell(h: HazardProbability | None) -> str:
    """``0.42-0.99``: the bounds of the probability that the footprint holds any hazard."""
    if h is None:
        return "-"
    lo, hi = _prob(h.prob_any_hazard_low), _prob(h.prob_any_hazard_high)
    return lo if lo == hi else f"{lo}-{hi}"


def _header(report: Report) -> list[str]:
    h, unknown = _class_columns(report)
    return [
        "Deposit",
        "Control",
        "Status",
        "Footprint ha",
        *[f"{c} ha" for c in h],
        *(["Unknown ha"] if unknown else []),
        *(["P(any hazard)"] if _shows_probability(report) else []),
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
        *([_prob_cell(d.hazard_probability)] if _shows_probability(report) else []),
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
        *([_prob_cell(r.hazard_probability)] if _shows_probability(report) else []),
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
        lines.append(
            f"Monte Carlo: {m['draws']} draws, seed {m['seed']}; P50 (P10-P90)"
            + (
                f"; {m['draws']} draws are too few for steady P10/P90: use 1,000 or more"
                if m["draws"] < FEW_DRAWS
                else ""
            )
        )
    else:
        lines.append("figures at the mode of every parameter range")
    if _shows_probability(report):
        name = Path(m.get("inputs", {}).get("probability") or "").name
        lines.append(
            f"P(any hazard) from {name}: low = largest cell p (cells dependent), high = "
            "1 - prod(1 - p) over the cells (independent; depends on the cell size)"
        )
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


def render_tables(report: Report, *, compact: bool = False) -> list[Table]:
    """Build one rich table per region (deposit rows plus a totals row).

    ``compact``: for a narrow terminal, without the area of each hazard class (and of unknown
    ground) and without the P10-P90 ranges; every other column stays.
    """
    show_range = report.meta["draws"] > 1 and not compact
    tables = []
    full = _header(report)
    h, unknown = _class_columns(report)
    dropped = {f"{c} ha" for c in h} | ({"Unknown ha"} if unknown else set()) if compact else set()
    keep = [i for i, col in enumerate(full) if col not in dropped]
    header = [full[i] for i in keep]
    for r, members in _by_region(report):
        t = Table(
            title=f"{r.name}: {r.deposit_count} deposit(s)",
            title_justify="left",
            show_footer=False,
            caption_justify="left",
        )
        for i, col in enumerate(header):
            # Deposit, Control, Status and the cost driver (last) are text; the rest figures.
            numeric = 3 <= i < len(header) - 1
            t.add_column(
                col, justify="right" if numeric else "left", overflow="fold", no_wrap=numeric
            )
        for d in members:
            cells = _deposit_cells(report, d, show_range)
            t.add_row(*(cells[i] for i in keep))
        t.add_section()
        cells = _total_cells(report, r, show_range)
        t.add_row(*(cells[i] for i in keep), style="bold")
        tables.append(t)
    return tables


#: Below this many draws the caption warns that P10 and P90 are not steady.
FEW_DRAWS = 200

#: Narrowest a text column (name, status, reason) gets when a table is wider than the console.
TEXT_MIN_WIDTH = 10


def fit_table(table: Table, console: Console) -> bool:
    """Fix the column widths of ``table`` so that it prints at ``console.width`` with no digit lost.

    Print the table with ``console.print(table, crop=False)`` afterwards. Numbers are the
    ``no_wrap`` columns of the table builders: they keep the width of their widest line
    (their header wraps at words instead). Text columns keep their longest word, up to
    :data:`TEXT_MIN_WIDTH` characters, and wrap or fold below that. The column with the most to
    spare above its minimum gives way first. A table that fits is left alone. Returns whether
    the table now fits the console.

    rich alone squeezes a table that is too wide evenly, down to zero width, and crops numbers
    without an ellipsis: a wrong figure that looks right. So when even the minimum widths do not
    fit, the table is printed wider than the console and the terminal wraps its lines: harder
    to read, but every figure is whole.
    """
    # The builders set no widths; a second call starts again from the natural widths.
    table.width = None
    for col in table.columns:
        col.width = None
    wide = console.options.update_width(1_000_000)
    natural_total = Measurement.get(console, wide, table).maximum
    if natural_total <= console.width:
        return True
    natural, least = [], []
    for col in table.columns:
        head = Measurement.get(console, wide, col.header)
        cells = [Measurement.get(console, wide, c) for c in col.cells]
        natural.append(max([head.maximum, *(m.maximum for m in cells)]))
        word = min(max([head.minimum, *(m.minimum for m in cells)]), TEXT_MIN_WIDTH)
        whole = max([0, *(m.maximum for m in cells)]) if col.no_wrap else 0
        least.append(max(word, whole))
        if col.no_wrap and isinstance(col.header, str):
            col.header = Text(col.header, no_wrap=False)  # a header may wrap, not its figures
    frame = natural_total - sum(natural)  # borders and padding
    widths, excess = natural, natural_total - console.width
    while excess > 0:  # narrow the column with the most to spare, one character at a time
        i = max(range(len(widths)), key=lambda j: widths[j] - least[j])
        if widths[i] == least[i]:
            break  # all at their minimum: wider than the console
        widths[i] -= 1
        excess -= 1
    for col, width in zip(table.columns, widths, strict=True):
        col.width = width
    table.width = frame + sum(widths)  # may exceed the console: rich must not squeeze it
    return table.width <= console.width


def caption_lines(report: Report) -> tuple[list[str], list[str]]:
    """Header lines (provenance) and notes (statuses and reasons) for text reports."""
    return _caption(report), _notes(report)


def to_markdown(report: Report) -> str:
    """Render the report as a GitHub-flavoured Markdown document.

    Summary per region, one deposit table per region, notes, sensitivity, the assumptions with
    their sources, data credits and caveats (:func:`markdown_document` without a map).
    """
    return markdown_document(report)


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
                    f"{s.swing:,.0f} days" if math.isfinite(s.swing) else "never at one end",
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
                text = col == "Parameter"
                table.add_column(col, justify="left" if text else "right", no_wrap=not text)
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
    """One row per deposit in service order: phases and ready date P10/P50/P90.

    The phases are those of the deposit's own median draw (whose ready date is its P50): each
    row is one coherent sequence, but rows come from different draws and may overlap.

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
    t = Table(
        title="Timeline (phases of each deposit's median draw; ready date P10..P90)",
        title_justify="left",
    )
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
        # The phase spans ("2027-03 -> 2028-05") may wrap between their dates.
        whole = col in ("#", "Ready (P50)", "P10..P90")
        t.add_column(col, justify="right" if col == "#" else "left", no_wrap=whole, overflow="fold")
    for row in schedule_rows(report):

        def span(ph: str, row: dict[str, Any] = row) -> str:
            a, b = row[f"{ph}_start_p50"], row[f"{ph}_end_p50"]
            if a is None:
                return "-"
            if b is None:  # started, never finished within the schedule's horizon
                return f"{a} -> never"
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
        # No ready date: no deposit of the region can be reached (no access date given, or
        # all occupied), or the work outlasts the schedule's horizon ("never").
        rows.append(
            {
                "region": ra.name,
                "figure": "extraction_ready_date_p50",
                "a": da.get("p50") or ("no access" if ra.ready_day is None else None),
                "b": db.get("p50") or ("no access" if rb.ready_day is None else None),
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
    # The CSV keeps the JSON names (with their units); the table says what it shows.
    label = fig.removesuffix("_p50")
    if label.endswith("_area_m2"):
        label = label.removesuffix("_area_m2").replace("_", " ") + " area"
    label = {"cost_usd": "cost (US$)", "team_days": "team-days"}.get(label, label.replace("_", " "))
    return [
        row["region"],
        label,
        fmt(row["a"]) + unit,
        fmt(row["b"]) + unit,
        f"{sign}{fmt(abs(diff))}{unit}",
        "" if pct is None else f"{pct:+.1f} %",
    ]


# --------------------------------------------------------------------------------------------
# Region properties (GeoPackage), credits, caveats, assumptions and the report document


def region_properties(report: Report, r: RegionResult) -> dict[str, Any]:
    """Flatten one region's totals into properties named with their units.

    The same naming as :func:`deposit_properties`: ``hazard_area_m2_<class>``,
    ``cost_usd_p50``, ``clearance_area_m2_<method>_p90``, ``extraction_ready_date_p50``.
    """
    props: dict[str, Any] = {
        "name": r.name,
        "deposit_count": r.deposit_count,
        "blocked_count": r.blocked_count,
        "footprint_area_m2": _clean(r.footprint_area_m2),
    }
    for c in report.class_names:
        props[f"hazard_area_m2_{c}"] = _clean(r.hazard_area_m2.get(c, 0.0))
    props["unknown_area_m2"] = _clean(r.unknown_area_m2)
    for f in FIGURES:
        q = r.figures.get(f)
        for k in QUANTITY_KEYS:
            props[f"{f}_{k}"] = None if q is None else _clean(q[k])
    props.update(_hazard_probability_values(r.hazard_probability))
    ready = _date_q(report, r.ready_day)
    for k in QUANTITY_KEYS:
        props[f"extraction_ready_date_{k}"] = None if ready is None else ready[k]
    for group, names, values in (
        ("clearance_area_m2", report.clearance_methods, r.clearance_area_m2_by_method),
        ("team_days", report.method_names, r.team_days_by_method),
    ):
        for m in names:
            q = values.get(m)
            for k in QUANTITY_KEYS:
                props[f"{group}_{m}_{k}"] = None if q is None else _clean(q[k])
    return props


def embedded_inputs(report: Report) -> dict[str, bool]:
    """Return which inputs of the run are the embedded data (deposits, regions, rasters...)."""
    from .io import default_data

    keys = {
        "deposits": "deposits",
        "regions": "regions",
        "control": "control",
        "contamination": "contamination",
        "probability": "contamination_probability",
    }
    try:
        dd = default_data()
    except EstimatorError:
        return dict.fromkeys(keys, False)
    inputs = report.meta.get("inputs", {})
    out = {}
    for key, attr in keys.items():
        given = inputs.get(key)
        out[key] = given is not None and Path(given).resolve() == getattr(dd, attr).resolve()
    return out


def _raster_tags(path: str | None) -> dict[str, str]:
    """Return the metadata tags of a raster (``{}`` if it cannot be opened)."""
    if not path:
        return {}
    from .io import open_raster

    try:
        with open_raster(path) as ds:
            return dict(ds.tags())
    except (EstimatorError, OSError):
        return {}


def data_credits(report: Report) -> list[str]:
    """Attribution lines for the data behind a report.

    The embedded data credit Minregion, DeepStateMap.Live and The Economist; files the user gave
    are named as user data.
    """
    emb = embedded_inputs(report)
    inputs = report.meta.get("inputs", {})
    when = report.meta.get("control_date")
    lines = []
    if emb["regions"]:
        lines.append("Oblast boundaries: © Мінрегіон (Minregion), CC BY-SA.")
    else:
        lines.append(f"Regions: {Path(inputs.get('regions') or '').name} (user data).")
    if emb["control"]:
        lines.append(
            "Occupied ground and front line: DeepStateMap.Live (deepstatemap.live)"
            + (f", as of {when}" if when else "")
            + "; no open-data licence, check DeepState's terms before redistributing."
        )
    elif inputs.get("control"):
        lines.append(f"Control zones: {Path(inputs['control']).name} (user data).")
    tags = _raster_tags(inputs.get("contamination"))
    if emb["contamination"]:
        # The raster's own SOURCES tag (written by `make geodata`) is the authority.
        sources = tags.get("SOURCES") or (
            "DeepStateMap.Live (front lines, control); The Economist (trench lines, CC BY 4.0, "
            "The Economist and Solstad, S. (2023)); Minregion (CC BY-SA)"
        )
        lines.append(
            "Contamination classes: a PROXY built by demine from conflict geography; not a "
            f"survey and not an official hazard map. Sources: {sources}."
        )
    elif inputs.get("contamination"):
        name = Path(inputs["contamination"]).name
        extra = f"; sources given in the file: {tags['SOURCES']}" if tags.get("SOURCES") else ""
        lines.append(f"Contamination: {name} (user data{extra}).")
    if inputs.get("hazard_areas"):
        lines.append(f"Hazardous areas: {Path(inputs['hazard_areas']).name} (user data).")
    if inputs.get("probability") and not emb.get("probability"):
        lines.append(f"Hazard probability: {Path(inputs['probability']).name} (user data).")
    if emb["deposits"]:
        lines.append(
            "Deposit locations: Wikipedia contributors (CC BY-SA); GeoNames (CC BY 4.0); "
            "publications cited per deposit in geodata/deposits.geojson."
        )
    else:
        lines.append(f"Deposits: {Path(inputs.get('deposits') or '').name} (user data).")
    lines.append(
        "Land-release shares, productivities and costs: the parameter file, each value with "
        "its source (see Assumptions)."
    )
    return lines


def caveats(report: Report) -> list[str]:
    """Return the limits a reader must know before quoting the figures."""
    emb = embedded_inputs(report)
    out = []
    if emb["contamination"]:
        out.append(
            "The contamination raster is a proxy inferred from where fighting was, not survey "
            "data: it does not see isolated strikes, cluster-munition footprints, minefields "
            "away from the mapped lines, or clearance already done."
        )
    out.append(
        "'Potentially contaminated' is a survey backlog, not a minefield: most of it is "
        "expected to be cancelled by non-technical survey; the parameter file sets how much."
    )
    if any(d.reason and "uncertainty disc" in d.reason for d in report.deposits):
        out.append(
            "Footprints marked as uncertainty discs are circles around uncertain coordinates, "
            "not licence outlines: their figures are upper bounds."
        )
    out.append(
        "Team day costs and several shares are judgements where no public source exists "
        "(marked JUDGEMENT in Assumptions); replace them with operator figures."
    )
    if report.meta.get("draws", 1) > 1:
        out.append(
            "P10 / P50 / P90 are quantiles of Monte Carlo draws; region totals are quantiles of "
            "per-draw sums, so they are not the sums of the deposit quantiles."
        )
    if any(d.status == "blocked" for d in report.deposits) or report.meta.get("access_date"):
        out.append(
            "Occupied ground cannot be surveyed or cleared until access changes; its dates assume "
            "the access date given (without one such deposits are blocked)."
        )
    return out


_TAG = re.compile(r"\[([A-Za-z0-9][A-Za-z0-9-]*)\]")
_REF_LINE = re.compile(r"^#\s{1,4}\[([A-Za-z0-9-]+)\]\s+(.*)$")
_REF_CONT = re.compile(r"^#\s{5,}(\S.*)$")
_KEY_LINE = re.compile(r"^([A-Za-z0-9_]+)\s*=")
_TABLE_LINE = re.compile(r"^\[([^\[\]]+)\]")


def parameter_comments(text: str) -> tuple[dict[str, str], dict[str, str]]:
    r"""Read the comments of a parameter file: per key, and the reference list of its header.

    A key's comment is the block of comment lines right above it (after the last blank line)
    plus any comment at the end of its line.

    Parameters
    ----------
    text : str
        The TOML text.

    Returns
    -------
    (comments, references)
        ``{"classes.low.nts_cancel_share": "Nationally only ... [UA-NTS23] ..."}`` and
        ``{"UA-NTS23": "Interfax-Ukraine 2024 (MoD): ..."}``.

    Examples
    --------
    >>> text = "#   [X1]   A source.\n\n[general]\n# Said by [X1].\na = 1 # JUDGEMENT\n"
    >>> c, r = parameter_comments(text)
    >>> c["general.a"], r
    ('Said by [X1]. JUDGEMENT', {'X1': 'A source.'})
    """
    comments: dict[str, str] = {}
    refs: dict[str, str] = {}
    table = ""
    pending: list[str] = []
    last_ref: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        m = _REF_LINE.match(line)
        if m and not table:
            last_ref = m.group(1)
            refs[last_ref] = m.group(2).strip()
            continue
        m = _REF_CONT.match(line)
        if m and last_ref and not table:
            refs[last_ref] += " " + m.group(1).strip()
            continue
        if line.startswith("#"):
            last_ref = None
            pending.append(line.lstrip("#").strip())
            continue
        if not line:
            pending = []
            last_ref = None
            continue
        m = _TABLE_LINE.match(line)
        if m:
            table = m.group(1).strip()
            pending = []
            continue
        m = _KEY_LINE.match(line)
        if m:
            key = f"{table}.{m.group(1)}" if table else m.group(1)
            inline = line.split("#", 1)[1].strip() if "#" in line.split("=", 1)[1] else ""
            comments[key] = " ".join([*pending, *([inline] if inline else [])]).strip()
        pending = []
    return comments, refs


def _source_of(comment: str, refs: dict[str, str]) -> str:
    tags = []
    for t in _TAG.findall(comment):
        if t in refs and t not in tags:
            tags.append(t)
    parts = [", ".join(f"[{t}]" for t in tags)] if tags else []
    if "JUDGEMENT" in comment:
        parts.append("JUDGEMENT")
    return "; ".join(parts) if parts else "-"


def _fmt_number(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:g}"


def _fmt_value(value: Any) -> str:
    from .params import Range

    if isinstance(value, Range):
        if value.is_fixed:
            return _fmt_number(value.mode)
        dist = " (PERT)" if value.dist == "pert" else ""
        return (
            f"{_fmt_number(value.low)} / {_fmt_number(value.mode)} / "
            f"{_fmt_number(value.high)}{dist}"
        )
    if isinstance(value, tuple) and value and isinstance(value[0], tuple):
        return ", ".join(f"{m} {s:.0%}" for m, s in value)
    if isinstance(value, tuple):
        return ", ".join(_fmt_number(v) for v in value)
    if isinstance(value, float):
        return _fmt_number(value)
    return str(value)


def parameter_rows(params: Params) -> tuple[list[list[str]], dict[str, str]]:
    """Every parameter value with its source, and the references those sources cite.

    Sources come from the comments of the parameter files: the user file for keys it
    overrides, the shipped defaults for the others. ``JUDGEMENT`` marks values without a
    public source.

    Parameters
    ----------
    params : Params
        Validated parameters.

    Returns
    -------
    (rows, references)
        Rows ``[dotted key, value ("low / mode / high" for ranges), source]`` in file order, and
        the cited references ``{tag: text}``.
    """
    import dataclasses

    from .io import default_data, read_text

    try:
        default_text = read_text(default_data().parameters)
    except (EstimatorError, OSError):
        default_text = ""
    comments, refs = parameter_comments(default_text)
    user_comments: dict[str, str] = {}
    source = Path(params.source)
    if params.overridden_keys and source.is_file():
        try:
            user_comments, user_refs = parameter_comments(read_text(source))
            refs = {**refs, **user_refs}
        except (EstimatorError, OSError):
            user_comments = {}
    rows: list[list[str]] = []
    overridden = set(params.overridden_keys)

    def add(key: str, value: Any) -> None:
        if key in overridden and key not in user_comments:
            src = "command-line option"  # --buffer-m, --teams
        elif key in overridden:
            src = _source_of(user_comments[key], refs)
            src = f"your file ({src})" if src != "-" else f"your file {source.name}"
        else:
            src = _source_of(comments.get(key, ""), refs)
        rows.append([key, _fmt_value(value), src])

    for f in dataclasses.fields(params.general):
        add(f"general.{f.name}", getattr(params.general, f.name))
    for m in params.methods:
        for f in dataclasses.fields(m):
            if f.name not in ("name", "label"):
                add(f"methods.{m.name}.{f.name}", getattr(m, f.name))
    for c in params.classes:
        for f in dataclasses.fields(c):
            if f.name not in ("name", "label"):
                add(f"classes.{c.name}.{f.name}", getattr(c, f.name))
    cited = {t for row in rows for t in _TAG.findall(row[2])}
    return rows, {t: refs[t] for t in refs if t in cited}


def assumptions_markdown(params: Params) -> str:
    """Render the parameter values with their sources as Markdown (table and references)."""
    return _render_markdown_blocks(_assumption_blocks(params))


@dataclass(frozen=True, slots=True)
class DocTable:
    """A table of a report document: header, rows of text cells, where numbers start."""

    header: list[str]
    rows: list[list[str]]
    numeric_from: int = 1
    bold_last: bool = False


@dataclass(frozen=True, slots=True)
class DocMap:
    """Where the map goes in a report document (Markdown links it, HTML embeds it)."""

    alt: str


#: A block of a document: a paragraph, a bullet list, a table, or the map.
DocBlock = str | list[str] | DocTable | DocMap


def _assumption_blocks(params: Params) -> list[DocBlock]:
    rows, refs = parameter_rows(params)
    changed = ", ".join(params.overridden_keys) or "none"
    blocks: list[DocBlock] = [
        f"Parameter file `{params.source}` (schema {params.schema_version}, sha256 "
        f"{params.sha256[:12]}); keys changed from the shipped defaults: {changed}. Money in "
        f"{params.currency} at {params.price_year} prices; units are in the key names; ranges "
        "are low / mode / high.",
        DocTable(["Parameter", "Value", "Source"], rows, numeric_from=3),
    ]
    if refs:
        blocks.append("References cited above:")
        blocks.append([f"[{t}] {text}" for t, text in refs.items()])
    blocks.append(
        "JUDGEMENT marks a value for which no public source was found: the project's reasoned "
        "estimate, and the first thing to replace with an operator's own figures. A dash means "
        "the file gives no source right above that key (the comment above a neighbouring key "
        "may cover it)."
    )
    return blocks


def _summary_table(report: Report) -> DocTable:
    show_range = report.meta["draws"] > 1
    suspected = [c.name for c in report.params.classes if c.nts_cancel_share.mode < 1.0]
    rows = []
    for r in report.regions:
        f = r.figures
        ready = _ready_cell(report, r.ready_day, show_range, blocked=r.blocked_count > 0)
        rows.append(
            [
                r.name,
                str(r.deposit_count),
                _ha(r.footprint_area_m2),
                _ha(sum(r.hazard_area_m2.get(c, 0.0) for c in suspected) + r.unknown_area_m2),
                _spread(f["ts_area_m2"], lambda v: _ha(v), show_range),
                _spread(f["clearance_area_m2"], lambda v: _ha(v), show_range),
                _spread(f["cost_usd"], _money, show_range),
                _spread(f["team_days"], _days, show_range),
                ready,
                str(r.blocked_count),
            ]
        )
    return DocTable(
        [
            "Region",
            "Deposits",
            "Footprint ha",
            "Suspected ha",
            "TS ha",
            "Clearance ha",
            "Cost US$",
            "Team-days",
            "Ready by",
            "Blocked",
        ],
        rows,
        numeric_from=1,
    )


def report_document(report: Report) -> list[tuple[str, list[DocBlock]]]:
    """Build the report as a document of sections (paragraphs, lists, tables) for Markdown/HTML.

    Sections: summary per region, map, one deposit table per region, notes, sensitivity,
    assumptions (parameter values with sources), data and credits, caveats.
    """
    show_range = report.meta["draws"] > 1
    m = report.meta
    fig_note = (
        f"Figures are P50 (P10-P90) of {m['draws']} Monte Carlo draws (seed {m['seed']})"
        if show_range
        else "Figures are at the mode of every parameter range"
    )
    suspected = [c.name for c in report.params.classes if c.nts_cancel_share.mode < 1.0]
    sections: list[tuple[str, list[DocBlock]]] = [
        (
            "Summary",
            [
                f"{len(report.deposits)} deposit(s) in {len(report.regions)} region(s). "
                f"{fig_note}; areas in hectares, money in US$ at {m['price_year']} prices. "
                f"Each footprint is the deposit plus {m['footprint_buffer_m']:g} m. "
                f"Suspected = classes {', '.join(suspected)} plus ground without data; TS = "
                "technical survey after non-technical survey (NTS) cancels its share; Clearance "
                "= what TS confirms.",
                _summary_table(report),
            ],
        ),
        ("Map", [DocMap("Map of the regions, contamination classes and deposits")]),
    ]
    header = _header(report)
    for r, members in _by_region(report):
        rows = [_deposit_cells(report, d, show_range) for d in members]
        rows.append(_total_cells(report, r, show_range))
        sections.append(
            (f"{r.name}: deposits", [DocTable(header, rows, numeric_from=3, bold_last=True)])
        )
    notes = _notes(report)
    if notes:
        sections.append(("Notes", [notes]))
    if report.sensitivity:
        blocks: list[DocBlock] = []
        for region, t in report.sensitivity.items():
            for key, title, dates in (
                ("cost_usd", "cost", False),
                ("ready_day", "ready date", True),
            ):
                if t[key]:
                    blocks.append(f"{region}: what moves the {title} (low -> high, others at mode)")
                    blocks.append(
                        DocTable(
                            ["Parameter", "At low", "At high", "Swing"],
                            _swing_rows(report, t[key], dates, 10),
                        )
                    )
        sections.append(("Sensitivity", blocks))
    sections.append(("Assumptions", _assumption_blocks(report.params)))
    sections.append(("Data and credits", [data_credits(report)]))
    sections.append(("Caveats", [caveats(report)]))
    return sections


def _md_table(t: DocTable) -> list[str]:
    out = ["| " + " | ".join(_md(h) for h in t.header) + " |"]
    out.append(
        "|" + "|".join("---" if i < t.numeric_from else "---:" for i in range(len(t.header))) + "|"
    )
    for j, row in enumerate(t.rows):
        bold = t.bold_last and j == len(t.rows) - 1
        out.append("| " + " | ".join(f"**{_md(c)}**" if bold and c else _md(c) for c in row) + " |")
    return out


def _render_markdown_blocks(blocks: list[DocBlock], map_href: str | None = None) -> str:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, DocTable):
            out += _md_table(b)
        elif isinstance(b, DocMap):
            if map_href is None:
                continue
            out.append(f"![{b.alt}]({map_href})")
        elif isinstance(b, list):
            out += [f"- {_md(item)}" for item in b]
        else:
            out.append(b)
        out.append("")
    return "\n".join(out)


def markdown_document(report: Report, *, map_href: str | None = None) -> str:
    """Render the whole report document as GitHub-flavoured Markdown.

    Parameters
    ----------
    report : Report
        A computed report.
    map_href : str, optional
        Link to the map image (a path relative to the Markdown file, or a URL); without it the
        map section is left out.

    Returns
    -------
    str
        Markdown starting with ``# demine report``.
    """
    out = ["# demine report", ""]
    out += [f"_{_md(line)}_  " for line in _caption(report)]
    out.append("")
    for title, blocks in report_document(report):
        if map_href is None and all(isinstance(b, DocMap) for b in blocks):
            continue
        out += [f"## {title}", ""]
        out.append(_render_markdown_blocks(blocks, map_href))
    return "\n".join(out).rstrip("\n") + "\n"


def region_summary_lines(report: Report) -> list[str]:
    """One line per region: deposits, clearance area and cost (P50, with P10-P90), readiness.

    For captions such as the map's, where a table does not fit.
    """
    show_range = report.meta["draws"] > 1
    lines = []
    for r in report.regions:
        clear = _spread(r.figures["clearance_area_m2"], lambda v: _ha(v), show_range)
        cost = _spread(r.figures["cost_usd"], _money, show_range)
        if r.ready_day is None:
            ready = "not scheduled (no access date)" if r.blocked_count else "not scheduled"
        else:
            cell = _ready_cell(report, r.ready_day, show_range, blocked=r.blocked_count > 0)
            ready = "ready by " + cell.replace("\n", " ")
        blocked = f", {r.blocked_count} blocked (occupied)" if r.blocked_count else ""
        lines.append(
            f"{r.name}: {r.deposit_count} deposit(s){blocked}; clearance "
            f"{clear.replace(chr(10), ' ')} ha; cost US$ {cost.replace(chr(10), ' ')}; {ready}"
        )
    return lines
