"""The state tree as docs/state.md defines it, computed the obvious way from a whole key set
(recursively, nothing stored): the oracle that wire/proofs.py and app/tree.py are tested against."""

from __future__ import annotations

from itertools import groupby
from typing import Mapping

from wire.proofs import EMPTY_ROOT, Proof, ProofKind, ProofLevel, inner_hash, key_hash, leaf_hash, nibble, value_hash

Entry = tuple[bytes, bytes]  # (key_hash, value_hash)


def _entries(items: Mapping[bytes, bytes]) -> list[Entry]:
    return sorted((key_hash(k), value_hash(v)) for k, v in items.items())


def _groups(entries: list[Entry], depth: int) -> dict[int, list[Entry]]:
    return {n: list(g) for n, g in groupby(entries, key=lambda e: nibble(e[0], depth))}


def _subtree(entries: list[Entry], depth: int) -> bytes:
    if len(entries) == 1:
        return leaf_hash(*entries[0])
    groups = _groups(entries, depth)
    return inner_hash(sum(1 << n for n in groups), [_subtree(groups[n], depth + 1) for n in sorted(groups)])


def reference_root(items: Mapping[bytes, bytes]) -> bytes:
    entries = _entries(items)
    return _subtree(entries, 0) if entries else EMPTY_ROOT


def reference_proof(items: Mapping[bytes, bytes], key: bytes) -> Proof:
    entries, path, levels = _entries(items), key_hash(key), []
    if not entries:
        return Proof(ProofKind.EMPTY_SLOT, ())
    depth = 0
    while len(entries) > 1:
        groups = _groups(entries, depth)
        slot = nibble(path, depth)
        siblings = tuple(_subtree(groups[n], depth + 1) for n in sorted(groups) if n != slot)
        levels.append(ProofLevel(sum(1 << n for n in groups), siblings))
        if slot not in groups:
            return Proof(ProofKind.EMPTY_SLOT, tuple(levels))
        entries, depth = groups[slot], depth + 1
    if entries[0][0] == path:
        return Proof(ProofKind.PRESENT, tuple(levels))
    return Proof(ProofKind.OTHER_LEAF, tuple(levels), entries[0])
