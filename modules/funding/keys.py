"""funding's keys under prefix `funding/`."""

from __future__ import annotations

from modules.encoding import u32, u64

STORE_PREFIX = b"funding/"
STATE = b"s/"  # s/<market u32> -> index i128, premium sum i64, samples u32, hour u64
HISTORY = b"h/"  # h/<market u32><hour u64> -> rate ppm i64, index i128
POOL = b"pool"  # i128 micro-USDC: payments received minus paid (>= 0 once all settle)


def state_key(market_id: int) -> bytes:
    return STATE + u32(market_id)


def history_prefix(market_id: int) -> bytes:
    """Every kept hourly rate of the market, by hour."""
    return HISTORY + u32(market_id)


def history_key(market_id: int, hour: int) -> bytes:
    return history_prefix(market_id) + u64(hour)
