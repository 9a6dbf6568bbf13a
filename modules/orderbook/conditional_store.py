"""The resting conditional orders in the store: records and the indexes a block reads.

| key (under `orderbook/`) | holds |
|---|---|
| `cd/<id u64>` | the packed record |
| `tu/<market u32><trigger u64><id u64>` | fires when the oracle is at or above the trigger |
| `td/<market u32><~trigger u64><id u64>` | fires when the oracle is at or below the trigger (`~x` = 2^64-1-x) |
| `sg/<segment u64>` | a trailing segment: market, side, anchor, stop count, smallest distances |
| `sx/<market u32><side u8><anchor u64><segment u64>` | segments by anchor (the ones a price passed) |
| `sf/<market u32><side u8><edge level u64><segment u64>` | segments by edge, the first trigger in them to fire (a buy's edge, a sell's ~edge) |
| `tm/<segment u64><unit u8><distance u64><id u64>` | a segment's stops by distance (unit 0 ticks, 1 bps) |
| `cs/<address 20><number 1><market u32><id u64>` | a subaccount's conditionals |
| `pp/<address 20><number 1><market u32>` | the position's stop-loss id u64 and take-profit id u64 (0: none) |
| `fq/<height u64><~distance ppm u64><id u64>` | the triggered queue: crossed, waiting to fire |
| `fi/<id u64>` | a queued conditional's place in `fq/` (height u64, ~distance u64) |
| `fqn` | how many are queued, u64 |
| `rr/<band u8><market u32>` | a band's pending reach (level u64): crossed up to there, not all queued yet |
| `rh/<band u8><market u32><level u64>` | the height whose price first reached `level` in a pending band |

Keys are big-endian.

**Levels and bands.** A market has four *bands*: plain conditionals that fire on a rise (`tu/`)
or on a fall (`td/`), trailing sells (fire on a fall) and trailing buys (fire on a rise). In a
band, a price's *level* is the price itself for the bands that fire on a rise and `~price` for
those that fire on a fall, and every index stores triggers (or a segment's edge) as levels, so in
every band "crossed" is "level of the trigger <= level of the price" and the crossed entries are
the first ones in key order, the earliest crossed first.

**Bounded detection, a triggered queue.** Each block, `detect` moves at most `budget` crossed
entries out of their index into the triggered queue `fq/`, keyed by the height whose price first
crossed them, then their distance (how far past its trigger that price went, in ppm of the
trigger, furthest first), then id; the block then fires the head of the queue (the caller's own
budget). A crossed entry is triggered for good: once queued it fires even if the price comes
back. When a band's crossed entries do not all fit, the band keeps a *reach*, the furthest level
any price reached since (`rr/`), and a history of the heights that pushed it further (`rh/`, one
per block that did): next blocks go on sweeping everything up to the reach, whatever the price
does meanwhile, and each entry still gets the height that first crossed it (the first history
level at or past its own). Pending bands are swept oldest crossing first across markets (a merge
on each band's next height), so a backlog in one market does not starve an older crossing in
another. A band whose reach is drained drops it (its history too, within the same budget).

A conditional placed while its band has a pending reach, with its trigger within that reach,
would be fired by a crossing that happened before it existed: `within_pending_reach` says so and
the placement is refused as firing at once (313; `add` refuses it too, as a backstop).

Trailing stops live in segments: the stops of one market and side that share an anchor (the best
price since placement, the same for every stop placed at the same price since). A new price
moves whole segments, not every stop in them, and a segment moved onto another's anchor always
merges with it: the smaller one's stops are re-keyed into the larger (small to large, so a stop
is re-keyed O(log n) times in its life), so a market and side never hold more than one segment
per anchor and a new high walks only the segments it passes. The stops of a segment fire by
distance, so those a price crossed are one range read per segment whose edge it crossed; a
crossed stop leaves its segment for the queue with its anchor and trigger frozen in its record
(its `link_id` 0). A trailing band with a pending reach does not trail until it is drained (its
triggers stay where the crossing found them, so none is lost); it trails to the price of the
block that drains it.

This file depends on the store only, so the keeper can fit position TP/SL to a position after
every trade without importing the handlers.
"""

from __future__ import annotations

import heapq
import struct
from dataclasses import dataclass, replace

from modules.context import Event
from modules.margin.keeper import MarginKeeper
from modules.markets.types import Market
from modules.orderbook.actions import ConditionalKind
from modules.orderbook.errors import TriggerWrongSide
from modules.orderbook.trailing import BPS, trail_trigger
from modules.orderbook.types import Side
from modules.store import KVStore, PrefixStore, add_to_count, prefix_end, read_count
from modules.types import SubaccountId

STORE_PREFIX = b"orderbook/"
RECORD = b"cd/"
FIRES_UP = b"tu/"
FIRES_DOWN = b"td/"
SEGMENT = b"sg/"
SEGMENT_BY_ANCHOR = b"sx/"
SEGMENT_BY_EDGE = b"sf/"
SEGMENT_MEMBER = b"tm/"
NEXT_SEGMENT = b"seg_next"
TICKS, BPS_UNIT = 0, 1
BY_SUBACCOUNT = b"cs/"
COUNT = b"cn/"  # cn/<address 20><number 1> -> conditionals the subaccount stores, u32
POSITION_PAIR = b"pp/"
NEXT_ID = b"cond_next"
QUEUE = b"fq/"
QUEUED = b"fi/"
QUEUE_COUNT = b"fqn"
REACH = b"rr/"
REACH_AT = b"rh/"
MAX_LEVEL = 2**64 - 1
PPM = 1_000_000
# The four bands of a market, in the order a block looks at them.
BAND_UP, BAND_DOWN, BAND_TRAIL_SELL, BAND_TRAIL_BUY = 0, 1, 2, 3
BANDS = (BAND_UP, BAND_DOWN, BAND_TRAIL_SELL, BAND_TRAIL_BUY)
_RISING_BANDS = (BAND_UP, BAND_TRAIL_BUY)
_RECORD = struct.Struct(">I20sBBBQQQBQHQHQ")
_SEGMENT = struct.Struct(">IBQQQH")


@dataclass(frozen=True)
class Conditional:
    """A conditional order resting off the book. Trailing stops also carry their distance and
    anchor; position TP/SL carry the id of their one-cancels-the-other sibling (`link_id`)."""

    conditional_id: int
    market_id: int
    owner: SubaccountId
    kind: ConditionalKind
    side: Side
    trigger_ticks: int
    limit_ticks: int  # 0 for the kinds that price from the oracle and a slippage bound
    size_lots: int
    reduce_only: bool
    trail_ticks: int = 0
    trail_bps: int = 0
    anchor_ticks: int = 0
    slippage_bps: int = 0
    link_id: int = 0  # position TP/SL: the sibling; trailing stop: its segment

    @property
    def fires_up(self) -> bool:
        """A stop buy (or take-profit sell) fires on a rise; the other two on a fall."""
        return self.kind.is_stop == (self.side == Side.BUY)



@dataclass(frozen=True)
class Segment:
    """Trailing stops of one market and side sharing an anchor. It keeps its smallest distance
    in each unit (0: none), so moving it recomputes its edge (the trigger of the first of its
    stops to fire) without reading its stops."""

    segment_id: int
    market_id: int
    side: Side
    anchor_ticks: int
    count: int
    min_ticks: int
    min_bps: int

    @property
    def edge_ticks(self) -> int:
        """The highest trigger of a sell segment (at least 0), the lowest of a buy segment."""
        edges = [trail_trigger(self.side, self.anchor_ticks, ticks, bps)
                 for ticks, bps in ((self.min_ticks, 0), (0, self.min_bps)) if ticks or bps]
        return max(0, *edges) if self.side == Side.SELL else min(edges)


def _u(value: int, width: int) -> bytes:
    return value.to_bytes(width, "big")


def _sub(owner: SubaccountId) -> bytes:
    return owner.address + bytes([owner.number])


def level(band: int, price_ticks: int) -> int:
    """A price (or trigger) as a level of `band`: crossed is level(trigger) <= level(price)."""
    return price_ticks if band in _RISING_BANDS else MAX_LEVEL - price_ticks


def _price_of(band: int, level_: int) -> int:
    return level_ if band in _RISING_BANDS else MAX_LEVEL - level_


def _trailing_band(side: Side) -> int:
    return BAND_TRAIL_SELL if side == Side.SELL else BAND_TRAIL_BUY


def band_of(c: Conditional) -> int:
    if c.kind == ConditionalKind.TRAILING_STOP:
        return _trailing_band(c.side)
    return BAND_UP if c.fires_up else BAND_DOWN


def _distance_ppm(price_ticks: int, trigger_ticks: int) -> int:
    """How far past its trigger the price went, in ppm of the trigger (capped to fit a u64)."""
    return min(abs(price_ticks - trigger_ticks) * PPM // max(1, trigger_ticks), MAX_LEVEL)


@dataclass(frozen=True)
class Detection:
    """What one block's `detect` did: entries moved into the queue, and bands still pending."""

    queued: int
    pending_bands: int


class ConditionalBook:
    """Reads and writes conditionals and keeps every index equal to the records."""

    def __init__(self, store: KVStore) -> None:
        self._store = PrefixStore(store, STORE_PREFIX)
        self._margin = MarginKeeper(store)

    def _reserve(self, c: Conditional, sign: int) -> None:
        """A conditional that may open a position reserves its size as open-order exposure, so the
        subaccount's initial requirement covers its worst case while it waits (reduce-only ones
        never add to a position and reserve nothing)."""
        if c.reduce_only:
            return
        lots = sign * c.size_lots
        self._margin.add_exposure(c.owner, c.market_id, lots if c.side == Side.BUY else 0,
                                  lots if c.side == Side.SELL else 0)

    # -- records --------------------------------------------------------------------------------

    def get(self, conditional_id: int) -> Conditional | None:
        raw = self._store.get(RECORD + _u(conditional_id, 8))
        if raw is None:
            return None
        (market, address, number, kind, side, trigger, limit, size, reduce_only, trail_ticks, trail_bps, anchor,
         slippage, link) = _RECORD.unpack(raw)
        c = Conditional(conditional_id, market, SubaccountId(address, number), ConditionalKind(kind), Side(side),
                        trigger, limit, size, bool(reduce_only), trail_ticks, trail_bps, anchor, slippage, link)
        if c.kind == ConditionalKind.TRAILING_STOP and link:  # anchor and trigger are the segment's
            segment = self.segment(link)
            assert segment is not None, f"trailing stop {conditional_id} names a missing segment"
            anchor = segment.anchor_ticks
            c = replace(c, anchor_ticks=anchor, trigger_ticks=trail_trigger(c.side, anchor, trail_ticks, trail_bps))
        return c

    def of(self, owner: SubaccountId, market_id: int | None = None) -> list[Conditional]:
        """A subaccount's conditionals, by market then id."""
        start = BY_SUBACCOUNT + _sub(owner) + (_u(market_id, 4) if market_id else b"")
        found = [self.get(int.from_bytes(key[-8:], "big")) for key, _ in self._store.iterate(start, prefix_end(start))]
        return [c for c in found if c is not None]

    def all(self) -> list[Conditional]:
        """Every stored conditional, by id (invariant checks and exports only: it reads them all)."""
        found = [self.get(int.from_bytes(key[-8:], "big")) for key, _ in self._store.iterate(RECORD, prefix_end(RECORD))]
        return [c for c in found if c is not None]

    def of_address(self, address: bytes, limit: int) -> list[Conditional]:
        """At most `limit` of an address's conditionals, every subaccount, by subaccount, market, id."""
        start = BY_SUBACCOUNT + address
        found: list[Conditional] = []
        for key in _first_keys(self._store, start, prefix_end(start), limit):
            c = self.get(int.from_bytes(key[-8:], "big"))
            assert c is not None, "subaccount index names a missing conditional"
            found.append(c)
        return found

    def count_of(self, owner: SubaccountId) -> int:
        return read_count(self._store, COUNT + _sub(owner))

    def next_id(self) -> int:
        raw = self._store.get(NEXT_ID)
        value = int.from_bytes(raw, "big") if raw is not None else 1
        self._store.set(NEXT_ID, _u(value + 1, 8))
        return value

    def add(self, c: Conditional) -> Conditional:
        """Store `c`; a trailing stop joins the segment at its anchor (`c.anchor_ticks`). One
        within a pending reach is refused (313): a crossing before it existed would fire it."""
        if self.within_pending_reach(c):
            raise TriggerWrongSide(f"conditional {c.conditional_id}'s trigger {c.trigger_ticks} (ticks) was already "
                                   "crossed by a price whose triggers are still being queued: it would fire at once")
        if c.kind == ConditionalKind.TRAILING_STOP:
            old = self._segment_at(c.market_id, c.side, c.anchor_ticks) or \
                self._new_segment(c.market_id, c.side, c.anchor_ticks)
            c = replace(c, link_id=old.segment_id)
            self._store.set(self._member_key(c), b"")
            self._put_segment(Segment(old.segment_id, old.market_id, old.side, old.anchor_ticks, old.count + 1,
                                      _smaller(old.min_ticks, c.trail_ticks), _smaller(old.min_bps, c.trail_bps)), old)
        else:
            self._store.set(self._trigger_key(c), b"")
        self._write(c)
        self._reserve(c, 1)
        self._store.set(BY_SUBACCOUNT + _sub(c.owner) + _u(c.market_id, 4) + _u(c.conditional_id, 8), b"")
        add_to_count(self._store, COUNT + _sub(c.owner), 1)
        return c

    def remove(self, c: Conditional) -> None:
        self._store.delete(RECORD + _u(c.conditional_id, 8))
        self._reserve(c, -1)
        place = self._store.get(QUEUED + _u(c.conditional_id, 8))
        if place is not None:  # triggered, waiting in the queue
            self._store.delete(QUEUE + place + _u(c.conditional_id, 8))
            self._store.delete(QUEUED + _u(c.conditional_id, 8))
            self._count_queued(-1)
        elif c.kind == ConditionalKind.TRAILING_STOP:
            self._store.delete(self._member_key(c))
            old = self.segment(c.link_id)
            assert old is not None
            self._put_segment(Segment(old.segment_id, old.market_id, old.side, old.anchor_ticks, old.count - 1,
                                      self._smallest(old.segment_id, TICKS), self._smallest(old.segment_id, BPS_UNIT)),
                              old)
        else:
            self._store.delete(self._trigger_key(c))
        self._store.delete(BY_SUBACCOUNT + _sub(c.owner) + _u(c.market_id, 4) + _u(c.conditional_id, 8))
        add_to_count(self._store, COUNT + _sub(c.owner), -1)
        if c.kind.on_position:
            self._unpair(c)

    def resize(self, c: Conditional, size_lots: int) -> Conditional:
        """The same conditional with a new size (its indexes do not depend on the size)."""
        resized = replace(c, size_lots=size_lots)
        self._write(resized)
        return resized

    def _write(self, c: Conditional) -> None:
        self._store.set(RECORD + _u(c.conditional_id, 8), _RECORD.pack(
            c.market_id, c.owner.address, c.owner.number, int(c.kind), int(c.side), c.trigger_ticks, c.limit_ticks,
            c.size_lots, c.reduce_only, c.trail_ticks, c.trail_bps, c.anchor_ticks, c.slippage_bps, c.link_id))

    # -- the triggered queue ---------------------------------------------------------------------

    def queued_count(self) -> int:
        raw = self._store.get(QUEUE_COUNT)
        return int.from_bytes(raw, "big") if raw is not None else 0

    def _count_queued(self, change: int) -> None:
        count = self.queued_count() + change
        if count:
            self._store.set(QUEUE_COUNT, _u(count, 8))
        else:
            self._store.delete(QUEUE_COUNT)

    def queue_head(self, limit: int) -> list[int]:
        """The first `limit` queued ids, in firing order: height, distance (furthest first), id."""
        ids: list[int] = []
        if limit <= 0:
            return ids
        for key, _ in self._store.iterate(QUEUE, prefix_end(QUEUE)):
            ids.append(int.from_bytes(key[-8:], "big"))
            if len(ids) == limit:
                break
        return ids

    def _enqueue(self, conditional_id: int, height: int, distance_ppm: int) -> None:
        place = _u(height, 8) + _u(MAX_LEVEL - distance_ppm, 8)
        self._store.set(QUEUE + place + _u(conditional_id, 8), b"")
        self._store.set(QUEUED + _u(conditional_id, 8), place)

    # -- pending reaches ----------------------------------------------------------------------

    def reach(self, band: int, market_id: int) -> int | None:
        """The band's pending reach (a level), None when nothing crossed is waiting."""
        raw = self._store.get(REACH + bytes([band]) + _u(market_id, 4))
        return int.from_bytes(raw, "big") if raw is not None else None

    def within_pending_reach(self, c: Conditional) -> bool:
        """Would a crossing already under way (a pending reach) fire `c` (as it would be placed)?"""
        band = band_of(c)
        reach = self.reach(band, c.market_id)
        return reach is not None and level(band, c.trigger_ticks) <= reach

    def _first_level(self, band: int, market_id: int) -> int | None:
        """The lowest level stored in the band's index: its first entry to cross."""
        if band in (BAND_UP, BAND_DOWN):
            start = (FIRES_UP if band == BAND_UP else FIRES_DOWN) + _u(market_id, 4)
        else:
            start = SEGMENT_BY_EDGE + _u(market_id, 4) + bytes([Side.SELL if band == BAND_TRAIL_SELL else Side.BUY])
        for key, _ in self._store.iterate(start, prefix_end(start)):
            return int.from_bytes(key[len(start):len(start) + 8], "big")
        return None

    def detect(self, prices: list[tuple[int, int]], height: int, budget: int) -> Detection:
        """One block's detection: `prices` is (market id, oracle ticks) by market id. Trailing
        bands without a pending reach trail first; then every band whose first entry the price
        crossed gets (or extends) its reach; then at most `budget` crossed entries move into the
        queue, oldest crossing first. Reads O(markets + budget) index entries whatever is stored."""
        pending: list[tuple[int, int, int]] = []  # (market, band, price)
        for market_id, price in prices:
            for band in BANDS:
                reach = self.reach(band, market_id)
                here = level(band, price)
                if reach is None:
                    if band in (BAND_TRAIL_SELL, BAND_TRAIL_BUY):
                        self._trail_side(market_id, Side.SELL if band == BAND_TRAIL_SELL else Side.BUY, price)
                    first = self._first_level(band, market_id)
                    if first is None or first > here:
                        continue
                    self._set_reach(band, market_id, here, height)
                elif here > reach:
                    self._set_reach(band, market_id, here, height)
                pending.append((market_id, band, price))
        queued, left = 0, budget
        heap: list[tuple[int, int, int, int]] = []  # (height, market, band, level reached at that height)
        for market_id, band, _ in pending:
            found = self._next_crossing(band, market_id)
            if found is not None:
                heap.append((found[1], market_id, band, found[0]))
        heapq.heapify(heap)
        while heap and left > 0:
            crossed_at, market_id, band, reached = heapq.heappop(heap)
            moved = self._sweep(band, market_id, reached, crossed_at, left)
            queued += moved
            left -= moved
            if left <= 0:
                break
            self._store.delete(REACH_AT + bytes([band]) + _u(market_id, 4) + _u(reached, 8))  # swept to its end
            left -= 1
            found = self._next_crossing(band, market_id)
            if found is not None:
                heapq.heappush(heap, (found[1], market_id, band, found[0]))
        if queued:
            self._count_queued(queued)
        still = 0
        for market_id, band, price in pending:
            if left > 0 and self._next_crossing(band, market_id) is None:
                left = self._drop_reach(band, market_id, left)
            if self.reach(band, market_id) is not None:
                still += 1
            elif band in (BAND_TRAIL_SELL, BAND_TRAIL_BUY):  # drained: trail to this block's price
                self._trail_side(market_id, Side.SELL if band == BAND_TRAIL_SELL else Side.BUY, price)
        return Detection(queued, still)

    def _set_reach(self, band: int, market_id: int, reach: int, height: int) -> None:
        key = bytes([band]) + _u(market_id, 4)
        self._store.set(REACH + key, _u(reach, 8))
        self._store.set(REACH_AT + key + _u(reach, 8), _u(height, 8))

    def _next_crossing(self, band: int, market_id: int) -> tuple[int, int] | None:
        """(history level, height) of the band's first entry still to queue, None when the reach
        holds no more (its first entry is past the reach, or it has none)."""
        reach = self.reach(band, market_id)
        first = self._first_level(band, market_id)
        if reach is None or first is None or first > reach:
            return None
        start = REACH_AT + bytes([band]) + _u(market_id, 4)
        for key, raw in self._store.iterate(start + _u(first, 8), prefix_end(start)):
            return int.from_bytes(key[-8:], "big"), int.from_bytes(raw, "big")
        raise AssertionError(f"band {band} of market {market_id} has a reach but no history past level {first}")

    def _drop_reach(self, band: int, market_id: int, budget: int) -> int:
        """Forget a drained band's reach and history (history first, within `budget` deletes);
        returns what is left of the budget. The reach stays while history remains."""
        key = bytes([band]) + _u(market_id, 4)
        start = REACH_AT + key
        history = _first_keys(self._store, start, prefix_end(start), budget + 1)
        for history_key in history[:budget]:
            self._store.delete(history_key)
        if len(history) > budget:
            return 0
        self._store.delete(REACH + key)
        return budget - len(history)

    def _sweep(self, band: int, market_id: int, reached: int, crossed_at: int, budget: int) -> int:
        """Queue at most `budget` of the band's entries at or below level `reached`, all first
        crossed at height `crossed_at` (those below were queued before)."""
        price = _price_of(band, reached)
        moved = 0
        if band in (BAND_UP, BAND_DOWN):
            start = (FIRES_UP if band == BAND_UP else FIRES_DOWN) + _u(market_id, 4)
            for key in _first_keys(self._store, start, start + _u(reached + 1, 8), budget):
                trigger = _price_of(band, int.from_bytes(key[-16:-8], "big"))
                self._store.delete(key)
                self._enqueue(int.from_bytes(key[-8:], "big"), crossed_at, _distance_ppm(price, trigger))
                moved += 1
            return moved
        side = Side.SELL if band == BAND_TRAIL_SELL else Side.BUY
        start = SEGMENT_BY_EDGE + _u(market_id, 4) + bytes([side])
        # each segment whose edge is reached holds at least one crossed stop
        for key in _first_keys(self._store, start, start + _u(reached + 1, 8), budget):
            if moved == budget:
                break
            segment = self.segment(int.from_bytes(key[-8:], "big"))
            assert segment is not None
            moved += self._take_crossed(segment, price, crossed_at, budget - moved)
        return moved

    def _take_crossed(self, segment: Segment, price_ticks: int, crossed_at: int, budget: int) -> int:
        """Move at most `budget` of the segment's stops crossed at `price_ticks` into the queue,
        their anchor and trigger frozen in their record; the segment keeps the rest."""
        taken = 0
        for key in self._members_within(segment, price_ticks, budget):
            conditional_id = int.from_bytes(key[-8:], "big")
            raw = self._store.get(RECORD + _u(conditional_id, 8))
            assert raw is not None, "segment names a missing stop"
            fields = list(_RECORD.unpack(raw))
            trail_ticks, trail_bps = fields[9], fields[10]
            trigger = trail_trigger(segment.side, segment.anchor_ticks, trail_ticks, trail_bps)
            fields[5], fields[11], fields[13] = trigger, segment.anchor_ticks, 0  # trigger, anchor, no segment
            self._store.set(RECORD + _u(conditional_id, 8), _RECORD.pack(*fields))
            self._store.delete(key)
            self._enqueue(conditional_id, crossed_at, _distance_ppm(price_ticks, trigger))
            taken += 1
        if taken:
            self._put_segment(Segment(segment.segment_id, segment.market_id, segment.side, segment.anchor_ticks,
                                      segment.count - taken, self._smallest(segment.segment_id, TICKS),
                                      self._smallest(segment.segment_id, BPS_UNIT)), segment)
        return taken

    # -- trailing: following the price ------------------------------------------------------------

    def trail(self, market_id: int, price_ticks: int) -> None:
        """Move every trailing segment of `market_id` that `price_ticks` passed (sells anchored
        below it, buys above it) to anchor there, whatever the bands' reaches (tests, benches;
        a block goes through `detect`)."""
        for side in (Side.SELL, Side.BUY):
            self._trail_side(market_id, side, price_ticks)

    def _trail_side(self, market_id: int, side: Side, price_ticks: int) -> None:
        """The segments of one side that `price_ticks` passed all merge into one at it."""
        start = SEGMENT_BY_ANCHOR + _u(market_id, 4) + bytes([side])
        if side == Side.SELL:
            passed = list(self._store.iterate(start, start + _u(price_ticks, 8)))
        else:
            passed = list(self._store.iterate(start + _u(price_ticks + 1, 8), prefix_end(start)))
        for key, _ in passed:
            segment = self.segment(int.from_bytes(key[-8:], "big"))
            assert segment is not None
            self._move_segment(segment, price_ticks)

    def trailing_fired(self, market_id: int, price_ticks: int) -> list[int]:
        """Ids of the trailing stops of `market_id` still in segments whose trigger holds at
        `price_ticks` (a read: nothing moves)."""
        ids: list[int] = []
        for side in (Side.SELL, Side.BUY):
            start = SEGMENT_BY_EDGE + _u(market_id, 4) + bytes([side])
            reached = level(_trailing_band(side), price_ticks)
            for key, _ in list(self._store.iterate(start, start + _u(reached + 1, 8))):
                segment = self.segment(int.from_bytes(key[-8:], "big"))
                assert segment is not None
                ids += [int.from_bytes(k[-8:], "big") for k in self._members_within(segment, price_ticks)]
        return ids

    def segment_count(self, market_id: int, side: Side) -> int:
        """How many segments one market and side hold (a read over them: tests and benches)."""
        start = SEGMENT_BY_ANCHOR + _u(market_id, 4) + bytes([side])
        return sum(1 for _ in self._store.iterate(start, prefix_end(start)))

    # -- trailing segments ----------------------------------------------------------------------

    def segment(self, segment_id: int) -> Segment | None:
        raw = self._store.get(SEGMENT + _u(segment_id, 8))
        if raw is None:
            return None
        market, side, anchor, count, min_ticks, min_bps = _SEGMENT.unpack(raw)
        return Segment(segment_id, market, Side(side), anchor, count, min_ticks, min_bps)

    def _segment_at(self, market_id: int, side: Side, anchor_ticks: int) -> Segment | None:
        """The segment anchored at `anchor_ticks` (there is at most one: moves merge)."""
        start = SEGMENT_BY_ANCHOR + _u(market_id, 4) + bytes([side]) + _u(anchor_ticks, 8)
        for key, _ in self._store.iterate(start, prefix_end(start)):
            found = self.segment(int.from_bytes(key[-8:], "big"))
            assert found is not None
            return found
        return None

    def _new_segment(self, market_id: int, side: Side, anchor_ticks: int) -> Segment:
        raw = self._store.get(NEXT_SEGMENT)
        segment_id = int.from_bytes(raw, "big") if raw is not None else 1
        self._store.set(NEXT_SEGMENT, _u(segment_id + 1, 8))
        return Segment(segment_id, market_id, side, anchor_ticks, 0, 0, 0)

    def _move_segment(self, old: Segment, anchor_ticks: int) -> None:
        """Anchor `old` at `anchor_ticks`; if a segment is there already, the two merge: the
        smaller one's stops are re-keyed into the larger (ties: into the one already there)."""
        target = self._segment_at(old.market_id, old.side, anchor_ticks)
        if target is None:
            self._put_segment(replace(old, anchor_ticks=anchor_ticks), old)
            return
        small, large = (old, target) if old.count <= target.count else (target, old)
        # Re-point the smaller one's stops (their record's last field is the segment id; their
        # member key only changes its segment part).
        start = SEGMENT_MEMBER + _u(small.segment_id, 8)
        new_prefix = SEGMENT_MEMBER + _u(large.segment_id, 8)
        for key, _ in list(self._store.iterate(start, prefix_end(start))):
            record_key = RECORD + key[-8:]
            raw = self._store.get(record_key)
            assert raw is not None, "segment names a missing stop"
            self._store.set(record_key, raw[:-8] + _u(large.segment_id, 8))
            self._store.delete(key)
            self._store.set(new_prefix + key[len(start):], b"")
        self._put_segment(replace(small, count=0, min_ticks=0, min_bps=0), small)
        self._put_segment(Segment(large.segment_id, large.market_id, large.side, anchor_ticks,
                                  large.count + small.count, _smaller(large.min_ticks, small.min_ticks),
                                  _smaller(large.min_bps, small.min_bps)), large)

    def _put_segment(self, new: Segment, old: Segment) -> None:
        """Write `new` over `old` (same id) and re-index it; an empty one is deleted."""
        key = _u(new.market_id, 4) + bytes([new.side])
        band = _trailing_band(new.side)
        if old.count:
            self._store.delete(SEGMENT_BY_ANCHOR + key + _u(old.anchor_ticks, 8) + _u(old.segment_id, 8))
            self._store.delete(SEGMENT_BY_EDGE + key + _u(level(band, old.edge_ticks), 8) + _u(old.segment_id, 8))
        if new.count == 0:
            self._store.delete(SEGMENT + _u(new.segment_id, 8))
            return
        self._store.set(SEGMENT + _u(new.segment_id, 8), _SEGMENT.pack(
            new.market_id, int(new.side), new.anchor_ticks, new.count, new.min_ticks, new.min_bps))
        self._store.set(SEGMENT_BY_ANCHOR + key + _u(new.anchor_ticks, 8) + _u(new.segment_id, 8), b"")
        self._store.set(SEGMENT_BY_EDGE + key + _u(level(band, new.edge_ticks), 8) + _u(new.segment_id, 8), b"")

    def _smallest(self, segment_id: int, unit: int) -> int:
        """The segment's smallest distance in `unit` (0: it has none in that unit)."""
        start = SEGMENT_MEMBER + _u(segment_id, 8) + bytes([unit])
        for key, _ in self._store.iterate(start, prefix_end(start)):
            return int.from_bytes(key[-16:-8], "big")
        return 0

    def _members_within(self, segment: Segment, price_ticks: int, limit: int | None = None) -> list[bytes]:
        """Member keys of the segment's stops whose trigger holds at `price_ticks` (at most
        `limit`): a sell fires when price <= anchor - d, i.e. d <= anchor - price, or with basis
        points when b <= 10000 (anchor - price) / anchor; a buy mirrors it."""
        gap = segment.anchor_ticks - price_ticks if segment.side == Side.SELL else price_ticks - segment.anchor_ticks
        if gap < 0:
            return []
        keys: list[bytes] = []
        for unit, most in ((TICKS, gap), (BPS_UNIT, gap * BPS // segment.anchor_ticks)):
            start = SEGMENT_MEMBER + _u(segment.segment_id, 8) + bytes([unit])
            for key, _ in self._store.iterate(start, start + _u(most + 1, 8)):
                if limit is not None and len(keys) == limit:
                    return keys
                keys.append(key)
        return keys

    # -- position TP/SL -------------------------------------------------------------------------

    def position_pair(self, owner: SubaccountId, market_id: int) -> tuple[int, int]:
        """(stop-loss id, take-profit id) attached to the position; 0 where none."""
        raw = self._store.get(POSITION_PAIR + _sub(owner) + _u(market_id, 4))
        if raw is None:
            return 0, 0
        return int.from_bytes(raw[:8], "big"), int.from_bytes(raw[8:], "big")

    def protected_markets(self, owner: SubaccountId) -> list[int]:
        """Markets where `owner`'s position has a take-profit or stop-loss, ascending."""
        start = POSITION_PAIR + _sub(owner)
        return [int.from_bytes(key[-4:], "big") for key, _ in self._store.iterate(start, prefix_end(start))]

    def set_position_pair(self, owner: SubaccountId, market_id: int, stop_loss_id: int, take_profit_id: int) -> None:
        key = POSITION_PAIR + _sub(owner) + _u(market_id, 4)
        if stop_loss_id or take_profit_id:
            self._store.set(key, _u(stop_loss_id, 8) + _u(take_profit_id, 8))
        else:
            self._store.delete(key)

    def _unpair(self, c: Conditional) -> None:
        stop_loss, take_profit = self.position_pair(c.owner, c.market_id)
        if c.conditional_id == stop_loss:
            stop_loss = 0
        if c.conditional_id == take_profit:
            take_profit = 0
        self.set_position_pair(c.owner, c.market_id, stop_loss, take_profit)

    def fit_to_position(self, owner: SubaccountId, market: Market, position_lots: int) -> list[Event]:
        """After a trade: shrink the position's TP/SL to what would close it, drop them once it is
        closed (or flipped), so they never add exposure."""
        events: list[Event] = []
        for conditional_id in self.position_pair(owner, market.market_id):
            c = self.get(conditional_id) if conditional_id else None
            if c is None:
                continue
            closable = position_lots if c.side == Side.SELL else -position_lots
            if closable <= 0:
                self.remove(c)
                events.append(Event("conditional_cancelled", (*attributes(c, market), ("reason", "position_closed"))))
            elif c.size_lots > closable:
                resized = self.resize(c, closable)
                events.append(Event("conditional_resized", attributes(resized, market)))
        return events

    # -- keys -----------------------------------------------------------------------------------

    @staticmethod
    def _trigger_key(c: Conditional) -> bytes:
        band = BAND_UP if c.fires_up else BAND_DOWN
        return (FIRES_UP if c.fires_up else FIRES_DOWN) + _u(c.market_id, 4) + _u(level(band, c.trigger_ticks), 8) + \
            _u(c.conditional_id, 8)

    @staticmethod
    def _member_key(c: Conditional) -> bytes:
        unit, distance = (TICKS, c.trail_ticks) if c.trail_ticks else (BPS_UNIT, c.trail_bps)
        return SEGMENT_MEMBER + _u(c.link_id, 8) + bytes([unit]) + _u(distance, 8) + _u(c.conditional_id, 8)


def _first_keys(store: PrefixStore, start: bytes, end: bytes | None, limit: int) -> list[bytes]:
    """The first `limit` keys in [start, end), read before any of them is changed."""
    keys: list[bytes] = []
    if limit <= 0:
        return keys
    for key, _ in store.iterate(start, end):
        keys.append(key)
        if len(keys) == limit:
            break
    return keys


def _smaller(a: int, b: int) -> int:
    """The smaller distance, where 0 means none."""
    return min(a, b) if a and b else a or b


def attributes(c: Conditional, market: Market) -> tuple[tuple[str, str], ...]:
    """A conditional's event attributes, prices in micro-USDC and sizes in atoms."""
    found = [("conditional_id", str(c.conditional_id)), ("market_id", str(c.market_id)), ("owner", str(c.owner)),
             ("kind", c.kind.name.lower()), ("side", c.side.name.lower()),
             ("trigger_price", str(c.trigger_ticks * market.tick_size)),
             ("limit_price", str(c.limit_ticks * market.tick_size)), ("size", str(c.size_lots * market.step_size))]
    if c.kind == ConditionalKind.TRAILING_STOP:
        found += [("anchor_price", str(c.anchor_ticks * market.tick_size)),
                  ("trail_price", str(c.trail_ticks * market.tick_size)), ("trail_bps", str(c.trail_bps))]
    if c.kind.on_position:
        found.append(("linked_id", str(c.link_id)))
    return tuple(found)


def to_json(c: Conditional, market: Market) -> dict[str, object]:
    """The query form: what `attributes` says, plus the flags."""
    answer: dict[str, object] = dict(attributes(c, market))
    answer["market_id"] = c.market_id
    answer["reduce_only"] = c.reduce_only
    answer["max_slippage_bps"] = c.slippage_bps
    return answer
