"""`triggers` benchmark: the start-of-block trigger check with 100,000 resting conditional orders
across 10 markets when prices move 0.1% (`trigger_check_ms`), on the real Application's store.

A fifth of them are trailing stops, the rest stops and take-profits. Triggers are spread from 1%
to 30% away from the price on both sides, so a 0.1% move fires none of them: the figure is the
cost of finding what fired and of moving the trailing stops the move passed, the parts that grow
with the number of resting conditionals. (Those that fire cost an order placement each, measured
by `engine`.) Trailing anchors (the best price since placement) sit 0-3% beyond the price and
their distances 4-13%, so a 0.1% move passes (and re-indexes) the ~3% of them anchored within it.

A second figure is the worst case for trailing stops: every one of them anchored at the current
price when the price makes a new 0.1% high, so each one's trigger moves (`trailing_all_move_ms`
for `trailing_stops_moved`): that cost grows with the number of trailing stops, one re-index each.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from app.application import Application
from app.bench_liquidation import PRICE, START_MS, VALIDATOR_KEY, _finalize, _oracle
from app.store import CacheStore, CommitInfo, CommittedStore, next_app_hash
from genesis.markets import market as market_entry
from modules.context import BlockContext
from modules.orderbook.actions import ConditionalKind
from modules.orderbook.conditional import Conditional, ConditionalBook, trigger_step
from modules.orderbook.keeper import OrderbookKeeper
from modules.orderbook.trailing import trail_trigger
from modules.orderbook.types import Side
from modules.types import SubaccountId
from tendermint.crypto import keys_pb2 as keys_pb  # noqa: E402
from wire.pb import abci_pb

MARKETS = 10
TICK = 100_000
TRAILING_SHARE = 5  # one conditional in 5 is a trailing stop


def _owner(i: int) -> SubaccountId:
    return SubaccountId(hashlib.sha256(i.to_bytes(8, "big")).digest()[:20], 0)


def _plain(i: int, price_ticks: int) -> Conditional:
    kinds = list(ConditionalKind)[:4]
    away_ppm = 10_000 + (i * 7_919) % 290_000  # 1% .. 30%
    kind, side = kinds[i % 4], Side.BUY if (i // 5) % 2 == 0 else Side.SELL
    probe = Conditional(0, 1, _owner(i), kind, side, 1, 1, 10, False)
    trigger = price_ticks + price_ticks * away_ppm // 1_000_000 * (1 if probe.fires_up else -1)
    return Conditional(i + 1, 1 + i % MARKETS, _owner(i), kind, side, trigger, trigger, 10, False)


def _trailing(i: int, price_ticks: int, anchor_away_ppm: int) -> Conditional:
    side = Side.SELL if (i // 5) % 2 == 0 else Side.BUY
    sign = 1 if side == Side.SELL else -1  # a sell's anchor is a high, a buy's a low
    anchor = price_ticks + sign * price_ticks * anchor_away_ppm // 1_000_000
    # 4% .. 13%, half in ticks, half in basis points: over the anchor's 0-3%, so none fires at the price
    trail_ticks, trail_bps = (price_ticks * (40_000 + (i * 31) % 90_000) // 1_000_000, 0) if i % 2 else \
        (0, 400 + (i * 13) % 900)
    return Conditional(i + 1, 1 + i % MARKETS, _owner(i), ConditionalKind.TRAILING_STOP, side,
                       trail_trigger(side, anchor, trail_ticks, trail_bps), 0, 10, False, trail_ticks, trail_bps,
                       anchor, 100)


def _chain(directory: str) -> tuple[Application, CommittedStore]:
    store = CommittedStore(Path(directory) / "db")
    app = Application(store)
    markets = [market_entry(m, f"M{m}-USD", 4, TICK, 10, 10, PRICE, 10**15) for m in range(1, MARKETS + 1)]
    request = abci_pb.RequestInitChain(chain_id="bench", app_state_bytes=json.dumps(
        {"bank": {"balances": []}, "markets": {"markets": markets}}).encode())
    request.validators.add(pub_key=keys_pb.PublicKey(ed25519=VALIDATOR_KEY), power=10)
    request.consensus_params.abci.vote_extensions_enable_height = 1
    app.init_chain(request)
    _finalize(app, 1, [_oracle({m: PRICE for m in range(1, MARKETS + 1)})])
    return app, store


def _rest_then_move(app: Application, store: CommittedStore, conditionals: list[Conditional]) -> None:
    """The oracle moves 0.1% up (height 2), then the conditionals, placed against the old price,
    are written as if at height 3: the timed step is the first to see them under the new price."""
    _finalize(app, 2, [_oracle({m: PRICE * 1001 // 1000 for m in range(1, MARKETS + 1)})])
    cache = CacheStore(store)
    book = ConditionalBook(cache)
    for conditional in conditionals:
        book.add(conditional)
    store.commit(cache.writes, CommitInfo(3, next_app_hash(store.last_commit().app_hash, 3, cache.writes),
                                          START_MS + 1_500))


def _time_check(app: Application, store: CommittedStore, repeats: int) -> tuple[list[float], int]:
    """Trigger-step timings on throwaway branches of the committed state, and how many trailing
    stops one of them moved (each move rewrites the record once)."""
    samples, moved = [], 0
    for _ in range(repeats):
        branch = CacheStore(store)

        def branching() -> tuple[CacheStore, Callable[[], None]]:
            inner = CacheStore(branch)
            return inner, inner.write

        started = time.perf_counter()
        events = trigger_step(OrderbookKeeper(branch, app.books, BlockContext("bench", 4, START_MS + 2_000)),
                              branching)
        samples.append(time.perf_counter() - started)
        assert events == [], f"a 0.1% move must fire none of the spread triggers: {events[:2]}"
        moved = sum(1 for key in branch.writes if key.startswith(b"orderbook/cd/"))
    return samples, moved


def run(size: int = 0) -> dict[str, Any]:
    count = size if size > 0 else 100_000
    price_ticks = PRICE // TICK
    with tempfile.TemporaryDirectory() as directory:  # the mix: spread triggers and anchors
        app, store = _chain(directory)
        _rest_then_move(app, store, [_trailing(i, price_ticks, (i * 7_919) % 30_000) if i % TRAILING_SHARE == 4
                                     else _plain(i, price_ticks) for i in range(count)])
        samples, moved = _time_check(app, store, 5)
        finalize_s, _ = _finalize(app, 4, [_oracle({m: PRICE * 1002 // 1000 for m in range(1, MARKETS + 1)})])
        app.signers.close()
        store.close()
    trailing = count // TRAILING_SHARE
    with tempfile.TemporaryDirectory() as directory:  # worst case: every trailing stop at the high
        app, store = _chain(directory)
        _rest_then_move(app, store, [_trailing(i * TRAILING_SHARE + 4, price_ticks, 0) for i in range(trailing)])
        worst, worst_moved = _time_check(app, store, 3)
        app.signers.close()
        store.close()
    return {"bench": "triggers", "conditional_orders": count, "trailing_stops": trailing, "markets": MARKETS,
            "trigger_check_ms": round(min(samples) * 1000, 2),
            "trigger_check_median_ms": round(sorted(samples)[2] * 1000, 2), "trailing_stops_moved_by_the_move": moved,
            "goal_ms": 5, "finalize_block_ms": round(finalize_s * 1000, 1),
            "trailing_all_move_ms": round(min(worst) * 1000, 1), "trailing_stops_moved": worst_moved}
