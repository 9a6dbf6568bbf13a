"""Decodes the genesis app_state bytes of InitChain and hands them to modules/genesis.py."""

from __future__ import annotations

import json
from typing import Any

from modules.bank.errors import InvalidGenesis
from modules.genesis import import_app_state as import_sections
from modules.store import KVStore


def import_app_state(store: KVStore, app_state_bytes: bytes) -> None:
    try:
        app_state: Any = json.loads(app_state_bytes or b"{}")
    except ValueError as exc:
        raise InvalidGenesis(f"app_state is not JSON ({exc})") from None
    import_sections(store, app_state)
