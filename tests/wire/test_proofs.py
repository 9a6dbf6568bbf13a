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
    key_hash,
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
