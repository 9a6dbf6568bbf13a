"""orderbook's genesis section: its params (modules/orderbook/params.py).

    {"orderbook": {"params": {"max_open_orders": 256, "triggers_per_block": 128, ...,
                              "storage_tiers": [{"min_equity_micro_usdc": "20000000", "max_stored": 4}, ...]}}}

Every field is optional (docs/orders.md lists the defaults); `query params` shows the values in force.
"""

from __future__ import annotations

from modules.orderbook.errors import InvalidOrderbookGenesis
from modules.orderbook.keys import PARAMS, STORE_PREFIX
from modules.orderbook.params import OrderbookParams
from modules.params import ParamsSection

SECTION = ParamsSection("orderbook", OrderbookParams, InvalidOrderbookGenesis, STORE_PREFIX + PARAMS)
load_params = SECTION.load
