"""A contamination raster -> the area of each hazard class in each geometry.

Shared by the deposit report (:mod:`estimator.pipeline`) and the whole-region statistics
(:mod:`estimator.wholeregion`). An integer raster holds class values (the ``raster_value`` of
each ``[classes.NAME]``). A floating-point raster whose values under the geometries all lie in
0-1 holds probabilities, read as classes by the parameter file's probability bands in one
banded pass (class codes per tile, not thousands of distinct float values); a floating-point
raster with other values is read value by value, as class values.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from .errors import InputDataError
from .io import open_raster
from .overlay import BAND_INVALID, overlay_footprints
from .params import Params

__all__ = ["ClassAreas", "class_areas"]


@dataclass(frozen=True, slots=True)
class ClassAreas:
    """Areas by class of each geometry (zeros for ``None`` geometries).

    Attributes
    ----------
    hazard_area_m2 : numpy.ndarray
        Area of each class, m2, shape (N, K) in the parameter file's class order.
    unknown_area_m2, outside_area_m2 : numpy.ndarray
        Area without data (nodata cells and ground off the raster) and the part of it off the
        raster, m2, shape (N,).
    probabilities : bool
        Whether the raster holds probabilities (0-1) rather than class values.
    banded : bool
        Whether it was read by the probability bands (all its values under the geometries lie
        in 0-1); then it can also serve as its own probability raster.
    unmapped : dict
        Values that have no class (or, for probabilities, lie outside 0-1), each with the
        indices of the geometries that hold it; empty when every value was mapped.
    """

    hazard_area_m2: np.ndarray
    unknown_area_m2: np.ndarray
    outside_area_m2: np.ndarray
    probabilities: bool
    banded: bool
    unmapped: dict[float, list[int]]


def band_table(params: Params) -> list[tuple[float, int]]:
    """``(lowest p, class raster value)`` of each probability band of the parameter file.

    Empty if there are no bands, or a class value does not fit a banded read's codes (0-253).
    """
    table = [(p, params.classes[k].raster_value) for p, k in params.probability_bands]
    return table if all(v <= 253 for _, v in table) else []


def class_areas(
    raster_path: str | os.PathLike[str],
    geometries: Sequence[shapely.Geometry | None],
    params: Params,
    *,
    band: int = 1,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[float, str], None] | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> ClassAreas:
    """Overlay lon/lat geometries on a contamination raster and sum the area of each class.

    Values without a class are returned in ``unmapped`` for the caller to report (with its own
    names for the geometries), not raised. ``meanwhile``: the caller's work to run while the
    workers run (see :func:`estimator.overlay.overlay_footprints`); called once.

    Raises
    ------
    InputDataError
        If the raster cannot be read, or holds probabilities but the parameter file gives no
        probability bands.
    """
    class_index = {c.raster_value: k for k, c in enumerate(params.classes)}

    pending = [] if meanwhile is None else [meanwhile]

    def first_time() -> None:
        while pending:
            pending.pop()()

    def overlay(**kw) -> list:
        return overlay_footprints(
            raster_path,
            geometries,
            band=band,
            workers=workers,
            scheduler=scheduler,
            progress=progress,
            meanwhile=first_time,
            **kw,
        )

    with open_raster(raster_path, band=band) as ds:
        floating = bool(np.issubdtype(np.dtype(ds.dtypes[band - 1]), np.floating))
    banded = False
    if floating and band_table(params):
        overlays = overlay(bands=band_table(params))
        banded = not any(va is not None and BAND_INVALID in va.values for va in overlays)
        if not banded:
            overlays = overlay()
    else:
        overlays = overlay()
    # A floating-point raster holds probabilities if they are all in 0-1 (banded), or if some
    # value is not a whole number; whole numbers beyond 0-1 are class values (a class raster
    # stored as floats), and those without a class are reported as such.
    probabilities = banded or (
        floating
        and not all(
            float(v).is_integer() for va in overlays if va is not None for v in va.values.tolist()
        )
    )
    if probabilities and not params.probability_bands:
        raise InputDataError(
            f"{raster_path}: a floating-point raster is read as probabilities (0-1), but the "
            f"parameter file {params.source} gives no probability bands: add probability_min "
            "to each [classes.NAME] table (see `demine params init`), or give a raster of class "
            "values"
        )
    n = len(geometries)
    hazard = np.zeros((n, len(params.classes)))
    unknown = np.zeros(n)
    outside = np.zeros(n)
    unmapped: dict[float, list[int]] = {}
    for i, va in enumerate(overlays):
        if va is None:
            continue
        if probabilities and not banded:  # values outside 0-1: all unmapped below
            ks = params.classify_probabilities(va.values).tolist()
        else:
            ks = [
                class_index.get(int(v)) if float(v).is_integer() else None
                for v in va.values.tolist()
            ]
        for value, area, k in zip(va.values.tolist(), va.area_m2.tolist(), ks, strict=True):
            if k is None or k < 0:
                unmapped.setdefault(value, []).append(i)
                continue
            hazard[i, k] += area
        unknown[i] = va.unknown_area_m2
        outside[i] = va.outside_area_m2
    return ClassAreas(hazard, unknown, outside, probabilities, banded, unmapped)
