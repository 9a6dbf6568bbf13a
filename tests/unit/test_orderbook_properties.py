"""Invariants of the order book over random sequences of placements, cancels, shrinks and matches.

Each sequence runs against `OrderBook` and against a naive reference (a dict of resting orders,
sorted from scratch for every taker), so price-time priority is checked fill by fill.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from modules.orderbook import BookError, Cancelled, CancelReason, Fill, Order, OrderBook, Side, TimeInForce
from modules.types import SubaccountId

MARKET = 3
OWNERS = [SubaccountId(bytes([n]) * 20, 0) for n in range(1, 4)]  # few owners: self-trades happen
TIME_IN_FORCE = [TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK]


def maker_check(maker: Order, size_lots: int) -> bool:
    """Fails now and then, deterministically (the caller's margin check in the real app)."""
    return (maker.order_id * 7 + size_lots) % 11 != 0


# Ops: ("place", side, price_ticks, size_lots, owner index, time in force index, post_only)
#      ("cancel", pick) / ("shrink", pick, new size pick) ; pick selects among the live orders.
PlaceOp = tuple[str, Side, int, int, int, int, bool]
CancelOp = tuple[str, int]
ShrinkOp = tuple[str, int, int]
Op = PlaceOp | CancelOp | ShrinkOp
place_ops = st.tuples(
    st.just("place"),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(97, 103),
    st.integers(1, 12),
    st.integers(0, len(OWNERS) - 1),
    st.integers(0, len(TIME_IN_FORCE) - 1),
    st.integers(0, 4).map(lambda n: n == 0),  # post-only one time in five
)
cancel_ops = st.tuples(st.just("cancel"), st.integers(0, 10_000))
shrink_ops = st.tuples(st.just("shrink"), st.integers(0, 10_000), st.integers(0, 10_000))
op_strategies = {"place": place_ops, "cancel": cancel_ops, "shrink": shrink_ops}
one_op = st.sampled_from(["place"] * 6 + ["cancel"] * 2 + ["shrink"]).flatmap(op_strategies.__getitem__)
ops_strategy = st.lists(one_op, min_size=10, max_size=100)


@dataclass
class Driver:
    """Runs ops on a book the way the keeper would, checking the invariants after each one."""

    book: OrderBook = field(default_factory=lambda: OrderBook(MARKET))
    next_order_id: int = 1
    fills: list[Fill] = field(default_factory=list)
    cancelled: list[Cancelled] = field(default_factory=list)

    def run(self, ops: list[Op], reference: Reference | None = None) -> None:
        for op in ops:
            self.apply(op, reference)
            assert self.book.invariant_violations() == []
            best_bid, best_ask = self.book.best_bid(), self.book.best_ask()
            assert best_bid is None or best_ask is None or best_bid < best_ask, "crossed book"
            if reference is not None:
                assert self.book.dump() == reference.dump()

    def live_ids(self) -> list[int]:
        return [o.order_id for side in (Side.BUY, Side.SELL) for o in self.book.iter_orders(side)]

    def apply(self, op: Op, reference: Reference | None) -> None:
        match op:
            case ("cancel", pick):
                live = self.live_ids()
                if live:
                    order_id = live[pick % len(live)]
                    assert self.book.remove(order_id).order_id == order_id
                    if reference is not None:
                        del reference.resting[order_id]
            case ("shrink", pick, size_pick):
                live = self.live_ids()
                if live:
                    order_id = live[pick % len(live)]
                    current = self.book.get(order_id)
                    assert current is not None
                    if current.size_lots > 1:
                        new_size = 1 + size_pick % (current.size_lots - 1)
                        self.book.resize(order_id, new_size)
                        if reference is not None:
                            reference.resting[order_id] = current.with_size(new_size)
            case ("place", side, price, size, owner, tif_index, post_only):
                order = Order(
                    self.next_order_id,
                    MARKET,
                    OWNERS[owner],
                    0,
                    side,
                    price,
                    size,
                    post_only=post_only,
                    tif=TIME_IN_FORCE[tif_index],
                )
                self.next_order_id += 1
                self.place(order, reference)

    def place(self, order: Order, reference: Reference | None) -> None:
        book = self.book
        if order.post_only and book.would_cross(order.side, order.price_ticks):
            return  # the keeper refuses it
        if order.tif == TimeInForce.FOK:
            available = book.available_to_fill(order.side, order.price_ticks, order.owner, order.size_lots)
            if available < order.size_lots:
                return  # the keeper refuses it
        token = book.checkpoint()
        before = book.dump()
        result = book.place(order, maker_check)
        assert result.remaining_size_lots == order.size_lots - sum(f.size_lots for f in result.fills)
        assert result.filled_size_lots + result.remaining_size_lots == order.size_lots
        assert_fills_walk_away_from_the_best_price(order, result.fills)
        if reference is not None:
            expected_fills, expected_cancelled, remaining = reference.match(order)
            assert list(result.fills) == expected_fills
            assert list(result.cancelled) == expected_cancelled
            assert result.remaining_size_lots == remaining
        if order.tif == TimeInForce.FOK and result.remaining_size_lots:
            book.rollback(token)  # a maker failed its check: the FOK tx fails as a whole
            assert book.dump() == before
            if reference is not None:
                reference.undo_last_match()
            return
        book.release(token)
        if reference is not None and result.rested:
            reference.resting[order.order_id] = order.with_size(result.remaining_size_lots)
        self.fills.extend(result.fills)
        self.cancelled.extend(result.cancelled)


def assert_fills_walk_away_from_the_best_price(taker: Order, fills: tuple[Fill, ...]) -> None:
    prices = [fill.price_ticks for fill in fills]
    if taker.side == Side.BUY:
        assert prices == sorted(prices) and all(p <= taker.price_ticks for p in prices)
    else:
        assert prices == sorted(prices, reverse=True) and all(p >= taker.price_ticks for p in prices)
    for fill in fills:
        assert fill.taker_order_id == taker.order_id and fill.taker == taker.owner and fill.size_lots > 0


@dataclass
class Reference:
    """The naive book: all resting orders in a dict, priority recomputed by sorting for each taker."""

    resting: dict[int, Order] = field(default_factory=dict)
    saved: dict[int, Order] = field(default_factory=dict)

    def match(self, taker: Order) -> tuple[list[Fill], list[Cancelled], int]:
        self.saved = dict(self.resting)
        if taker.side == Side.BUY:
            makers = [o for o in self.resting.values() if o.side == Side.SELL and o.price_ticks <= taker.price_ticks]
            makers.sort(key=lambda o: (o.price_ticks, o.order_id))
        else:
            makers = [o for o in self.resting.values() if o.side == Side.BUY and o.price_ticks >= taker.price_ticks]
            makers.sort(key=lambda o: (-o.price_ticks, o.order_id))
        fills: list[Fill] = []
        cancelled: list[Cancelled] = []
        remaining = taker.size_lots
        for maker in makers:
            if remaining == 0:
                break
            if maker.owner == taker.owner:
                cancelled.append(Cancelled(maker, CancelReason.SELF_TRADE))
                del self.resting[maker.order_id]
                continue
            size = min(maker.size_lots, remaining)
            if not maker_check(maker, size):
                cancelled.append(Cancelled(maker, CancelReason.MAKER_CHECK_FAILED))
                del self.resting[maker.order_id]
                continue
            fill = Fill(
                MARKET, maker.order_id, taker.order_id, maker.owner, taker.owner, taker.side, maker.price_ticks, size
            )
            fills.append(fill)
            remaining -= size
            if size == maker.size_lots:
                del self.resting[maker.order_id]
            else:
                self.resting[maker.order_id] = maker.with_size(maker.size_lots - size)
        return fills, cancelled, remaining

    def undo_last_match(self) -> None:
        self.resting = self.saved

    def dump(self) -> tuple[object, ...]:
        def side_dump(side: Side) -> tuple[object, ...]:
            orders = [o for o in self.resting.values() if o.side == side]
            prices = sorted({o.price_ticks for o in orders}, reverse=side == Side.BUY)
            levels = []
            for price in prices:
                at_price = sorted((o for o in orders if o.price_ticks == price), key=lambda o: o.order_id)
                levels.append((price, sum(o.size_lots for o in at_price), tuple(at_price)))
            return tuple(levels)

        return (MARKET, side_dump(Side.BUY), side_dump(Side.SELL))


@settings(max_examples=300, deadline=None)
@given(ops_strategy)
def test_book_matches_the_naive_reference_fill_by_fill_and_is_never_crossed(ops: list[Op]) -> None:
    Driver().run(ops, Reference())


@settings(max_examples=200, deadline=None)
@given(ops_strategy, ops_strategy)
def test_checkpoint_ops_rollback_restores_the_exact_book(
    before: list[Op], after: list[Op]
) -> None:
    driver = Driver()
    driver.run(before)
    dump = driver.book.dump()
    token = driver.book.checkpoint()
    driver.run(after)
    driver.book.rollback(token)
    assert driver.book.dump() == dump
    assert repr(driver.book.dump()) == repr(dump)
    assert driver.book.invariant_violations() == []
    assert driver.book._journal.entries == []


@settings(max_examples=150, deadline=None)
@given(ops_strategy, ops_strategy, ops_strategy)
def test_nested_checkpoints_roll_back_to_where_each_was_taken(
    first: list[Op], second: list[Op], third: list[Op]
) -> None:
    driver = Driver()
    driver.run(first)
    at_outer = driver.book.dump()
    outer = driver.book.checkpoint()
    driver.run(second)
    at_inner = driver.book.dump()
    inner = driver.book.checkpoint()
    driver.run(third)
    driver.book.rollback(inner)
    assert driver.book.dump() == at_inner
    driver.run(third)
    driver.book.rollback(outer)
    assert driver.book.dump() == at_outer


@settings(max_examples=150, deadline=None)
@given(ops_strategy)
def test_the_same_ops_on_two_fresh_books_give_identical_fills_and_books(ops: list[Op]) -> None:
    one, two = Driver(), Driver()
    one.run(ops)
    two.run(ops)
    assert one.fills == two.fills and one.cancelled == two.cancelled
    assert repr(one.book.dump()) == repr(two.book.dump())


@settings(max_examples=150, deadline=None)
@given(ops_strategy)
def test_level_totals_and_l2_agree_with_the_resting_orders(ops: list[Op]) -> None:
    driver = Driver()
    driver.run(ops)
    book = driver.book
    for side in (Side.BUY, Side.SELL):
        orders = list(book.iter_orders(side))
        levels = book.levels(side)
        assert sum(total for _, total, _ in levels) == sum(o.size_lots for o in orders)
        assert sum(count for _, _, count in levels) == len(orders)
        for price, total, count in levels:
            at_price = book.orders_at(side, price)
            assert (total, count) == (sum(o.size_lots for o in at_price), len(at_price))
    assert len(book) == len(driver.live_ids())


def test_resting_an_order_that_crosses_is_refused_whatever_the_side() -> None:
    book = OrderBook(MARKET)
    book.rest(Order(1, MARKET, OWNERS[0], 0, Side.BUY, 100, 1))
    book.rest(Order(2, MARKET, OWNERS[0], 0, Side.SELL, 101, 1))
    for side, price in ((Side.SELL, 100), (Side.BUY, 101)):
        try:
            book.rest(Order(3, MARKET, OWNERS[1], 0, side, price, 1))
        except BookError:
            continue
        raise AssertionError(f"{side.name} at {price} rested across the book")
