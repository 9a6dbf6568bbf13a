"""Rolling a book back costs what the changes cost: one journal entry per change, each undone with a
bounded amount of work, whatever the size of the level it lands in. Work is counted, never timed:
order ids here are `CountedId`s, which count every time the book hashes or compares one."""

from __future__ import annotations

import random

from modules.orderbook import CancelReason, Order, OrderBook, Side, TimeInForce
from modules.types import SubaccountId

MARKET = 7
BUY, SELL = Side.BUY, Side.SELL
TAKER = SubaccountId(b"\x01" * 20, 0)
MAKERS = [SubaccountId(bytes([index]) * 20, 0) for index in range(2, 12)]
UNDO_WORK_PER_ENTRY = 2  # hashes and comparisons of ids allowed per undone journal entry


class CountedId(int):
    """An order id that counts each hash or comparison of itself (a sort or a walk would show)."""

    uses = 0

    def __hash__(self) -> int:
        CountedId.uses += 1
        return int.__hash__(self)

    def __eq__(self, other: object) -> bool:
        CountedId.uses += 1
        return int.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        CountedId.uses += 1
        return int.__ne__(self, other)

    def __lt__(self, other: int) -> bool:
        CountedId.uses += 1
        return int.__lt__(self, other)

    def __le__(self, other: int) -> bool:
        CountedId.uses += 1
        return int.__le__(self, other)

    def __gt__(self, other: int) -> bool:
        CountedId.uses += 1
        return int.__gt__(self, other)

    def __ge__(self, other: int) -> bool:
        CountedId.uses += 1
        return int.__ge__(self, other)


def order(
    order_id: int, side: Side, price_ticks: int, size_lots: int, owner: SubaccountId,
    tif: TimeInForce = TimeInForce.GTC,
) -> Order:
    return Order(CountedId(order_id), MARKET, owner, order_id, side, price_ticks, size_lots, tif=tif)


def rollback_counting_work(book: OrderBook, token: int) -> tuple[int, int]:
    """(journal entries undone, id hashes and comparisons the rollback made)."""
    entries = len(book._journal.entries) - book._journal.marks[-1][1]
    CountedId.uses = 0
    book.rollback(token)
    return entries, CountedId.uses


def test_rolling_back_a_16k_fill_match_undoes_one_entry_per_maker_and_restores_the_exact_book() -> None:
    makers = 16_000
    book = OrderBook(MARKET)
    own_lots = 0
    for order_id in range(1, makers + 1):
        owner = TAKER if order_id % 1_000 == 500 else MAKERS[order_id % len(MAKERS)]  # 16 self-trades
        size = 1 + order_id % 3
        own_lots += size if owner == TAKER else 0
        book.rest(order(order_id, SELL, 100, size, owner))
    book.rest(order(makers + 1, SELL, 101, 5, MAKERS[0]))
    before = book.dump()
    filled_all_but_one_lot = book.levels(SELL)[0][1] - own_lots - 1
    token = book.checkpoint()
    result = book.place(order(makers + 2, BUY, 100, filled_all_but_one_lot, TAKER, TimeInForce.IOC))
    assert len(result.fills) == makers - 16 and len(result.cancelled) == 16
    assert all(c.reason == CancelReason.SELF_TRADE for c in result.cancelled)
    assert book.levels(SELL) == [(100, 1, 1), (101, 5, 1)]  # the last maker, shrunk, and the next level
    entries, work = rollback_counting_work(book, token)
    assert entries == makers  # every maker left (or shrank in place): one entry each
    assert work <= UNDO_WORK_PER_ENTRY * entries
    assert book.dump() == before and book.invariant_violations() == []


def test_undoing_cancels_in_the_middle_of_a_deep_level_costs_no_walk_along_it() -> None:
    book = OrderBook(MARKET)
    for order_id in range(1, 8_001):
        book.rest(order(order_id, BUY, 100, 2, MAKERS[order_id % len(MAKERS)]))
    before = book.dump()
    token = book.checkpoint()
    for order_id in range(7_999, 1, -2):  # every other order, from the back to the front
        book.remove(CountedId(order_id))
    entries, work = rollback_counting_work(book, token)
    assert entries == 3_999 and work <= UNDO_WORK_PER_ENTRY * entries
    assert book.dump() == before and book.invariant_violations() == []


def test_rollback_of_mixed_ops_restores_the_exact_book_at_bounded_work_per_entry() -> None:
    rng = random.Random(11)
    book = OrderBook(MARKET)
    next_id = 1
    for _ in range(3_000):
        side = BUY if rng.random() < 0.5 else SELL
        price = 100 - rng.randint(1, 6) if side == BUY else 100 + rng.randint(1, 6)
        book.rest(order(next_id, side, price, rng.randint(1, 9), rng.choice(MAKERS)))
        next_id += 1
    before = book.dump()
    token = book.checkpoint()
    iceberg_slices = 0

    def refill(maker: Order) -> Order | None:
        nonlocal next_id, iceberg_slices
        if maker.order_id % 7:
            return None
        next_id += 1
        iceberg_slices += 1
        return order(next_id, maker.side, maker.price_ticks, 3, maker.owner)

    for _ in range(3_000):
        draw = rng.random()
        live = sorted(o.order_id for side in (BUY, SELL) for o in book.iter_orders(side)) if draw < 0.5 else []
        if live and draw < 0.25:
            book.remove(CountedId(rng.choice(live)))
        elif live and draw < 0.5:
            resting = book.get(CountedId(rng.choice(live)))
            assert resting is not None
            if resting.size_lots > 1:
                book.resize(resting.order_id, rng.randint(1, resting.size_lots - 1))
        else:
            next_id += 1
            side = BUY if rng.random() < 0.5 else SELL
            taker = order(next_id, side, 100 + (rng.randint(-2, 7) if side == BUY else -rng.randint(-2, 7)),
                          rng.randint(1, 40), rng.choice([*MAKERS, TAKER]))
            if rng.random() < 0.3:
                book.match(taker, lambda maker, size: maker.order_id % 5 != 0, refill)
            else:
                book.place(taker)
    assert iceberg_slices > 0 and book.dump() != before
    entries, work = rollback_counting_work(book, token)
    assert entries > 3_000 and work <= UNDO_WORK_PER_ENTRY * entries
    assert book.dump() == before and book.invariant_violations() == []
