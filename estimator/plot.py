"""Results -> PNG figures (matplotlib, no display needed). Returns bytes; ``io`` writes them."""

from __future__ import annotations

import io as _bytes_io
import math
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # never open a window; safe on servers and in CI

import matplotlib.pyplot as plt  # noqa: E402

if TYPE_CHECKING:
    from .pipeline import Report

__all__ = ["tornado_png"]


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
        for y, s in enumerate(swings[::-1]):
            lo, hi = s.at_low * scale, s.at_high * scale
            if not (math.isfinite(lo) and math.isfinite(hi)):
                continue
            ax.barh(y, lo - base, left=base, color="#4c72b0", height=0.6)
            ax.barh(y, hi - base, left=base, color="#dd8452", height=0.6)
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
