"""orderbook's records: orders, the fills and cancellations matching produces, and its result.

Every record is immutable. A partial fill or a shrink replaces the resting `Order` with a new one
(`with_size`), so whatever a caller holds, and whatever the undo journal holds, never changes under it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from modules.types import SubaccountId


class Side(IntEnum):
    BUY = 1
    SELL = 2


class TimeInForce(IntEnum):
    """How long an order may rest. A market order is IOC with its worst acceptable price as price."""

    GTC = 1
    GOOD_TIL_BLOCK = 2
    GOOD_TIL_TIME = 3
    IOC = 4
    FOK = 5


RESTING_TIME_IN_FORCE = (TimeInForce.GTC, TimeInForce.GOOD_TIL_BLOCK, TimeInForce.GOOD_TIL_TIME)


class CancelReason(StrEnum):
    """Why an order left the book without filling; the book itself uses the first two."""

    SELF_TRADE = "self_trade"  # the taker's own resting order, cancelled instead of crossed
    MAKER_CHECK_FAILED = "maker_check_failed"  # the maker failed the caller's check (its margin)
    DEAD_MAN_SWITCH = "dead_man_switch"  # its owner's dead-man switch is due (the budget may carry it)
    REDUCE_ONLY_WOULD_OPEN = "reduce_only_would_open"  # a reduce-only maker with less position than the fill
    BY_OWNER = "by_owner"
    EXPIRED = "expired"


def _slot_setter(cls: type, name: str) -> Callable[[object, object], None]:
    """The setter of slot `name` of `cls`, which writes even a frozen dataclass's field."""
    setter: Callable[[object, object], None] = cls.__dict__[name].__set__
    return setter


@dataclass(frozen=True, slots=True, init=False)
class Order:
    """A limit order; resting, `size_lots` is what remains.

    `order_id` is unique and assigned in arrival order by the caller, so it is also the order's
    time priority: within a price level the smaller id fills first.
    """

    order_id: int
    market_id: int
    owner: SubaccountId
    client_id: int
    side: Side
    price_ticks: int
    size_lots: int
    post_only: bool = False
    reduce_only: bool = False
    tif: TimeInForce = TimeInForce.GTC
    good_til_block: int = 0  # 0: none
    good_til_time_ms: int = 0  # 0: none

    def __init__(
        self,
        order_id: int,
        market_id: int,
        owner: SubaccountId,
        client_id: int,
        side: Side,
        price_ticks: int,
        size_lots: int,
        post_only: bool = False,
        reduce_only: bool = False,
        tif: TimeInForce = TimeInForce.GTC,
        good_til_block: int = 0,
        good_til_time_ms: int = 0,
    ) -> None:
        # One Order per placement makes this the engine's hottest constructor: setting the slots
        # through their descriptors takes half the time of the generated frozen __init__ (which
        # calls object.__setattr__ by name), and the record stays just as frozen.
        _set_order_id(self, order_id)
        _set_market_id(self, market_id)
        _set_owner(self, owner)
        _set_client_id(self, client_id)
        _set_side(self, side)
        _set_price_ticks(self, price_ticks)
        _set_size_lots(self, size_lots)
        _set_post_only(self, post_only)
        _set_reduce_only(self, reduce_only)
        _set_tif(self, tif)
        _set_good_til_block(self, good_til_block)
        _set_good_til_time_ms(self, good_til_time_ms)

    def with_size(self, size_lots: int) -> Order:
        """The same order with `size_lots` remaining (same id, so the same time priority)."""
        return Order(
            self.order_id,
            self.market_id,
            self.owner,
            self.client_id,
            self.side,
            self.price_ticks,
            size_lots,
            self.post_only,
            self.reduce_only,
            self.tif,
            self.good_til_block,
            self.good_til_time_ms,
        )


_set_order_id = _slot_setter(Order, "order_id")
_set_market_id = _slot_setter(Order, "market_id")
_set_owner = _slot_setter(Order, "owner")
_set_client_id = _slot_setter(Order, "client_id")
_set_side = _slot_setter(Order, "side")
_set_price_ticks = _slot_setter(Order, "price_ticks")
_set_size_lots = _slot_setter(Order, "size_lots")
_set_post_only = _slot_setter(Order, "post_only")
_set_reduce_only = _slot_setter(Order, "reduce_only")
_set_tif = _slot_setter(Order, "tif")
_set_good_til_block = _slot_setter(Order, "good_til_block")
_set_good_til_time_ms = _slot_setter(Order, "good_til_time_ms")


@dataclass(frozen=True, slots=True, init=False)
class Fill:
    """`size_lots` traded between a resting maker and a taker, always at the maker's price."""

    market_id: int
    maker_order_id: int
    taker_order_id: int
    maker: SubaccountId
    taker: SubaccountId
    taker_side: Side
    price_ticks: int
    size_lots: int

    def __init__(
        self,
        market_id: int,
        maker_order_id: int,
        taker_order_id: int,
        maker: SubaccountId,
        taker: SubaccountId,
        taker_side: Side,
        price_ticks: int,
        size_lots: int,
    ) -> None:
        # Built once per fill: slot descriptors, as for Order.
        _set_fill_market_id(self, market_id)
        _set_maker_order_id(self, maker_order_id)
        _set_taker_order_id(self, taker_order_id)
        _set_maker(self, maker)
        _set_taker(self, taker)
        _set_taker_side(self, taker_side)
        _set_fill_price_ticks(self, price_ticks)
        _set_fill_size_lots(self, size_lots)


_set_fill_market_id = _slot_setter(Fill, "market_id")
_set_maker_order_id = _slot_setter(Fill, "maker_order_id")
_set_taker_order_id = _slot_setter(Fill, "taker_order_id")
_set_maker = _slot_setter(Fill, "maker")
_set_taker = _slot_setter(Fill, "taker")
_set_taker_side = _slot_setter(Fill, "taker_side")
_set_fill_price_ticks = _slot_setter(Fill, "price_ticks")
_set_fill_size_lots = _slot_setter(Fill, "size_lots")


@dataclass(frozen=True, slots=True)
class Cancelled:
    """A resting order removed by matching, as it rested just before (`order.size_lots` unfilled)."""

    order: Order
    reason: CancelReason

    @property
    def order_id(self) -> int:
        return self.order.order_id

    @property
    def owner(self) -> SubaccountId:
        return self.order.owner


@dataclass(frozen=True, slots=True, init=False)
class MatchResult:
    """What one taker did: fills in execution order, makers cancelled on the way, what is left."""

    fills: tuple[Fill, ...]
    cancelled: tuple[Cancelled, ...]
    remaining_size_lots: int
    rested: bool

    def __init__(
        self, fills: tuple[Fill, ...], cancelled: tuple[Cancelled, ...], remaining_size_lots: int, rested: bool
    ) -> None:
        # Built once per placement: slot descriptors, as for Order.
        _set_fills(self, fills)
        _set_cancelled(self, cancelled)
        _set_remaining_size_lots(self, remaining_size_lots)
        _set_rested(self, rested)

    @property
    def filled_size_lots(self) -> int:
        return sum(fill.size_lots for fill in self.fills)


_set_fills = _slot_setter(MatchResult, "fills")
_set_cancelled = _slot_setter(MatchResult, "cancelled")
_set_remaining_size_lots = _slot_setter(MatchResult, "remaining_size_lots")
_set_rested = _slot_setter(MatchResult, "rested")
