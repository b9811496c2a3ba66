"""Colours and class breaks shared by the PNG map, the HTML report and the QGIS layer styles.

One place decides what "high" looks like and where the cost classes break, so that the map a
planner prints and the GeoPackage they open in QGIS agree. No plotting library is imported here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .params import Params

__all__ = [
    "NO_HAZARD_COLOUR",
    "UNKNOWN_COLOUR",
    "OCCUPIED_COLOUR",
    "FRONT_LINE_COLOUR",
    "REGION_COLOUR",
    "class_colours",
    "cost_breaks",
    "cost_colours",
    "cost_label",
    "hex_to_rgb",
]

#: Classes that non-technical survey is expected to cancel whole (pale green).
NO_HAZARD_COLOUR = "#d9f0d3"
#: Ground without contamination data.
UNKNOWN_COLOUR = "#bdbdbd"
#: Hatching of occupied ground.
OCCUPIED_COLOUR = "#4d4d4d"
#: The front line (edge of occupied ground): black, apart from the red of the high class.
FRONT_LINE_COLOUR = "#111111"
#: Region boundaries.
REGION_COLOUR = "#303030"

# Hazard classes in raster-value order: yellow -> orange -> red (ColorBrewer YlOrRd stops).
_HAZARD_STOPS = ("#fee08b", "#fdae61", "#d73027")
# Cost classes: light blue -> dark purple, distinct from the hazard ramp underneath.
_COST_STOPS = ("#a6bddb", "#3690c0", "#045a8d", "#4a1486", "#2d004b")


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    """Return the 0-255 RGB triple of a ``#rrggbb`` colour.

    Examples
    --------
    >>> hex_to_rgb("#d73027")
    (215, 48, 39)
    """
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _ramp(stops: Sequence[str], n: int) -> list[str]:
    """``n`` colours evenly spaced along a piecewise-linear RGB ramp."""
    if n <= 0:
        return []
    if n == 1:
        return [stops[len(stops) // 2]]
    rgb = [hex_to_rgb(s) for s in stops]
    out = []
    for i in range(n):
        t = i / (n - 1) * (len(rgb) - 1)
        j = min(int(t), len(rgb) - 2)
        f = t - j
        c = [round(a + (b - a) * f) for a, b in zip(rgb[j], rgb[j + 1], strict=True)]
        out.append("#{:02x}{:02x}{:02x}".format(*c))
    return out


def class_colours(params: Params) -> dict[str, str]:
    """Colour of each hazard class (and ``"unknown"``), by class name.

    A class that non-technical survey cancels whole (``nts_cancel_share`` mode of 1) is pale
    green; the others run from yellow to red in raster-value order.

    Examples
    --------
    >>> from estimator.pipeline import load_default_params
    >>> class_colours(load_default_params())  # doctest: +NORMALIZE_WHITESPACE
    {'none': '#d9f0d3', 'low': '#fee08b', 'medium': '#fdae61', 'high': '#d73027',
     'unknown': '#bdbdbd'}
    """
    hazardous = [c.name for c in params.classes if c.nts_cancel_share.mode < 1.0]
    ramp = dict(zip(hazardous, _ramp(_HAZARD_STOPS, len(hazardous)), strict=True))
    out = {c.name: ramp.get(c.name, NO_HAZARD_COLOUR) for c in params.classes}
    out["unknown"] = UNKNOWN_COLOUR
    return out


def _nice_values(lo: float, hi: float, mantissas: Sequence[float]) -> list[float]:
    """Return the values m x 10^k (m in ``mantissas``) from the largest <= lo to >= hi."""
    k0 = math.floor(math.log10(lo)) - 1
    k1 = math.ceil(math.log10(hi)) + 1
    vals = sorted({m * 10.0**k for k in range(k0, k1 + 1) for m in mantissas})
    start = max(v for v in vals if v <= lo * (1 + 1e-12))
    stop = min(v for v in vals if v >= hi * (1 - 1e-12))
    return [v for v in vals if start <= v <= stop]


def cost_breaks(costs: Iterable[float | None], *, max_classes: int = 6) -> list[float]:
    """Round class edges (1-2-5, 1-3 or decades) spanning the given costs.

    Parameters
    ----------
    costs : iterable of float or None
        Costs in US$ (``None``, NaN and non-positive values are ignored).
    max_classes : int
        At most this many classes.

    Returns
    -------
    list of float
        Increasing edges ``[e0, e1, ..., en]`` with ``e0 <= min(costs)`` and
        ``en >= max(costs)``; ``[]`` when no cost is positive.

    Examples
    --------
    >>> cost_breaks([484e3, 108e6])
    [300000.0, 1000000.0, 3000000.0, 10000000.0, 30000000.0, 100000000.0, 300000000.0]
    >>> cost_breaks([5e6])
    [2000000.0, 5000000.0, 10000000.0]
    """
    vals = [float(c) for c in costs if c is not None and math.isfinite(c) and c > 0]
    if not vals:
        return []
    lo, hi = min(vals), max(vals)
    if lo == hi:
        lo, hi = lo * 0.999, hi * 1.001
    for mantissas in ((1, 2, 5), (1, 3), (1,)):
        edges = _nice_values(lo, hi, mantissas)
        if len(edges) - 1 <= max_classes:
            return [float(e) for e in edges]
    step = math.ceil((len(edges) - 1) / max_classes)
    thinned = edges[::step]
    if thinned[-1] < hi:
        thinned.append(edges[-1] if edges[-1] >= hi else hi)
    return [float(e) for e in thinned]


def cost_colours(n: int) -> list[str]:
    """Colours of ``n`` cost classes, cheapest first."""
    return _ramp(_COST_STOPS, n)


def cost_label(lo: float, hi: float) -> str:
    """Label a cost class in the unit of its upper edge.

    Examples
    --------
    >>> cost_label(3e5, 1e6), cost_label(1e7, 3e7), cost_label(1e8, 3e9)
    ('US$ 0.3-1 M', 'US$ 10-30 M', 'US$ 0.1-3 bn')
    """
    for scale, unit in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if hi >= scale:
            return f"US$ {lo / scale:g}-{hi / scale:g} {unit}"
    return f"US$ {lo:g}-{hi:g}"
