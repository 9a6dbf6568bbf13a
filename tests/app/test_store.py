"""The store: cache layering, atomic commit, and an app hash every node computes alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.store import CacheStore, CommitInfo, CommittedStore, next_app_hash
from tests.app.conftest import start_app
from wire import PrivateKey, sign_tx

keys_ = st.binary(min_size=1, max_size=3).map(lambda k: b"\x01" + k)
Op = tuple[bytes, bytes | None]
ops = st.lists(st.tuples(keys_, st.one_of(st.none(), st.binary(max_size=4))), max_size=40)


@settings(max_examples=60, deadline=None)
@given(base=ops, layer=ops)
def test_cache_iteration_equals_a_dict_of_the_merged_writes(tmp_path_factory: pytest.TempPathFactory, base: list[Op],
                                                             layer: list[Op]) -> None:
    store = CommittedStore(tmp_path_factory.mktemp("db"))
    try:
        seed = {k: v for k, v in base if v is not None}
        store.commit(dict(seed), CommitInfo(1, b"h", 0))
        cache = CacheStore(store)
        expected = dict(seed)
        for key, value in layer:
            if value is None:
                cache.delete(key)
                expected.pop(key, None)
            else:
                cache.set(key, value)
                expected[key] = value
        assert list(cache.iterate(b"\x01", None)) == sorted(expected.items())
        assert all(cache.get(k) == v for k, v in expected.items())
    finally:
        store.close()


def test_a_discarded_cache_reads_as_its_parent_and_can_be_written_again(tmp_path: Path) -> None:
    """A block's txs reuse one branch: dropped after a failed tx, written after a good one."""
    store = CommittedStore(tmp_path)
    try:
        store.commit({b"\x01a": b"1"}, CommitInfo(1, b"h", 0))
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


def test_the_app_hash_covers_every_write() -> None:
    base = next_app_hash(b"prev", 5, {b"k": b"v"})
    assert base != next_app_hash(b"prev", 5, {b"k": b"w"})
    assert base != next_app_hash(b"prev", 5, {b"k": None})
    assert base != next_app_hash(b"prev", 6, {b"k": b"v"})
    assert base != next_app_hash(b"other", 5, {b"k": b"v"})
    assert next_app_hash(b"p", 1, {b"a": b"1", b"b": b"2"}) == next_app_hash(b"p", 1, {b"b": b"2", b"a": b"1"})
