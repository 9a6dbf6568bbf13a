"""The order book of one market: price-time priority, self-trade prevention, maker checks, L2/L3, undo."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from modules.orderbook import (
    BookError,
    Books,
    CancelReason,
    Fill,
    MatchResult,
    Order,
    OrderBook,
    Side,
    TimeInForce,
)
from modules.types import SubaccountId

MARKET = 7
ALICE = SubaccountId(b"\xaa" * 20, 0)
BOB = SubaccountId(b"\xbb" * 20, 0)
CAROL = SubaccountId(b"\xcc" * 20, 0)
ALICE_ISOLATED = SubaccountId(b"\xaa" * 20, 1)

BUY, SELL = Side.BUY, Side.SELL


def order(
    order_id: int,
    side: Side,
    price_ticks: int,
    size_lots: int,
    owner: SubaccountId = ALICE,
    tif: TimeInForce = TimeInForce.GTC,
    post_only: bool = False,
) -> Order:
    return Order(order_id, MARKET, owner, order_id + 1000, side, price_ticks, size_lots, post_only=post_only, tif=tif)


def book_with(*orders: Order) -> OrderBook:
    book = OrderBook(MARKET)
    for resting in orders:
        book.rest(resting)
    return book


def maker_ids(fills: tuple[Fill, ...]) -> list[int]:
    return [fill.maker_order_id for fill in fills]


# -- priority and prices ----------------------------------------------------------------------------


def test_better_priced_maker_fills_first() -> None:
    book = book_with(order(1, SELL, 102, 5, BOB), order(2, SELL, 101, 5, CAROL), order(3, SELL, 103, 5, BOB))
    result = book.match(order(10, BUY, 103, 12))
    assert maker_ids(result.fills) == [2, 1, 3]
    assert [fill.price_ticks for fill in result.fills] == [101, 102, 103]


def test_bids_fill_from_the_highest_price_down() -> None:
    book = book_with(order(1, BUY, 98, 5, BOB), order(2, BUY, 99, 5, CAROL), order(3, BUY, 97, 5, BOB))
    result = book.match(order(10, SELL, 97, 12))
    assert maker_ids(result.fills) == [2, 1, 3]


def test_earlier_order_at_a_price_fills_first() -> None:
    book = book_with(order(1, SELL, 100, 3, BOB), order(2, SELL, 100, 3, CAROL), order(3, SELL, 100, 3, BOB))
    result = book.match(order(10, BUY, 100, 7))
    assert [(f.maker_order_id, f.size_lots) for f in result.fills] == [(1, 3), (2, 3), (3, 1)]


def test_fill_is_at_the_makers_price_not_the_takers() -> None:
    book = book_with(order(1, SELL, 100, 5, BOB))
    (fill,) = book.match(order(10, BUY, 120, 5)).fills
    assert fill == Fill(MARKET, 1, 10, BOB, ALICE, BUY, 100, 5)


def test_taker_stops_at_its_limit_price() -> None:
    book = book_with(order(1, SELL, 100, 5, BOB), order(2, SELL, 101, 5, BOB))
    result = book.match(order(10, BUY, 100, 8))
    assert maker_ids(result.fills) == [1]
    assert result.remaining_size_lots == 3
    assert book.best_ask() == 101


def test_order_that_does_not_cross_fills_nothing() -> None:
    book = book_with(order(1, SELL, 100, 5, BOB))
    result = book.match(order(10, BUY, 99, 5))
    assert result.fills == () and result.remaining_size_lots == 5 and not result.rested
    assert book.match(order(11, SELL, 100, 5)).fills == ()  # an empty bid side


def test_partial_fill_leaves_the_maker_resting_with_the_rest_at_its_priority() -> None:
    book = book_with(order(1, SELL, 100, 10, BOB), order(2, SELL, 100, 4, CAROL))
    book.match(order(10, BUY, 100, 6))
    assert [(o.order_id, o.size_lots) for o in book.orders_at(SELL, 100)] == [(1, 4), (2, 4)]
    assert book.levels(SELL) == [(100, 8, 2)]


def test_match_reports_the_remainder_without_resting_it() -> None:
    book = book_with(order(1, SELL, 100, 5, BOB))
    result = book.match(order(10, BUY, 100, 8))
    assert result.remaining_size_lots == 3 and result.filled_size_lots == 5 and not result.rested
    assert 10 not in book and book.best_bid() is None


def test_place_rests_a_gtc_remainder_with_its_remaining_size() -> None:
    book = book_with(order(1, SELL, 100, 5, BOB))
    result = book.place(order(10, BUY, 101, 8))
    assert result.rested and result.remaining_size_lots == 3
    assert book.get(10) == order(10, BUY, 101, 3)
    assert book.best_bid() == 101 and book.best_ask() is None


@pytest.mark.parametrize("tif", [TimeInForce.IOC, TimeInForce.FOK])
def test_place_drops_the_remainder_of_an_immediate_order(tif: TimeInForce) -> None:
    book = book_with(order(1, SELL, 100, 5, BOB))
    result = book.place(order(10, BUY, 101, 8, tif=tif))
    assert not result.rested and result.remaining_size_lots == 3 and len(book) == 0


def test_post_only_order_that_would_cross_is_refused() -> None:
    book = book_with(order(1, SELL, 100, 5, BOB))
    with pytest.raises(BookError, match="post-only"):
        book.place(order(10, BUY, 100, 1, post_only=True))
    assert book.place(order(11, BUY, 99, 1, post_only=True)).rested


# -- level totals, L2 and L3 ------------------------------------------------------------------------


def test_level_totals_follow_rests_fills_removals_and_shrinks() -> None:
    book = book_with(order(1, BUY, 99, 5), order(2, BUY, 99, 7), order(3, BUY, 98, 2), order(4, SELL, 101, 4))
    assert book.levels(BUY) == [(99, 12, 2), (98, 2, 1)]
    assert book.levels(SELL) == [(101, 4, 1)]
    book.match(order(10, SELL, 99, 6, BOB))
    assert book.levels(BUY) == [(99, 6, 1), (98, 2, 1)]
    book.resize(2, 1)
    book.remove(3)
    assert book.levels(BUY) == [(99, 1, 1)]
    assert book.levels(BUY, depth=0) == []
    assert book.invariant_violations() == []


def test_levels_depth_counts_from_the_best_price() -> None:
    book = book_with(*(order(i, SELL, 100 + i, 1) for i in range(1, 6)))
    assert [price for price, _, _ in book.levels(SELL, depth=2)] == [101, 102]


def test_l3_iterates_in_priority_order() -> None:
    book = book_with(order(1, BUY, 98, 1), order(2, BUY, 99, 1), order(3, BUY, 98, 1), order(4, SELL, 100, 1))
    assert [o.order_id for o in book.iter_orders(BUY)] == [2, 1, 3]
    assert [o.order_id for o in book.iter_orders(SELL)] == [4]
    assert book.orders_at(BUY, 97) == ()


def test_an_older_order_rested_late_still_gets_its_time_priority() -> None:
    """Rebuilding a book from the store in any order gives the same book."""
    book = book_with(order(5, SELL, 100, 1), order(9, SELL, 100, 1))
    book.rest(order(2, SELL, 100, 1))
    book.rest(order(7, SELL, 100, 1))
    assert [o.order_id for o in book.orders_at(SELL, 100)] == [2, 5, 7, 9]


# -- self-trade prevention and maker checks ---------------------------------------------------------


def test_self_trade_cancels_the_resting_order_and_matching_continues() -> None:
    book = book_with(order(1, SELL, 100, 5, ALICE), order(2, SELL, 100, 5, BOB), order(3, SELL, 101, 5, ALICE))
    result = book.match(order(10, BUY, 101, 10, ALICE))
    assert maker_ids(result.fills) == [2]
    assert [(c.order_id, c.owner, c.reason) for c in result.cancelled] == [
        (1, ALICE, CancelReason.SELF_TRADE),
        (3, ALICE, CancelReason.SELF_TRADE),
    ]
    assert result.remaining_size_lots == 5 and len(book) == 0


def test_another_subaccount_of_the_same_address_is_not_a_self_trade() -> None:
    book = book_with(order(1, SELL, 100, 5, ALICE_ISOLATED))
    result = book.match(order(10, BUY, 100, 5, ALICE))
    assert maker_ids(result.fills) == [1] and result.cancelled == ()


def test_failed_maker_check_cancels_the_maker_and_matching_continues() -> None:
    book = book_with(order(1, SELL, 100, 5, BOB), order(2, SELL, 100, 5, CAROL), order(3, SELL, 101, 5, CAROL))
    asked: list[tuple[int, int]] = []

    def bob_is_undercollateralised(maker: Order, size_lots: int) -> bool:
        asked.append((maker.order_id, size_lots))
        return maker.owner != BOB

    result = book.match(order(10, BUY, 101, 7, ALICE), bob_is_undercollateralised)
    assert asked == [(1, 5), (2, 5), (3, 2)]
    assert [(f.maker_order_id, f.size_lots) for f in result.fills] == [(2, 5), (3, 2)]
    (cancelled,) = result.cancelled
    assert cancelled.order == order(1, SELL, 100, 5, BOB)
    assert cancelled.reason == CancelReason.MAKER_CHECK_FAILED
    assert 1 not in book and book.get(3) == order(3, SELL, 101, 3, CAROL)


def test_fok_availability_excludes_own_orders_and_stops_at_the_limit() -> None:
    book = book_with(
        order(1, SELL, 100, 5, ALICE),
        order(2, SELL, 100, 4, BOB),
        order(3, SELL, 101, 6, CAROL),
        order(4, SELL, 102, 50, BOB),
    )
    assert book.available_to_fill(BUY, 101, ALICE) == 10
    assert book.available_to_fill(BUY, 101, BOB) == 11
    assert book.available_to_fill(BUY, 99, BOB) == 0
    assert book.available_to_fill(BUY, 102, ALICE, up_to_size_lots=3) == 4  # stops after a level
    assert book.available_to_fill(BUY, 102, ALICE, up_to_size_lots=4) == 4
    assert book.available_to_fill(SELL, 1, ALICE) == 0


# -- remove and resize ------------------------------------------------------------------------------


def test_remove_returns_the_order_and_drops_an_empty_level() -> None:
    book = book_with(order(1, BUY, 99, 5), order(2, BUY, 98, 5))
    assert book.remove(1) == order(1, BUY, 99, 5)
    assert book.best_bid() == 98 and book.levels(BUY) == [(98, 5, 1)] and len(book) == 1
    with pytest.raises(BookError, match="not in the book"):
        book.remove(1)


def test_shrink_keeps_time_priority() -> None:
    book = book_with(order(1, SELL, 100, 5, BOB), order(2, SELL, 100, 5, CAROL))
    assert book.resize(1, 2) == order(1, SELL, 100, 2, BOB)
    assert maker_ids(book.match(order(10, BUY, 100, 3)).fills) == [1, 2]


@pytest.mark.parametrize("new_size", [0, 5, 6, -1])
def test_resize_refuses_anything_but_a_shrink(new_size: int) -> None:
    book = book_with(order(1, SELL, 100, 5))
    with pytest.raises(BookError, match="not a shrink"):
        book.resize(1, new_size)


def test_rest_refuses_an_order_that_would_cross() -> None:
    book = book_with(order(1, SELL, 100, 5, BOB))
    assert book.would_cross(BUY, 100) and not book.would_cross(BUY, 99) and not book.would_cross(SELL, 1)
    with pytest.raises(BookError, match="would cross"):
        book.rest(order(2, BUY, 100, 1))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (order(1, BUY, 90, 1), "already resting"),
        (order(2, BUY, 90, 0), "positive size"),
        (order(3, BUY, 0, 1), "positive size and price"),
        (dataclasses.replace(order(4, BUY, 90, 1), market_id=MARKET + 1), "for market"),
    ],
)
def test_rest_and_match_refuse_malformed_orders(bad: Order, message: str) -> None:
    book = book_with(order(1, SELL, 100, 5, BOB))
    with pytest.raises(BookError, match=message):
        book.rest(bad)
    with pytest.raises(BookError, match=message):
        book.match(bad)


def test_records_handed_out_never_change_afterwards() -> None:
    book = book_with(order(1, SELL, 100, 10, BOB), order(2, SELL, 100, 5, CAROL))
    before = book.get(1)
    assert before is not None
    token = book.checkpoint()
    (fill,) = book.match(order(10, BUY, 100, 4)).fills
    shrunk = book.resize(1, 3)
    book.match(order(11, BUY, 100, 8))
    book.rollback(token)
    assert before == order(1, SELL, 100, 10, BOB) and book.get(1) is before
    assert fill == Fill(MARKET, 1, 10, BOB, ALICE, BUY, 100, 4) and shrunk == order(1, SELL, 100, 3, BOB)


CONSTRUCTOR_ARGUMENTS = {  # a distinct value of its type for each field a constructor takes
    Order: (1, 2, ALICE, 3, SELL, 4, 5, True, True, TimeInForce.IOC, 6, 7),
    Fill: (1, 2, 3, ALICE, BOB, SELL, 4, 5),
    MatchResult: ((), (), 1, True),
}


@pytest.mark.parametrize("record", list(CONSTRUCTOR_ARGUMENTS))
def test_record_constructors_set_every_field_in_declared_order(record: type) -> None:
    values = CONSTRUCTOR_ARGUMENTS[record]
    built = record(*values)
    fields = [field.name for field in dataclasses.fields(record) if field.init]  # not the book's links
    assert len(fields) == len(values)
    assert tuple(getattr(built, name) for name in fields) == values
    assert dataclasses.replace(built) == built


def test_orders_and_subaccount_ids_pickle_and_copy_as_their_values() -> None:
    resting = order(1, SELL, 100, 10, BOB)
    book_with(resting, order(2, SELL, 100, 5, CAROL))  # linked in a book: the links do not travel
    for value in (BOB, resting):
        for copied in (pickle.loads(pickle.dumps(value)), copy.copy(value), copy.deepcopy(value)):
            assert copied == value and type(copied) is type(value) and repr(copied) == repr(value)
    assert resting._next is not None  # the original is linked to the order behind it
    for copied_order in (pickle.loads(pickle.dumps(resting)), copy.copy(resting), copy.deepcopy(resting)):
        assert not hasattr(copied_order, "_next") and not hasattr(copied_order, "_owned")


def test_an_orders_book_links_are_not_its_values() -> None:
    resting = order(1, SELL, 100, 10, BOB)
    book = book_with(resting, order(2, SELL, 100, 5, BOB))
    assert book.get(1) is resting and resting == order(1, SELL, 100, 10, BOB)
    assert hash(resting) == hash(order(1, SELL, 100, 10, BOB)) and "_next" not in repr(resting)


# -- checkpoints and rollback -----------------------------------------------------------------------


def busy_book() -> OrderBook:
    return book_with(
        order(1, SELL, 100, 5, BOB),
        order(2, SELL, 100, 5, ALICE),
        order(3, SELL, 100, 5, CAROL),
        order(4, SELL, 101, 5, BOB),
        order(5, BUY, 98, 5, CAROL),
        order(6, BUY, 97, 5, BOB),
    )


def test_rollback_restores_the_exact_book_after_fills_cancels_and_shrinks() -> None:
    book = busy_book()
    before = book.dump()
    token = book.checkpoint()
    book.place(order(10, BUY, 101, 12, ALICE), lambda maker, size: maker.order_id != 3)  # STP, check fail
    book.resize(6, 1)
    book.remove(5)
    book.rest(order(11, BUY, 96, 3, CAROL))
    assert book.dump() != before
    book.rollback(token)
    assert book.dump() == before
    assert repr(book.dump()) == repr(before)
    assert book.invariant_violations() == []
    assert book.best_bid() == 98 and book.best_ask() == 100


def test_rollback_of_a_sweep_puts_every_maker_back_at_its_time_priority() -> None:
    book = book_with(*(order(i, SELL, 100 + i % 3, 1 + i % 4, BOB) for i in range(1, 40)))
    before = book.dump()
    token = book.checkpoint()
    book.match(order(100, BUY, 102, 60, CAROL))
    book.rollback(token)
    assert book.dump() == before and book.invariant_violations() == []


def test_release_keeps_changes_and_clears_the_journal() -> None:
    book = busy_book()
    token = book.checkpoint()
    book.remove(1)
    book.release(token)
    assert 1 not in book
    assert book._journal.entries == [] and book._journal.depth == 0


def test_nothing_is_journaled_without_an_open_checkpoint() -> None:
    book = busy_book()
    book.place(order(10, BUY, 101, 12, CAROL))
    assert book._journal.entries == []


def test_inner_rollback_keeps_the_outer_checkpoints_changes() -> None:
    book = busy_book()
    outer = book.checkpoint()
    book.remove(1)
    after_outer_change = book.dump()
    inner = book.checkpoint()
    book.match(order(10, BUY, 101, 7, CAROL))
    book.rollback(inner)
    assert book.dump() == after_outer_change
    book.release(outer)
    assert 1 not in book


def test_outer_rollback_undoes_released_inner_changes() -> None:
    book = busy_book()
    before = book.dump()
    outer = book.checkpoint()
    inner = book.checkpoint()
    book.match(order(10, BUY, 101, 7, CAROL))
    book.release(inner)
    book.remove(5)
    book.rollback(outer)
    assert book.dump() == before


def test_rolling_back_an_outer_checkpoint_closes_the_inner_one() -> None:
    book = busy_book()
    outer = book.checkpoint()
    inner = book.checkpoint()
    book.remove(1)
    book.rollback(outer)
    assert 1 in book
    with pytest.raises(BookError, match="not open"):
        book.release(inner)


def test_releasing_an_outer_checkpoint_before_the_inner_one_is_refused() -> None:
    book = busy_book()
    outer = book.checkpoint()
    book.checkpoint()
    with pytest.raises(BookError, match="still open"):
        book.release(outer)


def test_a_stale_checkpoint_token_is_refused() -> None:
    book = busy_book()
    token = book.checkpoint()
    book.release(token)
    book.checkpoint()
    with pytest.raises(BookError, match="not open"):
        book.rollback(token)


def test_branch_rolls_back_when_the_block_raises_and_keeps_changes_otherwise() -> None:
    book = busy_book()
    before = book.dump()
    with pytest.raises(RuntimeError), book.branch():
        book.remove(1)
        raise RuntimeError("the tx failed")
    assert book.dump() == before
    with book.branch():
        book.remove(1)
    assert 1 not in book


def test_books_roll_back_every_market_together() -> None:
    books = Books()
    first = books.add_market(MARKET)
    first.rest(order(1, SELL, 100, 5, BOB))
    before = books.dump()
    token = books.checkpoint()
    first.match(order(10, BUY, 100, 2, ALICE))
    second = books.add_market(MARKET + 1)
    second.rest(dataclasses.replace(order(11, BUY, 50, 1), market_id=MARKET + 1))
    assert books.market_ids() == [MARKET, MARKET + 1] and books.order_count() == 2
    books.rollback(token)
    assert books.dump() == before and books.market_ids() == [MARKET] and MARKET + 1 not in books


def test_a_market_has_one_book() -> None:
    books = Books()
    books.add_market(MARKET)
    with pytest.raises(BookError, match="already"):
        books.add_market(MARKET)
    assert books.get(MARKET + 1) is None and books[MARKET].market_id == MARKET


def test_a_refill_into_an_emptied_level_may_reuse_a_rolled_back_id() -> None:
    """A rolled-back branch used id 3 at this price; the next branch gets id 3 again (ids come from
    the store, which the rollback discarded too) for an iceberg's next slice, after every maker
    there filled. The slice links into the emptied level instead of failing."""
    book = OrderBook(7)
    book.rest(order(1, Side.SELL, 100, 5))
    token = book.checkpoint()
    book.rest(order(3, Side.SELL, 100, 5))
    book.rollback(token)
    result = book.match(order(2, Side.BUY, 100, 5, owner=BOB, tif=TimeInForce.IOC),
                        refill=lambda maker: order(3, Side.SELL, 100, 5))
    assert [f.size_lots for f in result.fills] == [5]
    assert [o.order_id for o in book.iter_orders(Side.SELL)] == [3]
    assert book.invariant_violations() == []


@pytest.mark.parametrize(
    "slice_",
    [order(0, Side.SELL, 100, 5), order(3, Side.SELL, 101, 5), order(3, Side.BUY, 100, 5)],
    ids=["older id", "other price", "other side"],
)
def test_a_refill_must_follow_its_maker_at_its_price_and_side(slice_: Order) -> None:
    book = OrderBook(7)
    book.rest(order(1, Side.SELL, 100, 5))
    before = book.dump()
    token = book.checkpoint()
    with pytest.raises(BookError, match="must follow it"):
        book.match(order(2, Side.BUY, 100, 5, owner=BOB, tif=TimeInForce.IOC), refill=lambda maker: slice_)
    book.rollback(token)
    assert book.dump() == before and book.invariant_violations() == []


# -- loading a stored book ----------------------------------------------------------------------


def _stored_orders() -> list[Order]:
    """Both sides, several orders a level, in id order as the store keeps them."""
    return [order(i, BUY if i % 2 else SELL, (95 - i % 5) if i % 2 else (100 + i % 7), 1 + i % 4, (ALICE, BOB, CAROL)[i % 3])
            for i in range(1, 80)]


def test_a_loaded_book_is_the_book_resting_each_order_in_turn_builds() -> None:
    loaded = OrderBook(MARKET)
    loaded.load(_stored_orders())
    rested = book_with(*_stored_orders())
    assert loaded.dump() == rested.dump() and loaded.invariant_violations() == []
    assert (loaded.best_bid(), loaded.best_ask()) == (rested.best_bid(), rested.best_ask()) == (95, 100)
    taker = order(500, BUY, 103, 40, CAROL)
    assert loaded.place(taker) == rested.place(taker)  # it matches as the other does
    assert loaded.dump() == rested.dump()


@pytest.mark.parametrize("bad, message", [
    ([order(3, SELL, 100, 1), order(2, SELL, 101, 1)], "after id 3"),
    ([order(3, SELL, 100, 1), order(3, SELL, 101, 1)], "after id 3"),
    ([order(1, SELL, 100, 0)], "size 0"),
    ([dataclasses.replace(order(1, SELL, 100, 1), market_id=MARKET + 1)], "market 8"),
    ([order(1, SELL, 100, 1), order(2, BUY, 100, 1)], "crossed"),
])
def test_a_load_that_is_not_a_stored_book_is_refused_and_leaves_the_book_empty(bad: list[Order], message: str) -> None:
    book = OrderBook(MARKET)
    with pytest.raises(BookError, match=message):
        book.load(bad)
    assert book.dump() == OrderBook(MARKET).dump() and (book.best_bid(), book.best_ask()) == (None, None)
    book.load(_stored_orders())  # an empty book again
    assert book.dump() == book_with(*_stored_orders()).dump()


def test_only_an_empty_book_outside_a_checkpoint_loads() -> None:
    with pytest.raises(BookError, match="must be empty"):
        book_with(order(1, SELL, 100, 1)).load([order(2, SELL, 101, 1)])
    book = OrderBook(MARKET)
    book.checkpoint()
    with pytest.raises(BookError, match="must be empty"):
        book.load([order(2, SELL, 101, 1)])


# -- the owner index ----------------------------------------------------------------------------------


def _other_market(resting: Order) -> Order:
    return dataclasses.replace(resting, market_id=MARKET + 1)


def test_a_subaccounts_orders_are_read_by_market_then_id_with_their_count() -> None:
    books = Books()
    books.add_market(MARKET + 1)
    books.add_market(MARKET)
    books[MARKET].rest(order(5, SELL, 105, 1, ALICE))
    books[MARKET].rest(order(2, BUY, 95, 1, ALICE))
    books[MARKET + 1].rest(_other_market(order(1, BUY, 50, 1, ALICE)))
    books[MARKET].rest(order(3, BUY, 96, 1, BOB))
    books[MARKET].rest(order(4, BUY, 94, 1, ALICE_ISOLATED))
    assert [(o.market_id, o.order_id) for o in books.orders_of(ALICE)] == [(MARKET, 2), (MARKET, 5), (MARKET + 1, 1)]
    assert [o.order_id for o in books.orders_of(ALICE, MARKET + 1)] == [1]
    assert books.orders_of(ALICE, MARKET + 2) == [] and books.orders_of(CAROL) == []
    assert (books.open_count(ALICE), books.open_count(ALICE_ISOLATED), books.open_count(CAROL)) == (3, 1, 0)
    # every subaccount of an address: by number, market, id, cut at the limit
    assert [o.order_id for o in books.orders_of_address(ALICE.address)] == [2, 5, 1, 4]
    assert [o.order_id for o in books.orders_of_address(ALICE.address, 2)] == [2, 5]
    assert books.orders_of_address(CAROL.address) == []


def test_the_owner_index_follows_fills_cancels_and_resizes() -> None:
    book = book_with(order(1, SELL, 100, 5, BOB), order(2, SELL, 100, 5, ALICE), order(3, SELL, 101, 5, BOB),
                     order(4, SELL, 102, 5, CAROL))
    book.match(order(10, BUY, 101, 7, ALICE))  # fills 1, cancels 2 (self-trade), takes 2 of 3
    assert [o.order_id for o in book.owned_by(BOB)] == [3] and book.owned_by(BOB)[0].size_lots == 3
    assert book.owned_count(ALICE) == 0 and book.owner_numbers(ALICE.address) == []
    book.resize(4, 1)
    book.remove(3)
    assert book.owned_by(BOB) == [] and [o.size_lots for o in book.owned_by(CAROL)] == [1]
    assert book.invariant_violations() == []


def test_a_rollback_restores_the_owner_index() -> None:
    book = book_with(order(1, SELL, 100, 5, BOB), order(2, BUY, 90, 5, CAROL))
    token = book.checkpoint()
    book.match(order(10, BUY, 100, 5, ALICE))
    book.rest(order(11, BUY, 99, 1, ALICE))
    book.remove(2)
    assert book.owned_by(BOB) == [] and [o.order_id for o in book.owned_by(ALICE)] == [11]
    book.rollback(token)
    assert [o.order_id for o in book.owned_by(BOB)] == [1] and [o.order_id for o in book.owned_by(CAROL)] == [2]
    assert book.owned_by(ALICE) == [] and book.invariant_violations() == []


def test_a_loaded_book_indexes_its_owners() -> None:
    book = OrderBook(MARKET)
    book.load([order(1, SELL, 100, 5, BOB), order(2, BUY, 90, 5, ALICE_ISOLATED), order(3, SELL, 100, 1, BOB)])
    assert [o.order_id for o in book.owned_by(BOB)] == [1, 3] and book.owner_numbers(ALICE.address) == [1]
    assert book.invariant_violations() == []


def test_an_owner_index_out_of_step_with_the_orders_is_a_violation() -> None:
    book = book_with(order(1, SELL, 100, 5, BOB))
    book._owners[BOB.address][BOB.number].count += 1
    assert any("owner index" in problem for problem in book.invariant_violations())
