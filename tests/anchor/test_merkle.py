"""The balances tree: incremental updates give the same root as a rebuild, every proof verifies,
and a leaf is the double hash of abi.encode(address, amount), as the vault computes it."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from modules.anchor.merkle import EMPTY_ROOT, BalanceTree, Leaf, hash_pair, leaf_hash, verify
from wire.crypto import keccak256


def reference_root(leaves: list[Leaf]) -> bytes:
    """The same tree rebuilt from nothing, level by level, written independently of BalanceTree."""
    if not leaves:
        return EMPTY_ROOT
    level = [keccak256(keccak256(bytes(12) + leaf.address + leaf.amount_micro_usdc.to_bytes(32, "big"))) for leaf in leaves]
    while len(level) > 1:
        level = [keccak256(b"".join(sorted(level[i:i + 2]))) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    return level[0]


def address(n: int) -> bytes:
    return n.to_bytes(20, "big")


def test_leaf_is_the_double_keccak_of_abi_encoded_address_and_amount() -> None:
    who = bytes.fromhex("00112233445566778899aabbccddeeff00112233")
    encoded = bytes.fromhex("000000000000000000000000" "00112233445566778899aabbccddeeff00112233") + \
        (1_500_000).to_bytes(32, "big")
    assert leaf_hash(keccak256, who, 1_500_000) == keccak256(keccak256(encoded))


def test_empty_and_single_leaf_roots() -> None:
    tree = BalanceTree(keccak256)
    assert tree.root == EMPTY_ROOT
    tree.apply({address(5): 7})
    assert tree.root == leaf_hash(keccak256, address(5), 7)
    assert tree.proof(address(5)) == []
    tree.apply({address(5): 0})
    assert tree.root == EMPTY_ROOT and len(tree) == 0


def test_documented_leaf_order_keeps_positions_and_fills_holes_with_the_last_leaf() -> None:
    tree = BalanceTree(keccak256)
    tree.apply({address(3): 30, address(1): 10, address(2): 20})
    assert [leaf.address for leaf in tree.leaves()] == [address(1), address(2), address(3)]  # new: address order
    tree.apply({address(0): 5, address(2): 21})
    assert [leaf.address for leaf in tree.leaves()] == [address(1), address(2), address(3), address(0)]  # appended
    changes = tree.apply({address(1): 0})
    assert [leaf.address for leaf in tree.leaves()] == [address(0), address(2), address(3)]  # the last moved into 0
    assert [(c.position, c.before, c.after) for c in changes] == [
        (0, Leaf(address(1), 10), Leaf(address(0), 5)), (3, Leaf(address(0), 5), None)]
    assert tree.amount(address(2)) == 21 and tree.amount(address(1)) == 0


def test_unchanged_amount_is_no_change() -> None:
    tree = BalanceTree(keccak256, [Leaf(address(1), 10)])
    assert tree.apply({address(1): 10, address(9): 0}) == []


def test_a_proof_for_another_amount_or_address_fails() -> None:
    tree = BalanceTree(keccak256, [Leaf(address(i), 1_000 + i) for i in range(1, 12)])
    proof = tree.proof(address(4))
    assert verify(keccak256, tree.root, address(4), 1_004, proof)
    assert not verify(keccak256, tree.root, address(4), 1_005, proof)
    assert not verify(keccak256, tree.root, address(5), 1_004, proof)


def test_an_inner_node_cannot_pass_for_a_leaf() -> None:
    """With single-hashed leaves, two sibling nodes X || Y that read as abi.encode(attacker, amount)
    would make their parent a valid 'leaf'; double hashing rules it out."""
    attacker = bytes.fromhex("ab" * 20)
    x, y = bytes(12) + attacker, (2**255 + 1).to_bytes(32, "big")  # sorted: x < y, so parent = H(x || y)
    parent = hash_pair(keccak256, x, y)
    other = keccak256(b"other subtree")
    root = hash_pair(keccak256, parent, other)
    single_hash_leaf = keccak256(bytes(12) + attacker + (2**255 + 1).to_bytes(32, "big"))
    assert hash_pair(keccak256, single_hash_leaf, other) == root  # the attack on a single-hash tree
    assert not verify(keccak256, root, attacker, 2**255 + 1, [other])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dictionaries(st.integers(1, 40), st.integers(0, 3)), min_size=1, max_size=8))
def test_incremental_updates_match_a_rebuild_and_every_proof_verifies(rounds: list[dict[int, int]]) -> None:
    tree = BalanceTree(keccak256)
    for changes in rounds:
        tree.apply({address(k): v for k, v in changes.items()})
        leaves = tree.leaves()
        assert tree.root == reference_root(leaves)
        assert tree.root == BalanceTree(keccak256, leaves).root
        assert all(leaf.amount_micro_usdc > 0 for leaf in leaves)
        for leaf in leaves:
            assert verify(keccak256, tree.root, leaf.address, leaf.amount_micro_usdc, tree.proof(leaf.address))


def test_bad_leaves_are_refused() -> None:
    tree = BalanceTree(keccak256)
    with pytest.raises(ValueError):
        tree.apply({address(1): -1})
    with pytest.raises(ValueError):
        BalanceTree(keccak256, [Leaf(address(1), 1), Leaf(address(1), 2)])


def test_total_follows_every_change() -> None:
    tree = BalanceTree(keccak256)
    tree.apply({address(1): 10, address(2): 20, address(3): 30})
    tree.apply({address(1): 0, address(3): 31, address(4): 4})
    assert tree.total_micro_usdc == 20 + 31 + 4 == sum(leaf.amount_micro_usdc for leaf in tree.leaves())
