"""Conditional orders: stops and take-profits resting off the book until the oracle crosses their
trigger at the start of a block.

| kind | side | triggers when the oracle price is |
|---|---|---|
| stop (market, limit) | buy | at or above the trigger |
| stop | sell | at or below the trigger |
| take-profit (market, limit) | buy | at or below the trigger |
| take-profit | sell | at or above the trigger |

A conditional whose trigger already holds at placement is refused (code 313: it would fire at
once; send an order instead). Triggered conditionals of a block enter matching in a fixed order:
stop-market, stop-limit, take-profit-market, take-profit-limit, then by market, then by id. A
*-market one becomes an IOC order at its limit (the worst acceptable price), a *-limit one a GTC
order; either passes the normal checks, and one that fails them is cancelled with the reason.

Index: `tu/<market><trigger><id>` for "fires at or above", `td/...` for "at or below", so a block
reads only the conditionals its price move crossed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from modules.context import Event
from modules.errors import ChainError
from modules.markets.types import Market, MarketStatus
from modules.markets.errors import MarketPaused
from modules.oracle.update import margin_price
from modules.orderbook.actions import CancelConditional, ConditionalKind, PlaceConditional
from modules.orderbook.errors import (
    InvalidSubaccountNumber,
    NotYourOrder,
    OrderNotFound,
    PriceOffTick,
    SizeOffStep,
    SizeUnderMinimum,
    TooManyOpenOrders,
    TriggerWrongSide,
)
from modules.orderbook.keeper import OrderbookKeeper
from modules.orderbook.types import Order, Side, TimeInForce
from modules.store import PrefixStore, prefix_end
from modules.types import MAX_SUBACCOUNT, SubaccountId

STORE_PREFIX = b"orderbook/"
RECORD = b"cd/"  # cd/<id u64> -> packed conditional
FIRES_UP = b"tu/"  # tu/<market u32><trigger u64><id u64>: fires when the oracle >= trigger
FIRES_DOWN = b"td/"  # td/<market u32><trigger u64><id u64>: fires when the oracle <= trigger
BY_SUBACCOUNT = b"cs/"  # cs/<address 20><number 1><market u32><id u64>
NEXT_ID = b"cond_next"
MAX_CONDITIONALS_PER_SUBACCOUNT = 256
_RECORD = struct.Struct(">I20sBBBQQQB")


@dataclass(frozen=True)
class Conditional:
    conditional_id: int
    market_id: int
    owner: SubaccountId
    kind: ConditionalKind
    side: Side
    trigger_ticks: int
    limit_ticks: int
    size_lots: int
    reduce_only: bool

    @property
    def fires_up(self) -> bool:
        stop = self.kind in (ConditionalKind.STOP_MARKET, ConditionalKind.STOP_LIMIT)
        return stop == (self.side == Side.BUY)


def _u(value: int, width: int) -> bytes:
    return value.to_bytes(width, "big")


class ConditionalBook:
    def __init__(self, keeper: OrderbookKeeper) -> None:
        self.keeper = keeper
        self._store = PrefixStore(keeper._root, STORE_PREFIX)

    def get(self, conditional_id: int) -> Conditional | None:
        raw = self._store.get(RECORD + _u(conditional_id, 8))
        if raw is None:
            return None
        market, address, number, kind, side, trigger, limit, size, reduce_only = _RECORD.unpack(raw)
        return Conditional(conditional_id, market, SubaccountId(address, number), ConditionalKind(kind), Side(side),
                           trigger, limit, size, bool(reduce_only))

    def of(self, owner: SubaccountId, market_id: int | None = None) -> list[Conditional]:
        start = BY_SUBACCOUNT + owner.address + bytes([owner.number]) + (_u(market_id, 4) if market_id else b"")
        found = [self.get(int.from_bytes(key[-8:], "big")) for key, _ in self._store.iterate(start, prefix_end(start))]
        return [c for c in found if c is not None]

    def add(self, c: Conditional) -> None:
        self._store.set(RECORD + _u(c.conditional_id, 8), _RECORD.pack(
            c.market_id, c.owner.address, c.owner.number, int(c.kind), int(c.side), c.trigger_ticks, c.limit_ticks,
            c.size_lots, c.reduce_only))
        self._store.set(self._index_key(c), b"")
        self._store.set(self._owner_key(c), b"")

    def remove(self, c: Conditional) -> None:
        self._store.delete(RECORD + _u(c.conditional_id, 8))
        self._store.delete(self._index_key(c))
        self._store.delete(self._owner_key(c))

    def next_id(self) -> int:
        raw = self._store.get(NEXT_ID)
        value = int.from_bytes(raw, "big") if raw is not None else 1
        self._store.set(NEXT_ID, _u(value + 1, 8))
        return value

    def crossed(self, market_id: int, price_ticks: int) -> list[int]:
        """Ids of conditionals of `market_id` whose trigger holds at `price_ticks`."""
        market = _u(market_id, 4)
        up_start = FIRES_UP + market
        ids = [int.from_bytes(k[-8:], "big") for k, _ in self._store.iterate(up_start, up_start + _u(price_ticks + 1, 8))]
        down_start = FIRES_DOWN + market + _u(price_ticks, 8)
        ids += [int.from_bytes(k[-8:], "big") for k, _ in self._store.iterate(down_start, prefix_end(FIRES_DOWN + market))]
        return ids

    @staticmethod
    def _index_key(c: Conditional) -> bytes:
        return (FIRES_UP if c.fires_up else FIRES_DOWN) + _u(c.market_id, 4) + _u(c.trigger_ticks, 8) + _u(c.conditional_id, 8)

    @staticmethod
    def _owner_key(c: Conditional) -> bytes:
        return BY_SUBACCOUNT + c.owner.address + bytes([c.owner.number]) + _u(c.market_id, 4) + _u(c.conditional_id, 8)


def _attributes(c: Conditional, market: Market) -> tuple[tuple[str, str], ...]:
    return (("conditional_id", str(c.conditional_id)), ("market_id", str(c.market_id)), ("owner", str(c.owner)),
            ("kind", c.kind.name.lower()), ("side", c.side.name.lower()),
            ("trigger_price", str(c.trigger_ticks * market.tick_size)),
            ("limit_price", str(c.limit_ticks * market.tick_size)), ("size", str(c.size_lots * market.step_size)))


def handle_place_conditional(keeper: OrderbookKeeper, signer: bytes, action: PlaceConditional) -> list[Event]:
    if not 0 <= action.subaccount <= MAX_SUBACCOUNT:
        raise InvalidSubaccountNumber(f"subaccount {action.subaccount} is outside 0..{MAX_SUBACCOUNT}")
    market = keeper.markets.market(action.market_id)
    if market.status == MarketStatus.PAUSED:
        raise MarketPaused(f"{market.ticker} is paused")
    for name, price in (("trigger_price", action.trigger_price), ("limit_price", action.limit_price)):
        if not 0 < price < 2**63 or price % market.tick_size:
            raise PriceOffTick(f"{name} {price} is not a positive multiple of {market.ticker}'s tick size "
                               f"{market.tick_size}")
    if not 0 < action.size < 2**63 or action.size % market.step_size:
        raise SizeOffStep(f"size {action.size} is not a positive multiple of the step size {market.step_size}")
    if action.size < market.min_order_size:
        raise SizeUnderMinimum(f"size {action.size} is under {market.ticker}'s minimum {market.min_order_size}")
    owner = SubaccountId(signer, action.subaccount)
    book = ConditionalBook(keeper)
    if len(book.of(owner)) >= MAX_CONDITIONALS_PER_SUBACCOUNT:
        raise TooManyOpenOrders(f"{owner} already has {MAX_CONDITIONALS_PER_SUBACCOUNT} conditional orders")
    conditional = Conditional(book.next_id(), market.market_id, owner, action.kind, action.side,
                              action.trigger_price // market.tick_size, action.limit_price // market.tick_size,
                              action.size // market.step_size, action.reduce_only)
    now = margin_price(keeper.oracle, market.market_id, market.reference_price) // market.tick_size
    if (now >= conditional.trigger_ticks) if conditional.fires_up else (now <= conditional.trigger_ticks):
        raise TriggerWrongSide(f"a {action.kind.name.lower()} {action.side.name.lower()} triggered at "
                               f"{action.trigger_price} would fire at once: the oracle is at {now * market.tick_size}")
    book.add(conditional)
    return [Event("conditional_placed", _attributes(conditional, market))]


def handle_cancel_conditional(keeper: OrderbookKeeper, signer: bytes, action: CancelConditional) -> list[Event]:
    book = ConditionalBook(keeper)
    conditional = book.get(action.conditional_id)
    if conditional is None or conditional.market_id != action.market_id:
        raise OrderNotFound(f"no conditional order {action.conditional_id} in market {action.market_id}")
    owner = SubaccountId(signer, action.subaccount)
    if conditional.owner != owner:
        raise NotYourOrder(f"conditional {action.conditional_id} belongs to {conditional.owner}, not {owner}")
    book.remove(conditional)
    return [Event("conditional_cancelled", (*_attributes(conditional, keeper.markets.market(conditional.market_id)),
                                            ("reason", "by_owner")))]


def trigger_step(keeper: OrderbookKeeper, branch: "object") -> list[Event]:
    """Fire every conditional whose trigger the oracle crossed, in the documented order. `branch`
    is a callable returning (store, write) so each triggered order is all or nothing."""
    from modules.orderbook.msg_server import place_order

    book = ConditionalBook(keeper)
    due: list[Conditional] = []
    for market in keeper.markets.markets():
        price = margin_price(keeper.oracle, market.market_id, market.reference_price) // market.tick_size
        due += [c for c in (book.get(i) for i in book.crossed(market.market_id, price)) if c is not None]
    due.sort(key=lambda c: (int(c.kind), c.market_id, c.conditional_id))
    events: list[Event] = []
    for conditional in due:
        market = keeper.markets.market(conditional.market_id)
        store, write = branch()  # type: ignore[operator]
        branch_keeper = OrderbookKeeper(store, keeper.books, keeper.ctx)
        ConditionalBook(branch_keeper).remove(conditional)
        write()
        events.append(Event("conditional_triggered", _attributes(conditional, market)))
        store, write = branch()  # type: ignore[operator]
        branch_keeper = OrderbookKeeper(store, keeper.books, keeper.ctx)
        checkpoint = keeper.books.checkpoint()
        market_kind = conditional.kind in (ConditionalKind.STOP_MARKET, ConditionalKind.TAKE_PROFIT_MARKET)
        size = conditional.size_lots
        try:
            if conditional.reduce_only:
                held = branch_keeper.margin.position(conditional.owner, market.market_id).size_lots
                closable = -held if conditional.side == Side.BUY else held
                if closable <= 0:
                    raise OrderNotFound("no position left to reduce")
                size = min(size, closable)
            order = Order(branch_keeper.next_order_id(), market.market_id, conditional.owner, 0, conditional.side,
                          conditional.limit_ticks, size, False, conditional.reduce_only,
                          TimeInForce.IOC if market_kind else TimeInForce.GTC)
            events.extend(place_order(branch_keeper, market, order))
            keeper.books.release(checkpoint)
            write()
        except ChainError as error:
            keeper.books.rollback(checkpoint)
            events.append(Event("conditional_cancelled", (*_attributes(conditional, market),
                                                          ("reason", error.log))))
    return events
