"""markets' keys under prefix `markets/`."""

from __future__ import annotations

from modules.encoding import u32

STORE_PREFIX = b"markets/"
MARKET = b"m/"  # m/<market_id u32> -> packed Market


def market_key(market_id: int) -> bytes:
    return MARKET + u32(market_id)
