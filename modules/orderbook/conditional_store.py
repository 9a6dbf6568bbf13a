"""The resting conditional orders in the store: records and the indexes a block reads.

| key (under `orderbook/`) | holds |
|---|---|
| `cd/<id u64>` | the packed record |
| `tu/<market u32><trigger u64><id u64>` | fires when the oracle is at or above the trigger |
| `td/<market u32><trigger u64><id u64>` | fires when the oracle is at or below the trigger |
| `sg/<segment u64>` | a trailing segment: market, side, anchor, stop count, smallest distances |
| `sx/<market u32><side u8><anchor u64><segment u64>` | segments by anchor (the ones a price passed) |
| `sf/<market u32><side u8><edge u64><segment u64>` | segments by edge, the first trigger in them to fire |
| `tm/<segment u64><unit u8><distance u64><id u64>` | a segment's stops by distance (unit 0 ticks, 1 bps) |
| `cs/<address 20><number 1><market u32><id u64>` | a subaccount's conditionals |
| `pp/<address 20><number 1><market u32>` | the position's stop-loss id u64 and take-profit id u64 (0: none) |

Keys are big-endian, so a block finds what its price crossed with one range read per market and
direction.

Trailing stops live in segments: the stops of one market and side that share an anchor (the best
price since placement, the same for every stop placed at the same price since). A new price
moves whole segments, one record each, not every stop in them: the stops of a segment fire by
distance, so the stops that fire are one range read per segment whose edge the price crossed.
A segment the price moves onto an existing segment's anchor joins it when it holds at most
`MERGE_LIMIT` stops (a bounded re-index that keeps the number of segments small); a larger one
keeps its own record beside it.

This file depends on the store only, so the keeper can fit position TP/SL to a position after
every trade without importing the handlers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from modules.context import Event
from modules.margin.keeper import MarginKeeper
from modules.markets.types import Market
from modules.orderbook.actions import ConditionalKind
from modules.orderbook.trailing import BPS, trail_trigger
from modules.orderbook.types import Side
from modules.store import KVStore, PrefixStore, prefix_end
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
MERGE_LIMIT = 16
TICKS, BPS_UNIT = 0, 1
BY_SUBACCOUNT = b"cs/"
POSITION_PAIR = b"pp/"
NEXT_ID = b"cond_next"
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
        if c.kind == ConditionalKind.TRAILING_STOP:  # anchor and trigger are the segment's
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

    def count_of(self, owner: SubaccountId) -> int:
        start = BY_SUBACCOUNT + _sub(owner)
        return sum(1 for _ in self._store.iterate(start, prefix_end(start)))

    def next_id(self) -> int:
        raw = self._store.get(NEXT_ID)
        value = int.from_bytes(raw, "big") if raw is not None else 1
        self._store.set(NEXT_ID, _u(value + 1, 8))
        return value

    def add(self, c: Conditional) -> Conditional:
        """Store `c`; a trailing stop joins the segment at its anchor (`c.anchor_ticks`)."""
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
        return c

    def remove(self, c: Conditional) -> None:
        self._store.delete(RECORD + _u(c.conditional_id, 8))
        self._reserve(c, -1)
        if c.kind == ConditionalKind.TRAILING_STOP:
            self._store.delete(self._member_key(c))
            old = self.segment(c.link_id)
            assert old is not None
            self._put_segment(Segment(old.segment_id, old.market_id, old.side, old.anchor_ticks, old.count - 1,
                                      self._smallest(old.segment_id, TICKS), self._smallest(old.segment_id, BPS_UNIT)),
                              old)
        else:
            self._store.delete(self._trigger_key(c))
        self._store.delete(BY_SUBACCOUNT + _sub(c.owner) + _u(c.market_id, 4) + _u(c.conditional_id, 8))
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

    # -- what a block reads ---------------------------------------------------------------------

    def crossed(self, market_id: int, price_ticks: int) -> list[int]:
        """Ids of conditionals of `market_id` whose trigger holds at `price_ticks`."""
        market = _u(market_id, 4)
        up_start = FIRES_UP + market
        ids = [int.from_bytes(k[-8:], "big") for k, _ in self._store.iterate(up_start, up_start + _u(price_ticks + 1, 8))]
        down_start = FIRES_DOWN + market + _u(price_ticks, 8)
        ids += [int.from_bytes(k[-8:], "big") for k, _ in self._store.iterate(down_start, prefix_end(FIRES_DOWN + market))]
        return ids

    def trail(self, market_id: int, price_ticks: int) -> None:
        """Move every trailing segment of `market_id` that `price_ticks` passed (sells anchored
        below it, buys above it) to anchor there."""
        for side in (Side.SELL, Side.BUY):
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
        """Ids of the trailing stops of `market_id` whose trigger holds at `price_ticks`."""
        ids: list[int] = []
        for side in (Side.SELL, Side.BUY):
            start = SEGMENT_BY_EDGE + _u(market_id, 4) + bytes([side])
            if side == Side.SELL:  # fires at or below the trigger: edges at or above the price
                reached = self._store.iterate(start + _u(price_ticks, 8), prefix_end(start))
            else:
                reached = self._store.iterate(start, start + _u(price_ticks + 1, 8))
            for key, _ in list(reached):
                segment = self.segment(int.from_bytes(key[-8:], "big"))
                assert segment is not None
                ids += self._members_within(segment, price_ticks)
        return ids

    # -- trailing segments ----------------------------------------------------------------------

    def segment(self, segment_id: int) -> Segment | None:
        raw = self._store.get(SEGMENT + _u(segment_id, 8))
        if raw is None:
            return None
        market, side, anchor, count, min_ticks, min_bps = _SEGMENT.unpack(raw)
        return Segment(segment_id, market, Side(side), anchor, count, min_ticks, min_bps)

    def _segment_at(self, market_id: int, side: Side, anchor_ticks: int) -> Segment | None:
        """The first segment (by id) anchored at `anchor_ticks`."""
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
        target = self._segment_at(old.market_id, old.side, anchor_ticks)
        if target is None or old.count > MERGE_LIMIT:
            self._put_segment(Segment(old.segment_id, old.market_id, old.side, anchor_ticks, old.count, old.min_ticks,
                                      old.min_bps), old)
            return
        # Join the segment already there: re-point the few stops (their record's last field is
        # the segment id; their member key only changes its segment part).
        start = SEGMENT_MEMBER + _u(old.segment_id, 8)
        new_prefix = SEGMENT_MEMBER + _u(target.segment_id, 8)
        for key, _ in list(self._store.iterate(start, prefix_end(start))):
            record_key = RECORD + key[-8:]
            raw = self._store.get(record_key)
            assert raw is not None, "segment names a missing stop"
            self._store.set(record_key, raw[:-8] + _u(target.segment_id, 8))
            self._store.delete(key)
            self._store.set(new_prefix + key[len(start):], b"")
        self._put_segment(Segment(old.segment_id, old.market_id, old.side, old.anchor_ticks, 0, 0, 0), old)
        self._put_segment(Segment(target.segment_id, target.market_id, target.side, target.anchor_ticks,
                                  target.count + old.count, _smaller(target.min_ticks, old.min_ticks),
                                  _smaller(target.min_bps, old.min_bps)), target)

    def _put_segment(self, new: Segment, old: Segment) -> None:
        """Write `new` over `old` (same id) and re-index it; an empty one is deleted."""
        key = _u(new.market_id, 4) + bytes([new.side])
        if old.count:
            self._store.delete(SEGMENT_BY_ANCHOR + key + _u(old.anchor_ticks, 8) + _u(old.segment_id, 8))
            self._store.delete(SEGMENT_BY_EDGE + key + _u(old.edge_ticks, 8) + _u(old.segment_id, 8))
        if new.count == 0:
            self._store.delete(SEGMENT + _u(new.segment_id, 8))
            return
        self._store.set(SEGMENT + _u(new.segment_id, 8), _SEGMENT.pack(
            new.market_id, int(new.side), new.anchor_ticks, new.count, new.min_ticks, new.min_bps))
        self._store.set(SEGMENT_BY_ANCHOR + key + _u(new.anchor_ticks, 8) + _u(new.segment_id, 8), b"")
        self._store.set(SEGMENT_BY_EDGE + key + _u(new.edge_ticks, 8) + _u(new.segment_id, 8), b"")

    def _smallest(self, segment_id: int, unit: int) -> int:
        """The segment's smallest distance in `unit` (0: it has none in that unit)."""
        start = SEGMENT_MEMBER + _u(segment_id, 8) + bytes([unit])
        for key, _ in self._store.iterate(start, prefix_end(start)):
            return int.from_bytes(key[-16:-8], "big")
        return 0

    def _members_within(self, segment: Segment, price_ticks: int) -> list[int]:
        """The segment's stops whose trigger holds at `price_ticks`: a sell fires when
        price <= anchor - d, i.e. d <= anchor - price, or with basis points when
        b <= 10000 (anchor - price) / anchor; a buy mirrors it."""
        gap = segment.anchor_ticks - price_ticks if segment.side == Side.SELL else price_ticks - segment.anchor_ticks
        if gap < 0:
            return []
        ids = []
        for unit, most in ((TICKS, gap), (BPS_UNIT, gap * BPS // segment.anchor_ticks)):
            start = SEGMENT_MEMBER + _u(segment.segment_id, 8) + bytes([unit])
            ids += [int.from_bytes(k[-8:], "big") for k, _ in self._store.iterate(start, start + _u(most + 1, 8))]
        return ids

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
        return (FIRES_UP if c.fires_up else FIRES_DOWN) + _u(c.market_id, 4) + _u(c.trigger_ticks, 8) + _u(c.conditional_id, 8)

    @staticmethod
    def _member_key(c: Conditional) -> bytes:
        unit, distance = (TICKS, c.trail_ticks) if c.trail_ticks else (BPS_UNIT, c.trail_bps)
        return SEGMENT_MEMBER + _u(c.link_id, 8) + bytes([unit]) + _u(distance, 8) + _u(c.conditional_id, 8)


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
