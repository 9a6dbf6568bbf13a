"""State proofs (wire/proofs.py): a present key's and an absent key's proof verify against the
root and nothing else; a tampered value, sibling or root is refused; bytes that are not a proof
do not decode. Proofs come from tests/reference_tree.py, the tree computed from its definition."""

from __future__ import annotations

from dataclasses import replace
from itertools import count

import pytest

from tests.reference_tree import reference_proof, reference_root
from wire.proofs import (
    EMPTY_ROOT,
    KEY_NIBBLES,
    MalformedProof,
    Proof,
    ProofKind,
    ProofLevel,
    decode_proof,
    encode_proof,
    inner_hash,
    key_hash,
    nibble,
    value_hash,
    verify,
)

ITEMS = {f"bank/balance/{i}".encode(): f"{i * 7}".encode() for i in range(300)}
ROOT = reference_root(ITEMS)


def absent_key(kind: ProofKind) -> bytes:
    """The first absent key whose proof in ITEMS ends as `kind`."""
    return next(key for key in (f"absent/{i}".encode() for i in count())
                if reference_proof(ITEMS, key).kind is kind)


def round_trip(proof: Proof) -> Proof:
    return decode_proof(encode_proof(proof))


def test_a_present_key_verifies_with_its_value_and_only_with_it() -> None:
    key = b"bank/balance/42"
    proof = round_trip(reference_proof(ITEMS, key))
    assert proof.kind is ProofKind.PRESENT and proof.levels
    assert verify(ROOT, key, ITEMS[key], proof)
    assert not verify(ROOT, key, b"295", proof)  # a tampered value
    assert not verify(ROOT, key, None, proof)  # a present key's proof is no absence proof
    assert not verify(ROOT, b"bank/balance/43", ITEMS[key], proof)  # another key


@pytest.mark.parametrize("kind", [ProofKind.OTHER_LEAF, ProofKind.EMPTY_SLOT])
def test_an_absent_key_verifies_as_absent_and_not_as_holding_a_value(kind: ProofKind) -> None:
    key = absent_key(kind)
    proof = round_trip(reference_proof(ITEMS, key))
    assert verify(ROOT, key, None, proof)
    assert not verify(ROOT, key, b"0", proof)


def test_an_other_leaf_proof_cannot_claim_the_absence_of_that_leaf_s_own_key() -> None:
    key = b"bank/balance/7"
    present = reference_proof(ITEMS, key)
    forged = Proof(ProofKind.OTHER_LEAF, present.levels, (key_hash(key), value_hash(ITEMS[key])))
    assert not verify(ROOT, key, None, forged)


def _pieces(hashes: list[bytes], count: int) -> list[bytes]:
    """`hashes`' bytes as `count` siblings of any length: the extra hashes merged into the last
    piece, or empty pieces added."""
    if len(hashes) > count:
        return hashes[:count - 1] + [b"".join(hashes[count - 1:])]
    return hashes + [b""] * (count - len(hashes))


def test_siblings_that_are_not_hashes_cannot_move_the_path_to_another_child() -> None:
    """A Proof made by hand (not decoded) whose siblings have other lengths than 32 bytes, so
    that the path's child lands at another child's bytes: a present key is not proven absent
    by an empty slot below that other child."""
    absent = next(key for key in (f"absent/{i}".encode() for i in count())
                  if len(reference_proof(ITEMS, key).levels) == 2 and reference_proof(ITEMS, key).kind is ProofKind.EMPTY_SLOT)
    top, below = reference_proof(ITEMS, absent).levels
    path = key_hash(absent)
    other = nibble(path, 0)
    present = next(key for key in ITEMS if nibble(key_hash(key), 1) == nibble(path, 1)
                   and 0 < nibble(key_hash(key), 0) < 15 and nibble(key_hash(key), 0) != other)
    assert top.bitmap == 0xFFFF
    children = list(top.siblings)
    children.insert(other, inner_hash(below.bitmap, below.siblings))
    slot = nibble(key_hash(present), 0)
    siblings = _pieces(children[:other], slot) + _pieces(children[other + 1:], 15 - slot)
    forged = Proof(ProofKind.EMPTY_SLOT, (ProofLevel(0xFFFF, tuple(siblings)), below))
    assert b"".join(siblings) == b"".join(children[:other] + children[other + 1:])
    assert not verify(ROOT, present, None, forged)


def test_a_bitmap_wider_than_16_bits_is_refused_not_raised() -> None:
    key = b"bank/balance/42"
    proof = reference_proof(ITEMS, key)
    top = proof.levels[0]
    wide = replace(proof, levels=(ProofLevel(top.bitmap | 1 << 16, top.siblings + (bytes(32),)), *proof.levels[1:]))
    assert not verify(ROOT, key, ITEMS[key], wide)


def test_the_empty_tree_proves_every_key_absent_against_the_empty_root_only() -> None:
    proof = round_trip(reference_proof({}, b"any"))
    assert proof == Proof(ProofKind.EMPTY_SLOT, ())
    assert reference_root({}) == EMPTY_ROOT
    assert verify(EMPTY_ROOT, b"any", None, proof)
    assert not verify(ROOT, b"any", None, proof)


def test_a_one_key_tree_is_that_key_s_leaf() -> None:
    items = {b"only": b"1"}
    root = reference_root(items)
    assert verify(root, b"only", b"1", round_trip(reference_proof(items, b"only")))
    absent = round_trip(reference_proof(items, b"other"))
    assert absent.kind is ProofKind.OTHER_LEAF and absent.levels == ()
    assert verify(root, b"other", None, absent)


def test_a_tampered_sibling_or_another_root_is_refused() -> None:
    key = b"bank/balance/42"
    proof = reference_proof(ITEMS, key)
    top = proof.levels[0]
    flipped = bytes([top.siblings[0][0] ^ 1]) + top.siblings[0][1:]
    tampered = replace(proof, levels=(ProofLevel(top.bitmap, (flipped, *top.siblings[1:])), *proof.levels[1:]))
    assert not verify(ROOT, key, ITEMS[key], tampered)
    assert not verify(reference_root({**ITEMS, b"new": b"1"}), key, ITEMS[key], proof)
    dropped = replace(proof, levels=proof.levels[1:])  # a level left out
    assert not verify(ROOT, key, ITEMS[key], dropped)


def test_every_kind_of_proof_survives_encoding() -> None:
    for key in (b"bank/balance/1", absent_key(ProofKind.OTHER_LEAF), absent_key(ProofKind.EMPTY_SLOT)):
        proof = reference_proof(ITEMS, key)
        assert round_trip(proof) == proof


def _valid() -> bytes:
    return encode_proof(reference_proof(ITEMS, b"bank/balance/42"))


@pytest.mark.parametrize("data, problem", [
    (b"", "version"),
    (b"\x02" + _valid()[1:], "version"),
    (b"\x01\x03" + _valid()[2:], "kind"),
    (_valid() + b"\x00", "after the proof"),
    (_valid()[:-1], "truncated"),
    (b"\x01\x01" + bytes(40), "truncated other leaf"),
    (b"\x01\x00" + bytes([KEY_NIBBLES + 1]), "at most"),
    (b"\x01\x00\x01\x00\x00", "no children"),
    (b"\x01\x02\x01\x00\x00", "no children"),
    (b"\x01\x00\x01\x00\x03" + bytes(31), "truncated siblings"),
])
def test_malformed_bytes_are_refused(data: bytes, problem: str) -> None:
    with pytest.raises(MalformedProof, match=problem):
        decode_proof(data)


def test_two_keys_sharing_their_first_nibble_hang_under_a_one_child_root() -> None:
    first = b"k0"
    second = next(key for key in (f"k{i}".encode() for i in count(1)) if key_hash(key)[0] == key_hash(first)[0])
    items = {first: b"a", second: b"b"}
    proof = round_trip(reference_proof(items, first))
    assert proof.levels[0].bitmap.bit_count() == 1 and proof.levels[0].siblings == ()
    assert verify(reference_root(items), first, b"a", proof)
