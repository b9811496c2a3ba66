"""Every assumption of the model as frozen dataclasses, loaded from a validated TOML file.

The shipped default file (``geodata/parameters.toml``) is the base; a user file is overlaid on
it, so a user file need only hold the keys it changes. Unknown keys are rejected with the closest
valid key suggested, because a typo that silently falls back to a default changes a budget
unnoticed.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .errors import ParameterError

__all__ = [
    "SURVEY_METHODS",
    "General",
    "HazardClass",
    "Method",
    "Params",
    "Range",
    "load_params",
    "parse_params",
]

#: Methods with fixed roles in land release; every other method is a clearance method.
SURVEY_METHODS = ("nts", "ts")

SCHEMA_VERSION = 1

Distribution = Literal["triangular", "pert"]


#: Largest footprint buffer accepted (metres): a typo's extra zeros would otherwise turn a
#: deposit's surroundings into a whole oblast.
MAX_BUFFER_M = 50_000.0


@dataclass(frozen=True, slots=True)
class Range:
    """An uncertain scalar: ``low <= mode <= high``, sampled by ``dist`` in Monte Carlo runs.

    A plain number in the TOML file becomes a degenerate range with ``low == mode == high``.
    """

    low: float
    mode: float
    high: float
    dist: Distribution = "triangular"

    def __post_init__(self) -> None:
        for name in ("low", "mode", "high"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ValueError(f"{name} = {value!r} is not a finite number")
        if not self.low <= self.mode <= self.high:
            raise ValueError(
                f"low <= mode <= high is required, got low={self.low!r}, mode={self.mode!r}, "
                f"high={self.high!r}"
            )
        if self.dist not in ("triangular", "pert"):
            raise ValueError(f"dist = {self.dist!r}: must be 'triangular' or 'pert'")

    @property
    def is_fixed(self) -> bool:
        """Whether the range is a single value."""
        return self.low == self.high

    @classmethod
    def fixed(cls, value: float) -> Range:
        """Return the degenerate range of one value."""
        return cls(float(value), float(value), float(value))


@dataclass(frozen=True, slots=True)
class Method:
    """A survey or clearance method, costed per team-day."""

    name: str
    label: str
    productivity_m2_per_team_day: Range
    team_cost_usd_per_day: Range
    team_size: int
    teams: int = 1

    @property
    def phase(self) -> Literal["nts", "ts", "clearance"]:
        """Land-release phase the method serves."""
        return self.name if self.name in SURVEY_METHODS else "clearance"  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class HazardClass:
    """A contamination class of the raster, keyed by its raster value."""

    name: str
    label: str
    raster_value: int
    nts_cancel_share: Range
    ts_reduce_share: Range
    items_per_ha: Range
    productivity_factor: Range
    clearance_mix: tuple[tuple[str, float], ...]
    residual_items_per_ha_released: Range = Range(0.0, 0.0, 0.0)
    #: Lowest probability (0-1) that falls in this class when the contamination raster holds
    #: probabilities rather than class values; ``None`` if the class takes no probabilities.
    probability_min: float | None = None

    def mix_share(self, method: str) -> float:
        """Share of this class's clearance area done by ``method`` (0 if absent)."""
        return dict(self.clearance_mix).get(method, 0.0)


@dataclass(frozen=True, slots=True)
class General:
    """Assumptions that apply to every deposit."""

    footprint_buffer_m: float
    overhead_share: Range
    clearance_working_days_per_year: Range
    survey_working_days_per_year: Range
    unknown_area_class: str
    accidents_per_million_m2_cleared: Range
    clearance_miss_share: Range = Range(0.0, 0.0, 0.0)
    survey_month_weights: tuple[float, ...] = (1.0,) * 12
    clearance_month_weights: tuple[float, ...] = (1.0,) * 12


@dataclass(frozen=True, slots=True)
class Params:
    """A complete, validated parameter set."""

    schema_version: int
    currency: str
    price_year: int
    general: General
    methods: tuple[Method, ...]
    classes: tuple[HazardClass, ...]
    source: str = "default"
    sha256: str = ""
    overridden_keys: tuple[str, ...] = field(default=())

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names in raster-value order."""
        return tuple(c.name for c in self.classes)

    @property
    def clearance_methods(self) -> tuple[Method, ...]:
        """Methods that clear confirmed hazardous area (all but NTS and TS)."""
        return tuple(m for m in self.methods if m.phase == "clearance")

    def method(self, name: str) -> Method:
        """Return the method called ``name``."""
        for m in self.methods:
            if m.name == name:
                return m
        raise KeyError(name)

    def class_by_value(self) -> dict[int, HazardClass]:
        """Map raster value -> class."""
        return {c.raster_value: c for c in self.classes}

    @property
    def probability_bands(self) -> tuple[tuple[float, int], ...]:
        """``(probability_min, class index)`` of the classes that take probabilities, by bound.

        Empty when no class declares ``probability_min`` (probability rasters then cannot be
        read as classes).
        """
        bands = [(c.probability_min, k) for k, c in enumerate(self.classes)]
        return tuple(sorted((p, k) for p, k in bands if p is not None))

    def classify_probabilities(self, p: np.ndarray) -> np.ndarray:
        """Class index of each probability by the bands (``p >= probability_min``), -1 if none.

        Examples
        --------
        >>> from estimator.io import default_data
        >>> params = load_params(defaults=default_data().parameters)
        >>> [params.class_names[k] for k in params.classify_probabilities(
        ...     np.array([0.0, 0.003, 0.1, 0.5, 1.0]))]
        ['none', 'low', 'medium', 'high', 'high']
        """
        bands = self.probability_bands
        p = np.asarray(p, dtype="float64")
        if not bands:
            return np.full(p.shape, -1)
        lows = np.array([b for b, _ in bands])
        index = np.array([k for _, k in bands])
        j = np.searchsorted(lows, p, side="right") - 1
        ok = (j >= 0) & (p >= 0) & (p <= 1)
        return np.where(ok, index[np.clip(j, 0, None)], -1)

    def with_buffer(self, footprint_buffer_m: float) -> Params:
        """Return a copy with another footprint buffer (the ``--buffer-m`` override)."""
        if not 0 <= footprint_buffer_m <= MAX_BUFFER_M:  # (False for NaN)
            raise ParameterError(
                f"--buffer-m = {footprint_buffer_m!r}: must be 0-{MAX_BUFFER_M:g} (metres); "
                "a deposit's works reach a few kilometres at most"
            )
        general = dataclasses.replace(self.general, footprint_buffer_m=float(footprint_buffer_m))
        keys = tuple(sorted({*self.overridden_keys, "general.footprint_buffer_m"}))
        return dataclasses.replace(self, general=general, overridden_keys=keys)

    def with_teams(self, teams: Mapping[str, int]) -> Params:
        """Return a copy with other team counts (the ``--teams`` override)."""
        names = [m.name for m in self.methods]
        for name, count in teams.items():
            if name not in names:
                close = difflib.get_close_matches(name, names, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ParameterError(
                    f"--teams {name}={count}: no method {name!r}{hint}; methods: {', '.join(names)}"
                )
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ParameterError(f"--teams {name}={count!r}: must be a whole number >= 0")
        methods = tuple(
            dataclasses.replace(m, teams=teams[m.name]) if m.name in teams else m
            for m in self.methods
        )
        keys = tuple(sorted({*self.overridden_keys, *(f"methods.{n}.teams" for n in teams)}))
        return dataclasses.replace(self, methods=methods, overridden_keys=keys)


# --------------------------------------------------------------------------------------------
# Schema: what keys each table may hold (used for unknown-key rejection and suggestions).

_TOP_KEYS = ("schema_version", "currency", "price_year", "general", "methods", "classes")
_GENERAL_KEYS = (
    "footprint_buffer_m",
    "overhead_share",
    "clearance_working_days_per_year",
    "survey_working_days_per_year",
    "unknown_area_class",
    "accidents_per_million_m2_cleared",
    "clearance_miss_share",
    "survey_month_weights",
    "clearance_month_weights",
)
_METHOD_KEYS = (
    "label",
    "productivity_m2_per_team_day",
    "team_cost_usd_per_day",
    "team_size",
    "teams",
)
_CLASS_KEYS = (
    "label",
    "raster_value",
    "nts_cancel_share",
    "ts_reduce_share",
    "items_per_ha",
    "productivity_factor",
    "clearance_mix",
    "residual_items_per_ha_released",
    "probability_min",
)
_RANGE_KEYS = ("low", "mode", "high", "dist")


class _Ctx:
    """Where a value came from, for error messages."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, value: Any, expected: str) -> ParameterError:
        shown = f" = {value!r}" if value is not _MISSING else ""
        return ParameterError(f"{self.source}: {where}{shown}: {expected}")


_MISSING = object()


def _probability_min(ctx: _Ctx, tbl: dict[str, Any], where: str) -> float | None:
    if "probability_min" not in tbl:
        return None
    value = _number(ctx, tbl["probability_min"], f"[{where}] probability_min")
    if not 0 <= value <= 1:
        raise ctx.fail(f"[{where}] probability_min", value, "must be a probability between 0 and 1")
    return float(value)


def _check_keys(ctx: _Ctx, table: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(allowed)}"
            prefix = f"[{where}] " if where else ""
            raise ParameterError(f"{ctx.source}: {prefix}unknown key {key!r}: {hint}")


def _require(ctx: _Ctx, table: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in table:
        prefix = f"[{where}] " if where else ""
        raise ParameterError(
            f"{ctx.source}: {prefix}{key}: missing; add it (see `demine params init`)"
        )
    return table[key]


def _number(ctx: _Ctx, value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ctx.fail(where, value, "must be a number")
    if not math.isfinite(value):
        raise ctx.fail(where, value, "must be a finite number")
    return float(value)


def _range(
    ctx: _Ctx,
    value: Any,
    where: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
) -> Range:
    if isinstance(value, Mapping):
        _check_keys(ctx, value, _RANGE_KEYS, where)
        missing = [k for k in ("low", "mode", "high") if k not in value]
        if missing:
            raise ctx.fail(
                where,
                dict(value),
                f"a range needs low, mode and high (missing {', '.join(missing)})",
            )
        low, mode, high = (_number(ctx, value[k], f"{where}.{k}") for k in ("low", "mode", "high"))
        dist = value.get("dist", "triangular")
        try:
            rng = Range(low, mode, high, dist)
        except ValueError as exc:
            raise ctx.fail(where, dict(value), str(exc)) from None
    else:
        rng = Range.fixed(_number(ctx, value, where))
    shown: Any = value if not isinstance(value, Mapping) else dict(value)
    for v in (rng.low, rng.high):
        if positive and v <= 0:
            raise ctx.fail(where, shown, "must be > 0")
        if minimum is not None and v < minimum:
            raise ctx.fail(where, shown, f"must be >= {minimum:g}")
        if maximum is not None and v > maximum:
            raise ctx.fail(where, shown, f"must be <= {maximum:g}")
    return rng


def _integer(ctx: _Ctx, value: Any, where: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ctx.fail(where, value, "must be a whole number")
    if value < minimum:
        raise ctx.fail(where, value, f"must be >= {minimum}")
    return value


def _string(ctx: _Ctx, value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ctx.fail(where, value, "must be a non-empty string")
    return value


def _month_weights(ctx: _Ctx, table: Mapping[str, Any], key: str) -> tuple[float, ...]:
    where = f"[general] {key}"
    value = table.get(key, [1.0] * 12)
    if not isinstance(value, list) or len(value) != 12:
        raise ctx.fail(where, value, "must be a list of 12 numbers, January to December")
    weights = tuple(_number(ctx, v, f"{where}[{i}]") for i, v in enumerate(value))
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ctx.fail(where, value, "weights must be >= 0 and not all zero")
    return weights


def _table(ctx: _Ctx, value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ctx.fail(where, value, "must be a table")
    return value


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any], path: str = "") -> dict[str, Any]:
    """Overlay ``over`` on ``base``; ``clearance_mix`` tables are replaced whole."""
    merged: dict[str, Any] = dict(base)
    for key, value in over.items():
        here = f"{path}.{key}" if path else key
        old = merged.get(key)
        if (
            isinstance(value, Mapping)
            and isinstance(old, Mapping)
            and key != "clearance_mix"
            and not _is_range(value)
        ):
            merged[key] = _deep_merge(old, value, here)
        else:
            merged[key] = value
    return merged


def _is_range(value: Mapping[str, Any]) -> bool:
    # A class may be called "low", so a table is a range only if its values are all scalars.
    return (
        bool(value)
        and set(value) <= set(_RANGE_KEYS)
        and not any(isinstance(v, Mapping) for v in value.values())
    )


def _changed_keys(base: Any, over: Any, path: str = "") -> list[str]:
    if isinstance(over, Mapping) and isinstance(base, Mapping) and not _is_range(over):
        out: list[str] = []
        for key, value in over.items():
            here = f"{path}.{key}" if path else key
            out.extend(_changed_keys(base.get(key, _MISSING), value, here))
        return out
    return [] if base == over else [path]


def parse_params(
    data: Mapping[str, Any],
    *,
    source: str = "<parameters>",
    sha256: str = "",
    overridden_keys: tuple[str, ...] = (),
) -> Params:
    """Validate a parameter mapping (as read from TOML) into :class:`Params`.

    Parameters
    ----------
    data : Mapping
        The complete parameter tree.
    source : str
        Name shown in error messages (usually the file path).
    sha256 : str
        Hash recorded with the parameters (of the file bytes, or of the merged tree).
    overridden_keys : tuple of str
        Dotted keys that a user file changed from the defaults.

    Returns
    -------
    Params
        Validated, frozen parameters.

    Raises
    ------
    ParameterError
        On an unknown key, a missing key, a wrong type or a value out of range; the message names
        the source, the key, the value and what was expected.
    """
    ctx = _Ctx(source)
    _check_keys(ctx, data, _TOP_KEYS, "")
    version = _integer(ctx, _require(ctx, data, "schema_version", ""), "schema_version", minimum=1)
    if version != SCHEMA_VERSION:
        raise ctx.fail(
            "schema_version", version, f"this demine reads schema_version {SCHEMA_VERSION}"
        )
    currency = _string(ctx, _require(ctx, data, "currency", ""), "currency")
    if currency != "USD":
        raise ctx.fail("currency", currency, "only 'USD' is supported; convert your figures")
    price_year = _integer(ctx, _require(ctx, data, "price_year", ""), "price_year", minimum=1990)

    # Methods -----------------------------------------------------------------------------
    methods_t = _table(ctx, _require(ctx, data, "methods", ""), "methods")
    methods: list[Method] = []
    for name, tbl in methods_t.items():
        where = f"methods.{name}"
        tbl = _table(ctx, tbl, where)
        _check_keys(ctx, tbl, _METHOD_KEYS, where)
        methods.append(
            Method(
                name=name,
                label=_string(ctx, tbl.get("label", name), f"[{where}] label"),
                productivity_m2_per_team_day=_range(
                    ctx,
                    _require(ctx, tbl, "productivity_m2_per_team_day", where),
                    f"[{where}] productivity_m2_per_team_day",
                    positive=True,
                ),
                team_cost_usd_per_day=_range(
                    ctx,
                    _require(ctx, tbl, "team_cost_usd_per_day", where),
                    f"[{where}] team_cost_usd_per_day",
                    minimum=0,
                ),
                team_size=_integer(
                    ctx, _require(ctx, tbl, "team_size", where), f"[{where}] team_size", minimum=1
                ),
                teams=_integer(ctx, tbl.get("teams", 1), f"[{where}] teams", minimum=0),
            )
        )
    names = {m.name for m in methods}
    for needed in SURVEY_METHODS:
        if needed not in names:
            raise ParameterError(
                f"{source}: [methods.{needed}]: missing; non-technical (nts) and technical (ts) "
                "survey methods are required"
            )
    clearance_names = [m.name for m in methods if m.phase == "clearance"]
    if not clearance_names:
        raise ParameterError(f"{source}: [methods]: define at least one clearance method")

    # Classes -----------------------------------------------------------------------------
    classes_t = _table(ctx, _require(ctx, data, "classes", ""), "classes")
    if not classes_t:
        raise ParameterError(f"{source}: [classes]: define at least one hazard class")
    classes: list[HazardClass] = []
    seen_values: dict[int, str] = {}
    for name, tbl in classes_t.items():
        where = f"classes.{name}"
        tbl = _table(ctx, tbl, where)
        _check_keys(ctx, tbl, _CLASS_KEYS, where)
        value = _integer(
            ctx, _require(ctx, tbl, "raster_value", where), f"[{where}] raster_value", minimum=0
        )
        if value in seen_values:
            raise ctx.fail(
                f"[{where}] raster_value", value, f"already used by class {seen_values[value]!r}"
            )
        seen_values[value] = name
        mix_t = _table(ctx, _require(ctx, tbl, "clearance_mix", where), f"[{where}] clearance_mix")
        mix: list[tuple[str, float]] = []
        for method_name, share in mix_t.items():
            mwhere = f"[{where}.clearance_mix] {method_name}"
            if method_name not in clearance_names:
                close = difflib.get_close_matches(method_name, clearance_names, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ParameterError(
                    f"{source}: [{where}.clearance_mix] unknown clearance method "
                    f"{method_name!r}: use one of {', '.join(clearance_names)}{hint}"
                )
            s = _number(ctx, share, mwhere)
            if not 0 <= s <= 1:
                raise ctx.fail(mwhere, share, "must be a share between 0 and 1")
            mix.append((method_name, s))
        total = sum(s for _, s in mix)
        if abs(total - 1.0) > 1e-6:
            raise ctx.fail(
                f"[{where}] clearance_mix",
                dict(mix_t),
                f"shares must sum to 1 (they sum to {total:g})",
            )
        classes.append(
            HazardClass(
                name=name,
                label=_string(ctx, tbl.get("label", name), f"[{where}] label"),
                raster_value=value,
                nts_cancel_share=_range(
                    ctx,
                    _require(ctx, tbl, "nts_cancel_share", where),
                    f"[{where}] nts_cancel_share",
                    minimum=0,
                    maximum=1,
                ),
                ts_reduce_share=_range(
                    ctx,
                    _require(ctx, tbl, "ts_reduce_share", where),
                    f"[{where}] ts_reduce_share",
                    minimum=0,
                    maximum=1,
                ),
                items_per_ha=_range(
                    ctx,
                    _require(ctx, tbl, "items_per_ha", where),
                    f"[{where}] items_per_ha",
                    minimum=0,
                ),
                productivity_factor=_range(
                    ctx,
                    tbl.get("productivity_factor", 1.0),
                    f"[{where}] productivity_factor",
                    positive=True,
                ),
                clearance_mix=tuple(mix),
                residual_items_per_ha_released=_range(
                    ctx,
                    tbl.get("residual_items_per_ha_released", 0.0),
                    f"[{where}] residual_items_per_ha_released",
                    minimum=0,
                ),
                probability_min=_probability_min(ctx, tbl, where),
            )
        )
    classes.sort(key=lambda c: c.raster_value)
    bounds = [(c.probability_min, c.name) for c in classes if c.probability_min is not None]
    if bounds:
        seen_bounds: dict[float, str] = {}
        for bound, name in bounds:
            if bound in seen_bounds:
                raise ctx.fail(
                    f"[classes.{name}] probability_min",
                    bound,
                    f"already the bound of class {seen_bounds[bound]!r}: each class needs its own",
                )
            seen_bounds[bound] = name
        if 0.0 not in seen_bounds:
            lowest = min(bounds)
            raise ctx.fail(
                f"[classes.{lowest[1]}] probability_min",
                lowest[0],
                "the lowest band must start at 0 so that every probability has a class",
            )

    # General -----------------------------------------------------------------------------
    gen_t = _table(ctx, _require(ctx, data, "general", ""), "general")
    _check_keys(ctx, gen_t, _GENERAL_KEYS, "general")
    buffer_m = _number(
        ctx, _require(ctx, gen_t, "footprint_buffer_m", "general"), "[general] footprint_buffer_m"
    )
    if not 0 <= buffer_m <= MAX_BUFFER_M:
        raise ctx.fail(
            "[general] footprint_buffer_m", buffer_m, f"must be 0-{MAX_BUFFER_M:g} (metres)"
        )
    unknown = _string(
        ctx, _require(ctx, gen_t, "unknown_area_class", "general"), "[general] unknown_area_class"
    )
    class_names = [c.name for c in classes]
    if unknown not in class_names:
        raise ctx.fail(
            "[general] unknown_area_class", unknown, f"must be one of {', '.join(class_names)}"
        )
    general = General(
        footprint_buffer_m=buffer_m,
        overhead_share=_range(
            ctx,
            _require(ctx, gen_t, "overhead_share", "general"),
            "[general] overhead_share",
            minimum=0,
            maximum=5,
        ),
        clearance_working_days_per_year=_range(
            ctx,
            _require(ctx, gen_t, "clearance_working_days_per_year", "general"),
            "[general] clearance_working_days_per_year",
            positive=True,
            maximum=366,
        ),
        survey_working_days_per_year=_range(
            ctx,
            _require(ctx, gen_t, "survey_working_days_per_year", "general"),
            "[general] survey_working_days_per_year",
            positive=True,
            maximum=366,
        ),
        unknown_area_class=unknown,
        accidents_per_million_m2_cleared=_range(
            ctx,
            _require(ctx, gen_t, "accidents_per_million_m2_cleared", "general"),
            "[general] accidents_per_million_m2_cleared",
            minimum=0,
        ),
        clearance_miss_share=_range(
            ctx,
            gen_t.get("clearance_miss_share", 0.0),
            "[general] clearance_miss_share",
            minimum=0,
            maximum=1,
        ),
        survey_month_weights=_month_weights(ctx, gen_t, "survey_month_weights"),
        clearance_month_weights=_month_weights(ctx, gen_t, "clearance_month_weights"),
    )
    return Params(
        schema_version=version,
        currency=currency,
        price_year=price_year,
        general=general,
        methods=tuple(methods),
        classes=tuple(classes),
        source=source,
        sha256=sha256,
        overridden_keys=tuple(overridden_keys),
    )


def _read_toml(path: Path) -> tuple[dict[str, Any], bytes]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ParameterError(
            f"{path}: parameter file not found; create one with `demine params init {path}`"
        ) from None
    except IsADirectoryError:
        raise ParameterError(f"{path}: is a directory; give the path of a .toml file") from None
    except OSError as exc:
        raise ParameterError(f"{path}: cannot read parameter file ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParameterError(
            f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8"
        ) from None
    try:
        return tomllib.loads(text), raw
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already carries "(at line L, column C)".
        raise ParameterError(f"{path}: TOML syntax error: {exc}") from None


def load_params(
    path: str | os.PathLike[str] | None = None,
    *,
    defaults: str | os.PathLike[str] | None = None,
) -> Params:
    """Load parameters: the shipped defaults, with a user file overlaid if given.

    Parameters
    ----------
    path : path-like, optional
        A user parameter file. Keys it holds replace the defaults; ``clearance_mix`` tables are
        replaced whole. ``None`` loads the defaults alone.
    defaults : path-like, optional
        The default parameter file (normally ``geodata/parameters.toml``, found by the caller).

    Returns
    -------
    Params
        Validated parameters; ``sha256`` hashes the user file bytes (or the defaults' bytes),
        ``overridden_keys`` lists the dotted keys whose value differs from the default.

    Raises
    ------
    ParameterError
        If a file is missing, is not valid TOML, or holds an invalid key or value.
    """
    if defaults is None:
        raise ParameterError("no default parameter file given")
    default_path = Path(defaults)
    base, base_raw = _read_toml(default_path)
    if path is None:
        return parse_params(
            base, source=str(default_path), sha256=hashlib.sha256(base_raw).hexdigest()
        )
    user_path = Path(path)
    user, user_raw = _read_toml(user_path)
    # Validate the user's own keys first so that errors point at the user's file.
    ctx = _Ctx(str(user_path))
    _check_keys(ctx, user, _TOP_KEYS, "")
    for section, allowed in (("general", _GENERAL_KEYS),):
        if section in user:
            _check_keys(ctx, _table(ctx, user[section], section), allowed, section)
    for section, allowed in (("methods", _METHOD_KEYS), ("classes", _CLASS_KEYS)):
        if section in user:
            for name, tbl in _table(ctx, user[section], section).items():
                _check_keys(
                    ctx, _table(ctx, tbl, f"{section}.{name}"), allowed, f"{section}.{name}"
                )
    merged = _deep_merge(base, user)
    changed = tuple(sorted(_changed_keys(base, user)))
    return parse_params(
        merged,
        source=str(user_path),
        sha256=hashlib.sha256(user_raw).hexdigest(),
        overridden_keys=changed,
    )
