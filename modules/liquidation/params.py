"""liquidation's fixed rules and genesis params (docs/liquidation.md, `query params`)."""

from __future__ import annotations

from dataclasses import dataclass

from modules.params import bounded

LIQUIDATION_FEE_PPM = 5_000  # 0.5% of the closed notional to the insurance fund, never below zero equity
CHUNKS = 4  # a position closes in chunks of a quarter of its size at the block's start
HISTORY_KEPT = 500


@dataclass(frozen=True)
class LiquidationParams:
    # Subaccounts liquidated in one block, and the notional their closes may move; the rest carry
    # to the next block, most urgent first. Due subaccounts (index.py) evaluated in one block; the
    # rest stay due.
    liquidations_per_block: int = bounded(1024, 1, 100_000)
    liquidation_notional_per_block_micro_usdc: int = bounded(10_000_000 * 1_000_000, 1, 2**63 - 1)
    liquidation_evaluations_per_block: int = bounded(2048, 1, 1_000_000)
