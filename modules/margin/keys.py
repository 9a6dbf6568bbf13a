"""margin's keys under prefix `margin/`."""

from __future__ import annotations

from modules.encoding import SUBACCOUNT_BYTES, read_subaccount, subaccount_bytes, u32
from modules.types import SubaccountId

STORE_PREFIX = b"margin/"
# One record per subaccount holding every market it has a position or resting orders in, so its
# risk is one read, not a scan (docs/performance.md):
# a/<address 20><number 1> -> per market, by market id: market u32, size i64, cost i128,
#                             funding index i128, bid lots u64, ask lots u64
SUBACCOUNT = b"a/"
OPEN_INTEREST = b"oi/"  # oi/<market u32> -> u64 sum of |size| over positions (twice the open interest)


def subaccount_key(subaccount: SubaccountId) -> bytes:
    return SUBACCOUNT + subaccount_bytes(subaccount)


def address_prefix(address: bytes) -> bytes:
    """The records of every subaccount of `address`, by number."""
    return SUBACCOUNT + address


def subaccount_from_key(key: bytes) -> SubaccountId:
    return read_subaccount(key[len(SUBACCOUNT):])


def open_interest_key(market_id: int) -> bytes:
    return OPEN_INTEREST + u32(market_id)


def record_holder(store_key: bytes) -> SubaccountId | None:
    """The subaccount whose record a whole-store key (prefix included) holds; None for any other key."""
    prefix = STORE_PREFIX + SUBACCOUNT
    if store_key.startswith(prefix) and len(store_key) == len(prefix) + SUBACCOUNT_BYTES:
        return read_subaccount(store_key[len(prefix):])
    return None
