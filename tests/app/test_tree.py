"""The state tree (app/tree.py): any sequence of block updates leaves exactly the nodes that
build_tree makes of the resulting key set, under the root the tree's definition gives
(tests/reference_tree.py), and every key's proof, present or absent, verifies against it."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.tree import MAX_DEPTH, NODE_PREFIX, ROOT_KEY, CorruptTree, NodeCache, StateTree, TreeUpdate, build_tree, node_key
from tests.reference_tree import reference_root
from wire.proofs import EMPTY_ROOT, ProofKind, decode_proof, encode_proof, key_hash, verify


class Node:
    """One node's LevelDB in a dict: the state's keys and the tree's records, written together."""

    def __init__(self) -> None:
        self.db: dict[bytes, bytes] = {}
        self.state: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.db.get(key)

    def commit(self, writes: dict[bytes, bytes | None], update: TreeUpdate) -> None:
        for key, value in {**writes, **update.node_writes}.items():
            if value is None:
                self.db.pop(key, None)
            else:
                self.db[key] = value
        for key, value in writes.items():
            if value is None:
                self.state.pop(key, None)
            else:
                self.state[key] = value

    def tree_records(self) -> dict[bytes, bytes]:
        return {k: v for k, v in self.db.items() if k.startswith(b"\x00tree/")}


def apply_block(node: Node, writes: dict[bytes, bytes | None], cache: NodeCache | None = None) -> TreeUpdate:
    update = StateTree(node, cache).update(writes)
    node.commit(writes, update)
    if cache is not None:
        cache.committed(update.node_writes)
    return update


def assert_canonical(node: Node) -> None:
    """The node's records are exactly those of the tree built afresh from its state."""
    built = build_tree(node.state.items())
    assert built.root == reference_root(node.state) == StateTree(node).root
    assert node.tree_records() == {k: v for k, v in built.node_writes.items() if v is not None}


def assert_proofs_verify(node: Node, keys: list[bytes]) -> None:
    tree = StateTree(node)
    for key in keys:
        value, proof = tree.prove(key)
        assert value == node.state.get(key)
        assert verify(tree.root, key, value, decode_proof(encode_proof(proof)))


KEYS = [f"bank/balance/{i}".encode() for i in range(64)]
blocks = st.lists(st.dictionaries(st.sampled_from(KEYS), st.one_of(st.none(), st.binary(max_size=3)), max_size=24),
                  max_size=12)


@settings(max_examples=150, deadline=None)
@given(blocks)
def test_updates_leave_the_tree_build_tree_makes_of_the_same_keys(history: list[dict[bytes, bytes | None]]) -> None:
    node = Node()
    for writes in history:
        apply_block(node, writes)
        assert_canonical(node)
    assert_proofs_verify(node, KEYS + [b"never/written"])


def test_a_long_seeded_history_over_thousands_of_keys_stays_canonical_with_a_cache() -> None:
    rng = random.Random(23)
    keys = [f"orderbook/order/{i}".encode() for i in range(3000)]
    node, cache = Node(), NodeCache(max_nodes=150)
    cache.load([])
    depths = []
    for block in range(40):
        size = rng.choice([1, 5, 50, 400])
        writes: dict[bytes, bytes | None] = {
            rng.choice(keys): None if rng.random() < 0.3 else rng.randbytes(rng.randint(0, 8)) for _ in range(size)}
        apply_block(node, writes, cache)
        assert_cache_holds_the_stored_levels(node, cache)
        depths.append(cache.depth)
        if block % 10 == 9:
            assert_canonical(node)
    assert_canonical(node)
    assert_proofs_verify(node, keys[:300])
    assert depths[0] == MAX_DEPTH and depths[-1] < MAX_DEPTH  # the tree outgrew the cache, which kept its top levels


def test_a_cache_loaded_from_a_larger_tree_keeps_the_levels_that_fit_whole() -> None:
    node = Node()
    apply_block(node, {f"k/{i}".encode(): b"v" for i in range(5000)})
    records = sorted((k, v) for k, v in node.tree_records().items() if k.startswith(NODE_PREFIX))
    cache = NodeCache(max_nodes=len(records) - 1)
    cache.load(records)
    assert 0 < cache.depth < MAX_DEPTH
    assert_cache_holds_the_stored_levels(node, cache)
    update = StateTree(node, cache).update({b"k/17": b"w", b"k/5000": b"v"})
    assert update.root == StateTree(node).update({b"k/17": b"w", b"k/5000": b"v"}).root


def test_a_key_inserted_beside_a_leaf_sharing_nibbles_makes_the_chain_of_one_child_nodes_build_tree_makes() -> None:
    by_prefix: dict[bytes, bytes] = {}
    for i in range(100_000):  # two keys whose hashes share their first 4 nibbles
        key = f"k/{i}".encode()
        other = by_prefix.setdefault(key_hash(key)[:2], key)
        if other != key:
            break
    node = Node()
    apply_block(node, {b"a": b"1", b"b": b"2", other: b"v"})
    apply_block(node, {key: b"w"})
    assert_canonical(node)
    assert node_key(key_hash(key), 4) in node.tree_records()


def test_an_update_over_a_loaded_cache_reads_no_node_from_the_store() -> None:
    node = Node()
    apply_block(node, {f"k/{i}".encode(): b"v" for i in range(5000)})
    cache = NodeCache()
    cache.load(sorted((k, v) for k, v in node.tree_records().items() if k.startswith(NODE_PREFIX)))
    read: list[bytes] = []

    class Counting:
        def get(self, key: bytes) -> bytes | None:
            read.append(key)
            return node.get(key)

    writes: dict[bytes, bytes | None] = {b"k/17": b"w", b"k/18": None, b"k/5000": b"v", b"k/5001": b"v"}
    update = StateTree(Counting(), cache).update(writes)
    assert [key for key in read if key.startswith(NODE_PREFIX)] == []
    assert update == StateTree(node).update(writes)


def assert_cache_holds_the_stored_levels(node: Node, cache: NodeCache) -> None:
    """The cache has exactly the node's records above its depth, and no more than it may."""
    cut = len(NODE_PREFIX)
    assert cache.records == {k: v for k, v in node.tree_records().items() if k.startswith(NODE_PREFIX) and k[cut] < cache.depth}
    assert len(cache.records) <= cache.max_nodes


def test_deleting_every_key_leaves_the_empty_root_and_no_records() -> None:
    node = Node()
    apply_block(node, {key: b"1" for key in KEYS})
    assert apply_block(node, {key: None for key in KEYS}).root == EMPTY_ROOT
    assert node.tree_records() == {}
    value, proof = StateTree(node).prove(KEYS[0])
    assert value is None and proof.kind is ProofKind.EMPTY_SLOT and proof.levels == ()


def test_a_one_key_tree_keeps_its_leaf_in_the_root_record() -> None:
    node = Node()
    apply_block(node, {b"auth/chain_id": b"perpchain-1"})
    assert set(node.tree_records()) == {ROOT_KEY}
    assert_canonical(node)


def test_a_block_that_changes_nothing_writes_no_records() -> None:
    node = Node()
    apply_block(node, {key: b"1" for key in KEYS})
    update = StateTree(node).update({KEYS[0]: b"1", b"bank/never": None})
    assert update.node_writes == {} and update.root == StateTree(node).root


def test_an_update_touches_only_the_nodes_on_the_written_paths() -> None:
    node = Node()
    apply_block(node, {f"k/{i}".encode(): b"v" for i in range(5000)})
    update = StateTree(node).update({b"k/17": b"w"})
    path = key_hash(b"k/17")
    assert set(update.node_writes) <= {ROOT_KEY} | {node_key(path, depth) for depth in range(64)}
    assert len(update.node_writes) >= 3  # 5,000 keys: a root record and inner nodes at depths 0, 1, 2 at least


def test_node_local_keys_are_outside_the_tree() -> None:
    with pytest.raises(ValueError, match="node-local"):
        StateTree(Node()).update({b"\x00meta/height": b"1"})
    with pytest.raises(ValueError, match="node-local"):
        build_tree([(b"bank/a", b"1"), (b"\x00meta/app_hash_at/1", b"1")])


def test_a_missing_node_is_reported_not_read_as_empty() -> None:
    node = Node()
    apply_block(node, {key: b"1" for key in KEYS})
    del node.db[next(k for k in node.db if k.startswith(NODE_PREFIX))]
    with pytest.raises(CorruptTree, match="missing"):
        for key in KEYS:
            StateTree(node).prove(key)
