"""anchor's keeper: the only code that reads and writes `anchor/` keys."""

from __future__ import annotations

from typing import Iterable

from modules.anchor.keys import (
    BOND_DEBITS,
    CHANGED,
    LATEST,
    LEAF,
    LEAF_COUNT,
    PARAMS,
    RECORD,
    STORE_PREFIX,
    UNDO,
    UNDO_LEAF_COUNT,
    signature_prefix,
)
from modules.anchor.merkle import Leaf, LeafChange
from modules.anchor.types import (
    AnchorParams,
    AnchorRecord,
    BondDebit,
    decode_bond_debits,
    decode_record,
    encode_bond_debits,
    encode_record,
)
from modules.encoding import read_uint, stored_uint, u32, u64, u256
from modules.store import KVStore, PrefixStore, prefix_end


def _encode_leaf(leaf: Leaf | None) -> bytes:
    return leaf.address + u256(leaf.amount_micro_usdc) if leaf is not None else b""


def _decode_leaf(raw: bytes) -> Leaf | None:
    return Leaf(raw[:20], read_uint(raw[20:52])) if raw else None


class AnchorKeeper:
    def __init__(self, store: KVStore) -> None:
        self._store = PrefixStore(store, STORE_PREFIX)

    # -- params -------------------------------------------------------------------------------

    def params(self) -> AnchorParams | None:
        """None when the genesis configured no anchoring."""
        raw = self._store.get(PARAMS)
        return AnchorParams(read_uint(raw)) if raw is not None else None

    def set_params(self, params: AnchorParams) -> None:
        self._store.set(PARAMS, u64(params.interval_blocks))

    # -- leaves -------------------------------------------------------------------------------

    def leaves(self) -> list[Leaf]:
        """The latest anchor's leaves in position order."""
        found = []
        for _, raw in self._store.iterate(LEAF, prefix_end(LEAF)):
            leaf = _decode_leaf(raw)
            assert leaf is not None
            found.append(leaf)
        return found

    def previous_leaves(self) -> list[Leaf]:
        """The leaves one anchor before the latest: the latest's with the undo journal applied."""
        leaves: list[Leaf | None] = list(self.leaves())
        size = stored_uint(self._store.get(UNDO_LEAF_COUNT))
        leaves.extend([None] * max(0, size - len(leaves)))
        latest = self.latest_nonce()
        for key, raw in self._store.iterate(UNDO, prefix_end(UNDO)):
            if read_uint(raw[:8]) == latest:
                leaves[read_uint(key[len(UNDO):])] = _decode_leaf(raw[8:])
        kept = leaves[:size]
        assert all(leaf is not None for leaf in kept), "undo journal inconsistent with the leaves"
        return [leaf for leaf in kept if leaf is not None]

    def write_leaf_changes(self, nonce: int, changes: Iterable[LeafChange], leaf_count_before: int,
                           leaf_count: int) -> None:
        """Store anchor `nonce`'s new leaves and, tagged with `nonce`, the leaves they replaced."""
        for change in changes:
            self._store.set(UNDO + u32(change.position), u64(nonce) + _encode_leaf(change.before))
            if change.after is None:
                self._store.delete(LEAF + u32(change.position))
            else:
                self._store.set(LEAF + u32(change.position), _encode_leaf(change.after))
        self._store.set(UNDO_LEAF_COUNT, u32(leaf_count_before))
        self._store.set(LEAF_COUNT, u32(leaf_count))

    # -- addresses written since the last anchor ----------------------------------------------

    def mark_changed(self, height: int, addresses: Iterable[bytes]) -> None:
        """One key per block, so marking costs a block one write whatever it touched."""
        self._store.set(CHANGED + u64(height), b"".join(sorted(addresses)))

    def take_changed(self) -> set[bytes]:
        """Every address the blocks since the last anchor marked; the marks are cleared."""
        found: set[bytes] = set()
        for key, raw in list(self._store.iterate(CHANGED, prefix_end(CHANGED))):
            found.update(raw[i:i + 20] for i in range(0, len(raw), 20))
            self._store.delete(key)
        return found

    def leaf_count(self) -> int:
        return stored_uint(self._store.get(LEAF_COUNT))

    # -- records and signatures ---------------------------------------------------------------

    def latest_nonce(self) -> int:
        return stored_uint(self._store.get(LATEST))

    def record(self, nonce: int) -> AnchorRecord | None:
        raw = self._store.get(RECORD + u64(nonce))
        return decode_record(raw) if raw is not None else None

    def latest(self) -> AnchorRecord | None:
        return self.record(self.latest_nonce())

    def add_record(self, record: AnchorRecord) -> None:
        assert record.nonce == self.latest_nonce() + 1, "anchor nonces grow one by one"
        self._store.set(RECORD + u64(record.nonce), encode_record(record))
        self._store.set(LATEST, u64(record.nonce))

    def bond_debits(self, debits_hash: bytes) -> list[BondDebit] | None:
        """The debit list a record names by its hash (None: never stored)."""
        raw = self._store.get(BOND_DEBITS + debits_hash)
        return decode_bond_debits(raw) if raw is not None else None

    def set_bond_debits(self, debits_hash: bytes, debits: list[BondDebit]) -> None:
        """Stored by content, once: consecutive anchors with the same debits share one entry (not
        written again), so the lists grow with the slashes, not with the anchors."""
        key = BOND_DEBITS + debits_hash
        if self._store.get(key) is None:
            self._store.set(key, encode_bond_debits(debits))

    def signatures(self, nonce: int) -> list[tuple[bytes, bytes, bytes]]:
        """(consensus address, the bridge key that signed, 65-byte signature), in address order."""
        start = signature_prefix(nonce)
        return [(key[len(start):], value[:20], value[20:]) for key, value in self._store.iterate(start, prefix_end(start))]

    def signer(self, nonce: int, consensus_address: bytes) -> bytes | None:
        """The bridge key whose signature of anchor `nonce` is recorded for the validator."""
        raw = self._store.get(signature_prefix(nonce) + consensus_address)
        return raw[:20] if raw is not None else None

    def add_signature(self, nonce: int, consensus_address: bytes, eth_address: bytes, signature: bytes) -> None:
        """Records (or, after a key rotation, replaces) the validator's signature and its key."""
        self._store.set(signature_prefix(nonce) + consensus_address, eth_address + signature)
