"""client/anchor.py's escape_summary (what a trader's screen shows and the proof it keeps), over
the client's transport seam answered by an in-process Application on LevelDB."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx

from client import Client
from client.anchor import AnchorClient, escape_summary, proof_call_args
from modules.anchor.keeper import AnchorKeeper
from modules.anchor.merkle import verify
from tests.anchor.test_anchor_app import _start, _until_anchor
from tests.app.conftest import FUNDED_MICRO_USDC, AppHarness
from wire.crypto import keccak256
from wire.pb import abci_pb


def seam(h: AppHarness) -> httpx.MockTransport:
    """abci_query answered by the app itself, as CometBFT would relay it."""
    def handle(request: httpx.Request) -> httpx.Response:
        call = json.loads(request.content)
        assert call["method"] == "abci_query"
        answer = h.app.query(abci_pb.RequestQuery(path=call["params"]["path"]))
        response = {"code": answer.code, "codespace": answer.codespace, "log": answer.log,
                    "value": base64.b64encode(answer.value).decode()}
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": call["id"], "result": {"response": response}})

    return httpx.MockTransport(handle)


def test_summary_shows_the_latest_anchor_and_saves_the_proof(tmp_path: Path) -> None:
    h = _start(tmp_path / "db")
    alice = h.keys[0]
    with Client("http://node", transport=seam(h)) as client:
        anchors = AnchorClient(client)
        assert escape_summary(anchors, alice.address, tmp_path / "proofs") is None  # no anchor yet
        _until_anchor(h)
        for _ in range(3):
            h.block([])
        summary = escape_summary(anchors, alice.address, tmp_path / "proofs")
        record = AnchorKeeper(h.store).latest()
        assert summary is not None and record is not None
        assert (summary.anchor_nonce, summary.anchor_height) == (record.nonce, record.height)
        assert summary.claimable_micro_usdc == FUNDED_MICRO_USDC
        assert summary.age_ms == h.store.last_commit().block_time_ms - record.time_ms > 0
        assert summary.proof_path == tmp_path / "proofs" / f"0x{alice.address.hex()}.json"
        amount, nodes = proof_call_args(json.loads(summary.proof_path.read_text()))
        assert verify(keccak256, record.balances_root, alice.address, amount, nodes)
        nobody = escape_summary(anchors, b"\x77" * 20, tmp_path / "proofs")
        assert nobody is not None and nobody.claimable_micro_usdc == 0 and nobody.proof_path is None
    h.app.signers.close()
    h.store.close()
