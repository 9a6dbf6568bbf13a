"""Genesis params: a module's tunable numbers, one frozen dataclass of integers per module.

Each field declares its range in its metadata (`bounded(default, low, high)`). A genesis section's
`params` object may set any of them (JSON integers; amounts above 2^53 as decimal strings) and
leaves the rest at their defaults; unknown names and out-of-range values are refused naming the
field. The store keeps the params as canonical JSON under the module's prefix; the parsed value
is memoised by its bytes, so reading params in every block costs one store read.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, Field, field, fields
from typing import Any, TypeVar

from modules.errors import ChainError

P = TypeVar("P")

_PARSED: dict[tuple[type, bytes], Any] = {}


def bounded(default: int, low: int, high: int) -> Any:
    """A params field: an integer from `low` to `high`, `default` when genesis leaves it out."""
    return field(default=default, metadata={"low": low, "high": high})


def _integer(where: str, value: Any, low: int, high: int, error: type[ChainError]) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20 and \
            (value == "0" or not value.startswith("0")):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise error(f"{where} must be an integer from {low} to {high}, got {value!r}")
    return value


def _field_value(where: str, spec: Field[Any], value: Any, error: type[ChainError]) -> Any:
    parse = spec.metadata.get("parse")
    if parse is not None:
        return parse(where, value)
    return _integer(where, value, spec.metadata["low"], spec.metadata["high"], error)


def params_from_json(cls: type[P], section: Any, where: str, error: type[ChainError]) -> P:
    """The params a genesis `params` object describes (absent: every default)."""
    if section is None:
        return cls()
    if not isinstance(section, dict):
        raise error(f"{where} must be an object")
    specs = {spec.name: spec for spec in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(k for k in section if k not in specs)
    if unknown:
        raise error(f"{where} has unknown field {unknown[0]!r}; known: {', '.join(specs)}")
    values = {name: _field_value(f"{where}.{name}", specs[name], value, error) for name, value in section.items()}
    params = cls(**values)
    check = getattr(params, "check", None)
    if check is not None:
        check(where)
    return params


def params_to_json(params: Any) -> dict[str, Any]:
    """Every field; integers that may exceed 2^53 as decimal strings (as genesis accepts them)."""
    answer: dict[str, Any] = {}
    for spec in fields(params):
        value = getattr(params, spec.name)
        to_json = spec.metadata.get("to_json")
        if to_json is not None:
            answer[spec.name] = to_json(value)
        elif spec.metadata.get("high", 0) > 2**53:
            answer[spec.name] = str(value)
        else:
            answer[spec.name] = value
    return answer


def encode_params(params: Any) -> bytes:
    return json.dumps(params_to_json(params), sort_keys=True, separators=(",", ":")).encode()


def decode_params(cls: type[P], raw: bytes | None, error: type[ChainError]) -> P:
    """Stored params (None: the defaults), parsed once per distinct value."""
    if raw is None:
        return cls()
    key = (cls, raw)
    found = _PARSED.get(key)
    if found is None:
        found = params_from_json(cls, json.loads(raw), "params", error)
        if len(_PARSED) > 64:
            _PARSED.clear()
        _PARSED[key] = found
    return found  # type: ignore[no-any-return]


def defaults_are_valid(cls: type[Any]) -> bool:
    """Every default lies in its own range (a test pins it for each module)."""
    for spec in fields(cls):
        if "low" in spec.metadata and spec.default is not MISSING:
            if not spec.metadata["low"] <= spec.default <= spec.metadata["high"]:  # type: ignore[operator]
                return False
    return True
