"""`engine` benchmark: the in-memory matching engine (modules/orderbook) alone, on one core.

10 markets are pre-populated with resting orders around a mid price from many owners, then a
pre-generated mixed workload runs through `OrderBook.place` / `remove`, each op inside its own
checkpoint (a tx branch) as the app runs it:
  ~62% placements that rest without crossing, ~25% cancels (of live orders), ~13% orders that take
  liquidity (3 in 4 IOC with a slippage bound, 1 in 4 GTC whose remainder rests).
Order records are built inside the timed loop (the keeper builds one per placement). Each timed
phase starts from a collected heap (`gc.collect()`): otherwise whether a full collection owed by the
set-up (100,000 orders built just before) lands inside the timed window or just after it decides a
third of the figure, from one code version to the next. Collections the workload itself causes
still count.

Figures:
  engine_ops_per_s         ops / wall time of the mixed workload
  place_us / cancel_us / cross_us   mean time per op of each kind (a second, per-op timed run of
                           the same workload; each includes ~0.1 us of timer overhead)
  bytes_per_resting_order  tracemalloc delta of resting N fresh orders (Order records and their
                           ints, order index, levels, sorted prices) / N
  match_16k_ms / rollback_ms   one IOC taker filling 16,000 resting orders of one price level inside
                           a checkpoint, then the rollback of that checkpoint (best of 5 each)
  rollback_ratio           rollback_ms / match_16k_ms: undoing must cost what the changes cost
"""

from __future__ import annotations

import gc
import json
import random
import time
import tracemalloc
from typing import Any

from modules.orderbook import Books, Order, OrderBook, Side, TimeInForce
from modules.types import SubaccountId

MARKETS = 10
OWNERS = 2_000
MID_PRICE_TICKS = 1_000_000
DEFAULT_RESTING = 100_000
DEFAULT_OPS = 200_000
MEMORY_ORDERS = 100_000
ROLLBACK_MAKERS = 16_000
ROLLBACK_REPEATS = 5
SEED = 20240601

PLACE, CANCEL, CROSS = 0, 1, 2
GTC = TimeInForce.GTC
IOC = TimeInForce.IOC
BUY = Side.BUY
SELL = Side.SELL


def _owners() -> list[SubaccountId]:
    return [SubaccountId(index.to_bytes(20, "big"), 0) for index in range(1, OWNERS + 1)]


def _passive_offset_ticks(rng: random.Random) -> int:
    """Distance from the mid of a resting order: most near the top of the book, a long tail."""
    return 1 + min(int(rng.expovariate(1 / 40)), 2_000)


def _generate(rng: random.Random, resting: int, ops: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(seed orders, workload ops) as plain tuples; order ids are global and increasing."""
    next_id = 1
    live: list[list[int]] = [[] for _ in range(MARKETS)]  # ids a cancel may pick (fills not tracked)
    seed_orders = []
    for _ in range(resting):
        market = rng.randrange(MARKETS)
        side = BUY if rng.random() < 0.5 else SELL
        offset = _passive_offset_ticks(rng)
        price = MID_PRICE_TICKS - offset if side == BUY else MID_PRICE_TICKS + offset
        seed_orders.append((next_id, market, rng.randrange(OWNERS), side, price, rng.randint(1, 50)))
        live[market].append(next_id)
        next_id += 1
    workload: list[tuple[Any, ...]] = []
    for _ in range(ops):
        market = rng.randrange(MARKETS)
        draw = rng.random()
        side = BUY if rng.random() < 0.5 else SELL
        if draw < 0.62 or not live[market]:
            offset = _passive_offset_ticks(rng)
            price = MID_PRICE_TICKS - offset if side == BUY else MID_PRICE_TICKS + offset
            workload.append((PLACE, next_id, market, rng.randrange(OWNERS), side, price, rng.randint(1, 50), GTC))
            live[market].append(next_id)
            next_id += 1
        elif draw < 0.87:
            ids = live[market]
            pick = rng.randrange(len(ids))
            ids[pick], ids[-1] = ids[-1], ids[pick]
            workload.append((CANCEL, ids.pop(), market))
        else:
            slippage = rng.randint(1, 12)
            price = MID_PRICE_TICKS + slippage if side == BUY else MID_PRICE_TICKS - slippage
            tif = GTC if rng.random() < 0.25 else IOC
            workload.append((CROSS, next_id, market, rng.randrange(OWNERS), side, price, rng.randint(20, 120), tif))
            next_id += 1
    return seed_orders, workload


def _populate(books: Books, owners: list[SubaccountId], seed_orders: list[tuple[Any, ...]]) -> None:
    for order_id, market, owner, side, price, size in seed_orders:
        books[market].place(Order(order_id, market, owners[owner], order_id, side, price, size))


def _fresh_books(owners: list[SubaccountId], seed_orders: list[tuple[Any, ...]]) -> Books:
    books = Books()
    for market in range(MARKETS):
        books.add_market(market)
    _populate(books, owners, seed_orders)
    return books


def _run_workload(books: Books, owners: list[SubaccountId], workload: list[tuple[Any, ...]]) -> dict[str, int]:
    """The workload as the app would run it; returns what happened."""
    book_of = [books[market] for market in range(MARKETS)]
    checkpoint, release = books.checkpoint, books.release
    fills = missed_cancels = rested_crossers = 0
    for op in workload:
        token = checkpoint()
        kind = op[0]
        if kind == CANCEL:
            book = book_of[op[2]]
            if op[1] in book:
                book.remove(op[1])
            else:
                missed_cancels += 1  # filled by a crossing order since it was placed
        else:
            _, order_id, market, owner, side, price, size, tif = op
            result = book_of[market].place(Order(order_id, market, owners[owner], order_id, side, price, size, tif=tif))
            if result.fills:
                fills += len(result.fills)
            if kind == CROSS and result.rested:
                rested_crossers += 1
        release(token)
    return {"fills": fills, "missed_cancels": missed_cancels, "rested_crossers": rested_crossers}


def _timed_by_kind(books: Books, owners: list[SubaccountId], workload: list[tuple[Any, ...]]) -> dict[int, list[int]]:
    """Same as `_run_workload`, timing each op: kind -> [count, total ns]."""
    book_of = [books[market] for market in range(MARKETS)]
    checkpoint, release = books.checkpoint, books.release
    clock = time.perf_counter_ns
    totals = {PLACE: [0, 0], CANCEL: [0, 0], CROSS: [0, 0]}
    for op in workload:
        kind = op[0]
        started = clock()
        token = checkpoint()
        if kind == CANCEL:
            book = book_of[op[2]]
            if op[1] in book:
                book.remove(op[1])
        else:
            _, order_id, market, owner, side, price, size, tif = op
            book_of[market].place(Order(order_id, market, owners[owner], order_id, side, price, size, tif=tif))
        release(token)
        elapsed = clock() - started
        entry = totals[kind]
        entry[0] += 1
        entry[1] += elapsed
    return totals


def _bytes_per_resting_order(owners: list[SubaccountId], orders: int) -> float:
    rng = random.Random(SEED + 1)
    specs = []
    for order_id in range(1, orders + 1):
        side = BUY if rng.random() < 0.5 else SELL
        offset = _passive_offset_ticks(rng)
        specs.append((order_id, rng.randrange(MARKETS), rng.randrange(OWNERS), side, offset, rng.randint(1, 50)))
    books = Books()
    for market in range(MARKETS):
        books.add_market(market)
    book_of = [books[market] for market in range(MARKETS)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for order_id, market, owner, side, offset, size in specs:
        # Prices and client ids are computed here so each order owns its int objects, as a decoded tx does.
        price = MID_PRICE_TICKS - offset if side == BUY else MID_PRICE_TICKS + offset
        book_of[market].rest(Order(order_id + 0, market, owners[owner], order_id * 7 + 1, side, price, size))
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert books.order_count() == orders
    return (after - before) / orders


def _match_and_rollback_ms(owners: list[SubaccountId], makers: int) -> tuple[float, float]:
    """(match ms, rollback ms), best of ROLLBACK_REPEATS: one taker fills `makers` resting orders of
    one price level inside a checkpoint, which is then rolled back (restoring the same book)."""
    book = OrderBook(0)
    for order_id in range(1, makers + 1):
        book.rest(Order(order_id, 0, owners[order_id % OWNERS], order_id, SELL, MID_PRICE_TICKS, 1))
    before = book.levels(SELL)
    gc.collect()
    taker_owner = SubaccountId((OWNERS + 1).to_bytes(20, "big"), 0)  # owns no maker: no self-trade
    taker = Order(makers + 1, 0, taker_owner, 0, BUY, MID_PRICE_TICKS, makers, tif=IOC)
    clock = time.perf_counter
    match_s = rollback_s = float("inf")
    for _ in range(ROLLBACK_REPEATS):
        token = book.checkpoint()
        started = clock()
        result = book.place(taker)
        matched = clock()
        book.rollback(token)
        rolled_back = clock()
        assert len(result.fills) == makers and book.levels(SELL) == before
        match_s = min(match_s, matched - started)
        rollback_s = min(rollback_s, rolled_back - matched)
    return match_s * 1000, rollback_s * 1000


def run(size: int = 0) -> dict[str, float | int]:
    """Run the benchmark; `size` is the number of workload ops (0: the default 200,000)."""
    ops = size if size > 0 else DEFAULT_OPS
    owners = _owners()
    seed_orders, workload = _generate(random.Random(SEED), DEFAULT_RESTING, ops)

    books = _fresh_books(owners, seed_orders)
    resting_before = books.order_count()
    gc.collect()  # see the module docstring
    started = time.perf_counter()
    happened = _run_workload(books, owners, workload)
    elapsed_s = time.perf_counter() - started
    resting_after = books.order_count()

    timed_books = _fresh_books(owners, seed_orders)
    gc.collect()
    timed = _timed_by_kind(timed_books, owners, workload)

    def mean_us(kind: int) -> float:
        count, total_ns = timed[kind]
        return round(total_ns / max(count, 1) / 1000, 3)

    match_ms, rollback_ms = _match_and_rollback_ms(owners, ROLLBACK_MAKERS)

    return {
        "engine_ops_per_s": round(len(workload) / elapsed_s),
        "bytes_per_resting_order": round(_bytes_per_resting_order(owners, MEMORY_ORDERS), 1),
        "rollback_ratio": round(rollback_ms / match_ms, 2),
        "match_16k_ms": round(match_ms, 2),
        "rollback_ms": round(rollback_ms, 2),
        "place_us": mean_us(PLACE),
        "cancel_us": mean_us(CANCEL),
        "cross_us": mean_us(CROSS),
        "ops": len(workload),
        "markets": MARKETS,
        "place_ops": timed[PLACE][0],
        "cancel_ops": timed[CANCEL][0],
        "cross_ops": timed[CROSS][0],
        "fills": happened["fills"],
        "missed_cancels": happened["missed_cancels"],
        "rested_crossers": happened["rested_crossers"],
        "resting_orders_before": resting_before,
        "resting_orders_after": resting_after,
        "elapsed_s": round(elapsed_s, 3),
    }


if __name__ == "__main__":
    print(json.dumps(run()))
