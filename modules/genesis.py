"""The genesis app_state: one section per module (modules/registry.py), validated by the rules
InitChain applies.

The genesis builder (genesis/) and InitChain (app/) both call `validate_app_state`, so a spec
that builds is a genesis the chain accepts.
"""

from __future__ import annotations

from typing import Any

from modules.anchor.errors import InvalidAnchorGenesis
from modules.bank.errors import InvalidGenesis
from modules.bridge.types import BridgeValidator
from modules.params import ParamsSection
from modules.registry import REGISTRY
from modules.staking.errors import InvalidStakingGenesis
from modules.staking.types import StakingValidator
from modules.store import KVStore

SECTIONS = tuple(section.name for section in REGISTRY.genesis)
PARAMS_SECTIONS = tuple(s for s in REGISTRY.genesis if isinstance(s, ParamsSection))  # the params-only sections


def validate_app_state(app_state: Any) -> None:
    """Raises the owning module's genesis error, its message naming the field."""
    if not isinstance(app_state, dict):
        raise InvalidGenesis("app_state must be an object")
    unknown = sorted(k for k in app_state if k not in SECTIONS)
    if unknown:
        raise InvalidGenesis(f"app_state has unknown section {unknown[0]!r}; known: {', '.join(SECTIONS)}")
    read = {section.name: section.validate(app_state.get(section.name, {})) for section in REGISTRY.genesis}
    if read["anchor"] is not None and read["bridge"] is None:
        raise InvalidAnchorGenesis("anchor needs a bridge section: anchors are signed for the vault by bridge keys")
    staking, bridge = read["staking"], read["bridge"]
    if isinstance(staking, tuple) and isinstance(bridge, tuple):
        bonded_matches_bridge(staking[1], bridge[1])


def bonded_matches_bridge(bonded: list[StakingValidator], bridged: list[BridgeValidator]) -> None:
    """The bridge's validators are the bonded ones, with the same operators and powers: staking
    gives the power, the bridge follows it."""
    staking = {v.consensus_address: (v.operator, v.power) for v in bonded}
    bridge = {v.consensus_address: (v.operator, v.power) for v in bridged}
    for address in sorted(staking.keys() | bridge.keys()):
        if staking.get(address) != bridge.get(address):
            raise InvalidStakingGenesis(f"validator {address.hex().upper()}: staking gives (operator, power) "
                                        f"{_shown(staking.get(address))}, the bridge {_shown(bridge.get(address))}; "
                                        f"they must agree")


def _shown(entry: tuple[bytes, int] | None) -> str:
    return "nothing" if entry is None else f"(0x{entry[0].hex()}, {entry[1]})"


def import_app_state(store: KVStore, app_state: Any) -> None:
    validate_app_state(app_state)
    for section in REGISTRY.genesis:
        section.import_genesis(store, app_state.get(section.name, {}))


def export_app_state(store: KVStore) -> dict[str, Any]:
    """Every section; one a module exports empty is left out (its module is off, as a genesis
    without that section leaves it, so exports of chains without it stay unchanged)."""
    exported = {section.name: section.export_genesis(store) for section in REGISTRY.genesis}
    return {name: section for name, section in exported.items() if section}
