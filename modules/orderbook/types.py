"""orderbook's records: orders, the fills and cancellations matching produces, its result, and the
trades and fill summaries the keeper keeps and returns.

The matching records are plain objects, compared by value, and never changed once built:
a partial fill or a shrink replaces the resting `Order` with a new one (`with_size`), so whatever
a caller holds, and whatever the undo journal holds, keeps its values. They are not frozen dataclasses
because building one is the engine's most frequent step, and a frozen record's constructor costs
twice a plain one's; nothing may assign to their fields. Their constructors are written out
rather than generated, so the compiled build (app/native.py) builds them in C.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from modules.context import Event
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
TIME_IN_FORCE_VALUES = frozenset(int(tif) for tif in TimeInForce)  # a placement's check, without iterating the enum
# Members by value, for values already known to be members (a stored order, a decoded placement):
# a dict lookup costs a tenth of calling the enum class.
SIDE_BY_VALUE = {int(side): side for side in Side}
TIME_IN_FORCE_BY_VALUE = {int(tif): tif for tif in TimeInForce}


class CancelReason(StrEnum):
    """Why an order left the book without filling; the book itself uses the first two."""

    SELF_TRADE = "self_trade"  # the taker's own resting order, cancelled instead of crossed
    MAKER_CHECK_FAILED = "maker_check_failed"  # the maker failed the caller's check (its margin)
    DEAD_MAN_SWITCH = "dead_man_switch"  # its owner's dead-man switch is due (the budget may carry it)
    REDUCE_ONLY_WOULD_OPEN = "reduce_only_would_open"  # a reduce-only maker with less position than the fill
    BY_OWNER = "by_owner"
    EXPIRED = "expired"


class OwnedOrders:
    """One owner's resting orders in one book (the book's owner index): the first of a list linked
    through the orders' own `_oprev`/`_onext` slots, in no particular order, and how many."""

    __slots__ = ("head", "count")

    def __init__(self) -> None:
        self.head: Order | None = None
        self.count = 0


@dataclass(slots=True, unsafe_hash=True, init=False)
class Order:
    """A limit order; resting, `size_lots` is what remains.

    `order_id` is unique and assigned in arrival order by the caller, so it is also the order's
    time priority: within a price level the smaller id fills first. Its fields are not changed once
    built (`with_size` makes a copy): an order's events keep it and format it later (modules/context.py).
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
    # The book's links (modules/orderbook/book.py alone reads or writes them): to the orders before
    # and after this one at its price in time priority (None: the head, the tail), to its owner's
    # list in the book, and to the orders before and after it in that list. A resting order is its
    # own list node, so resting one allocates nothing else. They are not the record's values (not
    # compared, hashed, printed nor stored), are set when the order rests, and mean nothing once it
    # has left the book.
    _prev: Order | None = field(init=False, repr=False, compare=False)
    _next: Order | None = field(init=False, repr=False, compare=False)
    _owned: OwnedOrders = field(init=False, repr=False, compare=False)
    _oprev: Order | None = field(init=False, repr=False, compare=False)
    _onext: Order | None = field(init=False, repr=False, compare=False)

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
        self.order_id = order_id
        self.market_id = market_id
        self.owner = owner
        self.client_id = client_id
        self.side = side
        self.price_ticks = price_ticks
        self.size_lots = size_lots
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.tif = tif
        self.good_til_block = good_til_block
        self.good_til_time_ms = good_til_time_ms

    def with_size(self, size_lots: int) -> Order:
        """The same order with `size_lots` remaining (same id, so the same time priority)."""
        return Order(self.order_id, self.market_id, self.owner, self.client_id, self.side, self.price_ticks,
                     size_lots, self.post_only, self.reduce_only, self.tif, self.good_til_block,
                     self.good_til_time_ms)

    def __reduce__(self) -> tuple[type[Order], tuple[object, ...]]:
        """Pickled and copied through its constructor, without the book's links (a compiled
        class has no other way, and a copy rests in no book)."""
        return Order, (self.order_id, self.market_id, self.owner, self.client_id, self.side, self.price_ticks,
                       self.size_lots, self.post_only, self.reduce_only, self.tif, self.good_til_block,
                       self.good_til_time_ms)


@dataclass(slots=True, unsafe_hash=True, init=False)
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
        self.market_id = market_id
        self.maker_order_id = maker_order_id
        self.taker_order_id = taker_order_id
        self.maker = maker
        self.taker = taker
        self.taker_side = taker_side
        self.price_ticks = price_ticks
        self.size_lots = size_lots


@dataclass(slots=True, unsafe_hash=True, init=False)
class Cancelled:
    """A resting order removed by matching, as it rested just before (`order.size_lots` unfilled)."""

    order: Order
    reason: CancelReason

    def __init__(self, order: Order, reason: CancelReason) -> None:
        self.order = order
        self.reason = reason

    @property
    def order_id(self) -> int:
        return self.order.order_id

    @property
    def owner(self) -> SubaccountId:
        return self.order.owner


@dataclass(slots=True, unsafe_hash=True, init=False)
class MatchResult:
    """What one taker did: fills in execution order, makers cancelled on the way, what is left."""

    fills: tuple[Fill, ...]
    cancelled: tuple[Cancelled, ...]
    remaining_size_lots: int
    rested: bool

    def __init__(
        self, fills: tuple[Fill, ...], cancelled: tuple[Cancelled, ...], remaining_size_lots: int, rested: bool
    ) -> None:
        self.fills = fills
        self.cancelled = cancelled
        self.remaining_size_lots = remaining_size_lots
        self.rested = rested

    @property
    def filled_size_lots(self) -> int:
        return sum(fill.size_lots for fill in self.fills)


@dataclass(frozen=True)
class Trade:
    """A recent trade as the store keeps it (the last RECENT_TRADES_KEPT per market)."""

    height: int
    seq: int
    price_ticks: int
    taker_side: Side
    size_lots: int
    maker_order_id: int
    maker: SubaccountId
    taker: SubaccountId


@dataclass(init=False)
class FillSummary:
    """What matching one taker did: the lots it filled, the events of its fills and cancels, and
    the makers and takers of its fills whose position a fill did not only grow (in fill order,
    each once): one that was flat or that a fill went against, so smaller or on the other side.
    Each placement makes one, empty (its constructor written out, as the records above)."""

    filled_lots: int
    events: list[Event]
    not_only_grown: list[SubaccountId]

    def __init__(self) -> None:
        self.filled_lots = 0
        self.events = []
        self.not_only_grown = []
