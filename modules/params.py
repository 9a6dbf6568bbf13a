"""Genesis params: a module's tunable numbers, one frozen dataclass of integers per module.

Each field declares its range in its metadata (`bounded(default, low, high)`). A genesis section's
`params` object may set any of them (JSON integers; amounts above 2^53 as decimal strings) and
leaves the rest at their defaults; unknown names and out-of-range values are refused naming the
field. The store keeps the params as canonical JSON under the module's prefix; the parsed value
is memoised by its bytes, so reading params in every block costs one store read.
"""

from __future__ import annotations

import json
from dataclasses import Field, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from modules.errors import ChainError
from modules.integers import IntegerError, check_range, parse_uint
from modules.store import KVStore

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

P = TypeVar("P", bound="DataclassInstance")

_PARSED: dict[tuple[type, bytes], Any] = {}


def bounded(default: int, low: int, high: int) -> Any:
    """A params field: an integer from `low` to `high`, `default` when genesis leaves it out."""
    return field(default=default, metadata={"low": low, "high": high})


def genesis_integer(where: str, value: Any, low: int, high: int, error: type[ChainError]) -> int:
    """A JSON integer, or one written as a decimal string (the one parser, modules/integers.py),
    from `low` to `high`; anything else is `error` naming `where`."""
    try:
        if isinstance(value, str):
            return parse_uint(value, where, low, high)
        if isinstance(value, int) and not isinstance(value, bool):
            return check_range(value, where, low, high)
    except IntegerError as problem:
        raise error(problem.message) from None
    raise error(f"{where} must be an integer from {low} to {high}, got {value!r}")


def _field_value(where: str, spec: Field[Any], value: Any, error: type[ChainError]) -> Any:
    parse = spec.metadata.get("parse")
    if parse is not None:
        return parse(where, value)
    return genesis_integer(where, value, spec.metadata["low"], spec.metadata["high"], error)


def params_from_json(cls: type[P], section: Any, where: str, error: type[ChainError]) -> P:
    """The params a genesis `params` object describes (absent: every default)."""
    if section is None:
        return cls()
    if not isinstance(section, dict):
        raise error(f"{where} must be an object")
    specs = {spec.name: spec for spec in fields(cls)}
    unknown = sorted(k for k in section if k not in specs)
    if unknown:
        raise error(f"{where} has unknown field {unknown[0]!r}; known: {', '.join(specs)}")
    values = {name: _field_value(f"{where}.{name}", specs[name], value, error) for name, value in section.items()}
    return cls(**values)


def params_to_json(params: DataclassInstance) -> dict[str, Any]:
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


def encode_params(params: DataclassInstance) -> bytes:
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
    return found


@dataclass(frozen=True)
class ParamsSection(Generic[P]):
    """A module's genesis section that holds its params, `{"<name>": {"params": {...}}}`, and the
    whole-store key the store keeps them under (from the module's keys.py): each module registers
    one in its genesis.py."""

    name: str
    cls: type[P]
    error: type[ChainError]
    key: bytes

    def load(self, store: KVStore) -> P:
        return decode_params(self.cls, store.get(self.key), self.error)

    def validate(self, section: Any) -> P:
        if not isinstance(section, dict):
            raise self.error(f"{self.name} must be an object")
        unknown = sorted(k for k in section if k != "params")
        if unknown:
            raise self.error(f"{self.name} has unknown field {unknown[0]!r}")
        return params_from_json(self.cls, section.get("params"), f"{self.name}.params", self.error)

    def import_genesis(self, store: KVStore, section: Any) -> None:
        store.set(self.key, encode_params(self.validate(section)))

    def export_genesis(self, store: KVStore) -> dict[str, Any]:
        return {"params": params_to_json(self.load(store))}
