"""oracle's keys under prefix `oracle/`."""

from __future__ import annotations

from modules.encoding import u32

STORE_PREFIX = b"oracle/"
PRICE = b"p/"  # p/<market u32> -> price u64, updated height u64
VALIDATOR = b"v/"  # v/<address 20> -> pub_key 32, power u64
ENABLE_HEIGHT = b"ve_height"  # u64: vote extensions enabled from this height (0: never)


def price_key(market_id: int) -> bytes:
    return PRICE + u32(market_id)


def validator_key(address: bytes) -> bytes:
    return VALIDATOR + address
