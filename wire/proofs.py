"""The state tree's hashing and its proofs, shared by the chain (app/tree.py builds the tree and
serves proofs) and its clients (which check a queried value against an app hash).

The tree is a 16-ary Merkle tree over sha256(key), path-compressed (docs/state.md):
    key_hash   = sha256(key)            64 nibbles, the high half of each byte first
    leaf hash  = sha256(0x00 || key_hash || sha256(value))
    inner hash = sha256(0x01 || bitmap u16 || the children's hashes in nibble order)
                 bit n of the bitmap set <=> a child at nibble n
A subtree holding one key is that key's leaf, in the slot of the shallowest prefix it alone has;
a prefix shared by two keys or more is an inner node. No keys: the root is EMPTY_ROOT.

A proof is the inner nodes on the key's path, root first (each its bitmap and the hashes of its
other children), and what the path ends in: the key's own leaf (present), another key's leaf or
an empty slot (absent).
    bytes: 0x01 (version), kind u8, [kind 1: key_hash 32 + value_hash 32], level count u8,
           per level: bitmap u16 big-endian + the siblings, 32 bytes each (popcount(bitmap) - 1 of
           them, or popcount(bitmap) at the last level of an empty-slot proof).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import IntEnum
from typing import Sequence

EMPTY_ROOT = bytes(32)
HASH_BYTES = 32
KEY_NIBBLES = 2 * HASH_BYTES  # the deepest a path can go
PROOF_VERSION = 1
_LEAF_TAG = b"\x00"
_INNER_TAG = b"\x01"


def key_hash(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()


def value_hash(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


def leaf_hash(key_digest: bytes, value_digest: bytes) -> bytes:
    return hashlib.sha256(_LEAF_TAG + key_digest + value_digest).digest()


def inner_hash(bitmap: int, children: Sequence[bytes]) -> bytes:
    """The hash of an inner node whose children at the bitmap's nibbles hash to `children`."""
    return hashlib.sha256(_INNER_TAG + bitmap.to_bytes(2, "big") + b"".join(children)).digest()


def nibble(key_digest: bytes, depth: int) -> int:
    """The path's nibble at `depth` (0 = the high half of the first byte)."""
    byte = key_digest[depth >> 1]
    return byte & 0x0F if depth & 1 else byte >> 4


class ProofKind(IntEnum):
    PRESENT = 0  # the path ends in the key's own leaf
    OTHER_LEAF = 1  # the path ends in another key's leaf: the key is absent
    EMPTY_SLOT = 2  # the last level has no child on the path (no levels: the tree is empty)


@dataclass(frozen=True)
class ProofLevel:
    """An inner node on the path: its bitmap and its children's hashes other than the path's."""

    bitmap: int
    siblings: tuple[bytes, ...]


@dataclass(frozen=True)
class Proof:
    kind: ProofKind
    levels: tuple[ProofLevel, ...]  # root first
    other_leaf: tuple[bytes, bytes] | None = None  # kind OTHER_LEAF: (key_hash, value_hash) of the leaf found

    @property
    def present(self) -> bool:
        return self.kind is ProofKind.PRESENT


class MalformedProof(ValueError):
    """Bytes that are not a proof this version encodes."""


def encode_proof(proof: Proof) -> bytes:
    out = bytearray([PROOF_VERSION, proof.kind])
    if proof.kind is ProofKind.OTHER_LEAF:
        if proof.other_leaf is None:
            raise ValueError("an other-leaf proof names the leaf it found")
        out += proof.other_leaf[0] + proof.other_leaf[1]
    out.append(len(proof.levels))
    for level in proof.levels:
        out += level.bitmap.to_bytes(2, "big")
        for sibling in level.siblings:
            out += sibling
    return bytes(out)


def decode_proof(data: bytes) -> Proof:
    """The proof `data` encodes; MalformedProof for anything else (a wrong version or kind, a
    truncated or overlong encoding, more levels than a path has, a level with no children)."""
    if len(data) < 3 or data[0] != PROOF_VERSION:
        raise MalformedProof(f"not a version-{PROOF_VERSION} proof")
    if data[1] not in tuple(ProofKind):
        raise MalformedProof(f"unknown proof kind {data[1]}")
    kind = ProofKind(data[1])
    at = 2
    other: tuple[bytes, bytes] | None = None
    if kind is ProofKind.OTHER_LEAF:
        if len(data) < at + 2 * HASH_BYTES + 1:
            raise MalformedProof("truncated other leaf")
        other = (data[at:at + HASH_BYTES], data[at + HASH_BYTES:at + 2 * HASH_BYTES])
        at += 2 * HASH_BYTES
    count = data[at]
    at += 1
    if count > KEY_NIBBLES:
        raise MalformedProof(f"{count} levels; a path has at most {KEY_NIBBLES}")
    levels = []
    for index in range(count):
        if len(data) < at + 2:
            raise MalformedProof(f"truncated at level {index}")
        bitmap = int.from_bytes(data[at:at + 2], "big")
        at += 2
        if not bitmap:
            raise MalformedProof(f"level {index} has no children")
        on_path = 0 if kind is ProofKind.EMPTY_SLOT and index == count - 1 else 1
        siblings = bitmap.bit_count() - on_path
        end = at + siblings * HASH_BYTES
        if len(data) < end:
            raise MalformedProof(f"truncated siblings at level {index}")
        levels.append(ProofLevel(bitmap, tuple(data[i:i + HASH_BYTES] for i in range(at, end, HASH_BYTES))))
        at = end
    if at != len(data):
        raise MalformedProof(f"{len(data) - at} bytes after the proof")
    return Proof(kind, tuple(levels), other)


def verify(root: bytes, key: bytes, value: bytes | None, proof: Proof) -> bool:
    """Whether `proof` shows that under `root` the key holds `value` (None: that it is absent)."""
    path = key_hash(key)
    levels = proof.levels
    if len(levels) > KEY_NIBBLES or (value is None) == (proof.kind is ProofKind.PRESENT):
        return False
    node: bytes | None  # the hash of the slot below the current level (None: an empty slot)
    if proof.kind is ProofKind.PRESENT:
        assert value is not None
        node = leaf_hash(path, value_hash(value))
    elif proof.kind is ProofKind.OTHER_LEAF:
        if proof.other_leaf is None:
            return False
        other_key, other_value = proof.other_leaf
        if other_key == path or len(other_key) != HASH_BYTES or len(other_value) != HASH_BYTES:
            return False
        if any(nibble(other_key, depth) != nibble(path, depth) for depth in range(len(levels))):
            return False
        node = leaf_hash(other_key, other_value)
    else:
        node = None
        if not levels:
            return root == EMPTY_ROOT
    for depth in range(len(levels) - 1, -1, -1):
        level = levels[depth]
        slot = nibble(path, depth)
        on_path = bool(level.bitmap >> slot & 1)
        if on_path != (node is not None) or len(level.siblings) != level.bitmap.bit_count() - on_path:
            return False
        children = list(level.siblings)
        if node is not None:
            children.insert((level.bitmap & ((1 << slot) - 1)).bit_count(), node)
        node = inner_hash(level.bitmap, children)
    return node == root
