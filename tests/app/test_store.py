"""The store: cache layering, atomic commit of the state with its tree, and an app hash (the
tree's root) every node computes alike."""

from __future__ import annotations

from pathlib import Path

import plyvel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.driver import Genesis, InProcessChain, timestamp
from app.store import CacheStore, CommitInfo, CommittedStore, NoStateTree
from app.tree import COVERED_START, build_tree
from modules.auth import keys as auth_keys
from modules.auth.keeper import AuthKeeper
from tests.app.conftest import CHAIN_ID, funded_app_state, start_app
from wire import PrivateKey, sign_tx
from wire.pb import abci_pb
from wire.proofs import verify

keys_ = st.binary(min_size=1, max_size=3).map(lambda k: b"\x01" + k)
Op = tuple[bytes, bytes | None]
ops = st.lists(st.tuples(keys_, st.one_of(st.none(), st.binary(max_size=4))), max_size=40)


def commit_writes(store: CommittedStore, writes: dict[bytes, bytes | None], height: int) -> None:
    """Commit `writes` as block `height`, with the tree's changes, as the Application does."""
    tree = store.tree().update(writes)
    store.commit(writes, CommitInfo(height, tree.root, 0), tree)


@settings(max_examples=60, deadline=None)
@given(base=ops, layer=ops)
def test_cache_iteration_equals_a_dict_of_the_merged_writes(tmp_path_factory: pytest.TempPathFactory, base: list[Op],
                                                             layer: list[Op]) -> None:
    store = CommittedStore(tmp_path_factory.mktemp("db"))
    try:
        seed = {k: v for k, v in base if v is not None}
        commit_writes(store, dict(seed), 1)
        cache = CacheStore(store)
        expected = dict(seed)
        for index, (key, value) in enumerate(layer):
            if value is None:
                cache.delete(key)
                expected.pop(key, None)
            else:
                cache.set(key, value)
                expected[key] = value
            if index % 3 == 0:  # iterated between writes too: keys written since are merged in
                assert list(cache.iterate(b"\x01", None)) == sorted(expected.items())
        assert list(cache.iterate(b"\x01", None)) == sorted(expected.items())
        assert all(cache.get(k) == v for k, v in expected.items())
    finally:
        store.close()


def test_a_discarded_cache_reads_as_its_parent_and_can_be_written_again(tmp_path: Path) -> None:
    """A block's txs reuse one branch: dropped after a failed tx, written after a good one."""
    store = CommittedStore(tmp_path)
    try:
        commit_writes(store, {b"\x01a": b"1"}, 1)
        block = CacheStore(store)
        branch = CacheStore(block)
        branch.set(b"\x01b", b"2")
        branch.delete(b"\x01a")
        branch.discard()
        assert (branch.writes, list(branch.iterate(b"\x01", None))) == ({}, [(b"\x01a", b"1")])
        branch.set(b"\x01c", b"3")
        branch.write()
        assert (branch.writes, block.writes) == ({}, {b"\x01c": b"3"})
    finally:
        store.close()


def test_a_crash_before_commit_leaves_the_previous_height_on_disk(tmp_path: Path) -> None:
    keys = [PrivateKey.from_hex(f"{i:064x}") for i in (7, 8)]
    h = start_app(tmp_path / "db", keys)
    committed = h.store.last_commit()
    from tests.app.test_bad_inputs import transfer_tx

    h.finalize([sign_tx(keys[0], transfer_tx(h, keys[0], amount=3))])  # no Commit: the process "dies"
    h.store.close()
    reopened = CommittedStore(tmp_path / "db")
    try:
        assert reopened.last_commit() == committed
    finally:
        reopened.close()


def test_two_nodes_fed_the_same_blocks_compute_the_same_app_hash(tmp_path: Path) -> None:
    from tests.app.test_bad_inputs import transfer_tx

    keys = [PrivateKey.from_hex(f"{i:064x}") for i in (7, 8, 9)]
    nodes = [start_app(tmp_path / name, keys) for name in ("a", "b")]
    txs = [sign_tx(keys[i % 2], transfer_tx(nodes[0], keys[i % 2], amount=i + 1, nonce=nodes[0].time_ms + i)) for i in range(20)]
    hashes = [node.finalize(txs).app_hash for node in nodes]
    for node in nodes:
        node.commit()
    assert hashes[0] == hashes[1] == nodes[0].store.last_commit().app_hash
    assert nodes[0].state() == nodes[1].state()


def test_the_app_hash_is_the_root_of_the_tree_of_the_committed_state(tmp_path: Path) -> None:
    from tests.app.test_bad_inputs import transfer_tx

    keys = [PrivateKey.from_hex(f"{i:064x}") for i in (7, 8)]
    h = start_app(tmp_path / "db", keys)
    before = h.store.last_commit().app_hash
    h.block([sign_tx(keys[0], transfer_tx(h, keys[0], amount=3))])
    committed = h.store.last_commit().app_hash
    assert committed != before
    assert committed == h.store.tree().root == build_tree(h.store.iterate(COVERED_START, None)).root


def test_a_second_finalize_of_one_height_recomputes_the_hash_from_the_committed_tree(tmp_path: Path) -> None:
    from tests.app.test_bad_inputs import transfer_tx

    keys = [PrivateKey.from_hex(f"{i:064x}") for i in (7, 8)]
    h = start_app(tmp_path / "db", keys)
    txs = [sign_tx(keys[0], transfer_tx(h, keys[0], amount=3))]
    request = abci_pb.RequestFinalizeBlock(txs=txs, height=h.height + 1, time=timestamp(h.chain.next_time_ms()))
    first = h.app.finalize_block(request).app_hash
    other = abci_pb.RequestFinalizeBlock(height=h.height + 1, time=timestamp(h.chain.next_time_ms()))
    assert h.app.finalize_block(other).app_hash != first  # another block for the height
    assert h.app.finalize_block(request).app_hash == first
    h.app.commit(abci_pb.RequestCommit())
    assert h.store.last_commit().app_hash == first == h.store.tree().root


def test_a_second_finalize_of_the_first_block_keeps_the_genesis_state(tmp_path: Path) -> None:
    """InitChain's writes ride along with block 1 however often it is finalized before Commit."""
    keys = [PrivateKey.from_hex(f"{i:064x}") for i in (7, 8)]
    chain = InProcessChain.start(tmp_path / "db", Genesis(CHAIN_ID, funded_app_state(keys)))
    try:
        request = abci_pb.RequestFinalizeBlock(height=1, time=timestamp(chain.next_time_ms()))
        first = chain.app.finalize_block(request).app_hash
        assert chain.app.finalize_block(request).app_hash == first
        chain.app.commit(abci_pb.RequestCommit())
        assert AuthKeeper(chain.store).chain_id() == CHAIN_ID
        assert chain.store.last_commit().app_hash == first == chain.store.tree().root
    finally:
        chain.close()


def test_node_local_keys_are_written_by_commit_only(tmp_path: Path) -> None:
    store = CommittedStore(tmp_path)
    try:
        for key in (b"\x00meta/height", b"\x00tree/root"):
            with pytest.raises(KeyError, match="node-local"):
                CacheStore(store).set(key, b"1")
            with pytest.raises(KeyError, match="node-local"):
                CacheStore(store).delete(key)
    finally:
        store.close()


def test_a_store_that_does_not_keep_the_tree_commits_state_only(tmp_path: Path) -> None:
    replica = CommittedStore(tmp_path, durable=False, keeps_tree=False)
    try:
        replica.commit({b"\x01a": b"1"}, CommitInfo(1, b"h", 0), None)
        assert replica.get(b"\x01a") == b"1"
        with pytest.raises(TypeError, match="tree"):
            replica.tree()
        with pytest.raises(ValueError, match="tree"):
            replica.commit({}, CommitInfo(2, b"h", 0), build_tree([]))
    finally:
        replica.close()


def test_state_written_without_a_tree_is_refused_saying_what_to_do(tmp_path: Path) -> None:
    replica = CommittedStore(tmp_path, keeps_tree=False)  # state as an older version left it
    replica.commit({b"\x01a": b"1"}, CommitInfo(1, b"h", 0), None)
    replica.close()
    with pytest.raises(NoStateTree, match="start a new chain"):
        CommittedStore(tmp_path)
    plyvel.DB(str(tmp_path)).close()  # the refused store let go of the directory


def test_the_block_time_is_state_under_the_app_hash(tmp_path: Path) -> None:
    """Anchor records carry the committed block's time: a node restored from a snapshot must be
    able to trust it, so it is a proven key of auth's, not only the node's own record."""
    keys = [PrivateKey.from_hex(f"{i:064x}") for i in (7, 8)]
    h = start_app(tmp_path / "db", keys)
    h.block([], advance_ms=1_234)
    auth = AuthKeeper(h.store)
    assert auth.block_time_ms() == h.time_ms == h.store.last_commit().block_time_ms
    key = auth_keys.STORE_PREFIX + auth_keys.BLOCK_TIME
    value, proof = h.store.tree().prove(key)
    assert value is not None and verify(h.store.last_commit().app_hash, key, value, proof)


def _log_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.glob("*.log"))


def test_a_store_closed_cleanly_leaves_no_log_for_the_next_start_to_replay(tmp_path: Path) -> None:
    """A node's stop writes LevelDB's memtable out as a table; a crash (no close) leaves the log,
    which the next open replays: the state is the same either way."""
    writes: dict[bytes, bytes | None] = {b"\x01%06d" % i: b"v" * 100 for i in range(20_000)}
    for path, closes in ((tmp_path / "stopped", True), (tmp_path / "crashed", False)):
        store = CommittedStore(path)
        commit_writes(store, writes, 1)
        assert _log_bytes(path) > 2_000_000  # the block sits in the memtable and its log
        if closes:
            store.close()
            assert _log_bytes(path) < 10_000
    del store  # the crashed one: its LevelDB is released without a close, its log kept
    assert _log_bytes(tmp_path / "crashed") > 2_000_000
    for path in (tmp_path / "stopped", tmp_path / "crashed"):
        reopened = CommittedStore(path)
        assert reopened.last_commit().height == 1 and reopened.get(b"\x01019999") == b"v" * 100
        reopened.close()
