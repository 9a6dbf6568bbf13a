"""staking's genesis section: validate, import, export (round-trip tested).

    {"params": {"power_unit_micro_usdc": "1000000000", ...},
     "validators": [{"consensus_address": "<40 hex, CometBFT's>", "pub_key": "<base64 ed25519>",
                     "operator": "0x..", "bond_micro_usdc": "10000000000"}]}

Every genesis validator starts bonded: its power is bond_micro_usdc // power_unit_micro_usdc, at
least 1, and must be its CometBFT power (the genesis builder writes both from one list; InitChain
checks). An absent or empty section leaves staking off: powers stay as genesis gave them, evidence
and downtime change nothing. At most MAX_VALIDATORS validators.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from modules.params import genesis_integer, params_from_json, params_to_json
from modules.staking.errors import InvalidStakingGenesis
from modules.staking.keeper import StakingKeeper
from modules.staking.params import MAX_VALIDATORS, StakingParams
from modules.staking.rules import bonded_power
from modules.staking.types import StakingValidator

FIELDS = ("params", "validators")
VALIDATOR_FIELDS = ("consensus_address", "pub_key", "operator", "bond_micro_usdc")
MAX_BOND_MICRO_USDC = 2**127 - 1


def _operator(where: str, value: Any) -> bytes:
    if not (isinstance(value, str) and value.startswith("0x") and len(value) == 42):
        raise InvalidStakingGenesis(f"{where} must be 0x followed by 40 hex digits")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise InvalidStakingGenesis(f"{where} is not hexadecimal") from None


def _pub_key(where: str, value: Any) -> bytes:
    try:
        pub_key = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except ValueError:
        pub_key = b""
    if len(pub_key) != 32:
        raise InvalidStakingGenesis(f"{where} must be a base64 ed25519 public key (32 bytes)")
    return pub_key


def _validator(where: str, entry: Any, params: StakingParams) -> StakingValidator:
    if not isinstance(entry, dict):
        raise InvalidStakingGenesis(f"{where} must be an object")
    extra = sorted(set(entry) - set(VALIDATOR_FIELDS))
    if extra:
        raise InvalidStakingGenesis(f"{where} has unknown field {extra[0]!r}")
    pub_key = _pub_key(f"{where}.pub_key", entry.get("pub_key"))
    address = hashlib.sha256(pub_key).digest()[:20]
    given = entry.get("consensus_address")
    if not isinstance(given, str) or given.upper() != address.hex().upper():
        raise InvalidStakingGenesis(f"{where}.consensus_address must be {address.hex().upper()}, its pub_key's")
    operator = _operator(f"{where}.operator", entry.get("operator"))
    bond = genesis_integer(f"{where}.bond_micro_usdc", entry.get("bond_micro_usdc"), 1, MAX_BOND_MICRO_USDC,
                           InvalidStakingGenesis)
    power = bonded_power(bond, params)
    if power < 1:
        raise InvalidStakingGenesis(f"{where}.bond_micro_usdc {bond} is less than one power unit "
                                    f"({params.power_unit_micro_usdc})")
    return StakingValidator(address, pub_key, operator, bond, power)


def validate_genesis(section: Any) -> tuple[StakingParams, list[StakingValidator]] | None:
    if section in (None, {}):
        return None
    if not isinstance(section, dict):
        raise InvalidStakingGenesis("staking must be an object")
    unknown = sorted(set(section) - set(FIELDS))
    if unknown:
        raise InvalidStakingGenesis(f"staking has unknown field {unknown[0]!r}")
    params = params_from_json(StakingParams, section.get("params"), "staking.params", InvalidStakingGenesis)
    entries = section.get("validators")
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_VALIDATORS:
        raise InvalidStakingGenesis(f"staking.validators must be a list of 1 to {MAX_VALIDATORS} validators")
    validators: list[StakingValidator] = []
    seen: dict[tuple[str, bytes], int] = {}
    for index, entry in enumerate(entries):
        where = f"staking.validators[{index}]"
        validator = _validator(where, entry, params)
        for name in ("consensus_address", "operator"):
            value = getattr(validator, name)
            if (name, value) in seen:
                raise InvalidStakingGenesis(f"{where}.{name} repeats staking.validators[{seen[(name, value)]}]")
            seen[(name, value)] = index
        validators.append(validator)
    return params, validators


def import_genesis(staking: StakingKeeper, section: Any) -> None:
    parsed = validate_genesis(section)
    if parsed is None:
        return
    params, validators = parsed
    staking.set_params(params)
    for validator in validators:
        staking.set_validator(validator)
        staking.add_bonded(validator.bond_micro_usdc)


def export_genesis(staking: StakingKeeper) -> dict[str, Any]:
    """The params and each validator's bond as a new chain would start them (jails, windows and
    pending bonds are state, in the state export)."""
    validators = list(staking.validators())
    if not validators:
        return {}
    return {
        "params": params_to_json(staking.params()),
        "validators": [{"consensus_address": v.consensus_address.hex().upper(),
                        "pub_key": base64.b64encode(v.pub_key).decode(), "operator": f"0x{v.operator.hex()}",
                        "bond_micro_usdc": str(v.bond_micro_usdc)} for v in validators],
    }


def check_genesis_powers(staking: StakingKeeper, consensus_powers: dict[bytes, int]) -> None:
    """With staking on, CometBFT's genesis validators (consensus address -> power) must be exactly
    the bonded ones with the power their bonds buy; InitChain refuses anything else."""
    bonded = {v.consensus_address: v.power for v in staking.validators()}
    if bonded and bonded != consensus_powers:
        shown = {f"{a.hex().upper()}": p for a, p in sorted(consensus_powers.items())}
        raise InvalidStakingGenesis(f"CometBFT's genesis validators {shown} are not the staking validators with the "
                                    f"power their bonds buy "
                                    f"{ {a.hex().upper(): p for a, p in sorted(bonded.items())} }")
