"""liquidation's genesis section and stored params.

    {"liquidation": {"params": {"liquidations_per_block": 64,
                                "liquidation_notional_per_block_micro_usdc": "10000000000000"}}}

Every field is optional (docs/liquidation.md lists the defaults); `query params` shows the values in force.
"""

from __future__ import annotations

from typing import Any

from modules.liquidation.errors import InvalidLiquidationGenesis
from modules.liquidation.params import LiquidationParams
from modules.params import decode_params, encode_params, params_from_json, params_to_json
from modules.store import KVStore

PARAMS_KEY = b"liquidation/params"


def load_params(store: KVStore) -> LiquidationParams:
    return decode_params(LiquidationParams, store.get(PARAMS_KEY), InvalidLiquidationGenesis)


def validate_genesis(section: Any) -> LiquidationParams:
    if not isinstance(section, dict):
        raise InvalidLiquidationGenesis("liquidation must be an object")
    unknown = sorted(k for k in section if k != "params")
    if unknown:
        raise InvalidLiquidationGenesis(f"liquidation has unknown field {unknown[0]!r}")
    return params_from_json(LiquidationParams, section.get("params"), "liquidation.params",
                            InvalidLiquidationGenesis)


def import_genesis(store: KVStore, section: Any) -> None:
    store.set(PARAMS_KEY, encode_params(validate_genesis(section)))


def export_genesis(store: KVStore) -> dict[str, Any]:
    return {"params": params_to_json(load_params(store))}
