"""State sync in process (app/snapshots.py, the Application's snapshot methods): snapshots taken,
kept and served; a node restored from one holds the same state, books and next app hash; a
corrupted chunk is fetched again; a snapshot whose items do not hash to the trusted app hash is
refused and leaves nothing behind."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from app.application import Application
from app.snapshots import (
    CHUNK_BYTES,
    FORMAT,
    BadSnapshot,
    Metadata,
    SnapshotStore,
    cut_chunks,
    decode_chunk,
    write_snapshot,
)
from app.store import CommitInfo, CommittedStore
from modules.bank.types import Transfer
from modules.orderbook.actions import PlaceOrder
from modules.orderbook.types import Side
from modules.types import SubaccountId
from tests.app.conftest import AppHarness, start_app
from wire import PrivateKey, sign_tx
from wire.codec import Action, Tx
from wire.pb import abci_pb

SMALL_CHUNK_BYTES = 600  # many chunks out of a test chain's few kilobytes
_nonces = itertools.count(1)
Apply = abci_pb.ResponseApplySnapshotChunk
Offer = abci_pb.ResponseOfferSnapshot


def signed(h: AppHarness, key: PrivateKey, *actions: Action) -> bytes:
    return sign_tx(key, Tx("perpchain-test", key.address, h.time_ms + next(_nonces), actions))


def trade(h: AppHarness) -> None:
    """Blocks that leave transfers, resting orders on both sides and a fill in the state."""
    maker, taker, other = h.keys
    h.block([signed(h, maker, Transfer(0, SubaccountId(other.address, 1), 5_000_000))])
    h.block([signed(h, maker, *[PlaceOrder(0, 1, Side.BUY, 64_000_000_000 - i * 100_000, 100) for i in range(5)]),
             signed(h, other, *[PlaceOrder(0, 1, Side.SELL, 66_000_000_000 + i * 100_000, 100) for i in range(5)])])
    h.block([signed(h, taker, PlaceOrder(0, 1, Side.SELL, 64_000_000_000, 100))])


@pytest.fixture
def source(tmp_path: Path) -> Iterator[AppHarness]:
    keys = [PrivateKey.from_hex(f"{i:064x}") for i in (101, 102, 103)]
    h = start_app(tmp_path / "source", keys)
    try:
        trade(h)
        yield h
    finally:
        h.close()


@dataclass
class Node:
    app: Application
    store: CommittedStore


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[Node]:
    """A node that has never committed a height: what state sync fills."""
    store = CommittedStore(tmp_path / "empty")
    app = Application(store)
    try:
        yield Node(app, store)
    finally:
        app.signers.close()
        store.close()


def covered(store: CommittedStore) -> list[tuple[bytes, bytes]]:
    return list(store.iterate(b"\x01", None))


def snapshot_of(h: AppHarness, where: Path, chunk_bytes: int = SMALL_CHUNK_BYTES) -> SnapshotStore:
    """A snapshot of the source's committed height, written as a snapshot height's Commit would."""
    snapshots = SnapshotStore(where, interval=1, chunk_bytes=chunk_bytes)
    snapshots.after_commit(h.store, h.store.last_commit())
    snapshots.wait()
    return snapshots


def offered(snapshot: abci_pb.Snapshot, app_hash: bytes) -> abci_pb.RequestOfferSnapshot:
    return abci_pb.RequestOfferSnapshot(snapshot=snapshot, app_hash=app_hash)


def chunk_request(snapshots: SnapshotStore, snapshot: abci_pb.Snapshot, index: int,
                  sender: str = "peer-a") -> abci_pb.RequestApplySnapshotChunk:
    return abci_pb.RequestApplySnapshotChunk(index=index, chunk=snapshots.chunk(snapshot.height, FORMAT, index),
                                             sender=sender)


def restore(app: Application, snapshots: SnapshotStore, app_hash: bytes) -> list[int]:
    """Offer the newest snapshot and apply its chunks in order; the result of each."""
    snapshot = snapshots.snapshots()[0]
    assert app.offer_snapshot(offered(snapshot, app_hash)).result == Offer.ACCEPT
    return [app.apply_snapshot_chunk(chunk_request(snapshots, snapshot, i)).result for i in range(snapshot.chunks)]


# -- the format -----------------------------------------------------------------------------------


def test_chunks_split_back_into_the_items_in_order_and_close_at_the_size() -> None:
    items = [(b"\x01k" + i.to_bytes(4, "big"), bytes(i % 7)) for i in range(500)]
    chunks = list(cut_chunks(items, 1_000))
    assert len(chunks) > 5
    assert [item for chunk, _ in chunks for item in decode_chunk(chunk)] == items
    assert sum(count for _, count in chunks) == len(items)
    assert all(len(chunk) >= 1_000 for chunk, _ in chunks[:-1])
    assert list(cut_chunks([], 1_000)) == [(b"", 0)]


def test_a_chunk_whose_items_run_past_its_end_does_not_decode() -> None:
    [(chunk, _)] = list(cut_chunks([(b"\x01key", b"value")]))
    for cut in (1, 5, len(chunk) - 1):
        with pytest.raises(BadSnapshot):
            decode_chunk(chunk[:cut])


def test_metadata_round_trips_and_refuses_a_torn_one() -> None:
    metadata = Metadata(12, (b"\x01" * 32, b"\x02" * 32))
    assert Metadata.decode(metadata.encode()) == metadata
    with pytest.raises(BadSnapshot):
        Metadata.decode(metadata.encode()[:-1])
    with pytest.raises(BadSnapshot):
        Metadata.decode(b"\x02" + metadata.encode()[1:])


# -- taking and keeping ---------------------------------------------------------------------------


def test_a_snapshot_holds_every_covered_item_as_of_its_commit(source: AppHarness, tmp_path: Path) -> None:
    at_commit = covered(source.store)
    snapshots = SnapshotStore(tmp_path / "snaps", interval=1, chunk_bytes=SMALL_CHUNK_BYTES)
    view_height = source.height
    snapshots.after_commit(source.store, source.store.last_commit())
    source.block([])  # a later block changes the store, not the snapshot
    snapshots.wait()
    [snapshot] = snapshots.snapshots()
    assert snapshot.height == view_height and snapshot.format == FORMAT and snapshot.chunks > 1
    metadata = Metadata.decode(snapshot.metadata)
    assert snapshot.hash == hashlib.sha256(snapshot.metadata).digest()
    chunks = [snapshots.chunk(snapshot.height, FORMAT, i) for i in range(snapshot.chunks)]
    assert [hashlib.sha256(c).digest() for c in chunks] == list(metadata.chunk_hashes)
    assert [item for chunk in chunks for item in decode_chunk(chunk)] == at_commit
    assert metadata.item_count == len(at_commit)
    assert snapshots.chunk(snapshot.height, FORMAT, snapshot.chunks) == b""
    assert snapshots.chunk(snapshot.height, 2, 0) == b""


def test_snapshots_are_taken_at_multiples_of_the_interval_and_the_newest_kept(source: AppHarness,
                                                                              tmp_path: Path) -> None:
    snapshots = SnapshotStore(tmp_path / "snaps", interval=2, keep=2)
    for height in range(1, 8):
        snapshots.after_commit(source.store, CommitInfo(height, b"\x00" * 32, 0))
    snapshots.wait()
    assert snapshots.heights() == [6, 4]
    snapshots.close()


def test_a_snapshot_cut_short_is_removed_and_never_listed(source: AppHarness, tmp_path: Path) -> None:
    directory = tmp_path / "snaps"
    write_snapshot(source.store.view(), directory / "4")
    (directory / "9").mkdir()  # chunks written, metadata not: the node stopped meanwhile
    (directory / "9" / "chunk-000000").write_bytes(b"partial")
    snapshots = SnapshotStore(directory, interval=1)
    assert [s.height for s in snapshots.snapshots()] == [4]
    assert not (directory / "9").exists()


def test_snapshots_are_the_same_on_every_node(source: AppHarness, tmp_path: Path) -> None:
    """Two writes of one state: the same chunks and hash, so peers serve one snapshot."""
    first = write_snapshot(source.store.view(), tmp_path / "a", chunk_bytes=CHUNK_BYTES)
    second = write_snapshot(source.store.view(), tmp_path / "b", chunk_bytes=CHUNK_BYTES)
    assert first == second and first is not None


# -- restoring --------------------------------------------------------------------------------------


def test_a_restored_node_holds_the_state_books_and_next_app_hash_of_its_source(source: AppHarness, empty: Node,
                                                                               tmp_path: Path) -> None:
    snapshots = snapshot_of(source, tmp_path / "snaps")
    last = source.store.last_commit()
    results = restore(empty.app, snapshots, last.app_hash)
    assert results == [Apply.ACCEPT] * len(results) and len(results) > 1
    info = empty.app.info(abci_pb.RequestInfo())
    assert (info.last_block_height, info.last_block_app_hash) == (last.height, last.app_hash)
    restored = empty.store
    assert covered(restored) == covered(source.store)
    assert restored.last_commit() == last
    assert empty.app.chain_id == source.app.chain_id
    assert empty.app.books.order_count() == source.app.books.order_count() > 0
    # The next block, on both: the same app hash.
    maker = source.keys[0]
    tx = signed(source, maker, PlaceOrder(0, 1, Side.BUY, 63_000_000_000, 100))
    assert empty.app.check_tx(abci_pb.RequestCheckTx(tx=tx)).code == 0
    request = abci_pb.RequestFinalizeBlock(txs=[tx], height=last.height + 1)
    request.time.FromMilliseconds(source.chain.next_time_ms())
    ours = empty.app.finalize_block(request)
    theirs = source.app.finalize_block(request)
    assert ours.app_hash == theirs.app_hash
    assert [r.code for r in ours.tx_results] == [r.code for r in theirs.tx_results] == [0]


def test_a_corrupted_chunk_is_refused_and_fetched_again_from_another_peer(source: AppHarness, empty: Node,
                                                                           tmp_path: Path) -> None:
    snapshots = snapshot_of(source, tmp_path / "snaps")
    snapshot = snapshots.snapshots()[0]
    assert empty.app.offer_snapshot(offered(snapshot, source.store.last_commit().app_hash)).result == Offer.ACCEPT
    assert empty.app.apply_snapshot_chunk(chunk_request(snapshots, snapshot, 0)).result == Apply.ACCEPT
    written = covered(empty.store)
    good = chunk_request(snapshots, snapshot, 1, sender="peer-b")
    bad = abci_pb.RequestApplySnapshotChunk(index=1, chunk=good.chunk[:-1] + bytes([good.chunk[-1] ^ 1]),
                                            sender="peer-liar")
    answer = empty.app.apply_snapshot_chunk(bad)
    assert answer.result == Apply.RETRY
    assert list(answer.refetch_chunks) == [1] and list(answer.reject_senders) == ["peer-liar"]
    assert covered(empty.store) == written  # nothing of it was written
    results = [empty.app.apply_snapshot_chunk(chunk_request(snapshots, snapshot, i)).result
               for i in range(1, snapshot.chunks)]
    assert results == [Apply.ACCEPT] * (snapshot.chunks - 1)
    assert covered(empty.store) == covered(source.store)


def test_a_snapshot_not_hashing_to_the_trusted_app_hash_is_refused_and_leaves_nothing(
        source: AppHarness, empty: Node, tmp_path: Path) -> None:
    snapshots = snapshot_of(source, tmp_path / "snaps")
    results = restore(empty.app, snapshots, hashlib.sha256(b"another state").digest())
    assert results[:-1] == [Apply.ACCEPT] * (len(results) - 1) and results[-1] == Apply.REJECT_SNAPSHOT
    assert covered(empty.store) == [] and empty.store.last_commit().height == 0
    info = empty.app.info(abci_pb.RequestInfo())
    assert info.last_block_height == 0
    # The same snapshot with the right hash is then restored whole.
    assert restore(empty.app, snapshots, source.store.last_commit().app_hash)[-1] == Apply.ACCEPT
    assert covered(empty.store) == covered(source.store)


def test_a_chunk_out_of_key_order_refuses_the_snapshot(source: AppHarness, empty: Node, tmp_path: Path) -> None:
    """Metadata that lists the hashes of chunks whose items are out of order (a lying peer's)."""
    items = covered(source.store)
    chunks = [chunk for chunk, _ in cut_chunks(items[len(items) // 2:] + items[:len(items) // 2], SMALL_CHUNK_BYTES)]
    metadata = Metadata(len(items), tuple(hashlib.sha256(c).digest() for c in chunks)).encode()
    snapshot = abci_pb.Snapshot(height=source.height, format=FORMAT, chunks=len(chunks),
                                hash=hashlib.sha256(metadata).digest(), metadata=metadata)
    assert empty.app.offer_snapshot(offered(snapshot, source.store.last_commit().app_hash)).result == Offer.ACCEPT
    results = [empty.app.apply_snapshot_chunk(abci_pb.RequestApplySnapshotChunk(index=i, chunk=c)).result
               for i, c in enumerate(chunks)]
    assert Apply.REJECT_SNAPSHOT in results
    assert covered(empty.store) == []


def test_offers_a_node_cannot_take_are_refused(source: AppHarness, empty: Node, tmp_path: Path) -> None:
    snapshots = snapshot_of(source, tmp_path / "snaps")
    snapshot = snapshots.snapshots()[0]
    app_hash = source.store.last_commit().app_hash
    other_format = abci_pb.Snapshot()
    other_format.CopyFrom(snapshot)
    other_format.format = 2
    assert empty.app.offer_snapshot(offered(other_format, app_hash)).result == Offer.REJECT_FORMAT
    torn = abci_pb.Snapshot()
    torn.CopyFrom(snapshot)
    torn.metadata = snapshot.metadata[:-1]
    torn.hash = hashlib.sha256(torn.metadata).digest()
    assert empty.app.offer_snapshot(offered(torn, app_hash)).result == Offer.REJECT
    # A node that holds a chain restores nothing over it.
    assert source.app.offer_snapshot(offered(snapshot, app_hash)).result == Offer.ABORT
    # Chunks with no snapshot offered.
    assert empty.app.apply_snapshot_chunk(chunk_request(snapshots, snapshot, 0)).result == Apply.ABORT


def test_an_interrupted_restore_is_removed_by_the_next_offer(source: AppHarness, empty: Node,
                                                             tmp_path: Path) -> None:
    snapshots = snapshot_of(source, tmp_path / "snaps")
    snapshot = snapshots.snapshots()[0]
    app_hash = source.store.last_commit().app_hash
    assert empty.app.offer_snapshot(offered(snapshot, app_hash)).result == Offer.ACCEPT
    assert empty.app.apply_snapshot_chunk(chunk_request(snapshots, snapshot, 0)).result == Apply.ACCEPT
    assert covered(empty.store)
    restarted = Application(empty.store)  # the node restarted mid-restore: height 0, some items
    try:
        assert restore(restarted, snapshots, app_hash)[-1] == Apply.ACCEPT
        assert covered(empty.store) == covered(source.store)
    finally:
        restarted.signers.close()


def test_list_and_load_answer_from_the_snapshot_store(source: AppHarness, tmp_path: Path) -> None:
    snapshots = snapshot_of(source, tmp_path / "snaps")
    app = Application(source.store, snapshot_store=snapshots)
    try:
        [listed] = app.list_snapshots(abci_pb.RequestListSnapshots()).snapshots
        assert listed == snapshots.snapshots()[0]
        chunk = app.load_snapshot_chunk(abci_pb.RequestLoadSnapshotChunk(height=listed.height, format=FORMAT, chunk=0))
        assert hashlib.sha256(chunk.chunk).digest() == Metadata.decode(listed.metadata).chunk_hashes[0]
    finally:
        app.signers.close()
    bare = Application(source.store)
    try:
        assert list(bare.list_snapshots(abci_pb.RequestListSnapshots()).snapshots) == []
    finally:
        bare.signers.close()
