"""`triggers` benchmark: the start-of-block trigger check with 100,000 resting conditional orders
across 10 markets when prices move 0.1% (`trigger_check_ms`), on the real Application's store.

A fifth of them are trailing stops, the rest stops and take-profits with triggers spread 1-30%
from the price, so a 0.1% move fires none of them: the figure is the cost of finding what fired
and of moving the trailing stops the move passed, the parts that grow with the number of resting
conditionals. (Those that fire cost an order placement each, measured by `engine`.)

Trailing stops are placed as a chain would hold them: along a seeded 400-block random walk of
every market's price (0.05% steps), each anchored at the price of its block and trailed block by
block since, so their anchors are the walk's own highs and lows (`trailing_segments` of them).

A second figure is the worst case for trailing stops: every one of them anchored at the current
price when the price makes a new 0.1% high (`trailing_all_move_ms`): segments move, not stops,
so it does not grow with the number of stops.
"""

from __future__ import annotations

import hashlib
import random
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from app.driver import InProcessChain, priced_genesis
from app.router import keepers_over
from app.store import CacheStore
from bench.common import PRICE, TICK, bench_markets, same_price
from genesis.app_state import build_app_state
from modules.context import BlockContext
from modules.keepers import Keepers
from modules.orderbook.actions import ConditionalKind
from modules.orderbook.conditional import Conditional, ConditionalBook, trigger_step
from modules.orderbook.trailing import trail_trigger
from modules.orderbook.types import Side
from modules.store import KVStore
from modules.types import SubaccountId

MARKETS = 10
TRAILING_SHARE = 5  # one conditional in 5 is a trailing stop
WALK_BLOCKS = 400


def _owner(i: int) -> SubaccountId:
    return SubaccountId(hashlib.sha256(i.to_bytes(8, "big")).digest()[:20], 0)


def _plain(i: int, price_ticks: int) -> Conditional:
    kinds = list(ConditionalKind)[:4]
    away_ppm = 10_000 + (i * 7_919) % 290_000  # 1% .. 30%
    kind, side = kinds[i % 4], Side.BUY if (i // 5) % 2 == 0 else Side.SELL
    probe = Conditional(0, 1, _owner(i), kind, side, 1, 1, 10, False)
    trigger = price_ticks + price_ticks * away_ppm // 1_000_000 * (1 if probe.fires_up else -1)
    return Conditional(i + 1, 1 + i % MARKETS, _owner(i), kind, side, trigger, trigger, 10, False)


def _trailing(i: int, market_id: int, side: Side, anchor_ticks: int) -> Conditional:
    # 4% .. 13%, half in ticks, half in basis points: beyond what the walk moves, so none fires
    trail_ticks, trail_bps = (anchor_ticks * (40_000 + (i * 31) % 90_000) // 1_000_000, 0) if i % 2 else \
        (0, 400 + (i * 13) % 900)
    return Conditional(i + 1, market_id, _owner(i), ConditionalKind.TRAILING_STOP, side,
                       trail_trigger(side, anchor_ticks, trail_ticks, trail_bps), 0, 10, False, trail_ticks, trail_bps,
                       anchor_ticks, 100)


def _walk(seed: int, blocks: int, start_ticks: int) -> list[list[int]]:
    """Each market's price per block: a seeded random walk of 0.05% steps (a benchmark input,
    not chain state)."""
    rng = random.Random(seed)
    prices, path = [start_ticks] * MARKETS, []
    for _ in range(blocks):
        prices = [p + p * rng.choice((-500, 500)) // 1_000_000 for p in prices]
        path.append(prices)
    return path


def _chain(directory: str) -> InProcessChain:
    """A chain of MARKETS markets with one validator, its first block at PRICE."""
    chain = InProcessChain.start(Path(directory) / "db",
                                 priced_genesis("bench", build_app_state([], bench_markets(MARKETS))))
    chain.block(prices=same_price(MARKETS, PRICE))
    return chain


def _place_then_move(chain: InProcessChain, build: Callable[[ConditionalBook], None], moved_ticks: list[int]) -> None:
    """The oracle moves to `moved_ticks` (height 2); then `build` writes the conditionals as if
    placed before it (height 3): the timed step is the first to see them under the new prices."""
    chain.block(prices={m: moved_ticks[m - 1] * TICK for m in range(1, MARKETS + 1)})

    def write(store: KVStore) -> None:
        build(ConditionalBook(store))

    chain.write_state(write)


def _time_check(chain: InProcessChain, repeats: int) -> tuple[list[float], int]:
    """Trigger-step timings on throwaway branches of the committed state, and the writes of one."""
    samples, writes = [], 0
    for _ in range(repeats):
        branch = CacheStore(chain.store)

        ctx = BlockContext(chain.chain_id, chain.height + 1, chain.next_time_ms())

        def branching() -> tuple[Keepers, Callable[[], None]]:
            inner = CacheStore(branch)
            return keepers_over(inner, chain.app.books, ctx), inner.write

        started = time.perf_counter()
        events = trigger_step(keepers_over(branch, chain.app.books, ctx).orderbook, branching)
        samples.append(time.perf_counter() - started)
        assert events == [], f"a 0.1% move must fire none of the spread triggers: {events[:2]}"
        writes = len(branch.writes)
    return samples, writes


def run(size: int = 0) -> dict[str, Any]:
    count = size if size > 0 else 100_000
    trailing = count // TRAILING_SHARE
    path = _walk(7, WALK_BLOCKS, PRICE // TICK)
    end = path[-1]
    segments = 0

    def mix(book: ConditionalBook) -> None:  # the walk with its trailing stops, then the rest
        nonlocal segments
        per_block = -(-trailing // WALK_BLOCKS)
        placed = 0
        for prices in path:
            for m in range(1, MARKETS + 1):
                book.trail(m, prices[m - 1])
            for _ in range(min(per_block, trailing - placed)):
                i = placed * TRAILING_SHARE + 4
                market_id, side = 1 + placed % MARKETS, Side.SELL if (placed // MARKETS) % 2 == 0 else Side.BUY
                book.add(_trailing(i, market_id, side, prices[market_id - 1]))
                placed += 1
        for i in range(count):
            if i % TRAILING_SHARE != 4:
                market_id = 1 + i % MARKETS
                book.add(_plain(i, end[market_id - 1]))
        segments = sum(book.segment_count(m, side) for m in range(1, MARKETS + 1) for side in Side)

    with tempfile.TemporaryDirectory() as directory, _chain(directory) as chain:
        _place_then_move(chain, mix, [p * 1001 // 1000 for p in end])  # 0.1% up from the walk's end
        samples, _ = _time_check(chain, 5)
        oracle = chain.oracle_tx({m: end[m - 1] * 1002 // 1000 * TICK for m in range(1, MARKETS + 1)})
        started = time.perf_counter()
        chain.finalize([oracle])
        finalize_s = time.perf_counter() - started
        chain.commit()

    def at_the_high(book: ConditionalBook) -> None:  # every sell trailing stop anchored at the price
        for placed in range(trailing):
            market_id = 1 + placed % MARKETS
            book.add(_trailing(placed * TRAILING_SHARE + 4, market_id, Side.SELL, PRICE // TICK))

    with tempfile.TemporaryDirectory() as directory, _chain(directory) as chain:
        _place_then_move(chain, at_the_high, [PRICE // TICK * 1001 // 1000] * MARKETS)
        worst, _ = _time_check(chain, 3)
    return {"bench": "triggers", "conditional_orders": count, "trailing_stops": trailing, "markets": MARKETS,
            "trailing_segments": segments, "trigger_check_ms": round(min(samples) * 1000, 2),
            "trigger_check_median_ms": round(sorted(samples)[2] * 1000, 2), "goal_ms": 5,
            "finalize_block_ms": round(finalize_s * 1000, 1), "trailing_all_move_ms": round(min(worst) * 1000, 2)}
