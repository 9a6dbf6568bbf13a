"""Imports the genesis app_state into the modules at InitChain."""

from __future__ import annotations

import json
from typing import Any

from modules.bank.errors import InvalidGenesis
from modules.bank.genesis import export_genesis as export_bank
from modules.bank.genesis import import_genesis as import_bank
from modules.bank.keeper import BankKeeper
from modules.store import KVStore

SECTIONS = ("bank",)


def import_app_state(store: KVStore, app_state_bytes: bytes) -> None:
    try:
        app_state: Any = json.loads(app_state_bytes or b"{}")
    except ValueError as exc:
        raise InvalidGenesis(f"app_state is not JSON ({exc})") from None
    if not isinstance(app_state, dict):
        raise InvalidGenesis("app_state must be an object")
    unknown = sorted(set(app_state) - set(SECTIONS))
    if unknown:
        raise InvalidGenesis(f"app_state has unknown section {unknown[0]!r}; known: {', '.join(SECTIONS)}")
    import_bank(BankKeeper(store), app_state.get("bank", {}))


def export_app_state(store: KVStore) -> dict[str, Any]:
    return {"bank": export_bank(BankKeeper(store))}
