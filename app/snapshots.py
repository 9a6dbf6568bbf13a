"""State sync's snapshots: taken every `interval` heights from the committed store, kept on disk,
served to peers chunk by chunk (ABCI ListSnapshots, LoadSnapshotChunk), and restored into an
empty node (OfferSnapshot, ApplySnapshotChunk; app/application.py), each chunk checked against
the snapshot's metadata as it comes and the whole state against the app hash the node's light
client trusts.

Format 1:
  items     every key/value the app hash covers (keys >= b"\\x01"; the node's own meta keys and
            tree nodes sort below), in key order, each u32 len(key) + key + u32 len(value) + value
  chunks    the items cut into consecutive runs, a chunk closed once it holds CHUNK_BYTES or more:
            a function of the state alone, so every node cuts the same chunks
  metadata  b"\\x01" + u64 item count + each chunk's sha256
  Snapshot.hash = sha256(metadata): snapshots of one height from different nodes are the same one.
Everything the next block reads is in the items, under the app hash (the block time too: auth's
keeper), so a restored node trusts all of it once the items' tree has the trusted root.

On disk: <directory>/<height>/chunk-<index>, then metadata (written last, renamed into place):
a snapshot without metadata is one cut short and is removed. A snapshot is taken at Commit from a
LevelDB snapshot of the committed store, and written by a background thread, so the next blocks
do not wait for it.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import queue
import shutil
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from app.store import CommitInfo, CommittedStore, StoreVersion
from app.tree import COVERED_START
from modules.auth.keeper import AuthKeeper
from modules.encoding import u32
from wire.pb import abci_pb

log = logging.getLogger("perpchain.snapshots")

FORMAT = 1
CHUNK_BYTES = 4 << 20  # well under CometBFT's 16 MB chunk message
_METADATA_VERSION = 1
_HEAD = struct.Struct(">BQ")  # version, item count
_HASH_BYTES = 32
_LENGTH = struct.Struct(">I")
_ERASE_BATCH = 100_000


class BadSnapshot(Exception):
    """A snapshot (its metadata or a chunk's items) that is not one this version writes."""


@dataclass(frozen=True)
class Metadata:
    item_count: int
    chunk_hashes: tuple[bytes, ...]

    def encode(self) -> bytes:
        return _HEAD.pack(_METADATA_VERSION, self.item_count) + b"".join(self.chunk_hashes)

    @classmethod
    def decode(cls, data: bytes) -> Metadata:
        if len(data) < _HEAD.size or (len(data) - _HEAD.size) % _HASH_BYTES:
            raise BadSnapshot(f"metadata of {len(data)} bytes")
        version, item_count = _HEAD.unpack_from(data)
        if version != _METADATA_VERSION:
            raise BadSnapshot(f"metadata version {version}")
        hashes = tuple(data[i:i + _HASH_BYTES] for i in range(_HEAD.size, len(data), _HASH_BYTES))
        return cls(item_count, hashes)


def decode_chunk(chunk: bytes) -> list[tuple[bytes, bytes]]:
    """A chunk's items; BadSnapshot for bytes that do not split exactly into items."""
    items = []
    offset, end, length = 0, len(chunk), _LENGTH.size
    try:
        while offset < end:
            (key_size,) = _LENGTH.unpack_from(chunk, offset)
            key_end = offset + length + key_size
            (value_size,) = _LENGTH.unpack_from(chunk, key_end)
            value_end = key_end + length + value_size
            if value_end > end:
                raise BadSnapshot("an item runs past the chunk's end")
            items.append((chunk[offset + length:key_end], chunk[key_end + length:value_end]))
            offset = value_end
    except struct.error:
        raise BadSnapshot("an item's length runs past the chunk's end") from None
    return items


def cut_chunks(items: Iterable[tuple[bytes, bytes]], chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[bytes, int]]:
    """The items cut into format 1's chunks: (chunk, items in it). An empty state is one empty chunk."""
    parts: list[bytes] = []
    size = count = 0
    cut = False
    for key, value in items:
        part = u32(len(key)) + key + u32(len(value)) + value
        parts.append(part)
        size += len(part)
        count += 1
        if size >= chunk_bytes:
            yield b"".join(parts), count
            parts, size, count, cut = [], 0, 0, True
    if parts or not cut:
        yield b"".join(parts), count


def _chunk_name(index: int) -> str:
    return f"chunk-{index:06d}"


def write_snapshot(view: StoreVersion, directory: Path, abandon: threading.Event | None = None,
                   chunk_bytes: int = CHUNK_BYTES) -> Metadata | None:
    """The covered items of `view` as a format 1 snapshot in `directory` (replaced if there),
    metadata last; None, and nothing left behind, if `abandon` is set meanwhile."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    hashes: list[bytes] = []
    total = 0
    for index, (chunk, count) in enumerate(cut_chunks(view.iterate(COVERED_START, None), chunk_bytes)):
        if abandon is not None and abandon.is_set():
            shutil.rmtree(directory, ignore_errors=True)
            return None
        _write_durably(directory / _chunk_name(index), chunk)
        hashes.append(hashlib.sha256(chunk).digest())
        total += count
    metadata = Metadata(total, tuple(hashes))
    _write_durably(directory / "metadata.tmp", metadata.encode())
    os.replace(directory / "metadata.tmp", directory / "metadata")
    return metadata


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


class SnapshotStore:
    """This node's snapshots under `directory`: one taken after each Commit of a height that is a
    multiple of `interval` (0: none), the newest `keep` kept."""

    def __init__(self, directory: Path, interval: int = 0, keep: int = 2, chunk_bytes: int = CHUNK_BYTES) -> None:
        if interval < 0 or keep < 1:
            raise ValueError(f"snapshot interval {interval} must be >= 0 and keep {keep} >= 1")
        self.directory = directory
        self.interval = interval
        self.keep = keep
        self.chunk_bytes = chunk_bytes  # format 1's; smaller only in tests, to make many chunks
        self._jobs: queue.Queue[tuple[CommitInfo, StoreVersion] | None] = queue.Queue()
        self._abandon = threading.Event()
        self._thread: threading.Thread | None = None
        self.taken_s: dict[int, float] = {}  # height -> seconds its writing took
        for partial in self._directories():
            if not (partial / "metadata").exists():
                shutil.rmtree(partial, ignore_errors=True)

    def after_commit(self, store: CommittedStore, info: CommitInfo) -> None:
        """At Commit: at a snapshot height, a view of the committed state for the writer thread."""
        if self.interval == 0 or info.height % self.interval:
            return
        self._jobs.put((info, store.view()))
        if self._thread is None:
            self._thread = threading.Thread(target=self._write_all, name="snapshots", daemon=True)
            self._thread.start()

    def wait(self) -> None:
        """Until every snapshot asked for so far is written (tests, benchmarks)."""
        self._jobs.join()

    def close(self) -> None:
        """Stop writing (a snapshot being written is abandoned) and release the views: before the
        store closes, which a view must not outlive."""
        self._abandon.set()
        self._jobs.put(None)
        if self._thread is not None:
            self._thread.join()
        self._thread = None

    def _write_all(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                info, view = job
                try:
                    if not self._abandon.is_set():
                        self._take(info, view)
                finally:
                    view.close()
            except Exception:  # a failed snapshot must not stop the node: the next one tries again
                log.exception("snapshot failed")
            finally:
                self._jobs.task_done()

    def _take(self, info: CommitInfo, view: StoreVersion) -> None:
        started = time.perf_counter()
        metadata = write_snapshot(view, self.directory / str(info.height), self._abandon, self.chunk_bytes)
        if metadata is None:
            return
        elapsed = time.perf_counter() - started
        self.taken_s[info.height] = elapsed
        log.info("snapshot at height %d: %d items in %d chunks, %.2fs", info.height, metadata.item_count,
                 len(metadata.chunk_hashes), elapsed)
        for old in self.heights()[self.keep:]:
            shutil.rmtree(self.directory / str(old), ignore_errors=True)

    def _directories(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return [entry for entry in self.directory.iterdir() if entry.is_dir() and entry.name.isdigit()]

    def heights(self) -> list[int]:
        """The heights of the complete snapshots, newest first."""
        return sorted((int(d.name) for d in self._directories() if (d / "metadata").exists()), reverse=True)

    def snapshots(self) -> list[abci_pb.Snapshot]:
        """The complete snapshots, newest first, as ListSnapshots answers."""
        found = []
        for height in self.heights():
            try:
                data = (self.directory / str(height) / "metadata").read_bytes()
                chunks = len(Metadata.decode(data).chunk_hashes)
            except (OSError, BadSnapshot):  # pruned meanwhile, or not ours
                continue
            found.append(abci_pb.Snapshot(height=height, format=FORMAT, chunks=chunks,
                                          hash=hashlib.sha256(data).digest(), metadata=data))
        return found

    def chunk(self, height: int, format: int, index: int) -> bytes:
        """A chunk's bytes; empty for one this node does not hold (any longer)."""
        if format != FORMAT:
            return b""
        try:
            return (self.directory / str(height) / _chunk_name(index)).read_bytes()
        except OSError:
            return b""


# -- restoring ------------------------------------------------------------------------------------


class ChunkCorrupt(Exception):
    """A chunk whose hash is not the one the metadata lists: fetch it again, from another peer."""


@dataclass
class Restore:
    """A snapshot being restored: what OfferSnapshot accepted (with the app hash CometBFT's light
    client trusts for its height) and how far ApplySnapshotChunk got."""

    height: int
    app_hash: bytes
    metadata: Metadata
    next_index: int = 0
    items: int = 0
    last_key: bytes = b""

    @classmethod
    def offered(cls, snapshot: abci_pb.Snapshot, app_hash: bytes) -> Restore:
        """BadSnapshot for anything but a format 1 snapshot whose metadata decodes and agrees."""
        if snapshot.format != FORMAT:
            raise BadSnapshot(f"format {snapshot.format}; this version restores format {FORMAT}")
        if snapshot.height < 1 or len(app_hash) != _HASH_BYTES:
            raise BadSnapshot(f"height {snapshot.height} with an app hash of {len(app_hash)} bytes")
        if hashlib.sha256(snapshot.metadata).digest() != snapshot.hash:
            raise BadSnapshot("its hash is not the hash of its metadata")
        metadata = Metadata.decode(snapshot.metadata)
        if len(metadata.chunk_hashes) != snapshot.chunks or snapshot.chunks == 0:
            raise BadSnapshot(f"{snapshot.chunks} chunks, its metadata lists {len(metadata.chunk_hashes)}")
        return cls(snapshot.height, app_hash, metadata)

    @property
    def complete(self) -> bool:
        return self.next_index == len(self.metadata.chunk_hashes)

    def apply(self, store: CommittedStore, index: int, chunk: bytes) -> None:
        """Write chunk `index`'s items into `store`. ChunkCorrupt when its hash is not the listed
        one (nothing written); BadSnapshot when it is but its items are not format 1's (out of
        order, outside the covered keys, more or fewer than the metadata counts)."""
        if index != self.next_index:
            raise BadSnapshot(f"chunk {index} applied, {self.next_index} expected")
        if hashlib.sha256(chunk).digest() != self.metadata.chunk_hashes[index]:
            raise ChunkCorrupt(f"chunk {index} does not hash to the snapshot's listed hash")
        items = decode_chunk(chunk)
        previous = self.last_key
        for key, _ in items:
            if key <= previous or key < COVERED_START:
                raise BadSnapshot(f"chunk {index}: key {key.hex()} out of order or outside the state")
            previous = key
        self.items += len(items)
        if self.items > self.metadata.item_count or (index + 1 == len(self.metadata.chunk_hashes)
                                                      and self.items != self.metadata.item_count):
            raise BadSnapshot(f"{self.items} items by chunk {index}; the metadata counts {self.metadata.item_count}")
        store.write_unversioned(items)
        self.last_key = previous
        self.next_index += 1

    def commit_info(self, store: CommittedStore) -> CommitInfo:
        """The restored height's, its block time read from the restored (and checked) state."""
        return CommitInfo(self.height, self.app_hash, AuthKeeper(store).block_time_ms())


def write_chunk(store: CommittedStore, chunk: bytes) -> None:
    """A chunk already checked by the node (app/mempool_worker.py's replica follows a restore)."""
    store.write_unversioned(decode_chunk(chunk))


def erase_covered(store: CommittedStore) -> int:
    """Remove every covered key (what a refused or interrupted restore wrote); returns how many."""
    erased = 0
    while True:
        batch: list[tuple[bytes, bytes | None]] = [
            (key, None) for key, _ in itertools.islice(store.iterate(COVERED_START, None), _ERASE_BATCH)]
        if not batch:
            return erased
        store.write_unversioned(batch)
        erased += len(batch)

