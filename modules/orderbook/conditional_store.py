"""The resting conditional orders in the store: records and the indexes a block reads.

Its keys, and what each holds, are listed in modules/orderbook/keys.py (the conditionals' part).

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
from modules.encoding import read_uint, stored_uint, u64
from modules.margin.keeper import MarginKeeper
from modules.markets.types import Market
from modules.orderbook.actions import ConditionalKind
from modules.orderbook.errors import TriggerWrongSide
from modules.orderbook.keys import (
    CONDITIONAL,
    NEXT_CONDITIONAL_ID,
    NEXT_SEGMENT,
    STORE_PREFIX,
    TRIGGERED,
    TRIGGERED_COUNT,
    conditional_count_key,
    conditional_index_key,
    conditional_index_of_address,
    conditional_index_prefix,
    conditional_key,
    member_key,
    member_prefix,
    position_pair_key,
    position_pair_prefix,
    reach_history_prefix,
    reach_key,
    segment_key,
    segments_by_anchor,
    segments_by_edge,
    trailing_id,
    trigger_key,
    trigger_prefix,
    triggered_key,
    triggered_place_key,
)
from modules.orderbook.trailing import BPS, trail_trigger
from modules.orderbook.types import Side
from modules.store import KVStore, PrefixStore, add_to_count, prefix_end, read_count
from modules.types import SubaccountId

TICKS, BPS_UNIT = 0, 1  # a trailing stop's distance unit in its member key
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
        raw = self._store.get(conditional_key(conditional_id))
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
        """A subaccount's conditionals, by market then id (its count read first: most hold none,
        and a read costs less than a range)."""
        if not self.count_of(owner):
            return []
        start = conditional_index_prefix(owner, market_id)
        found = [self.get(trailing_id(key)) for key, _ in self._store.iterate(start, prefix_end(start))]
        return [c for c in found if c is not None]

    def all(self) -> list[Conditional]:
        """Every stored conditional, by id (invariant checks and exports only: it reads them all)."""
        found = [self.get(trailing_id(key)) for key, _ in self._store.iterate(CONDITIONAL, prefix_end(CONDITIONAL))]
        return [c for c in found if c is not None]

    def of_address(self, address: bytes, limit: int) -> list[Conditional]:
        """At most `limit` of an address's conditionals, every subaccount, by subaccount, market, id."""
        start = conditional_index_of_address(address)
        found: list[Conditional] = []
        for key in _first_keys(self._store, start, prefix_end(start), limit):
            c = self.get(trailing_id(key))
            assert c is not None, "subaccount index names a missing conditional"
            found.append(c)
        return found

    def count_of(self, owner: SubaccountId) -> int:
        return read_count(self._store, conditional_count_key(owner))

    def next_id(self) -> int:
        value = stored_uint(self._store.get(NEXT_CONDITIONAL_ID), 1)
        self._store.set(NEXT_CONDITIONAL_ID, u64(value + 1))
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
        self._store.set(conditional_index_key(c.owner, c.market_id, c.conditional_id), b"")
        add_to_count(self._store, conditional_count_key(c.owner), 1)
        return c

    def remove(self, c: Conditional) -> None:
        self._store.delete(conditional_key(c.conditional_id))
        self._reserve(c, -1)
        place = self._store.get(triggered_place_key(c.conditional_id))
        if place is not None:  # triggered, waiting in the queue
            self._store.delete(triggered_key(place, c.conditional_id))
            self._store.delete(triggered_place_key(c.conditional_id))
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
        self._store.delete(conditional_index_key(c.owner, c.market_id, c.conditional_id))
        add_to_count(self._store, conditional_count_key(c.owner), -1)
        if c.kind.on_position:
            self._unpair(c)

    def resize(self, c: Conditional, size_lots: int) -> Conditional:
        """The same conditional with a new size (its indexes do not depend on the size)."""
        resized = replace(c, size_lots=size_lots)
        self._write(resized)
        return resized

    def _write(self, c: Conditional) -> None:
        self._store.set(conditional_key(c.conditional_id), _RECORD.pack(
            c.market_id, c.owner.address, c.owner.number, int(c.kind), int(c.side), c.trigger_ticks, c.limit_ticks,
            c.size_lots, c.reduce_only, c.trail_ticks, c.trail_bps, c.anchor_ticks, c.slippage_bps, c.link_id))

    # -- the triggered queue ---------------------------------------------------------------------

    def queued_count(self) -> int:
        return stored_uint(self._store.get(TRIGGERED_COUNT))

    def _count_queued(self, change: int) -> None:
        count = self.queued_count() + change
        if count:
            self._store.set(TRIGGERED_COUNT, u64(count))
        else:
            self._store.delete(TRIGGERED_COUNT)

    def queue_head(self, limit: int) -> list[int]:
        """The first `limit` queued ids, in firing order: height, distance (furthest first), id."""
        ids: list[int] = []
        if limit <= 0:
            return ids
        for key, _ in self._store.iterate(TRIGGERED, prefix_end(TRIGGERED)):
            ids.append(trailing_id(key))
            if len(ids) == limit:
                break
        return ids

    def _enqueue(self, conditional_id: int, height: int, distance_ppm: int) -> None:
        place = u64(height) + u64(MAX_LEVEL - distance_ppm)
        self._store.set(triggered_key(place, conditional_id), b"")
        self._store.set(triggered_place_key(conditional_id), place)

    # -- pending reaches ----------------------------------------------------------------------

    def reach(self, band: int, market_id: int) -> int | None:
        """The band's pending reach (a level), None when nothing crossed is waiting."""
        raw = self._store.get(reach_key(band, market_id))
        return read_uint(raw) if raw is not None else None

    def within_pending_reach(self, c: Conditional) -> bool:
        """Would a crossing already under way (a pending reach) fire `c` (as it would be placed)?"""
        band = band_of(c)
        reach = self.reach(band, c.market_id)
        return reach is not None and level(band, c.trigger_ticks) <= reach

    def _first_level(self, band: int, market_id: int) -> int | None:
        """The lowest level stored in the band's index: its first entry to cross."""
        if band in (BAND_UP, BAND_DOWN):
            start = trigger_prefix(band == BAND_UP, market_id)
        else:
            start = segments_by_edge(market_id, Side.SELL if band == BAND_TRAIL_SELL else Side.BUY)
        for key, _ in self._store.iterate(start, prefix_end(start)):
            return read_uint(key[len(start):len(start) + 8])
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
            self._store.delete(reach_history_prefix(band, market_id) + u64(reached))  # swept to its end
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
        self._store.set(reach_key(band, market_id), u64(reach))
        self._store.set(reach_history_prefix(band, market_id) + u64(reach), u64(height))

    def _next_crossing(self, band: int, market_id: int) -> tuple[int, int] | None:
        """(history level, height) of the band's first entry still to queue, None when the reach
        holds no more (its first entry is past the reach, or it has none)."""
        reach = self.reach(band, market_id)
        first = self._first_level(band, market_id)
        if reach is None or first is None or first > reach:
            return None
        start = reach_history_prefix(band, market_id)
        for key, raw in self._store.iterate(start + u64(first), prefix_end(start)):
            return read_uint(key[-8:]), read_uint(raw)
        raise AssertionError(f"band {band} of market {market_id} has a reach but no history past level {first}")

    def _drop_reach(self, band: int, market_id: int, budget: int) -> int:
        """Forget a drained band's reach and history (history first, within `budget` deletes);
        returns what is left of the budget. The reach stays while history remains."""
        start = reach_history_prefix(band, market_id)
        history = _first_keys(self._store, start, prefix_end(start), budget + 1)
        for history_key in history[:budget]:
            self._store.delete(history_key)
        if len(history) > budget:
            return 0
        self._store.delete(reach_key(band, market_id))
        return budget - len(history)

    def _sweep(self, band: int, market_id: int, reached: int, crossed_at: int, budget: int) -> int:
        """Queue at most `budget` of the band's entries at or below level `reached`, all first
        crossed at height `crossed_at` (those below were queued before)."""
        price = _price_of(band, reached)
        moved = 0
        if band in (BAND_UP, BAND_DOWN):
            start = trigger_prefix(band == BAND_UP, market_id)
            for key in _first_keys(self._store, start, start + u64(reached + 1), budget):
                trigger = _price_of(band, read_uint(key[-16:-8]))
                self._store.delete(key)
                self._enqueue(trailing_id(key), crossed_at, _distance_ppm(price, trigger))
                moved += 1
            return moved
        side = Side.SELL if band == BAND_TRAIL_SELL else Side.BUY
        start = segments_by_edge(market_id, side)
        # each segment whose edge is reached holds at least one crossed stop
        for key in _first_keys(self._store, start, start + u64(reached + 1), budget):
            if moved == budget:
                break
            segment = self.segment(trailing_id(key))
            assert segment is not None
            moved += self._take_crossed(segment, price, crossed_at, budget - moved)
        return moved

    def _take_crossed(self, segment: Segment, price_ticks: int, crossed_at: int, budget: int) -> int:
        """Move at most `budget` of the segment's stops crossed at `price_ticks` into the queue,
        their anchor and trigger frozen in their record; the segment keeps the rest."""
        taken = 0
        for key in self._members_within(segment, price_ticks, budget):
            conditional_id = trailing_id(key)
            raw = self._store.get(conditional_key(conditional_id))
            assert raw is not None, "segment names a missing stop"
            fields = list(_RECORD.unpack(raw))
            trail_ticks, trail_bps = fields[9], fields[10]
            trigger = trail_trigger(segment.side, segment.anchor_ticks, trail_ticks, trail_bps)
            fields[5], fields[11], fields[13] = trigger, segment.anchor_ticks, 0  # trigger, anchor, no segment
            self._store.set(conditional_key(conditional_id), _RECORD.pack(*fields))
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
        start = segments_by_anchor(market_id, side)
        if side == Side.SELL:
            passed = list(self._store.iterate(start, start + u64(price_ticks)))
        else:
            passed = list(self._store.iterate(start + u64(price_ticks + 1), prefix_end(start)))
        for key, _ in passed:
            segment = self.segment(trailing_id(key))
            assert segment is not None
            self._move_segment(segment, price_ticks)

    def trailing_fired(self, market_id: int, price_ticks: int) -> list[int]:
        """Ids of the trailing stops of `market_id` still in segments whose trigger holds at
        `price_ticks` (a read: nothing moves)."""
        ids: list[int] = []
        for side in (Side.SELL, Side.BUY):
            start = segments_by_edge(market_id, side)
            reached = level(_trailing_band(side), price_ticks)
            for key, _ in list(self._store.iterate(start, start + u64(reached + 1))):
                segment = self.segment(trailing_id(key))
                assert segment is not None
                ids += [trailing_id(k) for k in self._members_within(segment, price_ticks)]
        return ids

    def segment_count(self, market_id: int, side: Side) -> int:
        """How many segments one market and side hold (a read over them: tests and benches)."""
        start = segments_by_anchor(market_id, side)
        return sum(1 for _ in self._store.iterate(start, prefix_end(start)))

    # -- trailing segments ----------------------------------------------------------------------

    def segment(self, segment_id: int) -> Segment | None:
        raw = self._store.get(segment_key(segment_id))
        if raw is None:
            return None
        market, side, anchor, count, min_ticks, min_bps = _SEGMENT.unpack(raw)
        return Segment(segment_id, market, Side(side), anchor, count, min_ticks, min_bps)

    def _segment_at(self, market_id: int, side: Side, anchor_ticks: int) -> Segment | None:
        """The segment anchored at `anchor_ticks` (there is at most one: moves merge)."""
        start = segments_by_anchor(market_id, side) + u64(anchor_ticks)
        for key, _ in self._store.iterate(start, prefix_end(start)):
            found = self.segment(trailing_id(key))
            assert found is not None
            return found
        return None

    def _new_segment(self, market_id: int, side: Side, anchor_ticks: int) -> Segment:
        segment_id = stored_uint(self._store.get(NEXT_SEGMENT), 1)
        self._store.set(NEXT_SEGMENT, u64(segment_id + 1))
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
        start = member_prefix(small.segment_id)
        new_prefix = member_prefix(large.segment_id)
        for key, _ in list(self._store.iterate(start, prefix_end(start))):
            record_key = conditional_key(trailing_id(key))
            raw = self._store.get(record_key)
            assert raw is not None, "segment names a missing stop"
            self._store.set(record_key, raw[:-8] + u64(large.segment_id))
            self._store.delete(key)
            self._store.set(new_prefix + key[len(start):], b"")
        self._put_segment(replace(small, count=0, min_ticks=0, min_bps=0), small)
        self._put_segment(Segment(large.segment_id, large.market_id, large.side, anchor_ticks,
                                  large.count + small.count, _smaller(large.min_ticks, small.min_ticks),
                                  _smaller(large.min_bps, small.min_bps)), large)

    def _put_segment(self, new: Segment, old: Segment) -> None:
        """Write `new` over `old` (same id) and re-index it; an empty one is deleted."""
        by_anchor, by_edge = segments_by_anchor(new.market_id, new.side), segments_by_edge(new.market_id, new.side)
        band = _trailing_band(new.side)
        if old.count:
            self._store.delete(by_anchor + u64(old.anchor_ticks) + u64(old.segment_id))
            self._store.delete(by_edge + u64(level(band, old.edge_ticks)) + u64(old.segment_id))
        if new.count == 0:
            self._store.delete(segment_key(new.segment_id))
            return
        self._store.set(segment_key(new.segment_id), _SEGMENT.pack(
            new.market_id, int(new.side), new.anchor_ticks, new.count, new.min_ticks, new.min_bps))
        self._store.set(by_anchor + u64(new.anchor_ticks) + u64(new.segment_id), b"")
        self._store.set(by_edge + u64(level(band, new.edge_ticks)) + u64(new.segment_id), b"")

    def _smallest(self, segment_id: int, unit: int) -> int:
        """The segment's smallest distance in `unit` (0: it has none in that unit)."""
        start = member_prefix(segment_id, unit)
        for key, _ in self._store.iterate(start, prefix_end(start)):
            return read_uint(key[-16:-8])
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
            start = member_prefix(segment.segment_id, unit)
            for key, _ in self._store.iterate(start, start + u64(most + 1)):
                if limit is not None and len(keys) == limit:
                    return keys
                keys.append(key)
        return keys

    # -- position TP/SL -------------------------------------------------------------------------

    def position_pair(self, owner: SubaccountId, market_id: int) -> tuple[int, int]:
        """(stop-loss id, take-profit id) attached to the position; 0 where none."""
        raw = self._store.get(position_pair_key(owner, market_id))
        if raw is None:
            return 0, 0
        return read_uint(raw[:8]), read_uint(raw[8:])

    def protected_markets(self, owner: SubaccountId) -> list[int]:
        """Markets where `owner`'s position has a take-profit or stop-loss, ascending."""
        start = position_pair_prefix(owner)
        return [read_uint(key[-4:]) for key, _ in self._store.iterate(start, prefix_end(start))]

    def set_position_pair(self, owner: SubaccountId, market_id: int, stop_loss_id: int, take_profit_id: int) -> None:
        key = position_pair_key(owner, market_id)
        if stop_loss_id or take_profit_id:
            self._store.set(key, u64(stop_loss_id) + u64(take_profit_id))
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
        return trigger_key(c.fires_up, c.market_id, level(band, c.trigger_ticks), c.conditional_id)

    @staticmethod
    def _member_key(c: Conditional) -> bytes:
        unit, distance = (TICKS, c.trail_ticks) if c.trail_ticks else (BPS_UNIT, c.trail_bps)
        return member_key(c.link_id, unit, distance, c.conditional_id)


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
