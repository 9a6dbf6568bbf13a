"""The state tree: the 16-ary Merkle tree over every consensus key (wire/proofs.py defines its
hashes and proofs; docs/state.md its shape and costs), stored in the node's LevelDB under
TREE_PREFIX, beside the state it covers.

Stored records (all below b"\\x01", so outside the tree and the exports):
  ROOT_KEY                          the root slot: absent (no keys), key_hash + value_hash (one
                                    key: its leaf) or the root inner node's hash
  NODE_PREFIX + depth + path        an inner node: 0x01 | bitmap u16 | the children's hashes (32
                                    each, nibble order) | leaf bitmap u16 | the leaf children's
                                    key_hash + value_hash (64 each, nibble order); the part
                                    before the leaf bitmap is what the node's hash is taken of
A leaf lives inline in its parent, so a write costs one read and one write per inner node on
its path, and a block's update reads and rewrites each touched node once: O(changed keys x depth).
Nodes are addressed by path, so an update overwrites them in place; older versions are the
LevelDB snapshots app/store.py keeps.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from dataclasses import dataclass
from typing import Iterable, Iterator, Protocol

from wire.proofs import (
    EMPTY_ROOT,
    HASH_BYTES,
    Proof,
    ProofKind,
    ProofLevel,
    key_hash,
    leaf_hash,
    nibble,
    value_hash,
)

TREE_PREFIX = b"\x00tree/"
ROOT_KEY = TREE_PREFIX + b"root"
NODE_PREFIX = TREE_PREFIX + b"n"
COVERED_START = b"\x01"  # the tree covers every key from here on; below are the node's own records
_LEAF_BYTES = 2 * HASH_BYTES
_INNER_TAG = b"\x01"
_HASHES_AT = 3  # after the tag and the bitmap
_EMPTY_NODE = _INNER_TAG + bytes(4)
_DEPTH_KEYS = tuple(NODE_PREFIX + bytes((depth,)) for depth in range(2 * HASH_BYTES))
_HIGH_HALF = tuple(bytes((byte & 0xF0,)) for byte in range(256))

Leaf = tuple[bytes, bytes, bytes]  # key_hash, value_hash, leaf hash
Slot = Leaf | bytes | None  # a leaf, an inner node's hash (the node is stored), or nothing


class NodeReader(Protocol):
    """Where the nodes are read from: the committed store or a LevelDB snapshot of it."""

    def get(self, key: bytes) -> bytes | None: ...


class CorruptTree(Exception):
    """The stored nodes disagree with themselves or with the state they cover."""


@dataclass(frozen=True)
class TreeUpdate:
    """A new root and the node records that make it (None: delete), to write with the state."""

    root: bytes
    node_writes: dict[bytes, bytes | None]


def node_key(path: bytes, depth: int) -> bytes:
    """Where the inner node of `path`'s first `depth` nibbles is stored."""
    half = depth >> 1
    if depth & 1:
        return NODE_PREFIX + bytes((depth,)) + path[:half] + bytes((path[half] & 0xF0,))
    return NODE_PREFIX + bytes((depth,)) + path[:half]


def _boundary(path: bytes, depth: int, next_nibble: int) -> bytes:
    """The smallest key hash sharing `path`'s first `depth` nibbles and then `next_nibble`."""
    half = depth >> 1
    if depth & 1:
        return path[:half] + bytes(((path[half] & 0xF0) | next_nibble,))
    return path[:half] + bytes((next_nibble << 4,))


def _slot_hash(slot: Leaf | bytes) -> bytes:
    return slot[2] if isinstance(slot, tuple) else slot


def _root_record(slot: Slot) -> bytes | None:
    if slot is None:
        return None
    return slot[0] + slot[1] if isinstance(slot, tuple) else slot


def _root_slot(record: bytes | None) -> Slot:
    if record is None:
        return None
    if len(record) == _LEAF_BYTES:
        return (record[:HASH_BYTES], record[HASH_BYTES:], leaf_hash(record[:HASH_BYTES], record[HASH_BYTES:]))
    if len(record) == HASH_BYTES:
        return record
    raise CorruptTree(f"a root record of {len(record)} bytes")


class _Node:
    """An inner node being changed: its two bitmaps and its hash and leaf regions, spliced in place."""

    __slots__ = ("bitmap", "leaves_bitmap", "hashes", "leaves")

    def __init__(self, record: bytes) -> None:
        self.bitmap = record[1] << 8 | record[2]
        hashes_end = _HASHES_AT + HASH_BYTES * self.bitmap.bit_count()
        self.hashes = bytearray(record[_HASHES_AT:hashes_end])
        self.leaves_bitmap = int.from_bytes(record[hashes_end:hashes_end + 2], "big")
        self.leaves = bytearray(record[hashes_end + 2:])
        if len(self.leaves) != _LEAF_BYTES * self.leaves_bitmap.bit_count() or self.leaves_bitmap & ~self.bitmap:
            raise CorruptTree("an inner node whose size does not match its bitmaps")

    def child(self, slot: int) -> Slot:
        bit = 1 << slot
        if not self.bitmap & bit:
            return None
        at = HASH_BYTES * (self.bitmap & (bit - 1)).bit_count()
        digest = bytes(self.hashes[at:at + HASH_BYTES])
        if not self.leaves_bitmap & bit:
            return digest
        leaf_at = _LEAF_BYTES * (self.leaves_bitmap & (bit - 1)).bit_count()
        return bytes(self.leaves[leaf_at:leaf_at + HASH_BYTES]), bytes(self.leaves[leaf_at + HASH_BYTES:leaf_at + _LEAF_BYTES]), digest

    def siblings(self, slot: int) -> tuple[bytes, ...]:
        """The children's hashes but the one at `slot`, in nibble order: a proof's level."""
        skip = HASH_BYTES * (self.bitmap & ((1 << slot) - 1)).bit_count() if self.bitmap >> slot & 1 else -1
        return tuple(bytes(self.hashes[at:at + HASH_BYTES]) for at in range(0, len(self.hashes), HASH_BYTES) if at != skip)

    def set_child(self, slot: int, new: Slot) -> None:
        bit = 1 << slot
        at = HASH_BYTES * (self.bitmap & (bit - 1)).bit_count()
        leaf_at = _LEAF_BYTES * (self.leaves_bitmap & (bit - 1)).bit_count()
        hash_end = at + HASH_BYTES if self.bitmap & bit else at
        leaf_end = leaf_at + _LEAF_BYTES if self.leaves_bitmap & bit else leaf_at
        if new is None:
            self.hashes[at:hash_end] = b""
            self.leaves[leaf_at:leaf_end] = b""
            self.bitmap &= ~bit
            self.leaves_bitmap &= ~bit
        elif isinstance(new, tuple):
            self.hashes[at:hash_end] = new[2]
            self.leaves[leaf_at:leaf_end] = new[0] + new[1]
            self.bitmap |= bit
            self.leaves_bitmap |= bit
        else:
            self.hashes[at:hash_end] = new
            self.leaves[leaf_at:leaf_end] = b""
            self.bitmap |= bit
            self.leaves_bitmap &= ~bit

    def only_leaf(self) -> Leaf | None:
        """The node's one child when that is a leaf: a node left so collapses into its parent's slot."""
        if self.bitmap.bit_count() != 1 or not self.leaves_bitmap:
            return None
        return bytes(self.leaves[:HASH_BYTES]), bytes(self.leaves[HASH_BYTES:]), bytes(self.hashes)

    def encoded(self) -> tuple[bytes, bytes]:
        """The stored record and the node's hash."""
        hashed = _INNER_TAG + self.bitmap.to_bytes(2, "big") + self.hashes
        return hashed + self.leaves_bitmap.to_bytes(2, "big") + self.leaves, hashlib.sha256(hashed).digest()


def _store(node: _Node, key: bytes, node_writes: dict[bytes, bytes | None]) -> Slot:
    """A changed inner node's slot in its parent: its hash (its record written), or, left with
    one leaf or none, that leaf or nothing (its record deleted), which keeps the shape canonical."""
    collapsed = node.only_leaf()
    if not node.bitmap or collapsed is not None:
        node_writes[key] = None
        return collapsed
    record, digest = node.encoded()
    node_writes[key] = record
    return digest


def _groups(paths: list[bytes], depth: int, lo: int, hi: int) -> Iterator[tuple[int, int, int]]:
    """(nibble at `depth`, lo, hi) of each run of paths[lo:hi] sharing that nibble; the paths are
    sorted and share their first `depth` nibbles."""
    while lo < hi:
        slot = nibble(paths[lo], depth)
        end = hi if slot == 15 or hi - lo == 1 else bisect_left(paths, _boundary(paths[lo], depth, slot + 1), lo, hi)
        yield slot, lo, end
        lo = end


def _build(paths: list[bytes], values: list[bytes], depth: int, lo: int, hi: int,
           node_writes: dict[bytes, bytes | None]) -> Slot:
    """The slot at `depth` holding exactly the keys paths[lo:hi], whose records go to `node_writes`."""
    if hi == lo:
        return None
    if hi - lo == 1:
        return paths[lo], values[lo], leaf_hash(paths[lo], values[lo])
    node = _Node(_EMPTY_NODE)
    for slot, start, end in _groups(paths, depth, lo, hi):
        node.set_child(slot, _build(paths, values, depth + 1, start, end, node_writes))
    record, digest = node.encoded()
    node_writes[node_key(paths[lo], depth)] = record
    return digest


class NodeCache:
    """The records of the inner nodes above `depth`, which every block's update reads: kept in
    memory for the committed store, filled as they are read and changed as they are committed."""

    def __init__(self, depth: int = 3) -> None:
        self.depth = depth
        self.records: dict[bytes, bytes] = {}

    def committed(self, node_writes: dict[bytes, bytes | None]) -> None:
        cut = len(NODE_PREFIX)
        for key, record in node_writes.items():
            if key.startswith(NODE_PREFIX) and key[cut] < self.depth:
                if record is None:
                    self.records.pop(key, None)
                else:
                    self.records[key] = record


class StateTree:
    """The tree as the reader holds it. `update` computes a block's new root and node records
    without writing them; `prove` answers a key with its proof. `cache`: the reader's top nodes,
    kept equal to them by the cache's owner."""

    def __init__(self, reader: NodeReader, cache: NodeCache | None = None) -> None:
        self._reader = reader
        self._cache = cache

    @property
    def root(self) -> bytes:
        slot = _root_slot(self._reader.get(ROOT_KEY))
        return EMPTY_ROOT if slot is None else _slot_hash(slot)

    def _record(self, key: bytes) -> bytes:
        cache = self._cache
        record = cache.records.get(key) if cache is not None else None
        if record is None:
            record = self._reader.get(key)
            if record is None:
                raise CorruptTree(f"inner node {key.hex()} is missing")
            if cache is not None and key[len(NODE_PREFIX)] < cache.depth:
                cache.records[key] = record
        return record

    def update(self, writes: dict[bytes, bytes | None]) -> TreeUpdate:
        """The root after `writes` (None: a delete) and the node records that change."""
        if writes and min(writes) < COVERED_START:
            raise ValueError(f"{min(writes)!r} is a node-local key, outside the tree")
        hashed = sorted((key_hash(k), None if v is None else value_hash(v)) for k, v in writes.items())
        paths = [path for path, _ in hashed]
        values = [value for _, value in hashed]
        node_writes: dict[bytes, bytes | None] = {}
        old = _root_slot(self._reader.get(ROOT_KEY))
        new = self._update(paths, values, node_writes, 0, old, 0, len(hashed)) if hashed else old
        if new != old:
            node_writes[ROOT_KEY] = _root_record(new)
        return TreeUpdate(EMPTY_ROOT if new is None else _slot_hash(new), node_writes)

    def _update(self, paths: list[bytes], values: list[bytes | None], node_writes: dict[bytes, bytes | None],
                depth: int, slot: Slot, lo: int, hi: int) -> Slot:
        """The slot at `depth` on paths[lo]'s path after the writes [lo:hi]."""
        if slot is None or isinstance(slot, tuple):
            return _merge(paths, values, node_writes, depth, slot, lo, hi)
        if hi - lo == 1:
            return self._update_one(paths, values, node_writes, depth, slot, lo)
        key = node_key(paths[lo], depth)
        node = _Node(self._record(key))
        changed = False
        for child_slot, start, end in _groups(paths, depth, lo, hi):
            child = node.child(child_slot)
            new = self._update(paths, values, node_writes, depth + 1, child, start, end)
            if new != child:
                node.set_child(child_slot, new)
                changed = True
        return _store(node, key, node_writes) if changed else slot

    def _update_one(self, paths: list[bytes], values: list[bytes | None], node_writes: dict[bytes, bytes | None],
                    depth: int, slot: bytes, at: int) -> Slot:
        """The inner slot at `depth` after the one write paths[at]: the usual case below the top
        levels, walked down and back up splicing the records rather than taking them apart."""
        path = paths[at]
        trail: list[tuple[bytes, bytes, int, Slot, int, int, int]] = []  # key, record, nibble, child, offsets
        record_of = self._record
        child: Slot = slot
        while isinstance(child, bytes):
            half = depth >> 1
            if depth & 1:
                here = path[half] & 0x0F
                key = _DEPTH_KEYS[depth] + path[:half] + _HIGH_HALF[path[half]]
            else:
                here = path[half] >> 4
                key = _DEPTH_KEYS[depth] + path[:half]
            record = record_of(key)
            bitmap = record[1] << 8 | record[2]
            below = (1 << here) - 1
            hashes_end = _HASHES_AT + HASH_BYTES * bitmap.bit_count()
            hash_at = leaf_at = -1
            if bitmap >> here & 1:
                hash_at = _HASHES_AT + HASH_BYTES * (bitmap & below).bit_count()
                leaves_bitmap = record[hashes_end] << 8 | record[hashes_end + 1]
                if leaves_bitmap >> here & 1:
                    leaf_at = hashes_end + 2 + _LEAF_BYTES * (leaves_bitmap & below).bit_count()
                    child = (record[leaf_at:leaf_at + HASH_BYTES], record[leaf_at + HASH_BYTES:leaf_at + _LEAF_BYTES],
                             record[hash_at:hash_at + HASH_BYTES])
                else:
                    child = record[hash_at:hash_at + HASH_BYTES]
            else:
                child = None
            trail.append((key, record, here, child, hashes_end, hash_at, leaf_at))
            depth += 1
        new = _merge(paths, values, node_writes, depth, child, at, at + 1)
        sha256 = hashlib.sha256
        for key, record, here, child, hashes_end, hash_at, leaf_at in reversed(trail):
            if new == child:
                return slot
            if isinstance(new, tuple) and leaf_at >= 0:  # a leaf rewritten in place
                spliced = b"".join((record[:hash_at], new[2], record[hash_at + HASH_BYTES:leaf_at], new[0], new[1],
                                    record[leaf_at + _LEAF_BYTES:]))
            elif isinstance(new, bytes) and hash_at >= 0 and leaf_at < 0:  # an inner child's new hash
                spliced = b"".join((record[:hash_at], new, record[hash_at + HASH_BYTES:]))
            else:  # the node's shape changes: a child added or removed, a leaf split or collapsed
                node = _Node(record)
                node.set_child(here, new)
                new = _store(node, key, node_writes)
                continue
            node_writes[key] = spliced
            new = sha256(memoryview(spliced)[:hashes_end]).digest()
        return new

    def prove(self, key: bytes) -> tuple[bytes | None, Proof]:
        """`key`'s value (None: absent) and the proof of it against `root`."""
        path = key_hash(key)
        value = self._reader.get(key)
        slot = _root_slot(self._reader.get(ROOT_KEY))
        levels: list[ProofLevel] = []
        depth = 0
        while isinstance(slot, bytes):
            node = _Node(self._record(node_key(path, depth)))
            here = nibble(path, depth)
            levels.append(ProofLevel(node.bitmap, node.siblings(here)))
            slot = node.child(here)
            depth += 1
        if slot is None:
            proof = Proof(ProofKind.EMPTY_SLOT, tuple(levels))
        elif slot[0] == path:
            proof = Proof(ProofKind.PRESENT, tuple(levels))
        else:
            proof = Proof(ProofKind.OTHER_LEAF, tuple(levels), (slot[0], slot[1]))
        if (value is not None) != proof.present or (value is not None and slot is not None and value_hash(value) != slot[1]):
            raise CorruptTree(f"the tree disagrees with the store about {key!r}")
        return value, proof


def _merge(paths: list[bytes], values: list[bytes | None], node_writes: dict[bytes, bytes | None],
           depth: int, leaf: Leaf | None, lo: int, hi: int) -> Slot:
    """A leaf's or an empty slot's content after the writes [lo:hi]: nothing, a leaf or a new subtree."""
    if hi - lo == 1 and (leaf is None or leaf[0] == paths[lo]):  # the usual case: one write, no split
        path, value = paths[lo], values[lo]
        if value is None:
            return None
        return leaf if leaf is not None and leaf[1] == value else (path, value, leaf_hash(path, value))
    kept_paths: list[bytes] = []
    kept_values: list[bytes] = []
    for i in range(lo, hi):
        value = values[i]
        if value is not None:
            kept_paths.append(paths[i])
            kept_values.append(value)
    if leaf is not None:
        at = bisect_left(paths, leaf[0], lo, hi)
        if at == hi or paths[at] != leaf[0]:  # the leaf is not written: it stays, beside the writes
            if not kept_paths:
                return leaf
            position = bisect_left(kept_paths, leaf[0])
            kept_paths.insert(position, leaf[0])
            kept_values.insert(position, leaf[1])
    return _build(kept_paths, kept_values, depth, 0, len(kept_paths), node_writes)


def build_tree(items: Iterable[tuple[bytes, bytes]]) -> TreeUpdate:
    """The tree of exactly `items` (any order): its root and every node record."""
    hashed = sorted((key_hash(k), value_hash(v)) for k, v in items)
    node_writes: dict[bytes, bytes | None] = {}
    slot = _build([path for path, _ in hashed], [value for _, value in hashed], 0, 0, len(hashed), node_writes)
    node_writes[ROOT_KEY] = _root_record(slot)
    return TreeUpdate(EMPTY_ROOT if slot is None else _slot_hash(slot), node_writes)
