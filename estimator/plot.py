"""Results -> PNG figures (matplotlib, no display needed). Returns bytes; ``io`` writes them."""

from __future__ import annotations

import io as _bytes_io
import logging
import math
import re
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from xml.sax.saxutils import escape

import matplotlib

matplotlib.use("Agg")  # never open a window; safe on servers and in CI

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402
from matplotlib import patheffects  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, PathPatch  # noqa: E402
from matplotlib.path import Path as MplPath  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

from .errors import InputDataError  # noqa: E402
from .symbology import (  # noqa: E402
    FRONT_LINE_COLOUR,
    OCCUPIED_COLOUR,
    REGION_COLOUR,
    class_colours,
    cost_breaks,
    cost_colours,
    cost_label,
    hex_to_rgb,
)

if TYPE_CHECKING:
    from .mapdata import MapData
    from .pipeline import Report

logger = logging.getLogger(__name__)

__all__ = [
    "A4_DPI",
    "A4_HEIGHT_PX",
    "A4_WIDTH_PX",
    "check_map_size",
    "map_aspect",
    "map_data_for",
    "render_map",
    "tornado_png",
]

#: A4 portrait at 300 dpi: the default map size.
A4_WIDTH_PX, A4_HEIGHT_PX, A4_DPI = 2480, 3508, 300


def tornado_png(report: Report, *, top: int = 10, dpi: int = 150) -> bytes:
    """Draw tornado charts (cost and ready date) for every region of a report.

    Parameters
    ----------
    report : Report
        A report computed with ``sensitivity=True``.
    top : int
        Parameters shown per chart, largest swing first.
    dpi : int
        Resolution.

    Returns
    -------
    bytes
        A PNG image.

    Raises
    ------
    ValueError
        If the report holds no sensitivity results.
    """
    from .report import short_parameter

    panels = []
    for region, t in report.sensitivity.items():
        if t["cost_usd"]:
            panels.append((f"{region}: cost (US$ M)", t["cost_usd"][:top], 1e-6))
        if t["ready_day"]:
            panels.append((f"{region}: ready date (days after start)", t["ready_day"][:top], 1.0))
    if not panels:
        raise ValueError("the report has no sensitivity results; run with sensitivity=True")
    rows = max(len(p[1]) for p in panels)
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(8.27, max(2.5, 0.32 * rows + 1.2) * len(panels)), squeeze=False
    )
    for ax, (title, swings, scale) in zip(axes[:, 0], panels, strict=True):
        labels = [short_parameter(s.parameter) for s in swings][::-1]
        base = swings[0].base * scale
        ends = [v * scale for s in swings for v in (s.at_low, s.at_high)]
        finite = [base, *(v for v in ends if math.isfinite(v))]
        reach = max(finite) - min(finite) or abs(base) or 1.0
        # A date never reached within the schedule's horizon: a hatched bar to the chart's
        # edge, marked "never" (it is often the largest swing of all, so it must show).
        edge = {1: max(finite) + 0.3 * reach, -1: min(finite) - 0.3 * reach}
        for y, s in enumerate(swings[::-1]):
            for value, color in ((s.at_low, "#4c72b0"), (s.at_high, "#dd8452")):
                end = value * scale
                never = not math.isfinite(end)
                if never:
                    end = edge[1 if end > 0 else -1]
                ax.barh(
                    y,
                    end - base,
                    left=base,
                    color=color,
                    height=0.6,
                    hatch="//" if never else None,
                    edgecolor="white" if never else None,
                )
                if never:
                    ha = "left" if end > base else "right"
                    ax.text(
                        end,
                        y,
                        " never " if ha == "left" else "never ",
                        va="center",
                        ha=ha,
                        fontsize=7,
                    )
        if any(not math.isfinite(v) for v in ends):
            ax.set_xlim(edge[-1] - 0.15 * reach, edge[1] + 0.15 * reach)
        ax.axvline(base, color="black", linewidth=0.8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_title(title, fontsize=10, loc="left")
        ax.tick_params(axis="x", labelsize=8)
    handles = [
        plt.Rectangle((0, 0), 1, 1, color="#4c72b0"),
        plt.Rectangle((0, 0), 1, 1, color="#dd8452"),
    ]
    fig.legend(handles, ["parameter at low", "parameter at high"], loc="lower right", fontsize=8)
    fig.suptitle("demine sensitivity: one parameter at a time, others at mode", fontsize=11)
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    buf = _bytes_io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# The map
#
# Layout in inches, for A4 portrait; every length and font size is multiplied by a scale that
# follows the figure size, so a poster or a small screen image keeps the same proportions.

_A4_IN = (8.27, 11.69)
_MARGIN_IN = 0.4
_TITLE_IN = 0.95
_FOOTER_IN = 2.9
_MIN_IN = (4.0, 5.0)


def _scale(width_in: float, height_in: float) -> float:
    return float(np.clip(min(width_in / _A4_IN[0], height_in / _A4_IN[1]), 0.5, 3.0))


def _frames(width_in: float, height_in: float) -> dict[str, tuple[float, float, float, float]]:
    """Figure-fraction rectangles (left, bottom, width, height) of title, map and footer."""
    s = _scale(width_in, height_in)
    m, title, footer = _MARGIN_IN * s, _TITLE_IN * s, _FOOTER_IN * s
    map_h = height_in - 2 * m - title - footer
    w = (width_in - 2 * m) / width_in
    return {
        "title": (m / width_in, (height_in - m - title) / height_in, w, title / height_in),
        "map": (m / width_in, (m + footer) / height_in, w, map_h / height_in),
        "footer": (m / width_in, m / height_in, w, (footer - 0.1 * s) / height_in),
    }


def map_aspect(width_px: int, height_px: int, dpi: int) -> float:
    """Width / height of the map frame in a figure of this size (for :func:`load_map_data`)."""
    _, _, w, h = _frames(width_px / dpi, height_px / dpi)["map"]
    return (w * width_px) / (h * height_px)


def map_data_for(
    report: Report,
    *,
    width_px: int = A4_WIDTH_PX,
    height_px: int = A4_HEIGHT_PX,
    dpi: int = A4_DPI,
) -> MapData:
    """Load the map's layers for a figure of this size (the grid matches its pixels).

    Parameters
    ----------
    report : Report
        A computed report.
    width_px, height_px, dpi : int
        The size :func:`render_map` will draw at.

    Returns
    -------
    MapData
        Reusable for several renderings of the same size (PNG and SVG).

    Raises
    ------
    InputDataError
        If the size is too small or an input of the map cannot be read.
    """
    from .mapdata import load_map_data

    width_in, height_in = check_map_size(width_px, height_px, dpi)
    _, _, fw, _ = _frames(width_in, height_in)["map"]
    return load_map_data(
        report,
        aspect=map_aspect(width_px, height_px, dpi),
        grid_width=max(200, min(3000, round(fw * width_px))),
    )


def check_map_size(width_px: int, height_px: int, dpi: int) -> tuple[float, float]:
    """Check a map size can be read and return it in inches (width, height).

    Raises
    ------
    InputDataError
        If ``dpi`` is outside 30-1200 or the page is smaller than 4 x 5 inches.
    """
    if not 30 <= dpi <= 1200:
        raise InputDataError(f"--dpi {dpi}: use 30 to 1200 (300 for print)")
    width_in, height_in = width_px / dpi, height_px / dpi
    if width_in < _MIN_IN[0] or height_in < _MIN_IN[1]:
        raise InputDataError(
            f"--width-px {width_px} --height-px {height_px} at --dpi {dpi} is "
            f"{width_in:.1f} x {height_in:.1f} in; the map needs at least {_MIN_IN[0]:g} x "
            f"{_MIN_IN[1]:g} in (lower --dpi for a small image)"
        )
    return width_in, height_in


def _ring_codes(n: int) -> list[int]:
    return [MplPath.MOVETO] + [MplPath.LINETO] * (n - 2) + [MplPath.CLOSEPOLY]


def _polygon_path(geom: shapely.Geometry) -> MplPath | None:
    """Return a matplotlib path of a (multi)polygon, holes included."""
    verts, codes = [], []
    for poly in shapely.get_parts(geom):
        if poly.geom_type != "Polygon" or poly.is_empty:
            continue
        poly = shapely.orient_polygons(poly, exterior_cw=False)
        for ring in (poly.exterior, *poly.interiors):
            xy = np.asarray(ring.coords)
            if len(xy) < 4:
                continue
            verts.append(xy)
            codes += _ring_codes(len(xy))
    if not verts:
        return None
    return MplPath(np.concatenate(verts), codes)


def _polygons(geom: shapely.Geometry | None) -> shapely.Geometry | None:
    if geom is None or geom.is_empty:
        return None
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else None


def _lines(geom: shapely.Geometry | None) -> list[np.ndarray]:
    if geom is None or geom.is_empty:
        return []
    out = []
    for part in shapely.get_parts(geom):
        if part.geom_type in ("LineString", "LinearRing"):
            out.append(np.asarray(part.coords))
        elif part.geom_type == "MultiLineString":
            out += [np.asarray(g.coords) for g in part.geoms]
    return [xy for xy in out if len(xy) >= 2]


def _usd(x: float) -> str:
    for scale, unit in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if x >= scale:
            v = x / scale
            return f"US$ {v:,.1f} {unit}" if v < 100 else f"US$ {v:,.0f} {unit}"
    return f"US$ {x:,.0f}"


def _nice_length(target_m: float) -> float:
    k = 10 ** math.floor(math.log10(target_m))
    for m in (5, 2, 1):
        if m * k <= target_m:
            return m * k
    return k


def _halo(width: float) -> list:
    return [patheffects.withStroke(linewidth=width, foreground="white", alpha=0.9)]


def _place_labels(ax, fig, items, avoid, s: float) -> None:
    """Place each label at the first of eight positions around its point that overlaps nothing.

    ``items`` are (x, y, text, gid); ``avoid`` holds display-space boxes already taken.
    """
    renderer = fig.canvas.get_renderer()
    axes_box = ax.get_window_extent(renderer)
    d = 7 * s
    offsets = [
        ((d, d), "left", "bottom"),
        ((d, -d), "left", "top"),
        ((-d, d), "right", "bottom"),
        ((-d, -d), "right", "top"),
        ((0, 1.4 * d), "center", "bottom"),
        ((0, -1.4 * d), "center", "top"),
        ((1.6 * d, 0), "left", "center"),
        ((-1.6 * d, 0), "right", "center"),
    ]
    taken = list(avoid)
    for x, y, text, gid in items:
        chosen = None
        for off, ha, va in offsets:
            t = ax.annotate(
                text,
                (x, y),
                xytext=off,
                textcoords="offset points",
                ha=ha,
                va=va,
                fontsize=7.2 * s,
                zorder=9,
                path_effects=_halo(2.2 * s),
                linespacing=1.15,
            )
            box = t.get_window_extent(renderer).expanded(1.04, 1.08)
            inside = (
                box.x0 >= axes_box.x0
                and box.x1 <= axes_box.x1
                and box.y0 >= axes_box.y0
                and box.y1 <= axes_box.y1
            )
            if inside and not any(box.overlaps(b) for b in taken):
                chosen = (t, box)
                break
            t.remove()
        if chosen is None:
            off, ha, va = offsets[0]
            t = ax.annotate(
                text,
                (x, y),
                xytext=off,
                textcoords="offset points",
                ha=ha,
                va=va,
                fontsize=7.2 * s,
                zorder=9,
                path_effects=_halo(2.2 * s),
                linespacing=1.15,
            )
            chosen = (t, t.get_window_extent(renderer))
        chosen[0].set_gid(f"{gid}-label")
        taken.append(chosen[1])


def _legend_title(report: Report, proxy: bool) -> str:
    inputs = report.meta.get("inputs", {})
    if proxy:
        return "Contamination class (PROXY)"
    if inputs.get("hazard_areas") and not inputs.get("contamination"):
        return "Hazard class (hazardous-area polygons)"
    return "Hazard class"


def _hazard_source(report: Report, embedded: bool) -> str:
    inputs = report.meta.get("inputs", {})
    if embedded:
        return "Contamination classes are a proxy from conflict geography, not survey data"
    parts = []
    if inputs.get("hazard_areas"):
        parts.append(f"hazardous areas from {Path(inputs['hazard_areas']).name}")
    if inputs.get("contamination"):
        parts.append(f"contamination classes from {Path(inputs['contamination']).name}")
    text = "; ".join(parts) or "no contamination data"
    return text[0].upper() + text[1:]


def _map_figure(report: Report, data: MapData, width_in: float, height_in: float, dpi: int):
    from .report import control_label, data_credits, embedded_inputs, region_summary_lines

    s = _scale(width_in, height_in)
    frames = _frames(width_in, height_in)
    fig = plt.figure(figsize=(width_in, height_in), dpi=dpi)
    params = report.params
    colours = class_colours(params)
    names = list(params.class_names)

    # --- title
    tax = fig.add_axes(frames["title"])
    tax.set_axis_off()
    focus = ", ".join(data.focus) or "deposits"
    tax.text(
        0,
        0.98,
        f"Ground to survey and clear before extraction: {focus}",
        fontsize=14 * s,
        fontweight="bold",
        va="top",
        transform=tax.transAxes,
    )
    m = report.meta
    figures = (
        f"P50 of {m['draws']} Monte Carlo draws" if m["draws"] > 1 else "at the parameter modes"
    )
    sub = [
        f"Deposit footprints (deposit + {m['footprint_buffer_m']:g} m) coloured by the cost of "
        f"survey and clearance, {figures}, US$ {m['price_year']}.",
        _hazard_source(report, embedded_inputs(report)["contamination"])
        + (f"; occupied ground as of {m['control_date']}." if m.get("control_date") else "."),
    ]
    tax.text(
        0,
        0.50,
        "\n".join(sub),
        fontsize=8.2 * s,
        va="top",
        color="#333333",
        transform=tax.transAxes,
        linespacing=1.35,
    )

    # --- map
    ax = fig.add_axes(frames["map"])
    xmin, ymin, xmax, ymax = data.extent
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor("#fbfbfb")
    if data.classes is not None:
        ax.set_facecolor("none")
    for spine in ax.spines.values():
        spine.set_linewidth(0.8 * s)
    present: set[int] = set()
    if data.classes is not None:
        # The classes are painted straight into the figure's pixels under the map frame (no
        # resampling by matplotlib, which takes seconds on a full page): an RGBA lookup, then
        # nearest-cell indexing to the frame's pixel size.
        # Class colours at 92 % over white, as they would print; the last entry is "no data".
        rgb = np.array(
            [hex_to_rgb(colours[c]) for c in names] + [hex_to_rgb(colours["unknown"])],
            dtype="float64",
        )
        rgb = 0.92 * rgb + 0.08 * 255.0
        lut = np.vstack([np.c_[rgb, np.full(len(rgb), 255.0)], [251, 251, 251, 255]])
        lut = np.round(lut).astype("uint8")
        ax.apply_aspect()
        pos = ax.get_position()
        px_w = max(1, round(pos.width * width_in * dpi))
        px_h = max(1, round(pos.height * height_in * dpi))
        grid_h, grid_w = data.classes.shape
        rows = np.minimum((np.arange(px_h) + 0.5) * grid_h / px_h, grid_h - 1).astype("intp")
        cols = np.minimum((np.arange(px_w) + 0.5) * grid_w / px_w, grid_w - 1).astype("intp")
        idx = np.ma.filled(data.classes, len(lut) - 1).astype("intp")
        image = lut[np.clip(idx, 0, len(lut) - 1)[np.ix_(rows, cols)]]
        fig.figimage(
            image,
            xo=round(pos.x0 * width_in * dpi),
            yo=round(pos.y0 * height_in * dpi),
            origin="upper",
            zorder=-1,
        )
        ax.patch.set_alpha(0.0)
        present = {int(v) for v in np.unique(data.classes.compressed())}
    for k, geom in data.hazard_polygons:
        path = _polygon_path(geom)
        if path is not None:
            c = colours[names[k]]
            ax.add_artist(PathPatch(path, facecolor=c, edgecolor="#333333", lw=0.5 * s, zorder=2))
            present.add(k)
    for name, geom in data.regions.items():
        if name in data.focus:
            continue
        path = _polygon_path(geom)
        if path is not None:
            ax.add_artist(
                PathPatch(path, facecolor="none", edgecolor="#8c8c8c", lw=0.6 * s, zorder=3)
            )
    occupied = _polygons(data.occupied)
    if occupied is not None:
        path = _polygon_path(occupied)
        if path is not None:
            plt.rcParams["hatch.linewidth"] = 0.45 * s
            ax.add_artist(
                PathPatch(
                    path,
                    facecolor="none",
                    edgecolor=OCCUPIED_COLOUR,
                    hatch="////",
                    lw=0,
                    zorder=4,
                    alpha=0.75,
                )
            )
            ax.add_artist(
                PathPatch(path, facecolor="none", edgecolor=OCCUPIED_COLOUR, lw=0.4 * s, zorder=4)
            )
    for xy in _lines(data.front_line):
        ax.plot(
            xy[:, 0],
            xy[:, 1],
            color=FRONT_LINE_COLOUR,
            lw=1.9 * s,
            zorder=5,
            solid_capstyle="round",
            path_effects=_halo(3.6 * s),
        )
    avoid = []
    renderer = fig.canvas.get_renderer()
    for name in data.focus:
        geom = data.regions[name]
        path = _polygon_path(geom)
        if path is None:
            continue
        ax.add_artist(
            PathPatch(
                path,
                facecolor="none",
                edgecolor=REGION_COLOUR,
                lw=1.1 * s,
                linestyle=(0, (6, 2, 1.5, 2)),
                zorder=6,
            )
        )
        p = shapely.point_on_surface(geom)
        t = ax.text(
            p.x,
            p.y,
            name.upper(),
            fontsize=12 * s,
            color="#404040",
            ha="center",
            va="center",
            zorder=6.5,
            fontweight="bold",
            path_effects=_halo(3 * s),
        )
        avoid.append(t.get_window_extent(renderer))

    # --- deposits, coloured by P50 cost
    costs = [(d.figures or {}).get("cost_usd") for d in report.deposits]
    p50 = [None if q is None else q["p50"] for q in costs]
    breaks = cost_breaks(p50)
    dep_colours = cost_colours(len(breaks) - 1) if breaks else []

    def colour_of(v: float | None) -> str:
        if v is None or not breaks:
            return "#9e9e9e"
        k = int(np.searchsorted(breaks, v, side="right")) - 1
        return dep_colours[min(max(k, 0), len(dep_colours) - 1)]

    items = []
    order = sorted(range(len(report.deposits)), key=lambda i: -(p50[i] or 0))
    for i in order:
        d, fp = report.deposits[i], data.footprints[i]
        if fp is None or fp.is_empty:
            continue
        c = colour_of(p50[i])
        gid = f"deposit-{i}"
        path = _polygon_path(fp)
        if path is not None:
            patch = PathPatch(path, facecolor=c, edgecolor=c, lw=1.6 * s, alpha=0.28, zorder=7)
            patch.set_gid(f"{gid}-footprint")
            ax.add_artist(patch)
            ax.add_artist(PathPatch(path, facecolor="none", edgecolor=c, lw=1.6 * s, zorder=7))
        pt = shapely.point_on_surface(fp)
        marker = ax.scatter(
            [pt.x],
            [pt.y],
            s=(7.5 * s) ** 2,
            c=[c],
            edgecolors="black",
            linewidths=0.7 * s,
            zorder=8,
        )
        marker.set_gid(gid)
        cx, cy = ax.transData.transform((pt.x, pt.y))
        r = 7.5 * s / 2 * fig.dpi / 72
        avoid.append(Bbox.from_extents(cx - r, cy - r, cx + r, cy + r))
        cost = "" if p50[i] is None else _usd(p50[i])
        status = control_label(d.occupied_share) if d.occupied_share else ""
        extra = " · ".join(x for x in (cost, status) if x and x != "free")
        items.append((pt.x, pt.y, d.name + (f"\n{extra}" if extra else ""), gid))
    _place_labels(ax, fig, items, avoid, s)

    # --- scale bar and north arrow
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    length = _nice_length(0.22 * (xmax - xmin))
    bar = AnchoredSizeBar(
        ax.transData,
        length,
        f"{length / 1000:g} km",
        loc="lower left",
        pad=0.4,
        borderpad=0.8,
        sep=3 * s,
        frameon=True,
        size_vertical=(ymax - ymin) / 350,
        fontproperties={"size": 8 * s},
    )
    bar.patch.set_alpha(0.85)
    bar.zorder = 10
    ax.add_artist(bar)
    ax.annotate(
        "N",
        xy=(0.965, 0.975),
        xytext=(0.965, 0.905),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontsize=11 * s,
        fontweight="bold",
        arrowprops={"facecolor": "black", "width": 2.5 * s, "headwidth": 9 * s, "lw": 0},
        zorder=10,
    )

    # --- footer: legends, totals, credits
    fax = fig.add_axes(frames["footer"])
    fax.set_axis_off()
    fs = 7.2 * s
    haz = []
    # The class descriptions of the default parameter file describe the embedded proxy; with
    # other data only the class names hold.
    proxy = embedded_inputs(report)["contamination"]
    for k, c in enumerate(params.classes):
        if k in present or any(d.hazard_area_m2.get(c.name, 0) > 0 for d in report.deposits):
            label = textwrap.fill(f"{c.name}: {c.label}" if proxy else c.name, 44)
            haz.append(Patch(facecolor=colours[c.name], edgecolor="#666666", lw=0.3, label=label))
    if len(params.classes) in present or data.unmapped:
        haz.append(Patch(facecolor=colours["unknown"], label="raster value without a class"))
    if any(d.unknown_area_m2 > 0 for d in report.deposits):
        haz.append(
            Patch(
                facecolor="white",
                edgecolor="#666666",
                lw=0.3,
                label=textwrap.fill(
                    f"no data (assessed as {params.general.unknown_area_class})", 44
                ),
            )
        )
    other = []
    if occupied is not None:
        other.append(
            Patch(
                facecolor="white",
                edgecolor=OCCUPIED_COLOUR,
                hatch="////",
                lw=0.4,
                label=f"occupied ground ({m.get('control_date') or 'control layer'})",
            )
        )
    if _lines(data.front_line):
        other.append(
            Line2D(
                [],
                [],
                color=FRONT_LINE_COLOUR,
                lw=1.9 * s,
                label="front line (edge of occupied ground)",
            )
        )
    other.append(
        Line2D(
            [],
            [],
            color=REGION_COLOUR,
            lw=1.1 * s,
            linestyle=(0, (6, 2, 1.5, 2)),
            label="region boundary",
        )
    )
    other.append(
        Patch(
            facecolor="#3690c04d",
            edgecolor="#3690c0",
            lw=1.2,
            label=f"deposit footprint (+{m['footprint_buffer_m']:g} m)",
        )
    )
    deps = [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="none",
            markersize=7 * s,
            markerfacecolor=col,
            markeredgecolor="black",
            markeredgewidth=0.6,
            label=cost_label(breaks[j], breaks[j + 1]),
        )
        for j, col in enumerate(dep_colours)
    ]
    common = {
        "frameon": False,
        "fontsize": fs,
        "title_fontsize": fs + 0.6 * s,
        "handlelength": 1.6,
        "handleheight": 1.1,
        "alignment": "left",
        "borderaxespad": 0,
    }
    if haz:
        leg = fax.legend(
            handles=haz,
            title=_legend_title(report, proxy),
            loc="upper left",
            bbox_to_anchor=(0.0, 1.0),
            **common,
        )
        fax.add_artist(leg)
    leg = fax.legend(
        handles=other,
        title="Ground and lines",
        loc="upper left",
        bbox_to_anchor=(0.44, 1.0),
        **common,
    )
    fax.add_artist(leg)
    if deps:
        leg = fax.legend(
            handles=deps,
            title="Deposit: P50 cost",
            loc="upper left",
            bbox_to_anchor=(0.74, 1.0),
            **common,
        )
        fax.add_artist(leg)
    wrap = max(60, int((width_in - 2 * _MARGIN_IN * s) * 72 / (fs * 0.58)))
    totals = "\n".join(
        textwrap.fill(line, wrap, subsequent_indent="    ") for line in region_summary_lines(report)
    )
    totals_text = fax.text(
        0,
        0.42,
        "Region totals (P50, P10-P90 in brackets)\n" + totals,
        fontsize=fs,
        va="top",
        transform=fax.transAxes,
        linespacing=1.3,
    )
    lon0, lat0 = data.centre
    credits = " ".join(data_credits(report)) + (
        f" Map: transverse Mercator centred on {lon0:.2f}°E {lat0:.2f}°N (WGS84), scale true at"
        f" the centre. demine {m['version']}, parameters sha256 {m['params_sha256'][:12]}."
    )
    fax.annotate(
        textwrap.fill("Data and credits: " + credits, int(wrap * 1.25)),
        xy=(0, 0),
        xycoords=totals_text,
        xytext=(0, -5 * s),
        textcoords="offset points",
        fontsize=fs - 1.2 * s,
        va="top",
        color="#444444",
        linespacing=1.25,
    )
    return fig


_GID = re.compile(r'<g id="(deposit-\d+)">')


def _svg_with_tooltips(svg: str, report: Report) -> str:
    """Give each deposit marker in an SVG map a ``<title>``: browsers show it on hover."""
    from .report import control_label

    def tip(match: re.Match) -> str:
        i = int(match.group(1).split("-")[1])
        d = report.deposits[i]
        fig = d.figures or {}
        lines = [f"{d.name} ({d.commodity})" if d.commodity else d.name, f"status: {d.status}"]
        lines.append(f"control: {control_label(d.occupied_share)}")
        for key, label in (("cost_usd", "cost"), ("clearance_area_m2", "clearance")):
            q = fig.get(key)
            if q is None:
                continue
            if key == "cost_usd":
                lines.append(
                    f"{label} P50 {_usd(q['p50'])} (P10-P90 {_usd(q['p10'])} - {_usd(q['p90'])})"
                )
            else:
                lines.append(f"{label} P50 {q['p50'] / 1e4:,.0f} ha")
        return f"{match.group(0)}<title>{escape(chr(10).join(lines))}</title>"

    return _GID.sub(tip, svg)


def render_map(
    report: Report,
    data: MapData | None = None,
    *,
    width_px: int = A4_WIDTH_PX,
    height_px: int = A4_HEIGHT_PX,
    dpi: int = A4_DPI,
    fmt: Literal["png", "svg"] = "png",
) -> bytes:
    """Draw the map of a report.

    Regions, contamination classes, occupied ground (hatched), the front line, deposits
    coloured by P50 cost with labels, a legend, a scale bar, region totals and data credits.

    Parameters
    ----------
    report : Report
        A computed report (its regions are the map's focus).
    data : MapData, optional
        Pre-loaded layers (:func:`estimator.mapdata.load_map_data` with
        ``aspect=map_aspect(width_px, height_px, dpi)``); loaded here if not given.
    width_px, height_px : int
        Image size in pixels (default A4 portrait at 300 dpi: 2480 x 3508).
    dpi : int
        Pixels per inch; with the pixel size it sets the paper size and so the font sizes.
    fmt : {"png", "svg"}
        ``"svg"`` gives a vector map whose deposits show their figures on hover.

    Returns
    -------
    bytes
        The image, exactly ``width_px`` x ``height_px`` for PNG.

    Raises
    ------
    InputDataError
        If the size is too small to be read (under 4 x 5 inches at ``dpi``) or an input of the
        map cannot be read.
    """
    width_in, height_in = check_map_size(width_px, height_px, dpi)
    if data is None:
        data = map_data_for(report, width_px=width_px, height_px=height_px, dpi=dpi)
    with plt.rc_context({"font.family": "DejaVu Sans", "hatch.linewidth": 0.5}):
        fig = _map_figure(report, data, width_in, height_in, dpi)
        buf = _bytes_io.BytesIO()
        try:
            fig.savefig(buf, format=fmt, dpi=dpi, metadata=_metadata(report, fmt))
        finally:
            plt.close(fig)
    out = buf.getvalue()
    if fmt == "svg":
        out = _svg_with_tooltips(out.decode("utf-8"), report).encode("utf-8")
    return out


def _metadata(report: Report, fmt: str) -> dict[str, str]:
    title = "demine map: " + ", ".join(r.name for r in report.regions)
    if fmt == "png":
        return {"Title": title, "Software": f"demine {report.meta['version']}"}
    return {"Title": title, "Creator": f"demine {report.meta['version']}", "Date": None}
