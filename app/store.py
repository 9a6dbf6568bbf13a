"""LevelDB state with a write cache per block and one atomic batch per Commit.

Layers, bottom up:
  CommittedStore  LevelDB as of the last Commit (plus the height, app hash and block time), and
                  the state tree over it (app/tree.py), whose root is the app hash; its last
                  `proof_versions` heights stay readable as LevelDB snapshots (StoreVersion), so
                  queries and proofs can be asked of a recent height.
  CacheStore      pending writes over a parent; `write()` pushes them down, `discard()` drops them.
                  FinalizeBlock runs on one over the committed store, the txs on one over the
                  block's, written after each tx that succeeds and dropped after each that fails,
                  so a failed tx leaves nothing behind. CheckTx runs on its own, reset at every
                  Commit.
FinalizeBlock updates the committed tree with the block's writes (the new root is the block's app
hash); Commit writes the state, the tree's changed nodes and the meta keys in one batch, so the
tree on disk is always the tree of the state on disk. docs/state.md has the tree, its costs and
what the app hash commits to.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Protocol

import plyvel
from sortedcontainers import SortedList

from app.tree import COVERED_START, NODE_PREFIX, ROOT_KEY, NodeCache, StateTree, TreeUpdate
from modules.encoding import read_uint, stored_uint, u64
from modules.store import KVStore

_META = b"\x00meta/"  # below every module prefix (COVERED_START); never part of the app hash
_HEIGHT = _META + b"height"
_APP_HASH = _META + b"app_hash"
_BLOCK_TIME = _META + b"block_time_ms"
_APP_HASH_AT = _META + b"app_hash_at/"  # + 8-byte height: each node's own hash history
_TOMBSTONE = None
DEFAULT_PROOF_VERSIONS = 100  # committed heights kept readable for queries and proofs (`--proof-versions`)
# LevelDB's memtable: 64 MB (its default is 4) holds several large blocks' tree records, so a
# tree's records read from LevelDB (the levels of a tree larger than its NodeCache) are read from
# memory, and fewer level-0 files pile up for every read to probe (docs/state.md)
_WRITE_BUFFER_BYTES = 64 << 20
# Every key starts with a printable prefix or _META's zero byte: LevelDB's CompactRange over this
# key alone writes the memtable out and finds no table to merge (`close`).
_AFTER_EVERY_KEY = b"\xff"


class _WriteBatch(Protocol):
    def put(self, key: bytes, value: bytes) -> None: ...
    def delete(self, key: bytes) -> None: ...


class _Snapshot(Protocol):
    """The part of a plyvel snapshot the store uses: reads as of the moment it was taken."""

    def get(self, key: bytes) -> bytes | None: ...
    def iterator(self, *, start: bytes, stop: bytes | None = None) -> Iterator[tuple[bytes, bytes]]: ...
    def close(self) -> None: ...


class _LevelDB(Protocol):
    """The part of plyvel's DB the store uses (plyvel has no type hints)."""

    def get(self, key: bytes) -> bytes | None: ...
    def iterator(self, *, start: bytes, stop: bytes | None = None) -> Iterator[tuple[bytes, bytes]]: ...
    def write_batch(self, *, transaction: bool, sync: bool) -> AbstractContextManager[_WriteBatch]: ...
    def snapshot(self) -> _Snapshot: ...
    def compact_range(self, *, start: bytes, stop: bytes) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class CommitInfo:
    height: int
    app_hash: bytes
    block_time_ms: int


class NoStateTree(Exception):
    """A data directory with state but no state tree: written by a version whose app hash chained
    the blocks' writes. Its chain's headers carry those hashes, so it cannot go on under tree roots:
    start a new chain (docs/state.md, "Upgrading")."""


class StoreVersion:
    """The committed state as of one height, read from a LevelDB snapshot: what queries and
    proofs at that height see, whatever has been committed since."""

    def __init__(self, height: int, snapshot: _Snapshot) -> None:
        self.height = height
        self._snapshot = snapshot

    def get(self, key: bytes) -> bytes | None:
        return self._snapshot.get(key)

    def iterate(self, start: bytes, end: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        if end is None:
            return self._snapshot.iterator(start=start)
        return self._snapshot.iterator(start=start, stop=end)

    def tree(self) -> StateTree:
        """The state tree at this height: its root is the app hash of this height's state."""
        return StateTree(self)

    def close(self) -> None:
        """Release the LevelDB snapshot of a version taken with `CommittedStore.view()` (the
        versions the store holds for queries it releases itself)."""
        self._snapshot.close()


class CommittedStore:
    """Reads see only what the last Commit wrote; writes happen only through `commit`."""

    def __init__(self, path: Path, durable: bool = True, keeps_tree: bool = True,
                 proof_versions: int = DEFAULT_PROOF_VERSIONS) -> None:
        """`durable`: each commit is synced to disk before it returns. `keeps_tree`: commits carry
        the state tree's changes. A replica that is rebuilt from the node's store on every start
        and serves only CheckTx (app/mempool_worker.py) needs neither. `proof_versions`: how many
        of the last committed heights stay readable (`version`); the one this store opens at
        is the first (heights before a restart are not)."""
        if proof_versions < 0:
            raise ValueError(f"proof_versions must be 0 or more, got {proof_versions}")
        path.mkdir(parents=True, exist_ok=True)
        # The tree's records are rewritten every block (and read back from the memtable when they
        # are not all cached); a replica without a tree keeps LevelDB's default buffer.
        buffer = {"write_buffer_size": _WRITE_BUFFER_BYTES} if keeps_tree else {}
        self._db: _LevelDB = plyvel.DB(str(path), create_if_missing=True, bloom_filter_bits=10, **buffer)
        self._durable = durable
        self._keeps_tree = keeps_tree
        self._nodes = NodeCache()  # the tree's inner nodes, loaded at the first tree() (docs/state.md)
        self._proof_versions = proof_versions
        self._versions: dict[int, _Snapshot] = {}  # by height, oldest first
        if keeps_tree and self._db.get(ROOT_KEY) is None and self._db.get(_HEIGHT) is not None:
            if next(iter(self.iterate(COVERED_START, None)), None) is not None:
                self._db.close()
                raise NoStateTree(f"{path} holds a chain whose app hashes are not state tree roots (written by "
                                  "an older version); it cannot continue under this one: start a new chain "
                                  "(perpchain localnet reset; docs/state.md, Upgrading)")
        height = self.last_commit().height
        if height:
            self._hold(height)

    def close(self) -> None:
        """Release the versions and close LevelDB. A store that keeps a tree first writes its
        memtable (up to 64 MB of the last blocks' writes) out as a table, so the next start opens
        it at once instead of replaying that much log (a crash still replays it)."""
        for snapshot in self._versions.values():
            snapshot.close()
        self._versions.clear()
        if self._keeps_tree:
            self._db.compact_range(start=_AFTER_EVERY_KEY, stop=_AFTER_EVERY_KEY)
        self._db.close()

    def get(self, key: bytes) -> bytes | None:
        return self._db.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        raise TypeError("the committed store is written only by commit()")

    def delete(self, key: bytes) -> None:
        raise TypeError("the committed store is written only by commit()")

    def iterate(self, start: bytes, end: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        if end is None:
            return self._db.iterator(start=start)
        return self._db.iterator(start=start, stop=end)

    def last_commit(self) -> CommitInfo:
        height = self._db.get(_HEIGHT)
        if height is None:
            return CommitInfo(0, b"", 0)
        return CommitInfo(
            read_uint(height),
            self._db.get(_APP_HASH) or b"",
            stored_uint(self._db.get(_BLOCK_TIME)),
        )

    def tree(self) -> StateTree:
        """The state tree as of the last Commit: its root is the app hash of the committed state."""
        if not self._keeps_tree:
            raise TypeError("this store does not keep the state tree")
        if not self._nodes.loaded:
            self._nodes.load(self._db.iterator(start=NODE_PREFIX, stop=NODE_PREFIX + b"\xff"))
        return StateTree(self._db, self._nodes)

    def commit(self, writes: dict[bytes, bytes | None], info: CommitInfo, tree: TreeUpdate | None) -> None:
        """Writes, the tree's changes, height, app hash and block time in one atomic, synced batch
        (`tree` None only for a store that does not keep the tree)."""
        if (tree is not None) != self._keeps_tree:
            raise ValueError("a commit carries the tree's changes exactly when the store keeps the tree")
        with self._db.write_batch(transaction=True, sync=self._durable) as batch:
            _write_into(batch, writes.items())
            if tree is not None:
                _write_into(batch, tree.node_writes.items())
            batch.put(_HEIGHT, u64(info.height))
            batch.put(_APP_HASH, info.app_hash)
            batch.put(_BLOCK_TIME, u64(info.block_time_ms))
            batch.put(_APP_HASH_AT + u64(info.height), info.app_hash)
        if tree is not None:
            self._nodes.committed(tree.node_writes)
        self._hold(info.height)

    def _hold(self, height: int) -> None:
        """Keep the state as now committed readable as `height`; let go of the oldest beyond
        `proof_versions` (LevelDB may then compact away what only they still saw)."""
        if not self._proof_versions:
            return
        replaced = self._versions.pop(height, None)
        if replaced is not None:
            replaced.close()
        self._versions[height] = self._db.snapshot()
        while len(self._versions) > self._proof_versions:
            self._versions.pop(next(iter(self._versions))).close()

    def version(self, height: int) -> StoreVersion | None:
        """The committed state at `height` (0: the latest), if this store still holds it."""
        if not self._versions:
            return None
        if height == 0:
            height = next(reversed(self._versions))
        snapshot = self._versions.get(height)
        return None if snapshot is None else StoreVersion(height, snapshot)

    def held_heights(self) -> tuple[int, int] | None:
        """The oldest and the latest height `version` answers (None before the first commit)."""
        if not self._versions:
            return None
        return next(iter(self._versions)), next(reversed(self._versions))

    def view(self) -> StoreVersion:
        """The committed state as of now, which later commits leave as it is, for the caller to
        read (state sync's snapshot writer, in a thread of its own) and close."""
        return StoreVersion(self.last_commit().height, self._db.snapshot())

    def write_unversioned(self, writes: Iterable[tuple[bytes, bytes | None]]) -> None:
        """Writes outside any block, height and app hash left as they are: a state sync's items
        while a snapshot is restored (the restore then commits its height), or their removal when
        the snapshot is refused. Not synced: a restore cut short leaves a store at height 0, whose
        items the next restore removes."""
        with self._db.write_batch(transaction=False, sync=False) as batch:
            _write_into(batch, writes)

    def app_hash_at(self, height: int) -> bytes | None:
        """The app hash this node committed at `height`, so nodes can be compared height by height."""
        return self._db.get(_APP_HASH_AT + u64(height))


def _write_into(batch: _WriteBatch, writes: Iterable[tuple[bytes, bytes | None]]) -> None:
    """Each write into `batch`: a put, or a delete for a tombstone."""
    put, delete = batch.put, batch.delete  # bound once: a large block writes 20,000 records
    for key, value in writes:
        if value is _TOMBSTONE:
            delete(key)
        else:
            put(key, value)


class CacheStore:
    """Pending writes over a parent store; reads fall through, iteration merges both in key order."""

    def __init__(self, parent: KVStore) -> None:
        self._parent = parent
        self._writes: dict[bytes, bytes | None] = {}
        # The written keys in order, so iteration costs O(log n + range). Keys written since the
        # last iteration wait in `_unsorted`: a tx's branch is written far more often than iterated.
        self._keys = SortedList()
        self._unsorted: list[bytes] = []

    def get(self, key: bytes) -> bytes | None:
        if key in self._writes:
            return self._writes[key]
        return self._parent.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        if key < COVERED_START:
            raise KeyError("node-local keys (meta, the state tree) are written only by commit()")
        if key not in self._writes:
            self._unsorted.append(key)
        self._writes[key] = value

    def delete(self, key: bytes) -> None:
        if key < COVERED_START:
            raise KeyError("node-local keys (meta, the state tree) are written only by commit()")
        if key not in self._writes:
            self._unsorted.append(key)
        self._writes[key] = _TOMBSTONE

    def iterate(self, start: bytes, end: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        if self._unsorted:
            self._keys.update(self._unsorted)
            self._unsorted.clear()
        pending = list(self._keys.irange(start, end, inclusive=(True, False)))
        if not pending:  # the common case in a tx's branch: nothing to merge, the parent answers
            yield from self._parent.iterate(start, end)
            return
        writes = self._writes
        below = self._parent.iterate(start, end)
        held = next(below, None)
        for key in pending:  # both in key order; on a tie the cache's write wins
            while held is not None and held[0] < key:
                yield held
                held = next(below, None)
            if held is not None and held[0] == key:
                held = next(below, None)
            value = writes[key]
            if value is not _TOMBSTONE:
                yield key, value
        while held is not None:
            yield held
            held = next(below, None)

    def write(self) -> None:
        """Push the pending writes into the parent cache."""
        if not isinstance(self._parent, CacheStore):
            raise TypeError("a cache over the committed store is flushed by commit()")
        for key, value in self._writes.items():
            if value is _TOMBSTONE:
                self._parent.delete(key)
            else:
                self._parent.set(key, value)
        self.discard()

    def discard(self) -> None:
        """Drop the pending writes: the cache reads as its parent again (a failed tx's branch)."""
        self._writes.clear()
        self._keys.clear()
        self._unsorted.clear()

    @property
    def writes(self) -> dict[bytes, bytes | None]:
        return self._writes
