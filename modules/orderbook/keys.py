"""orderbook's keys under prefix `orderbook/`: resting orders and their indexes (keeper.py),
conditionals (conditional_store.py) and TWAPs (twap.py). Integers are fixed-width big-endian, so
key order is numeric order; `~x` is 2^64-1-x (a level that sorts a falling price first). A
subaccount's resting orders and their count are not stored: the books index them by owner
(book.py), and a node builds that index with the books from `o/`.

| key | holds |
|---|---|
| `params` | the genesis params, canonical JSON (modules/params.py) |
| `o/<market u32><order_id u64>` | a resting order, packed |
| `c/<address 20><number 1><client_id u64>` | market u32, order_id u64 of the order with that client id |
| `next_id` | the next order id, u64 (the first is 1) |
| `eb/<block u64><market u32><order_id u64>`, `et/<time_ms u64><market u32><order_id u64>` | good-til-block and good-til-time expiries |
| `dm/<address 20>` | the address's dead-man switch: cancel_at_ms u64 |
| `dt/<time_ms u64><address 20>` | dead-man switches by due time |
| `dc/<address 20><day u64>` | the address's dead-man schedules that day, u32 |
| `t/<market u32><seq u64>` | a recent trade, packed |
| `tn/<market u32>` | the market's next trade seq, u64 |
| `ih/<market u32><order_id u64>` | a resting iceberg slice's display lots u64, hidden lots u64 |
| `ic/<market u32>` | resting icebergs with a hidden reserve, u64 |
| `cd/<id u64>` | a conditional, packed |
| `tu/<market u32><trigger u64><id u64>` | fires when the oracle is at or above the trigger |
| `td/<market u32><~trigger u64><id u64>` | fires when the oracle is at or below the trigger |
| `sg/<segment u64>` | a trailing segment: market, side, anchor, stop count, smallest distances |
| `sx/<market u32><side u8><anchor u64><segment u64>` | segments by anchor (the ones a price passed) |
| `sf/<market u32><side u8><edge level u64><segment u64>` | segments by edge, the first trigger in them to fire (a buy's edge, a sell's ~edge) |
| `tm/<segment u64><unit u8><distance u64><id u64>` | a segment's stops by distance (unit 0 ticks, 1 bps) |
| `seg_next` | the next segment id, u64 |
| `cs/<address 20><number 1><market u32><id u64>` | a subaccount's conditionals |
| `cn/<address 20><number 1>` | conditionals the subaccount stores, u32 |
| `pp/<address 20><number 1><market u32>` | the position's stop-loss id u64 and take-profit id u64 (0: none) |
| `cond_next` | the next conditional id, u64 |
| `fq/<height u64><~distance ppm u64><id u64>` | the triggered queue: crossed, waiting to fire |
| `fi/<id u64>` | a queued conditional's place in `fq/` (height u64, ~distance u64) |
| `fqn` | how many are queued, u64 |
| `rr/<band u8><market u32>` | a band's pending reach (level u64): crossed up to there, not all queued yet |
| `rh/<band u8><market u32><level u64>` | the height whose price first reached `level` in a pending band |
| `wr/<id u64>` | a TWAP, packed |
| `wq/<next block u64><id u64>` | TWAPs by the block their next child is due |
| `ws/<address 20><number 1><market u32><id u64>` | a subaccount's TWAPs |
| `wn/<address 20><number 1>` | TWAPs the subaccount runs, u32 |
| `twap_next` | the next TWAP id, u64 |
"""  # noqa: E501  (markdown table rows of the key layout: they cannot wrap)

from __future__ import annotations

import struct

from modules.encoding import read_uint, subaccount_bytes, u32, u64
from modules.types import SubaccountId

STORE_PREFIX = b"orderbook/"
PARAMS = b"params"

# -- resting orders (keeper.py) -------------------------------------------------------------------
ORDER = b"o/"
BY_CLIENT_ID = b"c/"
NEXT_ORDER_ID = b"next_id"
EXPIRE_BLOCK = b"eb/"
EXPIRE_TIME = b"et/"
DEAD_MAN = b"dm/"
DEAD_MAN_DUE = b"dt/"
DEAD_MAN_COUNT = b"dc/"
TRADE = b"t/"
TRADE_SEQ = b"tn/"
ICEBERG = b"ih/"
ICEBERG_COUNT = b"ic/"

# -- conditionals (conditional_store.py) ------------------------------------------------------------
CONDITIONAL = b"cd/"
FIRES_UP = b"tu/"
FIRES_DOWN = b"td/"
SEGMENT = b"sg/"
SEGMENT_BY_ANCHOR = b"sx/"
SEGMENT_BY_EDGE = b"sf/"
SEGMENT_MEMBER = b"tm/"
NEXT_SEGMENT = b"seg_next"
CONDITIONAL_BY_SUBACCOUNT = b"cs/"
CONDITIONAL_COUNT = b"cn/"
POSITION_PAIR = b"pp/"
NEXT_CONDITIONAL_ID = b"cond_next"
TRIGGERED = b"fq/"
TRIGGERED_PLACE = b"fi/"
TRIGGERED_COUNT = b"fqn"
REACH = b"rr/"
REACH_AT = b"rh/"

# -- TWAPs (twap.py) ---------------------------------------------------------------------------------
TWAP = b"wr/"
TWAP_DUE = b"wq/"
TWAP_BY_SUBACCOUNT = b"ws/"
TWAP_COUNT = b"wn/"
NEXT_TWAP_ID = b"twap_next"


def _in_market(market_id: int | None) -> bytes:
    return u32(market_id) if market_id is not None else b""


_TRAILING_ORDER = struct.Struct(">IQ")


def trailing_order(key: bytes) -> tuple[int, int]:
    """(market, order id): the last 12 bytes of an order's key and of every index naming an order."""
    market_id, order_id = _TRAILING_ORDER.unpack_from(key, len(key) - _TRAILING_ORDER.size)
    return market_id, order_id


def trailing_id(key: bytes) -> int:
    """The id (u64) that ends a key: a TWAP's, a conditional's, a segment's, a trade's seq."""
    return read_uint(key[-8:])


# -- resting orders -------------------------------------------------------------------------------------

def order_key(market_id: int, order_id: int) -> bytes:
    return ORDER + u32(market_id) + u64(order_id)


def client_id_key(owner: SubaccountId, client_id: int) -> bytes:
    return BY_CLIENT_ID + subaccount_bytes(owner) + u64(client_id)


def expire_block_key(block: int, market_id: int, order_id: int) -> bytes:
    return EXPIRE_BLOCK + u64(block) + u32(market_id) + u64(order_id)


def expire_time_key(time_ms: int, market_id: int, order_id: int) -> bytes:
    return EXPIRE_TIME + u64(time_ms) + u32(market_id) + u64(order_id)


def dead_man_key(address: bytes) -> bytes:
    return DEAD_MAN + address


def dead_man_due_key(time_ms: int, address: bytes = b"") -> bytes:
    """The switch of `address` due at `time_ms` (no address: where those due at `time_ms` start)."""
    return DEAD_MAN_DUE + u64(time_ms) + address


def dead_man_due_address(key: bytes) -> bytes:
    return key[len(DEAD_MAN_DUE) + 8:]


def dead_man_count_prefix(address: bytes) -> bytes:
    return DEAD_MAN_COUNT + address


def dead_man_count_key(address: bytes, day: int) -> bytes:
    return dead_man_count_prefix(address) + u64(day)


def trade_prefix(market_id: int) -> bytes:
    """The market's kept trades, by seq."""
    return TRADE + u32(market_id)


def trade_key(market_id: int, seq: int) -> bytes:
    return trade_prefix(market_id) + u64(seq)


def trade_seq_key(market_id: int) -> bytes:
    return TRADE_SEQ + u32(market_id)


def iceberg_key(market_id: int, order_id: int) -> bytes:
    return ICEBERG + u32(market_id) + u64(order_id)


def iceberg_count_key(market_id: int) -> bytes:
    return ICEBERG_COUNT + u32(market_id)


# -- conditionals -----------------------------------------------------------------------------------

def conditional_key(conditional_id: int) -> bytes:
    return CONDITIONAL + u64(conditional_id)


def trigger_prefix(fires_up: bool, market_id: int) -> bytes:
    """The market's plain conditionals that fire on a rise (or on a fall), by level."""
    return (FIRES_UP if fires_up else FIRES_DOWN) + u32(market_id)


def trigger_key(fires_up: bool, market_id: int, level: int, conditional_id: int) -> bytes:
    return trigger_prefix(fires_up, market_id) + u64(level) + u64(conditional_id)


def segment_key(segment_id: int) -> bytes:
    return SEGMENT + u64(segment_id)


def segments_by_anchor(market_id: int, side: int) -> bytes:
    """The segments of one market and side, by anchor then id."""
    return SEGMENT_BY_ANCHOR + u32(market_id) + bytes([side])


def segments_by_edge(market_id: int, side: int) -> bytes:
    """The segments of one market and side, by edge level then id."""
    return SEGMENT_BY_EDGE + u32(market_id) + bytes([side])


def member_prefix(segment_id: int, unit: int | None = None) -> bytes:
    """A segment's stops (with distances in one unit, or all), by distance then id."""
    return SEGMENT_MEMBER + u64(segment_id) + (bytes([unit]) if unit is not None else b"")


def member_key(segment_id: int, unit: int, distance: int, conditional_id: int) -> bytes:
    return member_prefix(segment_id, unit) + u64(distance) + u64(conditional_id)


def conditional_index_prefix(owner: SubaccountId, market_id: int | None = None) -> bytes:
    """The subaccount's conditionals (in one market, or in all)."""
    return CONDITIONAL_BY_SUBACCOUNT + subaccount_bytes(owner) + _in_market(market_id)


def conditional_index_key(owner: SubaccountId, market_id: int, conditional_id: int) -> bytes:
    return conditional_index_prefix(owner, market_id) + u64(conditional_id)


def conditional_index_of_address(address: bytes) -> bytes:
    """The conditionals of every subaccount of `address`."""
    return CONDITIONAL_BY_SUBACCOUNT + address


def conditional_count_key(owner: SubaccountId) -> bytes:
    return CONDITIONAL_COUNT + subaccount_bytes(owner)


def position_pair_prefix(owner: SubaccountId) -> bytes:
    return POSITION_PAIR + subaccount_bytes(owner)


def position_pair_key(owner: SubaccountId, market_id: int) -> bytes:
    return position_pair_prefix(owner) + u32(market_id)


def triggered_key(place: bytes, conditional_id: int) -> bytes:
    """A conditional's key in the triggered queue; `place` is its height u64 and ~distance u64."""
    return TRIGGERED + place + u64(conditional_id)


def triggered_place_key(conditional_id: int) -> bytes:
    return TRIGGERED_PLACE + u64(conditional_id)


def reach_key(band: int, market_id: int) -> bytes:
    return REACH + bytes([band]) + u32(market_id)


def reach_history_prefix(band: int, market_id: int) -> bytes:
    """A pending band's history, by level."""
    return REACH_AT + bytes([band]) + u32(market_id)


# -- TWAPs --------------------------------------------------------------------------------------------

def twap_key(twap_id: int) -> bytes:
    return TWAP + u64(twap_id)


def twap_due_key(block: int, twap_id: int | None = None) -> bytes:
    """The TWAP whose next child is due at `block` (no id: where those due at `block` start)."""
    return TWAP_DUE + u64(block) + (u64(twap_id) if twap_id is not None else b"")


def twap_index_prefix(owner: SubaccountId, market_id: int | None = None) -> bytes:
    """The subaccount's TWAPs (in one market, or in all)."""
    return TWAP_BY_SUBACCOUNT + subaccount_bytes(owner) + _in_market(market_id)


def twap_index_key(owner: SubaccountId, market_id: int, twap_id: int) -> bytes:
    return twap_index_prefix(owner, market_id) + u64(twap_id)


def twap_index_of_address(address: bytes) -> bytes:
    """The TWAPs of every subaccount of `address`."""
    return TWAP_BY_SUBACCOUNT + address


def twap_count_key(owner: SubaccountId) -> bytes:
    return TWAP_COUNT + subaccount_bytes(owner)
