"""`triggers` benchmark: the start-of-block trigger check with 100,000 resting conditional orders
across 10 markets when prices move 0.1% (`trigger_check_ms`), on the real Application's store.

Triggers are spread from 1% to 30% away from the price on both sides, so a 0.1% move crosses
none of them: the figure is the cost of finding what fired, the part that grows with the number
of resting conditionals. (Those that fire cost an order placement each, measured by `engine`.)
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from app.application import Application
from app.bench_liquidation import PRICE, START_MS, VALIDATOR_KEY, _finalize, _oracle
from app.store import CacheStore, CommitInfo, CommittedStore, next_app_hash
from genesis.markets import market as market_entry
from modules.context import BlockContext
from modules.orderbook.actions import ConditionalKind
from modules.orderbook.conditional import Conditional, ConditionalBook, trigger_step
from modules.orderbook.keeper import OrderbookKeeper
from modules.orderbook.types import Side
from modules.types import SubaccountId
from tendermint.crypto import keys_pb2 as keys_pb  # noqa: E402
from wire.pb import abci_pb

MARKETS = 10


def run(size: int = 0) -> dict[str, Any]:
    count = size if size > 0 else 100_000
    with tempfile.TemporaryDirectory() as directory:
        store = CommittedStore(Path(directory) / "db")
        app = Application(store)
        markets = [market_entry(m, f"M{m}-USD", 4, 100_000, 10, 10, PRICE, 10**15) for m in range(1, MARKETS + 1)]
        request = abci_pb.RequestInitChain(chain_id="bench", app_state_bytes=json.dumps(
            {"bank": {"balances": []}, "markets": {"markets": markets}}).encode())
        request.validators.add(pub_key=keys_pb.PublicKey(ed25519=VALIDATOR_KEY), power=10)
        request.consensus_params.abci.vote_extensions_enable_height = 1
        app.init_chain(request)
        _finalize(app, 1, [_oracle({m: PRICE for m in range(1, MARKETS + 1)})])

        cache = CacheStore(store)
        ctx = BlockContext("bench", 2, START_MS + 1_000)
        book = ConditionalBook(cache)
        price_ticks = PRICE // 100_000
        kinds = list(ConditionalKind)
        for i in range(count):
            owner = SubaccountId(hashlib.sha256(i.to_bytes(8, "big")).digest()[:20], 0)
            away_ppm = 10_000 + (i * 7_919) % 290_000  # 1% .. 30%
            kind, side = kinds[i % 4], Side.BUY if (i // 4) % 2 == 0 else Side.SELL
            probe = Conditional(0, 1, owner, kind, side, 1, 1, 10, False)
            trigger = price_ticks + price_ticks * away_ppm // 1_000_000 * (1 if probe.fires_up else -1)
            book.add(Conditional(i + 1, 1 + i % MARKETS, owner, kind, side, trigger, trigger, 10, False))
        store.commit(cache.writes, CommitInfo(2, next_app_hash(store.last_commit().app_hash, 2, cache.writes),
                                              START_MS + 1_000))
        moved = {m: PRICE * 1001 // 1000 for m in range(1, MARKETS + 1)}
        _finalize(app, 3, [_oracle(moved)])  # the oracle now 0.1% up

        samples = []
        for _ in range(5):
            branch = CacheStore(store)

            def branching() -> tuple[CacheStore, Any]:
                inner = CacheStore(branch)
                return inner, inner.write

            started = time.perf_counter()
            events = trigger_step(OrderbookKeeper(branch, app.books, BlockContext("bench", 4, START_MS + 2_000)),
                                  branching)
            samples.append(time.perf_counter() - started)
            assert events == [], "a 0.1% move must cross none of the spread triggers"
        finalize_s, _ = _finalize(app, 4, [_oracle({m: PRICE * 1002 // 1000 for m in range(1, MARKETS + 1)})])
        app.signers.close()
        store.close()
    return {"bench": "triggers", "conditional_orders": count, "markets": MARKETS,
            "trigger_check_ms": round(min(samples) * 1000, 2), "trigger_check_median_ms": round(sorted(samples)[2] * 1000, 2),
            "goal_ms": 5, "finalize_block_ms": round(finalize_s * 1000, 1)}
