"""The in-memory price-time order book of one market, its undo journal, and the books of all markets.

Pure and deterministic: integer prices and sizes, price levels kept sorted (sortedcontainers), orders
within a level in ascending `order_id` (time priority). The book validates its own contract and
raises `BookError` when a caller breaks it; user-facing rejections (post-only would cross, FOK not
fillable, unknown order id) are the keeper's to check first and to report with their ABCI codes.

Every change goes through three primitives (link, unlink, replace), each logged while a checkpoint
is open, so a tx that fails can be undone exactly: `rollback` replays the log backwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from itertools import islice

from sortedcontainers import SortedList

from modules.orderbook.types import (
    RESTING_TIME_IN_FORCE,
    Cancelled,
    CancelReason,
    Fill,
    MatchResult,
    Order,
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

# Undo journal entries are (target, kind, a, b); undoing calls target._undo(kind, a, b).
_LINKED = 1  # a: the order added; undo unlinks it
_UNLINKED = 2  # a: the order removed; undo links it back at its time priority
_REPLACED = 3  # a: the old order, b: the new one with the same id; undo swaps them back
_MARKET_ADDED = 4  # a: the market id; undo drops its (empty) book


class BookError(Exception):
    """A caller broke the book's contract: a bug in the keeper, never a user's mistake."""


class Journal:
    """Undo log with nested checkpoints, shared by the books that branch together.

    Nothing is logged while no checkpoint is open. Tokens are unique, so a stale one is refused.
    """

    __slots__ = ("entries", "marks", "_last_token")

    def __init__(self) -> None:
        self.entries: list[tuple[object, int, object, object]] = []
        self.marks: list[tuple[int, int]] = []  # (token, len(entries) when it was taken)
        self._last_token = 0

    @property
    def depth(self) -> int:
        return len(self.marks)

    def checkpoint(self) -> int:
        self._last_token += 1
        self.marks.append((self._last_token, len(self.entries)))
        return self._last_token

    def rollback(self, token: int) -> None:
        """Undo every change since checkpoint `token`, closing it and any checkpoint opened after it."""
        depth = self._depth_of(token)
        start = self.marks[depth][1]
        entries = self.entries
        for index in range(len(entries) - 1, start - 1, -1):
            target, kind, a, b = entries[index]
            target._undo(kind, a, b)  # type: ignore[attr-defined]
        del entries[start:]
        del self.marks[depth:]

    def release(self, token: int) -> None:
        """Keep the changes since checkpoint `token` (the innermost open one); they join the outer one."""
        if not self.marks or self.marks[-1][0] != token:
            self._depth_of(token)  # unknown token: its own message
            raise BookError(f"checkpoint {token} released while a later checkpoint is still open")
        self.marks.pop()
        if not self.marks:
            self.entries.clear()

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
    """The orders resting at one price, in time priority, and their cached total size."""

    __slots__ = ("orders", "total_size_lots", "last_order_id")

    def __init__(self) -> None:
        self.orders: dict[int, Order] = {}  # insertion order == ascending order_id
        self.total_size_lots = 0
        self.last_order_id = -1  # the highest id ever linked here: a later id appends in place


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
    )

    def __init__(self, market_id: int, journal: Journal | None = None) -> None:
        self.market_id = market_id
        self._journal = journal if journal is not None else Journal()
        self._index: dict[int, Order] = {}
        self._bids: dict[int, _Level] = {}
        self._asks: dict[int, _Level] = {}
        self._bid_prices: SortedList = SortedList()
        self._ask_prices: SortedList = SortedList()
        self._best_bid: int | None = None
        self._best_ask: int | None = None

    # -- reading ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, order_id: int) -> bool:
        return order_id in self._index

    def get(self, order_id: int) -> Order | None:
        return self._index.get(order_id)

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
            for order in level.orders.values():
                if order.owner != owner:
                    available += order.size_lots
            if up_to_size_lots is not None and available >= up_to_size_lots:
                break
        return available

    def levels(self, side: Side, depth: int | None = None) -> list[tuple[int, int, int]]:
        """L2: `(price_ticks, total_size_lots, order_count)` from the best price outwards."""
        levels = self._bids if side == _BUY else self._asks
        result = []
        for price in islice(self._prices_from_best(side), depth):
            level = levels[price]
            result.append((price, level.total_size_lots, len(level.orders)))
        return result

    def orders_at(self, side: Side, price_ticks: int) -> tuple[Order, ...]:
        """L3 at one price, in time priority (empty if no level there)."""
        level = (self._bids if side == _BUY else self._asks).get(price_ticks)
        return _NONE if level is None else tuple(level.orders.values())

    def iter_orders(self, side: Side) -> Iterator[Order]:
        """Every resting order of `side` in priority order: best price first, then time."""
        levels = self._bids if side == _BUY else self._asks
        for price in self._prices_from_best(side):
            yield from levels[price].orders.values()

    def dump(self) -> tuple[object, ...]:
        """The whole book as plain values, for comparing two books (or one before and after)."""

        def side_dump(side: Side) -> tuple[object, ...]:
            levels = self._bids if side == _BUY else self._asks
            return tuple(
                (price, levels[price].total_size_lots, tuple(levels[price].orders.values()))
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
                level = levels[price]
                ids = list(level.orders)
                if not ids:
                    problems.append(f"{side.name} {price}: empty level kept")
                if ids != sorted(ids):
                    problems.append(f"{side.name} {price}: orders out of time priority")
                if level.total_size_lots != sum(o.size_lots for o in level.orders.values()):
                    problems.append(f"{side.name} {price}: cached total {level.total_size_lots} is wrong")
                for order_id, order in level.orders.items():
                    linked += 1
                    if self._index.get(order_id) is not order:
                        problems.append(f"order {order_id} in a level but not in the index")
                    if order.side != side or order.price_ticks != price or order.size_lots <= 0:
                        problems.append(f"order {order_id} misplaced or empty")
        if linked != len(self._index):
            problems.append(f"index holds {len(self._index)} orders, levels {linked}")
        return problems

    # -- changing --------------------------------------------------------------------------------

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
        if order_id not in self._index:
            raise BookError(f"order {order_id} is not in the book of market {self.market_id}")
        order = self._unlink(order_id)
        journal = self._journal
        if journal.marks:
            journal.entries.append((self, _UNLINKED, order, None))
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
        self._check_new(order)
        if order.post_only and self.would_cross(order.side, order.price_ticks):
            raise BookError(f"post-only order {order.order_id} would cross the book")
        fills, cancelled, remaining = self._match(order, maker_check, None)
        rested = remaining > 0 and order.tif in RESTING_TIME_IN_FORCE
        if rested:
            if remaining != order.size_lots:
                order = order.with_size(remaining)
            self._link(order)  # what is left of a matched order cannot cross
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
        index = self._index
        journal = self._journal
        log = journal.entries if journal.marks else None
        fills: list[Fill] = []
        cancelled: list[Cancelled] = []
        while True:
            level = levels[best]
            orders = level.orders
            gone: list[Order] = []  # leave the level whole (filled or cancelled), in priority order
            partial: Order | None = None  # the one maker left partly filled, if any
            refills: list[Order] = []  # iceberg slices to show at the back of this level
            for maker in orders.values():
                maker_size = maker.size_lots
                if maker.owner == taker_owner:
                    gone.append(maker)
                    cancelled.append(Cancelled(maker, _SELF_TRADE))
                    continue
                size = maker_size if maker_size <= remaining else remaining
                verdict = maker_check(maker, size) if maker_check is not None else True
                if verdict is not True:
                    gone.append(maker)
                    cancelled.append(Cancelled(maker, _MAKER_CHECK_FAILED if verdict is False else verdict))
                    continue
                fill = Fill(market_id, maker.order_id, taker_id, maker.owner, taker_owner, taker_side, best, size)
                fills.append(fill)
                remaining -= size
                if size == maker_size:
                    gone.append(maker)
                    if refill is not None:
                        shown = refill(maker)
                        if shown is not None:
                            refills.append(shown)
                else:
                    partial = maker
                if remaining == 0:
                    break
            # Apply after the walk: a dict cannot lose keys while it is being iterated.
            for maker in gone:
                maker_id = maker.order_id
                del orders[maker_id]
                del index[maker_id]
                level.total_size_lots -= maker.size_lots
                if log is not None:
                    log.append((self, _UNLINKED, maker, None))
            if partial is not None:
                filled = fills[-1].size_lots  # it was the last maker filled
                shrunk = partial.with_size(partial.size_lots - filled)
                orders[partial.order_id] = shrunk  # same key: keeps its place
                index[partial.order_id] = shrunk
                level.total_size_lots -= filled
                if log is not None:
                    log.append((self, _REPLACED, partial, shrunk))
            for shown in refills:
                self._check_new(shown)
                self._link(shown)  # a new, higher id: appended behind everything at this price
                if log is not None:
                    log.append((self, _LINKED, shown, None))
            if refills and remaining:
                continue  # every order that was here is gone: walk the refills
            if orders:
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
        price = order.price_ticks
        if order.side == _BUY:
            level = self._bids.get(price)
            if level is None:
                level = self._bids[price] = _Level()
                self._bid_prices.add(price)
                if self._best_bid is None or price > self._best_bid:
                    self._best_bid = price
        else:
            level = self._asks.get(price)
            if level is None:
                level = self._asks[price] = _Level()
                self._ask_prices.add(price)
                if self._best_ask is None or price < self._best_ask:
                    self._best_ask = price
        order_id = order.order_id
        orders = level.orders
        if order_id > level.last_order_id or not orders:
            # (an empty level: every maker here just filled, and an iceberg's next slice comes in
            # with an id a rolled-back branch had used already, so it may not exceed last_order_id)
            orders[order_id] = order
            level.last_order_id = order_id
        elif order_id < next(iter(orders)):  # an undone removal of the level's first order
            rebuilt = {order_id: order}
            rebuilt.update(orders)
            level.orders = rebuilt
        else:
            orders[order_id] = order
            level.orders = dict(sorted(orders.items()))
        level.total_size_lots += order.size_lots
        self._index[order_id] = order

    def _unlink(self, order_id: int) -> Order:
        order = self._index.pop(order_id)
        price = order.price_ticks
        if order.side == _BUY:
            levels = self._bids
            level = levels[price]
            del level.orders[order_id]
            level.total_size_lots -= order.size_lots
            if not level.orders:
                del levels[price]
                prices = self._bid_prices
                prices.remove(price)
                if price == self._best_bid:
                    self._best_bid = prices[-1] if prices else None
        else:
            levels = self._asks
            level = levels[price]
            del level.orders[order_id]
            level.total_size_lots -= order.size_lots
            if not level.orders:
                del levels[price]
                prices = self._ask_prices
                prices.remove(price)
                if price == self._best_ask:
                    self._best_ask = prices[0] if prices else None
        return order

    def _replace(self, old: Order, new: Order) -> None:
        level = (self._bids if old.side == _BUY else self._asks)[old.price_ticks]
        level.orders[old.order_id] = new
        level.total_size_lots += new.size_lots - old.size_lots
        self._index[old.order_id] = new

    def _undo(self, kind: int, a: Order, b: Order | None) -> None:
        if kind == _LINKED:
            self._unlink(a.order_id)
        elif kind == _UNLINKED:
            self._link(a)
        elif kind == _REPLACED:
            assert b is not None
            self._replace(b, a)
        else:
            raise BookError(f"unknown undo entry kind {kind}")


class Books:
    """Every market's book, branching together: one journal spans them all."""

    __slots__ = ("_journal", "_books")

    def __init__(self) -> None:
        self._journal = Journal()
        self._books: dict[int, OrderBook] = {}

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

    def dump(self) -> tuple[object, ...]:
        return tuple(self._books[market_id].dump() for market_id in sorted(self._books))

    def checkpoint(self) -> int:
        return self._journal.checkpoint()

    def rollback(self, token: int) -> None:
        self._journal.rollback(token)

    def release(self, token: int) -> None:
        self._journal.release(token)

    def branch(self) -> AbstractContextManager[int]:
        return self._journal.branch()

    def _undo(self, kind: int, a: int, b: None) -> None:
        if kind != _MARKET_ADDED:
            raise BookError(f"unknown undo entry kind {kind}")
        del self._books[a]
