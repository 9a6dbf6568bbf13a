"""`state` benchmark: what the state tree (app/tree.py, docs/state.md) costs a block, and what
its proofs cost a client.

Setup (not timed): a node's LevelDB holding N keys (default 1,000,000): 100,000 subaccount
balances (`bank/b/`; N/10 when that is fewer) and resting orders with their client-id index (`orderbook/o/`,
`orderbook/c/`) for the rest, with the tree built over them by build_tree and written in one
batch, as an import does, then compacted (as LevelDB's own compaction leaves a store that has
run a while). Each block is 10,000 writes: 4,000 balances changed, 1,500 orders placed and
1,500 removed (two keys each).

Timed, each block through the store as a node runs it (median of BLOCKS blocks):
  tree_update_ms_per_10k_writes  StateTree.update: the new root and the changed nodes
                                 (and _cpu_: the CPU time of this thread in it, which other
                                 processes on the cores do not inflate as they do the wall time)
  commit_ms_per_10k_writes       that update and CommittedStore.commit, the synced LevelDB batch
                                 of the block's writes and the tree's changes (goal <= 100)
  tree_bytes_per_10k_writes      the bytes of node records that batch writes
Then, for a balance key (bank):
  proof_bytes  its proof, encoded as a /store query carries it
  verify_us    wire.proofs.verify of it against the app hash (mean of VERIFIES)
And state sync's snapshot_s and restore_s (bench/snapshots.py), over a state of their own.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import plyvel

from app.store import CommitInfo, CommittedStore
from app.tree import build_tree
from bench.snapshots import measure_snapshot_restore
from modules.bank.keys import STORE_PREFIX as BANK_PREFIX
from modules.bank.keys import balance_key
from modules.orderbook.keys import STORE_PREFIX as ORDERBOOK_PREFIX
from modules.types import SubaccountId
from wire.proofs import decode_proof, encode_proof, verify

DEFAULT_KEYS = 1_000_000
SUBACCOUNTS = 100_000
WRITES_PER_BLOCK = 10_000
BALANCES_PER_BLOCK = 4_000
ORDERS_PER_BLOCK = 1_500  # placed, and as many removed: two keys each
BLOCKS = 9
VERIFIES = 2_000
GOAL_COMMIT_MS = 100


class _Chain:
    """The synthetic state: its subaccounts and resting orders, and each block's writes to them."""

    def __init__(self, keys: int, rng: random.Random) -> None:
        self.rng = rng
        self.subaccounts = [SubaccountId(rng.randbytes(20), rng.randrange(4)) for _ in range(min(SUBACCOUNTS, keys // 10))]
        self.orders: list[int] = list(range(1, (keys - len(self.subaccounts)) // 2 + 1))
        self.next_order = len(self.orders) + 1

    def balance(self, subaccount: SubaccountId) -> bytes:
        return BANK_PREFIX + balance_key(subaccount)

    def order_keys(self, order_id: int) -> tuple[bytes, bytes]:
        """The order's record and its client-id index entry (owner derived from the id; the client
        id is the order id)."""
        owner = self.subaccounts[order_id % len(self.subaccounts)]
        market = (1 + order_id % 10).to_bytes(4, "big")
        return (ORDERBOOK_PREFIX + b"o/" + market + order_id.to_bytes(8, "big"),
                ORDERBOOK_PREFIX + b"c/" + owner.address + bytes((owner.number,)) + order_id.to_bytes(8, "big"))

    def items(self) -> list[tuple[bytes, bytes]]:
        items = [(self.balance(s), self.rng.randbytes(16)) for s in self.subaccounts]
        for order_id in self.orders:
            record, index = self.order_keys(order_id)
            items += [(record, self.rng.randbytes(64)), (index, self.rng.randbytes(12))]
        return items

    def block_writes(self) -> dict[bytes, bytes | None]:
        writes: dict[bytes, bytes | None] = {
            self.balance(s): self.rng.randbytes(16) for s in self.rng.sample(self.subaccounts, BALANCES_PER_BLOCK)}
        for _ in range(ORDERS_PER_BLOCK):  # removed first, so none placed in this block is removed in it
            at = self.rng.randrange(len(self.orders))
            gone, self.orders[at] = self.orders[at], self.orders[-1]
            self.orders.pop()
            writes.update(dict.fromkeys(self.order_keys(gone)))
        for _ in range(ORDERS_PER_BLOCK):
            record, index = self.order_keys(self.next_order)
            writes[record], writes[index] = self.rng.randbytes(64), self.rng.randbytes(12)
            self.orders.append(self.next_order)
            self.next_order += 1
        assert len(writes) == WRITES_PER_BLOCK
        return writes


def _base_store(data: Path, chain: _Chain) -> None:
    """The N keys and their tree committed as height 1 in one batch, as an import writes them,
    then compacted."""
    items = chain.items()
    tree = build_tree(items)
    store = CommittedStore(data)
    store.commit(dict(items), CommitInfo(1, tree.root, 0), tree)
    store.close()
    db = plyvel.DB(str(data))
    db.compact_range()
    db.close()


def commit_figures(store: CommittedStore, chain: _Chain) -> dict[str, Any]:
    """tree_update_ms_per_10k_writes, commit_ms_per_10k_writes, tree_bytes_per_10k_writes."""
    updates_ms, updates_cpu_ms, commits_ms, tree_bytes = [], [], [], []
    for height in range(2, 2 + BLOCKS):
        writes = chain.block_writes()
        started, started_cpu = time.perf_counter(), time.thread_time()
        tree = store.tree().update(writes)
        updated, updated_cpu = time.perf_counter(), time.thread_time()
        store.commit(writes, CommitInfo(height, tree.root, 0), tree)
        committed = time.perf_counter()
        updates_ms.append((updated - started) * 1000)
        updates_cpu_ms.append((updated_cpu - started_cpu) * 1000)
        commits_ms.append((committed - started) * 1000)
        tree_bytes.append(sum(len(record) for record in tree.node_writes.values() if record is not None))
    return {
        "tree_update_ms_per_10k_writes": round(statistics.median(updates_ms), 1),
        "tree_update_cpu_ms_per_10k_writes": round(statistics.median(updates_cpu_ms), 1),
        "commit_ms_per_10k_writes": round(statistics.median(commits_ms), 1),
        "commit_max_ms_per_10k_writes": round(max(commits_ms), 1),
        "goal_commit_ms_per_10k_writes": GOAL_COMMIT_MS,
        "tree_bytes_per_10k_writes": round(statistics.median(tree_bytes)),
    }


def proof_figures(store: CommittedStore, chain: _Chain) -> dict[str, Any]:
    """proof_bytes and verify_us of a balance key's proof against the committed app hash."""
    key = chain.balance(chain.subaccounts[0])
    version = store.version(0)
    assert version is not None
    value, proof = version.tree().prove(key)
    encoded = encode_proof(proof)
    app_hash = store.last_commit().app_hash
    decoded = decode_proof(encoded)
    started = time.perf_counter()
    for _ in range(VERIFIES):
        verify(app_hash, key, value, decoded)
    verify_us = (time.perf_counter() - started) / VERIFIES * 1e6
    if not verify(app_hash, key, value, decoded):
        raise AssertionError("the balance's proof does not verify")
    return {"proof_bytes": len(encoded), "proof_levels": len(proof.levels), "verify_us": round(verify_us, 1)}


def run(size: int = 0) -> dict[str, Any]:
    keys = size if size > 0 else DEFAULT_KEYS
    chain = _Chain(keys, random.Random(23))
    figures: dict[str, Any] = {"bench": "state", "keys": keys, "writes_per_block": WRITES_PER_BLOCK}
    with tempfile.TemporaryDirectory(prefix="perpchain-bench-state-") as directory:
        data = Path(directory) / "db"
        setup_started = time.perf_counter()
        _base_store(data, chain)
        figures["setup_s"] = round(time.perf_counter() - setup_started, 1)
        store = CommittedStore(data)
        try:
            figures.update(commit_figures(store, chain))
            figures.update(proof_figures(store, chain))
        finally:
            store.close()
    # State sync's figures over a state of its own: 1,000,000 resting orders over 100,000
    # subaccounts by default, `size` orders over size / 10 subaccounts otherwise.
    figures.update(measure_snapshot_restore(size, size // 10) if size > 0 else measure_snapshot_restore())
    return figures
