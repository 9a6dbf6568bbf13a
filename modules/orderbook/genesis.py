"""orderbook's genesis section and stored params.

    {"orderbook": {"params": {"max_open_orders": 256, "triggers_per_block": 256, ...,
                              "storage_tiers": [{"min_equity_micro_usdc": "20000000", "max_stored": 4}, ...]}}}

Every field is optional (docs/orders.md lists the defaults); `query params` shows the values in force.
"""

from __future__ import annotations

from typing import Any

from modules.orderbook.errors import InvalidOrderbookGenesis
from modules.orderbook.params import OrderbookParams
from modules.params import decode_params, encode_params, params_from_json, params_to_json
from modules.store import KVStore

PARAMS_KEY = b"orderbook/params"


def load_params(store: KVStore) -> OrderbookParams:
    return decode_params(OrderbookParams, store.get(PARAMS_KEY), InvalidOrderbookGenesis)


def validate_genesis(section: Any) -> OrderbookParams:
    if not isinstance(section, dict):
        raise InvalidOrderbookGenesis("orderbook must be an object")
    unknown = sorted(k for k in section if k != "params")
    if unknown:
        raise InvalidOrderbookGenesis(f"orderbook has unknown field {unknown[0]!r}")
    return params_from_json(OrderbookParams, section.get("params"), "orderbook.params", InvalidOrderbookGenesis)


def import_genesis(store: KVStore, section: Any) -> None:
    store.set(PARAMS_KEY, encode_params(validate_genesis(section)))


def export_genesis(store: KVStore) -> dict[str, Any]:
    return {"params": params_to_json(load_params(store))}
