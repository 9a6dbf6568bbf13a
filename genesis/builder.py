"""The genesis builder: a small spec in, a validated CometBFT genesis.json out.

A network's coordinator collects each validator's consensus public key (`perpchain genesis init`
prints it) into a spec and builds one genesis.json that every validator installs:

    {
      "chain_id": "perpchain-1",
      "genesis_time": "2026-12-01T00:00:00Z",            (optional; default: now)
      "validators": [{"name": "v1", "pub_key": "<base64 ed25519>", "power": 10}, ...],
      "app_state": {"bank": {"balances": [...]}}
    }

Bonded validators (docs/staking.md) give `bond_micro_usdc` and `operator` instead of `power`
(their power is the bond's whole power units, capped as staking caps it); the builder writes
the staking section from them, with any `app_state.staking.params` the spec sets.

Every mistake raises GenesisError naming the field (`validators[2].power`), so a coordinator
fixes the spec before any node starts. docs/genesis.md has the table of errors.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeGuard

from modules.errors import ChainError
from modules.genesis import validate_app_state as chain_rules
from modules.params import params_from_json
from modules.staking.errors import InvalidStakingGenesis
from modules.staking.params import StakingParams
from modules.staking.rules import bonded_power

APP_VERSION = 1  # must equal what the app reports in Info
ED25519_PUBKEY_BYTES = 32
# CometBFT refuses a validator set whose total power exceeds MaxInt64 / 8.
MAX_TOTAL_VOTING_POWER = (2**63 - 1) // 8
CHAIN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$")
TIME_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
SPEC_FIELDS = ("chain_id", "genesis_time", "validators", "app_state", "vote_extensions_enable_height")
VALIDATOR_FIELDS = ("name", "pub_key", "power", "address", "bond_micro_usdc", "operator")
DEFAULT_POWER_UNIT = StakingParams().power_unit_micro_usdc


class GenesisError(ValueError):
    """A genesis spec or file is wrong; `field` says where (`validators[1].pub_key`)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class GenesisValidator:
    name: str
    pub_key: bytes  # ed25519
    power: int
    bond: tuple[str, int] | None = None  # (operator 0x-hex, bond micro-USDC) of a bonded validator

    @property
    def address(self) -> bytes:
        """CometBFT's validator address: the first 20 bytes of sha256(pubkey)."""
        return hashlib.sha256(self.pub_key).digest()[:20]


def validator_address(pub_key: bytes) -> str:
    return hashlib.sha256(pub_key).digest()[:20].hex().upper()


def _unknown(where: str, given: dict[str, Any], allowed: tuple[str, ...]) -> None:
    extra = sorted(k for k in given if k not in allowed)
    if extra:
        prefix = f"{where}." if where else ""
        raise GenesisError(f"{prefix}{extra[0]}", f"unknown field (allowed: {', '.join(allowed)})")


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_validator(index: int, entry: Any, power_unit_micro_usdc: int = DEFAULT_POWER_UNIT) -> GenesisValidator:
    where = f"validators[{index}]"
    if not isinstance(entry, dict):
        raise GenesisError(where, "must be an object")
    _unknown(where, entry, VALIDATOR_FIELDS)
    name = entry.get("name", "")
    if not isinstance(name, str) or len(name) > 64:
        raise GenesisError(f"{where}.name", "must be a string of at most 64 characters")
    encoded = entry.get("pub_key")
    if not isinstance(encoded, str):
        raise GenesisError(f"{where}.pub_key", "missing: the base64 ed25519 key `perpchain genesis init` printed")
    try:
        pub_key = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise GenesisError(f"{where}.pub_key", "is not base64") from None
    if len(pub_key) != ED25519_PUBKEY_BYTES:
        raise GenesisError(f"{where}.pub_key", f"must decode to {ED25519_PUBKEY_BYTES} bytes, got {len(pub_key)}")
    bond = _bond(where, entry)
    bonded = bonded_power(bond[1], StakingParams(power_unit_micro_usdc=power_unit_micro_usdc)) if bond else None
    power = entry.get("power", bonded)
    if bond is not None and power != bonded:
        raise GenesisError(f"{where}.power", f"must be the bond's power, {bonded}, or left out")
    if not _is_int(power) or power < 1 or power > MAX_TOTAL_VOTING_POWER:
        raise GenesisError(f"{where}.power", f"must be an integer from 1 to {MAX_TOTAL_VOTING_POWER}, got {power!r}")
    address = entry.get("address")
    if address is not None and (not isinstance(address, str) or address.upper() != validator_address(pub_key)):
        raise GenesisError(f"{where}.address", f"does not match pub_key (expected {validator_address(pub_key)})")
    return GenesisValidator(name, pub_key, power, bond)


def _bond(where: str, entry: dict[str, Any]) -> tuple[str, int] | None:
    """(operator, bond) of a bonded validator's entry; None for one without a bond."""
    if "bond_micro_usdc" not in entry and "operator" not in entry:
        return None
    operator, bond = entry.get("operator"), entry.get("bond_micro_usdc")
    if not isinstance(operator, str) or not re.fullmatch(r"0x[0-9a-fA-F]{40}", operator):
        raise GenesisError(f"{where}.operator", "a bonded validator's operator must be 0x followed by 40 hex digits")
    amount = int(bond) if isinstance(bond, str) and bond.isdigit() else bond
    if not _is_int(amount) or amount < 1:
        raise GenesisError(f"{where}.bond_micro_usdc", "a bonded validator's bond must be a positive integer")
    return operator, amount


def parse_validators(entries: Any, power_unit_micro_usdc: int = DEFAULT_POWER_UNIT) -> list[GenesisValidator]:
    if not isinstance(entries, list) or not entries:
        raise GenesisError("validators", "must be a non-empty list")
    validators = [parse_validator(i, entry, power_unit_micro_usdc) for i, entry in enumerate(entries)]
    if len({v.bond is None for v in validators}) > 1:
        raise GenesisError("validators", "either every validator gives bond_micro_usdc and operator, or none does")
    first_seen: dict[bytes, int] = {}
    names: dict[str, int] = {}
    for index, validator in enumerate(validators):
        if validator.pub_key in first_seen:
            raise GenesisError(f"validators[{index}].pub_key", f"duplicates validators[{first_seen[validator.pub_key]}]")
        first_seen[validator.pub_key] = index
        if validator.name and validator.name in names:
            raise GenesisError(f"validators[{index}].name", f"duplicates validators[{names[validator.name]}]")
        names[validator.name] = index
    total = sum(v.power for v in validators)
    if total > MAX_TOTAL_VOTING_POWER:
        raise GenesisError("validators", f"total power {total} exceeds CometBFT's limit {MAX_TOTAL_VOTING_POWER}")
    return validators


def validate_app_state(app_state: Any) -> None:
    """The chain's own genesis rules (the same code InitChain runs)."""
    try:
        chain_rules(app_state)
    except ChainError as error:
        raise GenesisError("app_state", error.message) from None


def _power_unit(app_state: Any) -> int:
    """The staking params' power unit the spec sets (the default if it sets none)."""
    staking = app_state.get("staking") if isinstance(app_state, dict) else None
    params = staking.get("params") if isinstance(staking, dict) else None
    try:
        return params_from_json(StakingParams, params, "staking.params", InvalidStakingGenesis).power_unit_micro_usdc
    except ChainError as error:
        raise GenesisError("app_state", error.message) from None


def with_staking(app_state: dict[str, Any], validators: list[GenesisValidator]) -> dict[str, Any]:
    """`app_state` with the staking section of the bonded `validators` (and the params it set)."""
    staking = {key: value for key, value in (app_state.get("staking") or {}).items() if key == "params"}
    staking["validators"] = [
        {"consensus_address": validator_address(v.pub_key), "pub_key": base64.b64encode(v.pub_key).decode(),
         "operator": v.bond[0], "bond_micro_usdc": str(v.bond[1])} for v in validators if v.bond is not None]
    return {**app_state, "staking": staking}


def _genesis_time(value: Any) -> str:
    if value is None:
        return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if not isinstance(value, str) or not TIME_PATTERN.match(value):
        raise GenesisError("genesis_time", "must be RFC 3339 in UTC, like 2026-12-01T00:00:00Z")
    return value


def build_genesis(spec: Any) -> dict[str, Any]:
    """A complete CometBFT genesis document from a spec; raises GenesisError naming the field."""
    if not isinstance(spec, dict):
        raise GenesisError("spec", "must be a JSON object")
    _unknown("", spec, SPEC_FIELDS)
    chain_id = spec.get("chain_id")
    if not isinstance(chain_id, str) or not CHAIN_ID_PATTERN.match(chain_id):
        raise GenesisError("chain_id", "must be 1-50 letters, digits, '.', '_' or '-', starting with a letter or digit")
    app_state = spec.get("app_state", {"bank": {"balances": []}})
    validators = parse_validators(spec.get("validators"), _power_unit(app_state))
    if validators[0].bond is not None:
        app_state = with_staking(app_state, validators)
    validate_app_state(app_state)
    enable_height = spec.get("vote_extensions_enable_height", 0)
    if not _is_int(enable_height) or enable_height < 0:
        raise GenesisError("vote_extensions_enable_height", "must be a non-negative integer (0: off)")
    return {
        "genesis_time": _genesis_time(spec.get("genesis_time")),
        "chain_id": chain_id,
        "initial_height": "1",
        "consensus_params": {
            "block": {"max_bytes": "4194304", "max_gas": "-1"},
            "evidence": {"max_age_num_blocks": "100000", "max_age_duration": "172800000000000", "max_bytes": "1048576"},
            "validator": {"pub_key_types": ["ed25519"]},
            "version": {"app": str(APP_VERSION)},
            "abci": {"vote_extensions_enable_height": str(enable_height)},
        },
        "validators": [
            {
                "address": validator_address(v.pub_key),
                "pub_key": {"type": "tendermint/PubKeyEd25519", "value": base64.b64encode(v.pub_key).decode()},
                "power": str(v.power),
                "name": v.name,
            }
            for v in validators
        ],
        "app_hash": "",
        "app_state": app_state,
    }


def validate_genesis_file(path: Path) -> dict[str, Any]:
    """Re-check a genesis.json a validator received, by rebuilding it from its own fields."""
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise GenesisError(str(path), f"is not JSON ({error})") from None
    if not isinstance(doc, dict):
        raise GenesisError(str(path), "must be a JSON object")
    spec = {
        "chain_id": doc.get("chain_id"),
        "genesis_time": doc.get("genesis_time"),
        "validators": [
            {"name": v.get("name", ""), "pub_key": (v.get("pub_key") or {}).get("value"),
             "power": int(v["power"]) if str(v.get("power", "")).isdigit() else v.get("power"),
             "address": v.get("address")}
            for v in doc.get("validators") or []
        ],
        "app_state": doc.get("app_state"),
    }
    build_genesis(spec)
    return doc


def consensus_pub_key(home: Path) -> str:
    """The base64 ed25519 public key of the validator whose CometBFT home this is."""
    key = json.loads((home / "config" / "priv_validator_key.json").read_text())
    return str(key["pub_key"]["value"])
