"""Proven reads: a store key's value, or its absence, checked against the app hash of a header that
client/light.py verified by its validators' signatures, so nothing is taken from the node on trust
but the trust root.

The node answers abci_query path "/store" (data: the raw store key, prove: true) with the value,
the height of the state it read, and one ProofOp of type "perpchain/state/v1" (wire/proofs.py).
The app hash committing to height H's state is in the header of block H + 1.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Mapping

from client.errors import QueryFailed
from client.light import NotVerified, VerifiedHeader
from wire.proofs import MalformedProof, decode_proof, verify

STORE_PATH = "/store"
PROOF_OP_TYPE = "perpchain/state/v1"


@dataclass(frozen=True)
class StoreAnswer:
    """What a node answered to a proven /store query; nothing in it is believed yet."""

    key: bytes
    value: bytes | None  # None: the node says the key is absent
    height: int  # the state's height
    proof: bytes  # wire/proofs.py's encoding


@dataclass(frozen=True)
class Proven:
    """A store key's value (None: proven absent) in the state at `height`, its proof checked against
    the app hash of `header` (height + 1), which its validators signed."""

    key: bytes
    value: bytes | None
    height: int
    proof_bytes: int
    header: VerifiedHeader

    def describe(self) -> str:
        return (f"verified against header {self.header.height} signed by {self.header.signed_power} of "
                f"{self.header.total_power} power")

    def summary(self) -> dict[str, Any]:
        """What the CLI prints beside a proven answer."""
        return {"height": self.height, "proof_bytes": self.proof_bytes, "verified": self.describe()}


def store_answer(response: Mapping[str, Any], key: bytes) -> StoreAnswer:
    """The parts of abci_query's `response` a proof is checked with; QueryFailed for a refusal,
    NotVerified when the answer carries no proof of `key`."""
    code = int(response.get("code", 0))
    if code != 0:
        raise QueryFailed(code, response.get("codespace", ""), response.get("log", ""))
    ops = (response.get("proofOps") or {}).get("ops") or []  # CometBFT v0.38 names it so in JSON
    if len(ops) != 1 or ops[0].get("type") != PROOF_OP_TYPE or base64.b64decode(ops[0].get("key") or "") != key:
        raise NotVerified(f"the node's answer for key {key.hex()} carries no {PROOF_OP_TYPE} proof of that key")
    value = base64.b64decode(response.get("value") or "") if response.get("info") == "present" else None
    return StoreAnswer(key, value, int(response["height"]), base64.b64decode(ops[0].get("data") or ""))


def check(answer: StoreAnswer, header: VerifiedHeader) -> Proven:
    """The answer, once its proof leads from its key and value to the header's app hash."""
    if header.height != answer.height + 1:
        raise NotVerified(f"the state of height {answer.height} is committed by header {answer.height + 1}, "
                          f"not {header.height}")
    try:
        proof = decode_proof(answer.proof)
    except MalformedProof as error:
        raise NotVerified(f"malformed proof for key {answer.key.hex()}: {error}") from None
    if not verify(header.app_hash, answer.key, answer.value, proof):
        claim = "absent" if answer.value is None else f"holding {len(answer.value)} bytes"
        raise NotVerified(f"the proof of key {answer.key.hex()} {claim} at height {answer.height} does not lead to "
                          f"the app hash of header {header.height}")
    return Proven(answer.key, answer.value, answer.height, len(answer.proof), header)
