"""liquidation's keys under prefix `liquidation/`."""

from __future__ import annotations

from modules.encoding import SUBACCOUNT_BYTES, read_subaccount, read_uint, subaccount_bytes, u32, u64, u128
from modules.types import SubaccountId

STORE_PREFIX = b"liquidation/"
PARAMS = b"params"  # the genesis params, canonical JSON (modules/params.py)
MOVEMENT = b"movement"  # u64: cumulative max relative move, ppm
LAST_PRICE = b"lp/"  # lp/<market u32> -> u64 micro-USDC
DEADLINE = b"q/"  # q/<deadline u64><address 20><number 1> -> ""
BY_SUBACCOUNT = b"s/"  # s/<address 20><number 1> -> deadline u64
HISTORY = b"h/"  # h/<seq u64> -> height u64, address 20, number 1, equity i128
HISTORY_SEQ = b"hn"  # u64: the next history seq (the first is 1)
QUEUE = b"a/"  # a/<market u32><side u8: 0 long, 1 short><rank u128><address 20><number 1> -> ""
QUEUED = b"aq/"  # aq/<address 20><number 1> -> (market u32, side u8, rank u128) per queued position
QUEUE_ENTRY_BYTES = 4 + 1 + 16  # market, side, rank


def last_price_key(market_id: int) -> bytes:
    return LAST_PRICE + u32(market_id)


def deadline_prefix(deadline: int) -> bytes:
    """Every subaccount due at `deadline`; the subaccounts due below it sort before."""
    return DEADLINE + u64(deadline)


def deadline_key(deadline: int, subaccount: SubaccountId) -> bytes:
    return deadline_prefix(deadline) + subaccount_bytes(subaccount)


def from_deadline_key(key: bytes) -> tuple[int, SubaccountId]:
    """(deadline, subaccount) of a DEADLINE key."""
    start = len(DEADLINE)
    return read_uint(key[start:start + 8]), read_subaccount(key[start + 8:])


def by_subaccount_key(subaccount: SubaccountId) -> bytes:
    return BY_SUBACCOUNT + subaccount_bytes(subaccount)


def history_key(seq: int) -> bytes:
    return HISTORY + u64(seq)


def _queue_side(market_id: int, long: bool) -> bytes:
    return u32(market_id) + bytes([0 if long else 1])


def queue_entry(market_id: int, long: bool, rank: int) -> bytes:
    """market u32, side u8 (0 long, 1 short), rank u128: a position's place in the QUEUE."""
    return _queue_side(market_id, long) + u128(rank)


def queue_key(entry: bytes, subaccount: SubaccountId) -> bytes:
    return QUEUE + entry + subaccount_bytes(subaccount)


def queue_prefix(market_id: int, long: bool) -> bytes:
    """The market's longs (or shorts) in the queue, highest score first."""
    return QUEUE + _queue_side(market_id, long)


def subaccount_from_queue_key(key: bytes) -> SubaccountId:
    return read_subaccount(key[-SUBACCOUNT_BYTES:])


def queued_key(subaccount: SubaccountId) -> bytes:
    return QUEUED + subaccount_bytes(subaccount)
