"""The genesis app_state: one section per module, validated by the rules InitChain applies.

The genesis builder (genesis/) and InitChain (app/) both call `validate_app_state`, so a spec
that builds is a genesis the chain accepts.
"""

from __future__ import annotations

from typing import Any

from modules.anchor.errors import InvalidAnchorGenesis
from modules.anchor.genesis import export_genesis as export_anchor
from modules.anchor.genesis import import_genesis as import_anchor
from modules.anchor.genesis import validate_genesis as validate_anchor
from modules.anchor.keeper import AnchorKeeper
from modules.bank.errors import InvalidGenesis
from modules.bank.genesis import export_genesis as export_bank
from modules.bank.genesis import import_genesis as import_bank
from modules.bank.genesis import validate_genesis as validate_bank
from modules.bank.keeper import BankKeeper
from modules.bridge.genesis import export_genesis as export_bridge
from modules.bridge.genesis import import_genesis as import_bridge
from modules.bridge.genesis import validate_genesis as validate_bridge
from modules.bridge.keeper import BridgeKeeper
from modules.liquidation import genesis as liquidation_genesis
from modules.markets.genesis import export_genesis as export_markets
from modules.markets.genesis import import_genesis as import_markets
from modules.markets.genesis import validate_genesis as validate_markets
from modules.markets.keeper import MarketsKeeper
from modules.orderbook import genesis as orderbook_genesis
from modules.store import KVStore

PARAMS_SECTIONS = (orderbook_genesis.SECTION, liquidation_genesis.SECTION)  # sections that hold only params
SECTIONS = ("bank", "markets", "bridge", "anchor", *(section.name for section in PARAMS_SECTIONS))


def validate_app_state(app_state: Any) -> None:
    """Raises the owning module's genesis error, its message naming the field."""
    if not isinstance(app_state, dict):
        raise InvalidGenesis("app_state must be an object")
    unknown = sorted(k for k in app_state if k not in SECTIONS)
    if unknown:
        raise InvalidGenesis(f"app_state has unknown section {unknown[0]!r}; known: {', '.join(SECTIONS)}")
    validate_bank(app_state.get("bank", {}))
    validate_markets(app_state.get("markets", {}))
    bridge = validate_bridge(app_state.get("bridge", {}))
    if validate_anchor(app_state.get("anchor", {})) is not None and bridge is None:
        raise InvalidAnchorGenesis("anchor needs a bridge section: anchors are signed for the vault by bridge keys")
    for params in PARAMS_SECTIONS:
        params.validate(app_state.get(params.name, {}))


def import_app_state(store: KVStore, app_state: Any) -> None:
    validate_app_state(app_state)
    import_bank(BankKeeper(store), app_state.get("bank", {}))
    import_markets(MarketsKeeper(store), app_state.get("markets", {}))
    import_bridge(BridgeKeeper(store), app_state.get("bridge", {}))
    import_anchor(AnchorKeeper(store), app_state.get("anchor", {}))
    for params in PARAMS_SECTIONS:
        params.import_genesis(store, app_state.get(params.name, {}))


def export_app_state(store: KVStore) -> dict[str, Any]:
    state = {"bank": export_bank(BankKeeper(store)), "markets": export_markets(MarketsKeeper(store))}
    bridge = export_bridge(BridgeKeeper(store))
    if bridge:  # an absent section means no bridge; keeps exports of bridge-less chains unchanged
        state["bridge"] = bridge
    anchor = export_anchor(AnchorKeeper(store))
    if anchor:
        state["anchor"] = anchor
    for params in PARAMS_SECTIONS:
        state[params.name] = params.export_genesis(store)
    return state
