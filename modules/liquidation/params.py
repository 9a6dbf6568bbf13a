"""liquidation's fixed rules (docs/liquidation.md)."""

LIQUIDATION_FEE_PPM = 5_000  # 0.5% of the closed notional to the insurance fund, never below zero equity
CHUNKS = 4  # a position closes in chunks of a quarter of its size at the block's start
HISTORY_KEPT = 500
