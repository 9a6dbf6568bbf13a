"""The resting conditional orders in the store: records and the indexes a block reads.

| key (under `orderbook/`) | holds |
|---|---|
| `cd/<id u64>` | the packed record |
| `tu/<market u32><trigger u64><id u64>` | fires when the oracle is at or above the trigger |
| `td/<market u32><trigger u64><id u64>` | fires when the oracle is at or below the trigger |
| `ah/<market u32><anchor u64><id u64>` | sell trailing stops by their anchor (the highest price seen) |
| `al/<market u32><anchor u64><id u64>` | buy trailing stops by their anchor (the lowest price seen) |
| `cs/<address 20><number 1><market u32><id u64>` | a subaccount's conditionals |
| `pp/<address 20><number 1><market u32>` | the position's stop-loss id u64 and take-profit id u64 (0: none) |

Keys are big-endian, so a block finds what its price crossed, and the trailing stops its price
passed, with one range read per market and direction.

This file depends on the store only, so the keeper can fit position TP/SL to a position after
every trade without importing the handlers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from modules.context import Event
from modules.markets.types import Market
from modules.orderbook.actions import ConditionalKind
from modules.orderbook.trailing import advanced_anchor, trail_trigger
from modules.orderbook.types import Side
from modules.store import KVStore, PrefixStore, prefix_end
from modules.types import SubaccountId

STORE_PREFIX = b"orderbook/"
RECORD = b"cd/"
FIRES_UP = b"tu/"
FIRES_DOWN = b"td/"
ANCHOR_HIGH = b"ah/"
ANCHOR_LOW = b"al/"
BY_SUBACCOUNT = b"cs/"
POSITION_PAIR = b"pp/"
NEXT_ID = b"cond_next"
_RECORD = struct.Struct(">I20sBBBQQQBQHQHQ")


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
    link_id: int = 0

    @property
    def fires_up(self) -> bool:
        """A stop buy (or take-profit sell) fires on a rise; the other two on a fall."""
        return self.kind.is_stop == (self.side == Side.BUY)

    def trailed(self, price_ticks: int) -> Conditional:
        """This trailing stop after the oracle printed `price_ticks` (itself if the anchor stays)."""
        anchor = advanced_anchor(self.side, self.anchor_ticks, price_ticks)
        if anchor == self.anchor_ticks:
            return self
        return replace(self, anchor_ticks=anchor,
                       trigger_ticks=trail_trigger(self.side, anchor, self.trail_ticks, self.trail_bps))


def _u(value: int, width: int) -> bytes:
    return value.to_bytes(width, "big")


def _sub(owner: SubaccountId) -> bytes:
    return owner.address + bytes([owner.number])


class ConditionalBook:
    """Reads and writes conditionals and keeps every index equal to the records."""

    def __init__(self, store: KVStore) -> None:
        self._store = PrefixStore(store, STORE_PREFIX)

    # -- records --------------------------------------------------------------------------------

    def get(self, conditional_id: int) -> Conditional | None:
        raw = self._store.get(RECORD + _u(conditional_id, 8))
        if raw is None:
            return None
        (market, address, number, kind, side, trigger, limit, size, reduce_only, trail_ticks, trail_bps, anchor,
         slippage, link) = _RECORD.unpack(raw)
        return Conditional(conditional_id, market, SubaccountId(address, number), ConditionalKind(kind), Side(side),
                           trigger, limit, size, bool(reduce_only), trail_ticks, trail_bps, anchor, slippage, link)

    def of(self, owner: SubaccountId, market_id: int | None = None) -> list[Conditional]:
        """A subaccount's conditionals, by market then id."""
        start = BY_SUBACCOUNT + _sub(owner) + (_u(market_id, 4) if market_id else b"")
        found = [self.get(int.from_bytes(key[-8:], "big")) for key, _ in self._store.iterate(start, prefix_end(start))]
        return [c for c in found if c is not None]

    def count_of(self, owner: SubaccountId) -> int:
        start = BY_SUBACCOUNT + _sub(owner)
        return sum(1 for _ in self._store.iterate(start, prefix_end(start)))

    def next_id(self) -> int:
        raw = self._store.get(NEXT_ID)
        value = int.from_bytes(raw, "big") if raw is not None else 1
        self._store.set(NEXT_ID, _u(value + 1, 8))
        return value

    def add(self, c: Conditional) -> None:
        self._write(c)
        self._store.set(self._trigger_key(c), b"")
        if c.kind == ConditionalKind.TRAILING_STOP:
            self._store.set(self._anchor_key(c), b"")
        self._store.set(BY_SUBACCOUNT + _sub(c.owner) + _u(c.market_id, 4) + _u(c.conditional_id, 8), b"")

    def remove(self, c: Conditional) -> None:
        self._store.delete(RECORD + _u(c.conditional_id, 8))
        self._store.delete(self._trigger_key(c))
        if c.kind == ConditionalKind.TRAILING_STOP:
            self._store.delete(self._anchor_key(c))
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
        """Move the anchor (and so the trigger) of every trailing stop of `market_id` that
        `price_ticks` passed: sells anchored below it, buys anchored above it."""
        market = _u(market_id, 4)
        passed = [k for k, _ in self._store.iterate(ANCHOR_HIGH + market, ANCHOR_HIGH + market + _u(price_ticks, 8))]
        passed += [k for k, _ in self._store.iterate(ANCHOR_LOW + market + _u(price_ticks + 1, 8),
                                                     prefix_end(ANCHOR_LOW + market))]
        for key in passed:
            old = self.get(int.from_bytes(key[-8:], "big"))
            assert old is not None, "anchor index names a missing conditional"
            new = old.trailed(price_ticks)
            self._store.delete(self._trigger_key(old))
            self._store.delete(self._anchor_key(old))
            self._write(new)
            self._store.set(self._trigger_key(new), b"")
            self._store.set(self._anchor_key(new), b"")

    # -- position TP/SL -------------------------------------------------------------------------

    def position_pair(self, owner: SubaccountId, market_id: int) -> tuple[int, int]:
        """(stop-loss id, take-profit id) attached to the position; 0 where none."""
        raw = self._store.get(POSITION_PAIR + _sub(owner) + _u(market_id, 4))
        if raw is None:
            return 0, 0
        return int.from_bytes(raw[:8], "big"), int.from_bytes(raw[8:], "big")

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
    def _anchor_key(c: Conditional) -> bytes:
        return ((ANCHOR_HIGH if c.side == Side.SELL else ANCHOR_LOW) + _u(c.market_id, 4) + _u(c.anchor_ticks, 8)
                + _u(c.conditional_id, 8))


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
