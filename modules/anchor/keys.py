"""anchor's keys under prefix `anchor/`. Integers are fixed-width big-endian (key order is numeric)."""

from __future__ import annotations

from modules.encoding import u64

STORE_PREFIX = b"anchor/"
PARAMS = b"params"  # interval_blocks u64
LEAF = b"l/"  # l/<position u32> -> address 20, amount u256: the latest anchor's leaves
LEAF_COUNT = b"leaf_count"  # u32
UNDO = b"u/"  # u/<position u32> -> nonce u64 of the anchor that changed it, then the leaf it replaced
#              (nothing after the nonce when there was none); entries of older nonces are ignored,
#              so an anchor writes only what it changed and never deletes
UNDO_LEAF_COUNT = b"undo_leaf_count"  # u32: the leaf count one anchor before
LATEST = b"latest"  # u64: nonce of the latest record (0: none yet)
RECORD = b"r/"  # r/<nonce u64> -> encoded AnchorRecord
BOND_DEBITS = b"b/"  # b/<bond debits hash 32> -> abi-encoded BondDebit[]: each list a record names, once
SIGNATURE = b"s/"  # s/<nonce u64><consensus address 20> -> 65-byte signature
CHANGED = b"d/"  # d/<height u64> -> the addresses (20 bytes each, sorted) whose balance or position
#                  that block wrote; taken and cleared by the next anchor


def signature_prefix(nonce: int) -> bytes:
    return SIGNATURE + u64(nonce)
