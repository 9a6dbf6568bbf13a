"""`restart` benchmark: how long a node holding N resting orders (default 1,000,000) takes from
process start to serving again: opening LevelDB and rebuilding the in-memory books from the store
(`restart_s`, goal ≤ 10 s), on the real Application.

Setup (not timed): the orders are written through the order-book keeper's own store layout
across 10 markets, in one committed batch.
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
from modules.orderbook.keeper import BY_SUBACCOUNT, OPEN_COUNT, ORDER, STORE_PREFIX, pack_order
from modules.orderbook.types import Order, Side
from modules.types import SubaccountId
from tendermint.crypto import keys_pb2 as keys_pb  # noqa: E402
from wire.pb import abci_pb

MARKETS = 10


def run(size: int = 0) -> dict[str, Any]:
    count = size if size > 0 else 1_000_000
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "db"
        store = CommittedStore(path)
        app = Application(store)
        markets = [market_entry(m, f"M{m}-USD", 4, 100_000, 10, 10, PRICE, 10**15) for m in range(1, MARKETS + 1)]
        request = abci_pb.RequestInitChain(chain_id="bench", app_state_bytes=json.dumps(
            {"bank": {"balances": []}, "markets": {"markets": markets}}).encode())
        request.validators.add(pub_key=keys_pb.PublicKey(ed25519=VALIDATOR_KEY), power=10)
        request.consensus_params.abci.vote_extensions_enable_height = 1
        app.init_chain(request)
        _finalize(app, 1, [_oracle({m: PRICE for m in range(1, MARKETS + 1)})])
        app.signers.close()

        written = 0
        mid = PRICE // 100_000
        owners = [SubaccountId(hashlib.sha256(i.to_bytes(4, "big")).digest()[:20], 0) for i in range(5_000)]
        height = 2
        while written < count:
            cache = CacheStore(store)
            for i in range(written, min(count, written + 200_000)):
                market_id = 1 + i % MARKETS
                side = Side.BUY if i % 2 else Side.SELL
                price = mid - 1 - (i // 20) % 5_000 if side == Side.BUY else mid + 1 + (i // 20) % 5_000
                owner = owners[i % len(owners)]
                order = Order(i + 1, market_id, owner, 0, side, price, 10)
                key = market_id.to_bytes(4, "big") + (i + 1).to_bytes(8, "big")
                cache.set(STORE_PREFIX + ORDER + key, pack_order(order))
                cache.set(STORE_PREFIX + BY_SUBACCOUNT + owner.address + b"\x00" + key, b"")
            for owner in owners:  # each owner holds every len(owners)-th order
                held = len(range(owners.index(owner), min(count, written + 200_000), len(owners)))
                cache.set(STORE_PREFIX + OPEN_COUNT + owner.address + b"\x00", held.to_bytes(4, "big"))
            written = min(count, written + 200_000)
            store.commit(cache.writes, CommitInfo(height, next_app_hash(store.last_commit().app_hash, height,
                                                                         cache.writes), START_MS + height * 500))
            height += 1
        store.close()

        started = time.perf_counter()
        reopened = CommittedStore(path)
        restarted = Application(reopened)
        restart_s = time.perf_counter() - started
        resting = restarted.books.order_count()
        restarted.signers.close()
        reopened.close()
    return {"bench": "restart", "resting_orders": resting, "restart_s": round(restart_s, 2), "goal_s": 10}
