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
A leaf lives inline in its parent, so a write reads and rewrites only the inner nodes on its
path, and a block's update reads and rewrites each touched node once: O(changed keys x depth).
The committed store keeps every inner node's record in memory too (NodeCache, bounded), so the
update reads them from there, not from LevelDB.
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
_LEAF_TAG = b"\x00"  # leaf_hash's: 0x00 || key_hash || value_hash, inlined where each write's leaf is hashed
_HIGH_HALF = tuple(bytes((byte & 0xF0,)) for byte in range(256))

MAX_DEPTH = 2 * HASH_BYTES  # a key hash's nibbles: no inner node is this deep
DEFAULT_CACHED_NODES = 1_000_000  # about 2,800,000 keys' tree (docs/state.md, "What a write costs")
_NO_RECORDS: dict[bytes, bytes] = {}  # the cache of a tree that keeps none
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
    sorted and share their first `depth` nibbles, so a run is found by comparing one byte (a few
    paths) or by bisection (many)."""
    half = depth >> 1
    odd = depth & 1
    while lo < hi:
        byte = paths[lo][half]
        slot = byte & 0x0F if odd else byte >> 4
        end = lo + 1
        if hi - end > 8:
            end = hi if slot == 15 else bisect_left(paths, _boundary(paths[lo], depth, slot + 1), end, hi)
        elif odd:  # the high half is shared: the run is the paths with this very byte
            while end < hi and paths[end][half] == byte:
                end += 1
        else:
            while end < hi and paths[end][half] >> 4 == slot:
                end += 1
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


def _pair(first: bytes, first_hash: bytes, second: bytes, second_hash: bytes, depth: int,
          node_writes: dict[bytes, bytes | None]) -> bytes:
    """The hash of the subtree at `depth` holding exactly two leaves (each key_hash + value_hash,
    and its leaf hash), whose records go to `node_writes`: what _build makes of two keys, the
    usual split of an insert."""
    at = depth
    while nibble(first, at) == nibble(second, at):
        at += 1  # the nibbles the two share: a chain of one-child nodes down to where they part
    if first > second:
        first, first_hash, second, second_hash = second, second_hash, first, first_hash
    bitmap_bytes = (1 << nibble(first, at) | 1 << nibble(second, at)).to_bytes(2, "big")
    hashed = _INNER_TAG + bitmap_bytes + first_hash + second_hash
    node_writes[node_key(first, at)] = hashed + bitmap_bytes + first + second
    digest = hashlib.sha256(hashed).digest()
    while at > depth:
        at -= 1
        hashed = _INNER_TAG + (1 << nibble(first, at)).to_bytes(2, "big") + digest
        node_writes[node_key(first, at)] = hashed + b"\x00\x00"
        digest = hashlib.sha256(hashed).digest()
    return digest


class NodeCache:
    """The records of the inner nodes at depths 0 to `depth` - 1, kept in memory for the committed
    store so that a block's update reads no LevelDB: loaded in one pass by `load` (level by level
    from the root, at most `max_nodes` records: docs/state.md has the memory this takes), filled as
    records are read and changed as they are committed. A tree that outgrows `max_nodes` gives up
    its deepest cached level, whose records are then read from LevelDB again."""

    def __init__(self, max_nodes: int = DEFAULT_CACHED_NODES) -> None:
        self.max_nodes = max_nodes
        self.depth = 0
        self.records: dict[bytes, bytes] = {}
        self.loaded = False

    def load(self, records: Iterable[tuple[bytes, bytes]]) -> None:
        """Take the tree's node records, in key order (so level by level), up to `max_nodes`."""
        cut = len(NODE_PREFIX)
        self.records.clear()
        self.depth = MAX_DEPTH
        for key, record in records:
            if len(self.records) == self.max_nodes:
                self._drop_from(key[cut])  # the level that does not fit whole
                break
            self.records[key] = record
        self.loaded = True

    def committed(self, node_writes: dict[bytes, bytes | None]) -> None:
        """Take a committed block's node records (None: deleted) at the cached levels."""
        records = self.records
        cut = len(NODE_PREFIX)
        if self.depth == MAX_DEPTH:  # every level: all the records in one pass, then out go the deletes and the root
            records.update(node_writes)  # type: ignore[arg-type]  # its None values are taken out just below
            for key in [key for key, record in node_writes.items() if record is None]:
                del records[key]
            records.pop(ROOT_KEY, None)
        else:
            for key, record in node_writes.items():
                if key.startswith(NODE_PREFIX) and key[cut] < self.depth:
                    if record is None:
                        records.pop(key, None)
                    else:
                        records[key] = record
        while len(self.records) > self.max_nodes:
            self._drop_from(max(key[cut] for key in self.records))

    def _drop_from(self, depth: int) -> None:
        """Keep only the levels above `depth`."""
        cut = len(NODE_PREFIX)
        self.records = {key: record for key, record in self.records.items() if key[cut] < depth}
        self.depth = depth


class StateTree:
    """The tree as the reader holds it. `update` computes a block's new root and node records
    without writing them; `prove` answers a key with its proof. `cache`: the reader's top nodes,
    kept equal to them by the cache's owner."""

    def __init__(self, reader: NodeReader, cache: NodeCache | None = None) -> None:
        self._reader = reader
        self._get = reader.get
        self._cache = cache

    @property
    def root(self) -> bytes:
        slot = _root_slot(self._reader.get(ROOT_KEY))
        return EMPTY_ROOT if slot is None else _slot_hash(slot)

    def _record(self, key: bytes) -> bytes:
        cache = self._cache
        record = cache.records.get(key) if cache is not None else None
        if record is None:
            record = self._get(key)
            if record is None:
                raise CorruptTree(f"inner node {key.hex()} is missing")
            if cache is not None and key[len(NODE_PREFIX)] < cache.depth:
                cache.records[key] = record
        return record

    def update(self, writes: dict[bytes, bytes | None]) -> TreeUpdate:
        """The root after `writes` (None: a delete) and the node records that change."""
        if writes:
            _covered(min(writes))
        sha256 = hashlib.sha256  # key_hash and value_hash, inlined: a block hashes every key it wrote
        hashed = {sha256(k).digest(): None if v is None else sha256(v).digest() for k, v in writes.items()}
        paths = sorted(hashed)
        values = [hashed[path] for path in paths]
        node_writes: dict[bytes, bytes | None] = {}
        old = _root_slot(self._reader.get(ROOT_KEY))
        new = self._update(paths, values, node_writes, 0, old, 0, len(paths)) if paths else old
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
        record = self._record(key)
        bitmap = record[1] << 8 | record[2]
        hashes_end = _HASHES_AT + HASH_BYTES * bitmap.bit_count()
        leaves_bitmap = record[hashes_end] << 8 | record[hashes_end + 1]
        parts: list[bytes] = []  # the record's bytes with the new hashes of the inner children that stay inner
        done = 0  # how much of the record `parts` has taken
        reshaped: list[tuple[int, Slot]] = []  # (nibble, new slot) of the other children that change
        for child_slot, start, end in _groups(paths, depth, lo, hi):
            bit = 1 << child_slot
            if bitmap & bit and not leaves_bitmap & bit:  # an inner child: its hash is all the record holds of it
                hash_at = _HASHES_AT + HASH_BYTES * (bitmap & (bit - 1)).bit_count()
                inner = record[hash_at:hash_at + HASH_BYTES]
                if end - start == 1:
                    new = self._update_one(paths, values, node_writes, depth + 1, inner, start)
                else:
                    new = self._update(paths, values, node_writes, depth + 1, inner, start, end)
                if new == inner:
                    continue
                if isinstance(new, bytes):
                    parts += (record[done:hash_at], new)
                    done = hash_at + HASH_BYTES
                    continue
            else:  # a leaf or an empty slot
                child = _child(record, child_slot)
                new = self._update(paths, values, node_writes, depth + 1, child, start, end)
                if new == child:
                    continue
            reshaped.append((child_slot, new))
        if not parts and not reshaped:
            return slot
        if parts:
            parts.append(record[done:])
            record = b"".join(parts)
        if not reshaped:  # the same children, new hashes: the node keeps its shape
            node_writes[key] = record
            return hashlib.sha256(memoryview(record)[:hashes_end]).digest()
        for child_slot, new in reshaped:
            record = _with_child(record, child_slot, new)
        return _settle(record, key, node_writes)

    def _update_one(self, paths: list[bytes], values: list[bytes | None], node_writes: dict[bytes, bytes | None],
                    depth: int, slot: bytes, at: int) -> Slot:
        """The inner slot at `depth` after the one write paths[at], the usual case below the top
        levels: down the path to the leaf or empty slot it ends in, then back up. Record layout,
        node_key, _child and _merge's usual cases are inlined: this runs once per written key."""
        path = paths[at]
        value = values[at]
        cache = self._cache
        cached = cache.records if cache is not None else _NO_RECORDS
        cache_depth = cache.depth if cache is not None else 0
        trail: list[tuple[bytes, bytes, int, int, int]] = []  # each node above the last: key, record, nibble, hash at, hashes end
        while True:
            half = depth >> 1
            if depth & 1:
                here = path[half] & 0x0F
                key = _DEPTH_KEYS[depth] + path[:half] + _HIGH_HALF[path[half]]
            else:
                here = path[half] >> 4
                key = _DEPTH_KEYS[depth] + path[:half]
            record = cached.get(key)
            if record is None:
                record = self._get(key)
                if record is None:
                    raise CorruptTree(f"inner node {key.hex()} is missing")
                if depth < cache_depth:
                    cached[key] = record
            bitmap = record[1] << 8 | record[2]
            bit = 1 << here
            hash_at = _HASHES_AT + HASH_BYTES * (bitmap & (bit - 1)).bit_count()
            hashes_end = _HASHES_AT + HASH_BYTES * bitmap.bit_count()
            leaves_bitmap = record[hashes_end] << 8 | record[hashes_end + 1]
            if not bitmap & bit or leaves_bitmap & bit:
                break  # an empty slot or a leaf: the path ends here
            trail.append((key, record, here, hash_at, hashes_end))
            depth += 1
        new: Slot
        if bitmap & bit:  # a leaf
            leaf_at = hashes_end + 2 + _LEAF_BYTES * (leaves_bitmap & (bit - 1)).bit_count()
            if record[leaf_at:leaf_at + HASH_BYTES] == path:
                if value is not None:
                    if record[leaf_at + HASH_BYTES:leaf_at + _LEAF_BYTES] == value:
                        return slot
                    # another value: the node keeps its shape, two hashes change in place
                    record = b"".join((record[:hash_at], hashlib.sha256(_LEAF_TAG + path + value).digest(),
                                       record[hash_at + HASH_BYTES:leaf_at + HASH_BYTES], value,
                                       record[leaf_at + _LEAF_BYTES:]))
                    node_writes[key] = record
                    new = hashlib.sha256(memoryview(record)[:hashes_end]).digest()
                elif bitmap.bit_count() > 2:
                    # a delete that leaves the node two children or more: its leaf is cut out
                    record = b"".join((_INNER_TAG, (bitmap ^ bit).to_bytes(2, "big"), record[_HASHES_AT:hash_at],
                                       record[hash_at + HASH_BYTES:hashes_end], (leaves_bitmap ^ bit).to_bytes(2, "big"),
                                       record[hashes_end + 2:leaf_at], record[leaf_at + _LEAF_BYTES:]))
                    node_writes[key] = record
                    new = hashlib.sha256(memoryview(record)[:hashes_end - HASH_BYTES]).digest()
                else:
                    new = _settle(_with_child(record, here, None), key, node_writes)
            elif value is None:  # a delete of an absent key
                return slot
            else:  # another key's leaf: the two go into a new subtree, an inner child in the leaf's place
                subtree = _pair(record[leaf_at:leaf_at + _LEAF_BYTES], record[hash_at:hash_at + HASH_BYTES],
                                path + value, hashlib.sha256(_LEAF_TAG + path + value).digest(), depth + 1, node_writes)
                record = b"".join((record[:hash_at], subtree, record[hash_at + HASH_BYTES:hashes_end],
                                   (leaves_bitmap ^ bit).to_bytes(2, "big"), record[hashes_end + 2:leaf_at],
                                   record[leaf_at + _LEAF_BYTES:]))
                node_writes[key] = record
                new = hashlib.sha256(memoryview(record)[:hashes_end]).digest()
        elif value is None:  # a delete of an absent key
            return slot
        else:  # an empty slot: the new key's leaf goes in (the node had two keys or more: no collapse)
            leaf_at = hashes_end + 2 + _LEAF_BYTES * (leaves_bitmap & (bit - 1)).bit_count()
            record = b"".join((_INNER_TAG, (bitmap | bit).to_bytes(2, "big"), record[_HASHES_AT:hash_at],
                               hashlib.sha256(_LEAF_TAG + path + value).digest(), record[hash_at:hashes_end],
                               (leaves_bitmap | bit).to_bytes(2, "big"), record[hashes_end + 2:leaf_at], path, value,
                               record[leaf_at:]))
            node_writes[key] = record
            new = hashlib.sha256(memoryview(record)[:hashes_end + HASH_BYTES]).digest()
        for key, record, here, hash_at, hashes_end in reversed(trail):
            if isinstance(new, bytes):  # the child stays an inner node: only its hash changes
                record = record[:hash_at] + new + record[hash_at + HASH_BYTES:]
                node_writes[key] = record
                new = hashlib.sha256(memoryview(record)[:hashes_end]).digest()
            else:
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


def _covered(key: bytes) -> bytes:
    """`key`, a consensus key: the node's own records (below COVERED_START) are never in the tree."""
    if key < COVERED_START:
        raise ValueError(f"{key!r} is a node-local key, outside the tree")
    return key


def build_tree(items: Iterable[tuple[bytes, bytes]]) -> TreeUpdate:
    """The tree of exactly `items` (any order): its root and every node record."""
    hashed = sorted((key_hash(_covered(k)), value_hash(v)) for k, v in items)
    node_writes: dict[bytes, bytes | None] = {}
    slot = _build([path for path, _ in hashed], [value for _, value in hashed], 0, 0, len(hashed), node_writes)
    node_writes[ROOT_KEY] = _root_record(slot)
    return TreeUpdate(EMPTY_ROOT if slot is None else _slot_hash(slot), node_writes)
