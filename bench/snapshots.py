"""State sync's figures: how long a snapshot takes to write and to restore, for a state of
1,000,000 resting orders over 100,000 funded subaccounts (goal: restore <= 30 s).

Setup (not timed): a chain with 10 markets makes a block; the subaccounts' balances and the
resting orders (10 per subaccount, both sides of every market) are written into its LevelDB
through the bank's and the order book's keepers, in batches at that height, and the height is
committed again with the tree of the whole state as its app hash (a fixture, not a chain history:
the orders are in no block, as in bench/restart.py).
Timed:
  snapshot_s  a snapshot of the committed state written as the node's snapshot thread writes it
              (app/snapshots.py: the covered items in key order, chunked, hashed, synced to disk)
  restore_s   an empty node's Application offered that snapshot with the trusted app hash, then
              every chunk applied in order, read from disk as a peer would serve it: the items
              written into LevelDB, the tree built and checked against the app hash, its nodes
              committed, the books and every other in-memory structure loaded
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path
from typing import Any

from app.application import Application
from app.driver import Genesis, InProcessChain
from app.router import keepers_over
from app.snapshots import FORMAT, SnapshotStore, write_snapshot
from app.store import CacheStore, CommitInfo, CommittedStore
from bench.common import PRICE, TICK, BenchmarkFailed, bench_markets
from genesis.app_state import build_app_state
from modules.context import BlockContext
from modules.orderbook.keeper import OrderbookKeeper
from modules.orderbook.types import Order, Side
from modules.types import SubaccountId
from wire.pb import abci_pb

MARKETS = 10
ORDERS = 1_000_000
SUBACCOUNTS = 100_000
WRITE_CHUNK = 200_000
GOAL_RESTORE_S = 30
BALANCE_MICRO_USDC = 10_000 * 1_000_000


def _write_state(data: Path, orders: int, subaccounts: int) -> CommitInfo:
    """The chain at `data` after its first block, with the balances and resting orders of the
    module doc, committed at that height with the state tree's root as the app hash."""
    with InProcessChain.start(data, Genesis("perpchain-snapshots", build_app_state([], bench_markets(MARKETS)))) as chain:
        chain.block([])
    store = CommittedStore(data)
    try:
        last = store.last_commit()
        books = OrderbookKeeper.load_books(store)
        ctx = BlockContext("perpchain-snapshots", last.height, last.block_time_ms)
        owners = [SubaccountId(hashlib.sha256(i.to_bytes(4, "big")).digest()[:20], 0) for i in range(subaccounts)]
        for start in range(0, subaccounts, WRITE_CHUNK):
            cache = CacheStore(store)
            bank = keepers_over(cache, books, ctx).bank
            for owner in owners[start:start + WRITE_CHUNK]:
                bank.mint(owner, BALANCE_MICRO_USDC)
            store.commit(cache.writes, last, store.tree().update(cache.writes))
        mid = PRICE // TICK
        for start in range(0, orders, WRITE_CHUNK):
            cache = CacheStore(store)
            keeper = keepers_over(cache, books, ctx).orderbook
            for i in range(start, min(orders, start + WRITE_CHUNK)):
                market_id = 1 + i % MARKETS
                side = Side.BUY if (i // MARKETS) % 2 else Side.SELL
                price = mid - 1 - (i // 20) % 5_000 if side == Side.BUY else mid + 1 + (i // 20) % 5_000
                keeper.rest(Order(keeper.next_order_id(), market_id, owners[i % subaccounts], 0, side, price, 10))
            store.commit(cache.writes, last, store.tree().update(cache.writes))
        info = CommitInfo(last.height, store.tree().root, last.block_time_ms)
        store.commit({}, info, store.tree().update({}))
        return info
    finally:
        store.close()


def _restore(snapshots: SnapshotStore, info: CommitInfo, data: Path) -> tuple[int, int]:
    """Restore the newest snapshot into an empty node at `data`; its resting orders and height."""
    store = CommittedStore(data)
    app = Application(store)
    try:
        snapshot = snapshots.snapshots()[0]
        offer = app.offer_snapshot(abci_pb.RequestOfferSnapshot(snapshot=snapshot, app_hash=info.app_hash))
        if offer.result != abci_pb.ResponseOfferSnapshot.ACCEPT:
            raise BenchmarkFailed(f"the snapshot was not accepted ({offer.result})")
        for index in range(snapshot.chunks):
            chunk = snapshots.chunk(snapshot.height, FORMAT, index)
            result = app.apply_snapshot_chunk(abci_pb.RequestApplySnapshotChunk(index=index, chunk=chunk)).result
            if result != abci_pb.ResponseApplySnapshotChunk.ACCEPT:
                raise BenchmarkFailed(f"chunk {index} was not accepted ({result})")
        return app.books.order_count(), store.last_commit().height
    finally:
        app.signers.close()
        store.close()


def measure_snapshot_restore(orders: int = ORDERS, subaccounts: int = SUBACCOUNTS) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="perpchain-snapshots-") as directory:
        root = Path(directory)
        setup_started = time.perf_counter()
        info = _write_state(root / "source", orders, subaccounts)
        setup_s = time.perf_counter() - setup_started

        source = CommittedStore(root / "source")
        try:
            started = time.perf_counter()
            metadata = write_snapshot(source.view(), root / "snapshots" / str(info.height))
            snapshot_s = time.perf_counter() - started
        finally:
            source.close()
        assert metadata is not None
        snapshots = SnapshotStore(root / "snapshots")
        snapshot_bytes = sum(path.stat().st_size for path in (root / "snapshots").rglob("chunk-*"))

        started = time.perf_counter()
        resting, height = _restore(snapshots, info, root / "restored")
        restore_s = time.perf_counter() - started
    if resting != orders or height != info.height:
        raise BenchmarkFailed(f"restored {resting} resting orders at height {height}; {orders} at {info.height} expected")
    return {"snapshot_s": round(snapshot_s, 2), "restore_s": round(restore_s, 2), "goal_restore_s": GOAL_RESTORE_S,
            "restore_meets_goal": restore_s <= GOAL_RESTORE_S, "snapshot_resting_orders": orders,
            "snapshot_subaccounts": subaccounts, "snapshot_items": metadata.item_count,
            "snapshot_chunks": len(metadata.chunk_hashes), "snapshot_mb": round(snapshot_bytes / 1e6, 1),
            "snapshot_setup_s": round(setup_s, 1)}
