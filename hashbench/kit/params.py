"""Validation of plugin parameters: frozen dataclasses, unknown keys rejected, types and ranges
checked, one-line errors naming the plugin, the parameter and what is allowed.

A plugin declares ``Params`` as a frozen dataclass; a field's ``metadata`` may hold ``min``,
``max`` (inclusive), ``choices`` and ``help``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

from hashbench.errors import ConfigError


def _allowed_types(tp) -> tuple[tuple[type, ...], bool]:
    """The runtime types a hint accepts, and whether None is allowed."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        allowed = tuple(a for a in args if a is not type(None))
        return allowed, type(None) in args
    if origin is typing.Literal:
        return tuple({type(a) for a in typing.get_args(tp)}), False
    return (tp,), False


def _coerce(owner: str, name: str, value: Any, tp, meta) -> Any:
    allowed, nullable = _allowed_types(tp)
    if value is None:
        if nullable:
            return None
        raise ConfigError(f"{owner}: parameter '{name}' may not be null")
    if isinstance(value, bool) and bool not in allowed:
        raise ConfigError(f"{owner}: parameter '{name}' must be a number, got {value!r}")
    if float in allowed and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if tuple in allowed and isinstance(value, list):
        value = tuple(value)
    if not isinstance(value, allowed):
        names = " or ".join(t.__name__ for t in allowed)
        raise ConfigError(f"{owner}: parameter '{name}' must be {names}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{owner}: parameter '{name}' must be finite, got {value!r}")
    choices = meta.get("choices") or (
        typing.get_args(tp) if typing.get_origin(tp) is typing.Literal else None
    )
    if choices and value not in choices:
        raise ConfigError(f"{owner}: parameter '{name}' must be one of {list(choices)}, got {value!r}")
    lo, hi = meta.get("min"), meta.get("max")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"{owner}: parameter '{name}' must lie in [{lo}, {hi}], got {value!r}")
    return value


def parse_params(cls: type, values: dict[str, Any], owner: str):
    """Build ``cls`` (a dataclass) from ``values``, validating every field."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"{owner}: unknown parameter(s) {', '.join(unknown)}; valid: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    clean = {k: _coerce(owner, k, v, hints[k], fields[k].metadata) for k, v in values.items()}
    return cls(**clean)


def params_to_dict(params) -> dict[str, Any]:
    """JSON-ready dict of a Params instance (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(params).items()}


def describe(cls: type) -> list[tuple[str, str, Any, str]]:
    """(name, type, default, help) rows for listing a plugin's parameters."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else None
        rows.append((f.name, str(hints[f.name]).replace("typing.", ""), default,
                     f.metadata.get("help", "")))
    return rows
