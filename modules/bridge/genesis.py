"""bridge's genesis section: validate, import, export (round-trip tested).

    {"eth_chain_id": 31337, "vault": "0x..",
     "validators": [{"consensus_address": "<40 hex, CometBFT's>", "operator": "0x..",
                     "eth_address": "0x..", "power": 10}]}

An absent or empty section leaves the bridge off (bridge actions are refused with BridgeDisabled).
`power` must equal the validator's CometBFT power; the genesis builder writes both from one list.
"""

from __future__ import annotations

from typing import Any

from modules.bridge.errors import InvalidGenesis
from modules.bridge.keeper import BridgeKeeper
from modules.bridge.types import BridgeParams, BridgeValidator

FIELDS = ("eth_chain_id", "vault", "validators")
VALIDATOR_FIELDS = ("consensus_address", "operator", "eth_address", "power")


def _hex_bytes(where: str, value: Any, length: int, prefixed: bool = True) -> bytes:
    text = value[2:] if prefixed and isinstance(value, str) and value.startswith("0x") else value
    if not (isinstance(text, str) and len(text) == 2 * length and (not prefixed or value.startswith("0x"))):
        shape = "0x followed by " if prefixed else ""
        raise InvalidGenesis(f"{where} must be {shape}{2 * length} hex digits")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise InvalidGenesis(f"{where} is not hexadecimal") from None


def _int(where: str, value: Any, low: int, high: int) -> int:
    if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
        raise InvalidGenesis(f"{where} must be an integer from {low} to {high}")
    return value


def validate_genesis(section: Any) -> tuple[BridgeParams, list[BridgeValidator]] | None:
    if section in (None, {}):
        return None
    if not isinstance(section, dict):
        raise InvalidGenesis("bridge must be an object")
    unknown = sorted(set(section) - set(FIELDS))
    if unknown:
        raise InvalidGenesis(f"bridge has unknown field {unknown[0]!r}")
    for name in FIELDS:
        if name not in section:
            raise InvalidGenesis(f"bridge.{name} is missing")
    params = BridgeParams(_int("bridge.eth_chain_id", section["eth_chain_id"], 1, 2**63 - 1),
                          _hex_bytes("bridge.vault", section["vault"], 20))
    entries = section["validators"]
    if not isinstance(entries, list) or not entries:
        raise InvalidGenesis("bridge.validators must be a non-empty list")
    validators: list[BridgeValidator] = []
    seen: dict[tuple[str, bytes], int] = {}
    for index, entry in enumerate(entries):
        where = f"bridge.validators[{index}]"
        if not isinstance(entry, dict):
            raise InvalidGenesis(f"{where} must be an object")
        extra = sorted(set(entry) - set(VALIDATOR_FIELDS))
        if extra:
            raise InvalidGenesis(f"{where} has unknown field {extra[0]!r}")
        validator = BridgeValidator(
            _hex_bytes(f"{where}.consensus_address", entry.get("consensus_address"), 20, prefixed=False),
            _hex_bytes(f"{where}.operator", entry.get("operator"), 20),
            _hex_bytes(f"{where}.eth_address", entry.get("eth_address"), 20),
            _int(f"{where}.power", entry.get("power"), 1, 2**63 - 1),
        )
        if validator.eth_address == bytes(20):
            raise InvalidGenesis(f"{where}.eth_address must not be the zero address")
        for name in ("consensus_address", "operator", "eth_address"):
            value = getattr(validator, name)
            if (name, value) in seen:
                raise InvalidGenesis(f"{where}.{name} repeats bridge.validators[{seen[(name, value)]}]")
            seen[(name, value)] = index
        validators.append(validator)
    return params, validators


def import_genesis(bridge: BridgeKeeper, section: Any) -> None:
    parsed = validate_genesis(section)
    if parsed is None:
        return
    params, validators = parsed
    bridge.set_params(params)
    for validator in validators:
        bridge.set_validator(validator)
    bridge.record_valset(0)  # the set the vault is deployed with


def export_genesis(bridge: BridgeKeeper) -> dict[str, Any]:
    """The configuration only (claims, withdrawals and signatures are not exported yet)."""
    params = bridge.params()
    if params is None:
        return {}
    return {
        "eth_chain_id": params.eth_chain_id,
        "vault": f"0x{params.vault.hex()}",
        "validators": [{"consensus_address": v.consensus_address.hex().upper(), "operator": f"0x{v.operator.hex()}",
                        "eth_address": f"0x{v.eth_address.hex()}", "power": v.power} for v in bridge.validators()],
    }
