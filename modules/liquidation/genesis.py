"""liquidation's genesis section: its params (modules/liquidation/params.py).

    {"liquidation": {"params": {"liquidations_per_block": 1024,
                                "liquidation_notional_per_block_micro_usdc": "10000000000000",
                                "liquidation_evaluations_per_block": 2048}}}

Every field is optional (docs/liquidation.md lists the defaults); `query params` shows the values in force.
"""

from __future__ import annotations

from modules.liquidation.errors import InvalidLiquidationGenesis
from modules.liquidation.keys import PARAMS, STORE_PREFIX
from modules.liquidation.params import LiquidationParams
from modules.params import ParamsSection

SECTION = ParamsSection("liquidation", LiquidationParams, InvalidLiquidationGenesis, STORE_PREFIX + PARAMS)
load_params = SECTION.load
