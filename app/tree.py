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
    """Where the inner node of `path`'s first `depth` nibbles is stored (inlined in _update_one)."""
    half = depth >> 1
    if depth & 1:
        return _DEPTH_KEYS[depth] + path[:half] + _HIGH_HALF[path[half]]
    return _DEPTH_KEYS[depth] + path[:half]


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


def _child(record: bytes, slot: int) -> Slot:
    """The child at nibble `slot` of the inner node stored as `record`."""
    bitmap = record[1] << 8 | record[2]
    if not bitmap >> slot & 1:
        return None
    below = (1 << slot) - 1
    hash_at = _HASHES_AT + HASH_BYTES * (bitmap & below).bit_count()
    hashes_end = _HASHES_AT + HASH_BYTES * bitmap.bit_count()
    leaves_bitmap = record[hashes_end] << 8 | record[hashes_end + 1]
    if not leaves_bitmap >> slot & 1:
        return record[hash_at:hash_at + HASH_BYTES]
    leaf_at = hashes_end + 2 + _LEAF_BYTES * (leaves_bitmap & below).bit_count()
    return record[leaf_at:leaf_at + HASH_BYTES], record[leaf_at + HASH_BYTES:leaf_at + _LEAF_BYTES], record[hash_at:hash_at + HASH_BYTES]


def _siblings(record: bytes, slot: int) -> tuple[bytes, ...]:
    """The children's hashes but the one at `slot`, in nibble order: a proof's level."""
    bitmap = record[1] << 8 | record[2]
    skip = _HASHES_AT + HASH_BYTES * (bitmap & ((1 << slot) - 1)).bit_count() if bitmap >> slot & 1 else -1
    return tuple(record[at:at + HASH_BYTES] for at in range(_HASHES_AT, _HASHES_AT + HASH_BYTES * bitmap.bit_count(), HASH_BYTES)
                 if at != skip)


def _with_child(record: bytes, slot: int, new: Slot) -> bytes:
    """The record after the child at nibble `slot` becomes `new` (its bitmap may end up empty)."""
    bitmap = record[1] << 8 | record[2]
    hashes_end = _HASHES_AT + HASH_BYTES * bitmap.bit_count()
    leaves_bitmap = record[hashes_end] << 8 | record[hashes_end + 1]
    bit = 1 << slot
    below = bit - 1
    hash_at = _HASHES_AT + HASH_BYTES * (bitmap & below).bit_count()
    leaf_at = hashes_end + 2 + _LEAF_BYTES * (leaves_bitmap & below).bit_count()
    hash_end = hash_at + HASH_BYTES if bitmap & bit else hash_at
    leaf_end = leaf_at + _LEAF_BYTES if leaves_bitmap & bit else leaf_at
    if new is None:
        bitmap &= ~bit
        leaves_bitmap &= ~bit
        digest = key_digest = value_digest = b""
    elif isinstance(new, tuple):
        bitmap |= bit
        leaves_bitmap |= bit
        key_digest, value_digest, digest = new
    else:
        bitmap |= bit
        leaves_bitmap &= ~bit
        digest, key_digest, value_digest = new, b"", b""
    return b"".join((_INNER_TAG, bitmap.to_bytes(2, "big"), record[_HASHES_AT:hash_at], digest, record[hash_end:hashes_end],
                     leaves_bitmap.to_bytes(2, "big"), record[hashes_end + 2:leaf_at], key_digest, value_digest,
                     record[leaf_end:]))


def _settle(record: bytes, key: bytes, node_writes: dict[bytes, bytes | None]) -> Slot:
    """A changed inner node's slot in its parent: its hash, its record written; or, left with one
    leaf or none, that leaf or nothing, its record deleted (the canonical shape: a prefix that one
    key alone has is that key's leaf)."""
    bitmap = record[1] << 8 | record[2]
    hashes_end = _HASHES_AT + HASH_BYTES * bitmap.bit_count()
    if not bitmap & (bitmap - 1):  # one child or none
        if not bitmap:
            node_writes[key] = None
            return None
        if record[hashes_end] | record[hashes_end + 1]:  # that child is a leaf
            node_writes[key] = None
            leaf_at = hashes_end + 2
            return (record[leaf_at:leaf_at + HASH_BYTES], record[leaf_at + HASH_BYTES:leaf_at + _LEAF_BYTES],
                    record[_HASHES_AT:hashes_end])
    node_writes[key] = record
    return hashlib.sha256(memoryview(record)[:hashes_end]).digest()


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
    if hi - lo <= 1:
        return None if hi == lo else (paths[lo], values[lo], leaf_hash(paths[lo], values[lo]))
    bitmap = leaves_bitmap = 0
    hashes: list[bytes] = []
    leaves: list[bytes] = []
    for slot, start, end in _groups(paths, depth, lo, hi):
        child = _build(paths, values, depth + 1, start, end, node_writes)
        bitmap |= 1 << slot
        if isinstance(child, tuple):
            leaves_bitmap |= 1 << slot
            hashes.append(child[2])
            leaves += child[:2]
        elif child is not None:
            hashes.append(child)
    hashed = _INNER_TAG + bitmap.to_bytes(2, "big") + b"".join(hashes)
    node_writes[node_key(paths[lo], depth)] = hashed + leaves_bitmap.to_bytes(2, "big") + b"".join(leaves)
    return hashlib.sha256(hashed).digest()


class NodeCache:
    """The records of the inner nodes at depths 0 to `depth` - 1, which a large block's update
    reads all of: kept in memory for the committed store, filled as they are read and changed as
    they are committed."""

    def __init__(self, depth: int = 4) -> None:
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
        sha256 = hashlib.sha256  # key_hash and value_hash, inlined: a block hashes every key it wrote
        hashed = sorted([(sha256(k).digest(), None if v is None else sha256(v).digest()) for k, v in writes.items()])
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
        record = changed = self._record(key)
        for child_slot, start, end in _groups(paths, depth, lo, hi):
            child = _child(record, child_slot)
            new = self._update(paths, values, node_writes, depth + 1, child, start, end)
            if new != child:
                changed = _with_child(changed, child_slot, new)
        return slot if changed is record else _settle(changed, key, node_writes)

    def _update_one(self, paths: list[bytes], values: list[bytes | None], node_writes: dict[bytes, bytes | None],
                    depth: int, slot: bytes, at: int) -> Slot:
        """The inner slot at `depth` after the one write paths[at], the usual case below the top
        levels: down the path to the leaf or empty slot it ends in, then back up."""
        path = paths[at]
        trail: list[tuple[bytes, bytes, int, Slot]] = []  # each node on the way: key, record, nibble, child
        child: Slot = slot
        while isinstance(child, bytes):
            half = depth >> 1  # node_key and nibble, inlined: this loop runs once per node a block touches
            if depth & 1:
                here = path[half] & 0x0F
                key = _DEPTH_KEYS[depth] + path[:half] + _HIGH_HALF[path[half]]
            else:
                here = path[half] >> 4
                key = _DEPTH_KEYS[depth] + path[:half]
            record = self._record(key)
            child = _child(record, here)
            trail.append((key, record, here, child))
            depth += 1
        new = _merge(paths, values, node_writes, depth, child, at, at + 1)
        for key, record, here, child in reversed(trail):
            if new == child:
                return slot
            new = _settle(_with_child(record, here, new), key, node_writes)
        return new

    def prove(self, key: bytes) -> tuple[bytes | None, Proof]:
        """`key`'s value (None: absent) and the proof of it against `root`."""
        path = key_hash(key)
        value = self._reader.get(key)
        slot = _root_slot(self._reader.get(ROOT_KEY))
        levels: list[ProofLevel] = []
        depth = 0
        while isinstance(slot, bytes):
            record = self._record(node_key(path, depth))
            here = nibble(path, depth)
            levels.append(ProofLevel(record[1] << 8 | record[2], _siblings(record, here)))
            slot = _child(record, here)
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
