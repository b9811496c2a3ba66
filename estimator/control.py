"""The vocabulary of control-zone layers, shared by the report, the map and the proxy builder.

A control layer holds dated polygons with a ``class`` field; these are the values accepted
(case-insensitive) and the zone category each one stands for.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .errors import InputDataError

__all__ = ["CONTROL_CLASSES", "OCCUPIED_CLASSES", "control_classes"]

CONTROL_CLASSES: dict[str, str] = {
    "russian_controlled": "occupied",
    "occupied": "occupied",
    "occupied_before_2022": "occupied_since_2014",
    "occupied_since_2014": "occupied_since_2014",
    "contested_or_unknown": "contested",
    "contested": "contested",
    "liberated": "liberated",
}
#: Class values whose ground cannot be reached until it changes hands.
OCCUPIED_CLASSES: tuple[str, ...] = tuple(
    c for c, category in CONTROL_CLASSES.items() if category.startswith("occupied")
)


def control_classes(
    values: Iterable[object], path: Path | str, field: str, option: str
) -> list[str]:
    """Return a control layer's class values, normalised (stripped, lower case).

    Raises
    ------
    InputDataError
        Naming the first value that is not a control class (a typo would otherwise count
        occupied ground as free).
    """
    given = ["" if v is None else str(v).strip() for v in values]
    raw = [v.lower() for v in given]
    bad = next((g for g, r in zip(given, raw, strict=True) if r not in CONTROL_CLASSES), None)
    if bad is not None:
        raise InputDataError(
            f"{path}: {option}: field {field!r} value {bad!r} is not a control class; "
            f"use one of {', '.join(CONTROL_CLASSES)} (in any case)"
        )
    return raw
