"""client/proven.py: a node's /store answer is taken only when its proof leads to the app hash of the
header that commits to its state. Proofs come from the app's own tree (app/tree.py); the headers
here stand for verified ones (client/light.py and tests/unit/test_light.py check those)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from app.tree import StateTree, build_tree
from client.errors import QueryFailed
from client.light import NotVerified, VerifiedHeader
from client.proven import PROOF_OP_TYPE, StoreAnswer, check, store_answer
from wire.proofs import encode_proof

STATE = {b"bank/b/" + bytes([n]) * 21: n.to_bytes(16, "big") for n in range(1, 40)}
PRESENT, ABSENT = b"bank/b/" + bytes([7]) * 21, b"bank/b/" + bytes([99]) * 21
HEIGHT = 12


def root_and_tree(state: dict[bytes, bytes]) -> tuple[bytes, StateTree]:
    built = build_tree(state.items())
    store = {**state, **{key: record for key, record in built.node_writes.items() if record is not None}}
    return built.root, StateTree(store)


def header_over(app_hash: bytes, height: int = HEIGHT + 1) -> VerifiedHeader:
    return VerifiedHeader(height, bytes(32), app_hash, 0, 40, 40)


def response_for(key: bytes, state: dict[bytes, bytes], **changes: Any) -> dict[str, Any]:
    """What CometBFT relays of the app's ResponseQuery (JSON, bytes in base64)."""
    value, proof = root_and_tree(state)[1].prove(key)
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    response = {"code": 0, "key": b64(key), "value": b64(value or b""), "height": str(HEIGHT),
                "info": "present" if value is not None else "absent",
                "proofOps": {"ops": [{"type": PROOF_OP_TYPE, "key": b64(key), "data": b64(encode_proof(proof))}]}}
    return {**response, **changes}


ROOT = root_and_tree(STATE)[0]


def test_present_key_is_proven_with_its_value() -> None:
    proven = check(store_answer(response_for(PRESENT, STATE), PRESENT), header_over(ROOT))
    assert (proven.value, proven.height, proven.header.height) == (STATE[PRESENT], HEIGHT, HEIGHT + 1)
    assert proven.proof_bytes == len(base64.b64decode(response_for(PRESENT, STATE)["proofOps"]["ops"][0]["data"]))
    assert proven.describe() == f"verified against header {HEIGHT + 1} signed by 40 of 40 power"


def test_absent_key_is_proven_absent() -> None:
    proven = check(store_answer(response_for(ABSENT, STATE), ABSENT), header_over(ROOT))
    assert proven.value is None


def test_tampered_value_is_refused() -> None:
    answer = store_answer(response_for(PRESENT, STATE), PRESENT)
    forged = StoreAnswer(answer.key, (10**9).to_bytes(16, "big"), answer.height, answer.proof)
    with pytest.raises(NotVerified, match="does not lead to the app hash of header 13"):
        check(forged, header_over(ROOT))


def test_present_key_claimed_absent_is_refused() -> None:
    answer = store_answer(response_for(PRESENT, STATE, info="absent"), PRESENT)
    assert answer.value is None
    with pytest.raises(NotVerified, match="absent at height"):
        check(answer, header_over(ROOT))


def test_absence_proof_of_another_state_is_refused() -> None:
    """The key was absent in an older state; the header commits to one where it is present."""
    older = {k: v for k, v in STATE.items() if k != PRESENT}
    answer = store_answer(response_for(PRESENT, older), PRESENT)
    with pytest.raises(NotVerified, match="does not lead"):
        check(answer, header_over(ROOT))


def test_proof_against_the_wrong_header_is_refused() -> None:
    later = root_and_tree({**STATE, PRESENT: b"\x01" * 16})[0]
    answer = store_answer(response_for(PRESENT, STATE), PRESENT)
    with pytest.raises(NotVerified, match="does not lead"):
        check(answer, header_over(later))
    with pytest.raises(NotVerified, match="is committed by header 13, not 14"):
        check(answer, header_over(ROOT, HEIGHT + 2))


def test_answer_without_a_proof_of_the_key_is_refused() -> None:
    with pytest.raises(NotVerified, match="carries no"):
        store_answer(response_for(PRESENT, STATE, proofOps=None), PRESENT)
    with pytest.raises(NotVerified, match="carries no"):
        store_answer(response_for(PRESENT, STATE), ABSENT)  # the op proves another key


def test_malformed_proof_is_refused() -> None:
    answer = store_answer(response_for(PRESENT, STATE), PRESENT)
    with pytest.raises(NotVerified, match="malformed proof"):
        check(StoreAnswer(answer.key, answer.value, answer.height, answer.proof + b"\x00"), header_over(ROOT))


def test_refused_query_raises_its_code() -> None:
    with pytest.raises(QueryFailed, match="code 22"):
        store_answer({"code": 22, "codespace": "app", "log": "height 3 is pruned"}, PRESENT)
