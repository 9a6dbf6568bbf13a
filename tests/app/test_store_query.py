"""The raw store query with proofs (app/queries.py `store_query`, docs/queries.md "/store"): a
key's value at the latest or a recent height with its proof against that height's app hash, an
absent key proven absent, and heights the node no longer holds refused with code 28."""

from __future__ import annotations

from pathlib import Path

from app.driver import InProcessChain
from app.queries import PROOF_OP_TYPE
from app.store import CommitInfo, CommittedStore
from modules.bank.keys import STORE_PREFIX, balance_key
from modules.types import SubaccountId
from tests.app.conftest import AppHarness, start_app
from tests.app.test_bad_inputs import transfer_tx
from wire import PrivateKey, sign_tx
from wire.pb import abci_pb
from wire.proofs import ProofKind, decode_proof, verify

KEYS = [PrivateKey.from_hex(f"{i:064x}") for i in (11, 12)]


def store_query(h: AppHarness, key: bytes, height: int = 0, prove: bool = True) -> abci_pb.ResponseQuery:
    return h.app.query(abci_pb.RequestQuery(path="/store", data=key, height=height, prove=prove))


def balance(key: PrivateKey, number: int = 0) -> bytes:
    return STORE_PREFIX + balance_key(SubaccountId(key.address, number))


def proven(h: AppHarness, answer: abci_pb.ResponseQuery) -> bool:
    """Whether the answer's proof holds against the app hash committed at its height."""
    (op,) = answer.proof_ops.ops
    assert (op.type, op.key) == (PROOF_OP_TYPE, answer.key)
    app_hash = h.store.app_hash_at(answer.height)
    assert app_hash is not None
    value = answer.value if answer.info == "present" else None
    return verify(app_hash, answer.key, value, decode_proof(op.data))


def test_a_balance_is_answered_with_a_proof_against_the_app_hash_of_its_height(tmp_path: Path) -> None:
    h = start_app(tmp_path / "db", KEYS)
    answer = store_query(h, balance(KEYS[0]))
    assert (answer.code, answer.height, answer.info) == (0, h.height, "present")
    assert answer.value == h.store.get(balance(KEYS[0]))
    assert proven(h, answer)
    answer.value = answer.value[:-1] + bytes([answer.value[-1] ^ 1])  # a tampered value no longer verifies
    assert not proven(h, answer)


def test_an_absent_key_is_answered_empty_with_an_absence_proof(tmp_path: Path) -> None:
    h = start_app(tmp_path / "db", KEYS)
    answer = store_query(h, balance(KEYS[0], 9))
    assert (answer.code, answer.value, answer.info) == (0, b"", "absent")
    assert decode_proof(answer.proof_ops.ops[0].data).kind in (ProofKind.OTHER_LEAF, ProofKind.EMPTY_SLOT)
    assert proven(h, answer)


def test_a_recent_height_answers_its_own_state_not_the_latest(tmp_path: Path) -> None:
    h = start_app(tmp_path / "db", KEYS)
    before = h.height
    old = h.store.get(balance(KEYS[1]))
    h.block([sign_tx(KEYS[0], transfer_tx(h, KEYS[0], amount=5, to=SubaccountId(KEYS[1].address, 0)))])
    h.block([])
    assert h.store.get(balance(KEYS[1])) != old
    answer = store_query(h, balance(KEYS[1]), height=before)
    assert (answer.height, answer.value) == (before, old)
    assert proven(h, answer)
    latest = store_query(h, balance(KEYS[1]), prove=False)
    assert (latest.height, latest.value, len(latest.proof_ops.ops)) == (h.height, h.store.get(balance(KEYS[1])), 0)


def test_a_height_pruned_or_before_a_restart_is_refused_naming_the_oldest_held(tmp_path: Path) -> None:
    store = CommittedStore(tmp_path / "db", proof_versions=3)
    try:
        for height in range(1, 6):
            writes: dict[bytes, bytes | None] = {b"bank/k": str(height).encode()}
            tree = store.tree().update(writes)
            store.commit(writes, CommitInfo(height, tree.root, 0), tree)
        assert store.held_heights() == (3, 5)
        assert store.version(2) is None and store.version(3) is not None
    finally:
        store.close()
    first = start_app(tmp_path / "chain", KEYS)
    first.block([])
    first.close()  # a restarted node holds the height it opened at, and those it commits after
    h = AppHarness(InProcessChain.open(tmp_path / "chain"), KEYS)
    h.block([])
    refused = store_query(h, balance(KEYS[0]), height=h.height - 2)
    assert (refused.code, refused.codespace) == (28, "query")
    assert f"holds heights {h.height - 1} to {h.height}" in refused.log
    assert store_query(h, balance(KEYS[0]), height=h.height - 1).code == 0
    assert store_query(h, balance(KEYS[0]), height=h.height + 1).code == 28  # not committed yet


def test_a_node_local_key_is_not_state(tmp_path: Path) -> None:
    h = start_app(tmp_path / "db", KEYS)
    for key in (b"\x00meta/height", b"\x00tree/root", b""):
        refused = store_query(h, key)
        assert (refused.code, refused.codespace) == (21, "query") and "not state" in refused.log
