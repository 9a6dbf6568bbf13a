"""The in-memory price-time order book of one market, its undo journal, and the books of all markets.

Pure and deterministic: integer prices and sizes, price levels kept sorted (sortedcontainers), orders
within a level in ascending `order_id` (time priority). The book validates its own contract and
raises `BookError` when a caller breaks it; user-facing rejections (post-only would cross, FOK not
fillable, unknown order id) are the keeper's to check first and to report with their ABCI codes.

A price level is a doubly linked list of its resting orders (each `Order` is its own node), so
resting an order appends it, cancelling one unlinks it and a taker pops makers off the front, each
in constant time. Every change goes through three primitives (link, unlink, replace), each logged
while a checkpoint is open, so a tx that fails can be undone exactly: `rollback` replays the log
backwards, and each entry's undo is constant time too (an unlinked order goes back in front of the
order that followed it then), so undoing costs what the changes cost.

Each book also indexes its resting orders by owner (address, then subaccount number), kept by the
same primitives, so a subaccount's orders and their count are read without touching the store: the
index is derived from the resting orders and is never stored (docs/state.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from itertools import islice
from typing import Any, Protocol

from sortedcontainers import SortedList

from modules.orderbook.types import (
    RESTING_TIME_IN_FORCE,
    Cancelled,
    CancelReason,
    Fill,
    MatchResult,
    Order,
    OwnedOrders,
    Side,
)
from modules.types import SubaccountId

MakerCheck = Callable[[Order, int], "bool | CancelReason"]  # True: fill; False or a reason: cancel it
"""`maker_check(maker, fill_size_lots)`: False cancels the maker instead of filling it (its margin
check). It must not change the book; if it raises, the book may be part-matched: roll back."""

Refill = Callable[[Order], "Order | None"]
"""`refill(maker)`, called when a maker fills completely: the iceberg slice to show next (a new,
higher order id at the same price and side), or None. The book appends it to the back of the
level, so it never jumps the queue, and the same taker may go on to fill it."""

_BUY = Side.BUY
_SELF_TRADE = CancelReason.SELF_TRADE
_MAKER_CHECK_FAILED = CancelReason.MAKER_CHECK_FAILED
_NONE: tuple[()] = ()
_NO_NUMBERS: dict[int, OwnedOrders] = {}  # read only: an address without resting orders

# Undo journal entries are (target, kind, a, b); undoing calls target._undo(kind, a, b).
_LINKED = 1  # a: the order added; undo unlinks it
_UNLINKED = 2  # a: the order removed, b: the order behind it then (None: it was last); undo puts a before b
_REPLACED = 3  # a: the old order, b: the new one with the same id in its place; undo swaps them back
_MARKET_ADDED = 4  # a: the market id; undo drops its (empty) book


class BookError(Exception):
    """A caller broke the book's contract: a bug in the keeper, never a user's mistake."""


class _Undoable(Protocol):
    """What logs into a journal (a book, the set of books): it undoes its own entries. Each kind
    carries its own `a` and `b` (an order, a market id), which only the target that logged them
    reads, so the journal holds them untyped."""

    def _undo(self, kind: int, a: Any, b: Any) -> None: ...


class _SortedPrices(Protocol):
    """The part of sortedcontainers' SortedList of prices the book uses (the package has no type hints)."""

    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> int: ...
    def __iter__(self) -> Iterator[int]: ...
    def __reversed__(self) -> Iterator[int]: ...
    def add(self, value: int) -> None: ...
    def update(self, values: Iterable[int]) -> None: ...
    def clear(self) -> None: ...
    def remove(self, value: int) -> None: ...
    def pop(self, index: int = -1) -> int: ...
    def irange(self, minimum: int | None = None, maximum: int | None = None, reverse: bool = False) -> Iterator[int]: ...


class Journal:
    """Undo log with nested checkpoints, shared by the books that branch together.

    Nothing is logged while no checkpoint is open. Tokens are unique, so a stale one is refused.
    """

    __slots__ = ("entries", "marks", "_last_token")

    def __init__(self) -> None:
        self.entries: list[tuple[_Undoable, int, object, object]] = []
        self.marks: list[tuple[int, int]] = []  # (token, len(entries) when it was taken)
        self._last_token = 0

    @property
    def depth(self) -> int:
        return len(self.marks)

    def checkpoint(self) -> int:
        token = self._last_token = self._last_token + 1
        self.marks.append((token, len(self.entries)))
        return token

    def rollback(self, token: int) -> None:
        """Undo every change since checkpoint `token`, closing it and any checkpoint opened after it."""
        depth = self._depth_of(token)
        start = self.marks[depth][1]
        entries = self.entries
        for index in range(len(entries) - 1, start - 1, -1):
            target, kind, a, b = entries[index]
            target._undo(kind, a, b)
        del entries[start:]
        del self.marks[depth:]

    def release(self, token: int) -> None:
        """Keep the changes since checkpoint `token` (the innermost open one); they join the outer one."""
        marks = self.marks
        if marks and marks[-1][0] == token:
            marks.pop()
            if not marks:
                self.entries.clear()
            return
        self._depth_of(token)  # unknown token: its own message
        raise BookError(f"checkpoint {token} released while a later checkpoint is still open")

    @contextmanager
    def branch(self) -> Iterator[int]:
        """A checkpoint kept if the block ends normally and rolled back if it raises."""
        token = self.checkpoint()
        try:
            yield token
        except BaseException:
            self.rollback(token)
            raise
        self.release(token)

    def _depth_of(self, token: int) -> int:
        for depth in range(len(self.marks) - 1, -1, -1):
            if self.marks[depth][0] == token:
                return depth
        raise BookError(f"checkpoint {token} is not open")


class _Level:
    """The orders resting at one price: a doubly linked list through the orders' own link slots,
    head first in time priority, with its order count and cached total size."""

    __slots__ = ("head", "tail", "count", "total_size_lots")

    def __init__(self, first: Order) -> None:
        first._prev = None
        first._next = None
        self.head: Order | None = first
        self.tail: Order | None = first
        self.count = 1
        self.total_size_lots = first.size_lots


def _level_orders(level: _Level) -> Iterator[Order]:
    order = level.head
    while order is not None:
        yield order
        order = order._next


class OrderBook:
    """One market's book. Bids best = highest price, asks best = lowest; ties fill the lower id first."""

    __slots__ = (
        "market_id",
        "_journal",
        "_index",
        "_bids",
        "_asks",
        "_bid_prices",
        "_ask_prices",
        "_best_bid",
        "_best_ask",
        "_owners",
    )

    def __init__(self, market_id: int, journal: Journal | None = None) -> None:
        self.market_id = market_id
        self._journal = journal if journal is not None else Journal()
        self._index: dict[int, Order] = {}
        self._bids: dict[int, _Level] = {}
        self._asks: dict[int, _Level] = {}
        self._bid_prices: _SortedPrices = SortedList()
        self._ask_prices: _SortedPrices = SortedList()
        self._best_bid: int | None = None
        self._best_ask: int | None = None
        self._owners: dict[bytes, dict[int, OwnedOrders]] = {}  # address -> subaccount number -> its orders

    # -- reading ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, order_id: int) -> bool:
        return order_id in self._index

    def get(self, order_id: int) -> Order | None:
        return self._index.get(order_id)

    def owned_by(self, owner: SubaccountId) -> list[Order]:
        """`owner`'s resting orders here, by order id."""
        owned = self._owners.get(owner.address, _NO_NUMBERS).get(owner.number)
        if owned is None:
            return []
        orders = list(_owned_orders(owned))
        orders.sort(key=_order_id)
        return orders

    def owned_count(self, owner: SubaccountId) -> int:
        owned = self._owners.get(owner.address, _NO_NUMBERS).get(owner.number)
        return owned.count if owned is not None else 0

    def owner_numbers(self, address: bytes) -> list[int]:
        """The subaccount numbers of `address` with a resting order here, ascending."""
        return sorted(self._owners.get(address, _NO_NUMBERS))

    def best_bid(self) -> int | None:
        return self._best_bid

    def best_ask(self) -> int | None:
        return self._best_ask

    def would_cross(self, side: Side, price_ticks: int) -> bool:
        """Whether an order of `side` at `price_ticks` would trade with a resting order."""
        if side == _BUY:
            return self._best_ask is not None and price_ticks >= self._best_ask
        return self._best_bid is not None and price_ticks <= self._best_bid

    def available_to_fill(
        self, side: Side, limit_price_ticks: int, owner: SubaccountId, up_to_size_lots: int | None = None
    ) -> int:
        """Size a taker of `side` could fill up to its limit price (the FOK pre-check).

        The owner's own resting orders count for nothing: self-trade prevention cancels them
        instead of filling. Counting stops once `up_to_size_lots` is reached.
        """
        available = 0
        for _price, level in self._crossing_levels(side, limit_price_ticks):
            for order in _level_orders(level):
                if order.owner != owner:
                    available += order.size_lots
            if up_to_size_lots is not None and available >= up_to_size_lots:
                break
        return available

    def makers_to_fill(self, side: Side, limit_price_ticks: int, size_lots: int) -> int:
        """At most how many resting orders a taker of `side` and `size_lots` up to its limit price
        would meet: whole price levels from the best until their sizes cover it. Costs one step
        per level, not per order (a level keeps its count and total)."""
        makers = covered = 0
        for _price, level in self._crossing_levels(side, limit_price_ticks):
            makers += level.count
            covered += level.total_size_lots
            if covered >= size_lots:
                break
        return makers

    def levels(self, side: Side, depth: int | None = None) -> list[tuple[int, int, int]]:
        """L2: `(price_ticks, total_size_lots, order_count)` from the best price outwards."""
        levels = self._bids if side == _BUY else self._asks
        result = []
        for price in islice(self._prices_from_best(side), depth):
            level = levels[price]
            result.append((price, level.total_size_lots, level.count))
        return result

    def orders_at(self, side: Side, price_ticks: int) -> tuple[Order, ...]:
        """L3 at one price, in time priority (empty if no level there)."""
        level = (self._bids if side == _BUY else self._asks).get(price_ticks)
        return _NONE if level is None else tuple(_level_orders(level))

    def iter_orders(self, side: Side) -> Iterator[Order]:
        """Every resting order of `side` in priority order: best price first, then time."""
        levels = self._bids if side == _BUY else self._asks
        for price in self._prices_from_best(side):
            yield from _level_orders(levels[price])

    def dump(self) -> tuple[object, ...]:
        """The whole book as plain values, for comparing two books (or one before and after)."""

        def side_dump(side: Side) -> tuple[object, ...]:
            levels = self._bids if side == _BUY else self._asks
            return tuple(
                (price, levels[price].total_size_lots, tuple(_level_orders(levels[price])))
                for price in self._prices_from_best(side)
            )

        return (self.market_id, side_dump(Side.BUY), side_dump(Side.SELL))

    def invariant_violations(self) -> list[str]:
        """Each broken internal invariant, described; empty when the book is sound."""
        problems: list[str] = []
        if self._best_bid is not None and self._best_ask is not None and self._best_bid >= self._best_ask:
            problems.append(f"crossed: best bid {self._best_bid} >= best ask {self._best_ask}")
        linked = 0
        sides = ((Side.BUY, self._bids, self._bid_prices), (Side.SELL, self._asks, self._ask_prices))
        for side, levels, prices in sides:
            if list(prices) != sorted(levels):
                problems.append(f"{side.name}: sorted prices differ from the levels")
            best = self._best_bid if side == _BUY else self._best_ask
            expected_best = (prices[-1] if side == _BUY else prices[0]) if prices else None
            if best != expected_best:
                problems.append(f"{side.name}: cached best {best} but levels say {expected_best}")
            for price in sorted(levels):
                problems.extend(f"{side.name} {price}: {problem}" for problem in _level_violations(levels[price]))
                for order in _level_orders(levels[price]):
                    linked += 1
                    if self._index.get(order.order_id) is not order:
                        problems.append(f"order {order.order_id} in a level but not in the index")
                    if order.side != side or order.price_ticks != price or order.size_lots <= 0:
                        problems.append(f"order {order.order_id} misplaced or empty")
        if linked != len(self._index):
            problems.append(f"index holds {len(self._index)} orders, levels {linked}")
        problems.extend(self._owner_violations())
        return problems

    def _owner_violations(self) -> list[str]:
        """What is wrong with the owner index: each owner's list holds exactly its resting orders
        (the very records the book holds), linked both ways, counted right, none empty."""
        problems: list[str] = []
        listed = 0
        for address, numbers in self._owners.items():
            if not numbers:
                problems.append(f"the owner index keeps address {address.hex()} without a subaccount")
            for number, owned in numbers.items():
                before: Order | None = None
                count = 0
                for order in _owned_orders(owned, bound=len(self._index)):
                    count += 1
                    if order._oprev is not before or order._owned is not owned:
                        problems.append(f"order {order.order_id} is not linked back in its owner's list")
                    if self._index.get(order.order_id) is not order or order.owner != SubaccountId(address, number):
                        problems.append(f"the owner index lists order {order.order_id} under the wrong owner "
                                        "or not resting")
                    before = order
                if count != owned.count or count == 0:
                    problems.append(f"the owner index counts {owned.count} orders of {address.hex()}/{number}, "
                                    f"lists {count}")
                listed += count
        if listed != len(self._index):
            problems.append(f"the owner index lists {listed} orders, {len(self._index)} rest")
        return problems

    # -- changing --------------------------------------------------------------------------------

    def load(self, orders: Iterable[Order]) -> None:
        """Fill an empty book with its stored resting orders, in increasing id order (the store's
        key order): what resting each in turn builds, in one pass. Each side's prices are sorted
        once at the end instead of one insert per new level, and nothing is journaled (a load is
        no change to undo). Refused, with the book left empty, if an order is for another market,
        has no positive size and price, comes out of id order, or leaves the book crossed."""
        if self._index or self._journal.marks:
            raise BookError(f"the book of market {self.market_id} must be empty and outside a checkpoint to load")
        index, bids, asks = self._index, self._bids, self._asks
        last_id = -1
        try:
            for order in orders:
                if order.market_id != self.market_id or order.size_lots <= 0 or order.price_ticks <= 0 \
                        or order.order_id <= last_id:
                    raise BookError(f"order {order.order_id} cannot rest in the loaded book of market "
                                    f"{self.market_id} (market {order.market_id}, price {order.price_ticks}, "
                                    f"size {order.size_lots}, after id {last_id})")
                last_id = order.order_id
                levels = bids if order.side == _BUY else asks
                level = levels.get(order.price_ticks)
                if level is None:
                    levels[order.price_ticks] = _Level(order)
                else:
                    tail = level.tail
                    order._prev = tail
                    order._next = None
                    tail._next = order  # type: ignore[union-attr]  # a level holds at least one order
                    level.tail = order
                    level.count += 1
                    level.total_size_lots += order.size_lots
                index[order.order_id] = order
                self._own(order)
            self._bid_prices.update(bids)
            self._ask_prices.update(asks)
            self._best_bid = self._bid_prices[-1] if bids else None
            self._best_ask = self._ask_prices[0] if asks else None
            if self._best_bid is not None and self._best_ask is not None and self._best_bid >= self._best_ask:
                raise BookError(f"the loaded book of market {self.market_id} is crossed: best bid "
                                f"{self._best_bid}, best ask {self._best_ask}")
        except BookError:
            for held in (index, bids, asks, self._bid_prices, self._ask_prices, self._owners):
                held.clear()
            self._best_bid = self._best_ask = None
            raise

    def rest(self, order: Order) -> None:
        """Add `order` to the book; it must not cross (post-only and matched remainders never do)."""
        self._check_new(order)
        if self.would_cross(order.side, order.price_ticks):
            raise BookError(f"order {order.order_id} at {order.price_ticks} would cross the book")
        self._link(order)
        journal = self._journal
        if journal.marks:
            journal.entries.append((self, _LINKED, order, None))

    def remove(self, order_id: int) -> Order:
        """Take a resting order off the book and return it."""
        order = self._index.get(order_id)
        if order is None:
            raise BookError(f"order {order_id} is not in the book of market {self.market_id}")
        before = order._prev
        following = order._next
        if before is not None and following is not None:  # _unlink's usual case, inlined
            before._next = following
            following._prev = before
            level = (self._bids if order.side == _BUY else self._asks)[order.price_ticks]
            level.count -= 1
            level.total_size_lots -= order.size_lots
            del self._index[order_id]
            self._disown(order)
        else:
            self._unlink(order)
        journal = self._journal
        if journal.marks:
            journal.entries.append((self, _UNLINKED, order, following))
        return order

    def resize(self, order_id: int, new_size_lots: int) -> Order:
        """Shrink a resting order in place, keeping its time priority; returns the new record.

        Growing an order must cost its priority, so that is a remove and a rest with a new id (the
        caller's modify), never a resize.
        """
        old = self._index.get(order_id)
        if old is None:
            raise BookError(f"order {order_id} is not in the book of market {self.market_id}")
        if not 0 < new_size_lots < old.size_lots:
            raise BookError(f"order {order_id}: resize to {new_size_lots} lots is not a shrink of {old.size_lots}")
        new = old.with_size(new_size_lots)
        self._replace(old, new)
        journal = self._journal
        if journal.marks:
            journal.entries.append((self, _REPLACED, old, new))
        return new

    def match(self, taker: Order, maker_check: MakerCheck | None = None, refill: Refill | None = None) -> MatchResult:
        """Fill `taker` against the opposite side; the remainder is reported, not rested.

        Best price first, lower order id first within a price, always at the maker's price, while
        the taker's price crosses. A resting order of the taker's own subaccount is cancelled
        (self-trade prevention) and so is a maker failing `maker_check`; matching goes on past both.
        An iceberg maker that fills completely is followed by its `refill` at the back of its level.
        """
        self._check_new(taker)
        fills, cancelled, remaining = self._match(taker, maker_check, refill)
        return MatchResult(fills, cancelled, remaining, False)

    def place(self, order: Order, maker_check: MakerCheck | None = None) -> MatchResult:
        """`match`, then rest what remains if the order's time in force lets it rest (GTC, GTB, GTT).

        The keeper checks first what must be refused: post-only that would cross (refused here
        too, as a contract breach) and FOK not fully available (`available_to_fill`). An FOK can
        still end partly filled if a maker fails `maker_check`: the keeper then fails the tx and
        rolls the book back.
        """
        # The engine's most frequent call: the checks of _check_new and _link's usual case (append
        # at the level's tail) are inlined here, saving a call each on every placement.
        order_id = order.order_id
        price = order.price_ticks
        size = order.size_lots
        if order.market_id != self.market_id or size <= 0 or price <= 0 or order_id in self._index:
            self._check_new(order)  # raises with the reason
        if order.side == _BUY:
            best = self._best_ask
            crosses = best is not None and price >= best
            levels = self._bids  # where it rests
        else:
            best = self._best_bid
            crosses = best is not None and price <= best
            levels = self._asks
        if crosses:
            if order.post_only:
                raise BookError(f"post-only order {order_id} would cross the book")
            fills, cancelled, remaining = self._match(order, maker_check, None)
        else:
            fills = cancelled = _NONE
            remaining = size
        rested = remaining > 0 and order.tif in RESTING_TIME_IN_FORCE
        if rested:
            if remaining != size:
                order = order.with_size(remaining)
            # what is left of a matched order cannot cross; _link, its usual case inlined:
            level = levels.get(price)
            if level is not None and (tail := level.tail) is not None and tail.order_id < order_id:
                order._prev = tail
                order._next = None
                tail._next = order
                level.tail = order
                level.count += 1
                level.total_size_lots += remaining
                self._index[order_id] = order
                self._own(order)
            else:
                self._link(order)
            journal = self._journal
            if journal.marks:
                journal.entries.append((self, _LINKED, order, None))
        return MatchResult(fills, cancelled, remaining, rested)

    # -- checkpoints (delegated to the journal, which may span several books) --------------------

    def checkpoint(self) -> int:
        return self._journal.checkpoint()

    def rollback(self, token: int) -> None:
        self._journal.rollback(token)

    def release(self, token: int) -> None:
        self._journal.release(token)

    def branch(self) -> AbstractContextManager[int]:
        return self._journal.branch()

    # -- internals -------------------------------------------------------------------------------

    def _check_new(self, order: Order) -> None:
        if order.market_id != self.market_id:
            raise BookError(f"order {order.order_id} is for market {order.market_id}, not {self.market_id}")
        if order.size_lots <= 0 or order.price_ticks <= 0:
            raise BookError(f"order {order.order_id} needs a positive size and price")
        if order.order_id in self._index:
            raise BookError(f"order id {order.order_id} is already resting")

    def _check_refill(self, maker: Order, shown: Order) -> None:
        self._check_new(shown)
        if shown.side != maker.side or shown.price_ticks != maker.price_ticks or shown.order_id < maker.order_id:
            raise BookError(f"refill {shown.order_id} of order {maker.order_id} must follow it at its price and side")

    def _prices_from_best(self, side: Side) -> Iterator[int]:
        if side == _BUY:
            return reversed(self._bid_prices)
        return iter(self._ask_prices)

    def _crossing_levels(self, taker_side: Side, limit_price_ticks: int) -> Iterator[tuple[int, _Level]]:
        if taker_side == _BUY:
            levels = self._asks
            prices = self._ask_prices.irange(maximum=limit_price_ticks)
        else:
            levels = self._bids
            prices = self._bid_prices.irange(minimum=limit_price_ticks, reverse=True)
        for price in prices:
            yield price, levels[price]

    def _match(
        self, taker: Order, maker_check: MakerCheck | None, refill: Refill | None
    ) -> tuple[tuple[Fill, ...], tuple[Cancelled, ...], int]:
        limit = taker.price_ticks
        remaining = taker.size_lots
        taker_side = taker.side
        if taker_side == _BUY:
            best = self._best_ask
            if best is None or best > limit:
                return _NONE, _NONE, remaining
            levels = self._asks
            prices = self._ask_prices
        else:
            best = self._best_bid
            if best is None or best < limit:
                return _NONE, _NONE, remaining
            levels = self._bids
            prices = self._bid_prices

        market_id = self.market_id
        taker_id = taker.order_id
        taker_owner = taker.owner
        # Owners are SubaccountIds, compared field by field inline: their dataclass __eq__ would be
        # a Python call for every maker.
        taker_address = taker_owner.address
        taker_number = taker_owner.number
        index = self._index
        journal = self._journal
        log = journal.entries if journal.marks else None
        fills: list[Fill] = []
        cancelled: list[Cancelled] = []
        while True:
            level = levels[best]
            maker = level.head
            # Each maker is the level's head when its turn comes (every one before it has left), so
            # it leaves by popping the head: constant time, and its undo puts it back in front.
            while maker is not None:
                maker_size = maker.size_lots
                owner = maker.owner
                if owner is taker_owner or (owner.address == taker_address and owner.number == taker_number):
                    cancelled.append(Cancelled(maker, _SELF_TRADE))
                else:
                    size = maker_size if maker_size <= remaining else remaining
                    verdict = True if maker_check is None else maker_check(maker, size)
                    if verdict is not True:
                        cancelled.append(Cancelled(maker, _MAKER_CHECK_FAILED if verdict is False else verdict))
                    else:
                        fills.append(Fill(market_id, maker.order_id, taker_id, owner, taker_owner, taker_side, best, size))
                        remaining -= size
                        if size < maker_size:  # the taker is done; the maker stays, shrunk, in front
                            shrunk = maker.with_size(maker_size - size)
                            _take_owned_place(maker, shrunk)
                            following = maker._next
                            shrunk._prev = None
                            shrunk._next = following
                            level.head = shrunk
                            if following is None:
                                level.tail = shrunk
                            else:
                                following._prev = shrunk
                            level.total_size_lots -= size
                            index[shrunk.order_id] = shrunk
                            if log is not None:
                                log.append((self, _REPLACED, maker, shrunk))
                            break
                        if refill is not None:
                            shown = refill(maker)
                            if shown is not None:  # behind everything at this price, the maker too
                                self._check_refill(maker, shown)
                                self._link(shown)
                                if log is not None:
                                    log.append((self, _LINKED, shown, None))
                following = maker._next
                level.head = following
                if following is None:
                    level.tail = None
                else:
                    following._prev = None
                level.count -= 1
                level.total_size_lots -= maker_size
                del index[maker.order_id]
                self._disown(maker)
                if log is not None:
                    log.append((self, _UNLINKED, maker, following))
                if remaining == 0:
                    break
                maker = following
            if level.head is not None:
                break  # the taker is done inside this level
            del levels[best]
            if taker_side == _BUY:
                prices.pop(0)
                best = prices[0] if prices else None
                self._best_ask = best
                if remaining == 0 or best is None or best > limit:
                    break
            else:
                prices.pop()
                best = prices[-1] if prices else None
                self._best_bid = best
                if remaining == 0 or best is None or best < limit:
                    break
        return tuple(fills), tuple(cancelled), remaining

    def _link(self, order: Order) -> None:
        """Add `order` at its time priority in its level, creating the level if needed."""
        level = (self._bids if order.side == _BUY else self._asks).get(order.price_ticks)
        if level is None:
            self._add_level(order)
            return
        tail = level.tail
        assert tail is not None
        if tail.order_id < order.order_id:  # the usual case: ids arrive in increasing order
            order._prev = tail
            order._next = None
            tail._next = order
            level.tail = order
            level.count += 1
            level.total_size_lots += order.size_lots
            self._index[order.order_id] = order
            self._own(order)
            return
        following = tail  # an id below the level's last: walk back to its place
        while following._prev is not None and following._prev.order_id > order.order_id:
            following = following._prev
        self._link_before(level, order, following)

    def _relink(self, order: Order, following: Order | None) -> None:
        """Put `order` back in front of `following` (None: at the back), as it was when it left."""
        level = (self._bids if order.side == _BUY else self._asks).get(order.price_ticks)
        if level is None:
            self._add_level(order)  # it was the last order at its price
        else:
            self._link_before(level, order, following)

    def _link_before(self, level: _Level, order: Order, following: Order | None) -> None:
        if following is None:
            before = level.tail
            level.tail = order
        else:
            before = following._prev
            following._prev = order
        order._prev = before
        order._next = following
        if before is None:
            level.head = order
        else:
            before._next = order
        level.count += 1
        level.total_size_lots += order.size_lots
        self._index[order.order_id] = order
        self._own(order)

    def _add_level(self, first: Order) -> None:
        price = first.price_ticks
        if first.side == _BUY:
            self._bids[price] = _Level(first)
            self._bid_prices.add(price)
            if self._best_bid is None or price > self._best_bid:
                self._best_bid = price
        else:
            self._asks[price] = _Level(first)
            self._ask_prices.add(price)
            if self._best_ask is None or price < self._best_ask:
                self._best_ask = price
        self._index[first.order_id] = first
        self._own(first)

    def _unlink(self, order: Order) -> Order | None:
        """Take `order` out of its level (dropping the level if it empties); returns the order that followed it."""
        before = order._prev
        following = order._next
        price = order.price_ticks
        levels = self._bids if order.side == _BUY else self._asks
        level = levels[price]
        if before is None:
            level.head = following
        else:
            before._next = following
        if following is None:
            level.tail = before
        else:
            following._prev = before
        level.count -= 1
        level.total_size_lots -= order.size_lots
        del self._index[order.order_id]
        self._disown(order)
        if level.count == 0:
            del levels[price]
            if order.side == _BUY:
                prices = self._bid_prices
                prices.remove(price)
                if price == self._best_bid:
                    self._best_bid = prices[-1] if prices else None
            else:
                prices = self._ask_prices
                prices.remove(price)
                if price == self._best_ask:
                    self._best_ask = prices[0] if prices else None
        return following

    def _own(self, order: Order) -> None:
        """Put `order` first in its owner's list; it keeps the list, so leaving it costs no lookup."""
        owner = order.owner
        numbers = self._owners.get(owner.address)
        if numbers is None:
            numbers = self._owners[owner.address] = {}
        owned = numbers.get(owner.number)
        if owned is None:
            owned = numbers[owner.number] = OwnedOrders()
        first = owned.head
        order._oprev = None
        order._onext = first
        if first is not None:
            first._oprev = order
        owned.head = order
        owned.count += 1
        order._owned = owned

    def _disown(self, order: Order) -> None:
        """Take `order` out of its owner's list, and the owner out of the index when it was their last."""
        owned = order._owned
        before, after = order._oprev, order._onext
        _splice(owned, before, after, after, before)
        owned.count -= 1
        if not owned.count:
            owner = order.owner
            numbers = self._owners[owner.address]
            del numbers[owner.number]
            if not numbers:
                del self._owners[owner.address]

    def _replace(self, old: Order, new: Order) -> None:
        """Put `new` (same id, side and price) in `old`'s place in its level."""
        level = (self._bids if old.side == _BUY else self._asks)[old.price_ticks]
        before = old._prev
        following = old._next
        new._prev = before
        new._next = following
        if before is None:
            level.head = new
        else:
            before._next = new
        if following is None:
            level.tail = new
        else:
            following._prev = new
        level.total_size_lots += new.size_lots - old.size_lots
        self._index[old.order_id] = new
        _take_owned_place(old, new)

    def _undo(self, kind: int, a: Order, b: Order | None) -> None:
        if kind == _UNLINKED:
            self._relink(a, b)
        elif kind == _LINKED:
            self._unlink(a)
        elif kind == _REPLACED:
            assert b is not None
            self._replace(b, a)
        else:
            raise BookError(f"unknown undo entry kind {kind}")


def _owned_orders(owned: OwnedOrders, bound: int | None = None) -> Iterator[Order]:
    """The orders of an owner's list, first to last (at most `bound`: a broken link may make a cycle)."""
    order = owned.head
    seen = 0
    while order is not None and (bound is None or seen <= bound):
        yield order
        seen += 1
        order = order._onext


def _take_owned_place(old: Order, new: Order) -> None:
    """`new` (the same order resized) takes `old`'s place in its owner's list."""
    owned = new._owned = old._owned
    before, after = new._oprev, new._onext = old._oprev, old._onext
    _splice(owned, before, after, new, new)


def _splice(owned: OwnedOrders, before: Order | None, after: Order | None, forward: Order | None,
            backward: Order | None) -> None:
    """Point the order `before` (or, when it is None, the list's head) on to `forward`, and the
    order `after` (if any) back to `backward`: where an order leaves or is replaced."""
    if before is None:
        owned.head = forward
    else:
        before._onext = forward
    if after is not None:
        after._oprev = backward


def _order_id(order: Order) -> int:
    return order.order_id


def _level_violations(level: _Level) -> list[str]:
    """What is wrong with one level's list: links, time priority, cached count and total."""
    problems: list[str] = []
    count = total = 0
    before: Order | None = None
    order = level.head
    while order is not None and count <= level.count:  # (bounded: a broken link may make a cycle)
        if order._prev is not before:
            problems.append(f"order {order.order_id} is not linked back to the order before it")
        if before is not None and before.order_id >= order.order_id:
            problems.append(f"order {order.order_id} out of time priority")
        count += 1
        total += order.size_lots
        before = order
        order = order._next
    if order is not None:
        problems.append(f"more orders linked than the cached count {level.count}")
    elif level.tail is not before:
        problems.append("the tail is not the last order")
    if count == 0:
        problems.append("empty level kept")
    if count != level.count:
        problems.append(f"cached count {level.count} but {count} orders linked")
    if total != level.total_size_lots:
        problems.append(f"cached total {level.total_size_lots} is wrong")
    return problems


class Books:
    """Every market's book, branching together: one journal spans them all."""

    __slots__ = ("_journal", "_books", "checkpoint", "rollback", "release", "branch")

    # The journal's own bound methods, so a tx's checkpoint and release cost one call each.
    checkpoint: Callable[[], int]
    rollback: Callable[[int], None]
    release: Callable[[int], None]
    branch: Callable[[], AbstractContextManager[int]]

    def __init__(self) -> None:
        journal = self._journal = Journal()
        self._books: dict[int, OrderBook] = {}
        self.checkpoint = journal.checkpoint
        self.rollback = journal.rollback
        self.release = journal.release
        self.branch = journal.branch

    def add_market(self, market_id: int) -> OrderBook:
        if market_id in self._books:
            raise BookError(f"market {market_id} already has a book")
        book = self._books[market_id] = OrderBook(market_id, self._journal)
        if self._journal.marks:
            self._journal.entries.append((self, _MARKET_ADDED, market_id, None))
        return book

    def __getitem__(self, market_id: int) -> OrderBook:
        return self._books[market_id]

    def get(self, market_id: int) -> OrderBook | None:
        return self._books.get(market_id)

    def __contains__(self, market_id: int) -> bool:
        return market_id in self._books

    def market_ids(self) -> list[int]:
        return sorted(self._books)

    def order_count(self) -> int:
        return sum(len(book) for book in self._books.values())

    def orders_of(self, owner: SubaccountId, market_id: int | None = None) -> list[Order]:
        """`owner`'s resting orders (in one market, or in all), by market then order id."""
        if market_id is not None:
            book = self._books.get(market_id)
            return book.owned_by(owner) if book is not None else []
        books = self._books
        return [order for market in sorted(books) for order in books[market].owned_by(owner)]

    def open_count(self, owner: SubaccountId) -> int:
        """How many orders `owner` rests, in every market (read per placement: the loop is inline)."""
        total = 0
        for book in self._books.values():
            total += book.owned_count(owner)
        return total

    def orders_of_address(self, address: bytes, limit: int | None = None) -> list[Order]:
        """The resting orders of every subaccount of `address`, by subaccount number, market and
        order id (at most `limit`)."""
        books = [self._books[market] for market in sorted(self._books)]
        numbers = sorted({number for book in books for number in book.owner_numbers(address)})
        found: list[Order] = []
        for number in numbers:
            owner = SubaccountId(address, number)
            for book in books:
                found.extend(book.owned_by(owner))
                if limit is not None and len(found) >= limit:
                    return found[:limit]
        return found

    def dump(self) -> tuple[object, ...]:
        return tuple(self._books[market_id].dump() for market_id in sorted(self._books))

    def _undo(self, kind: int, a: int, b: None) -> None:
        if kind != _MARKET_ADDED:
            raise BookError(f"unknown undo entry kind {kind}")
        del self._books[a]
