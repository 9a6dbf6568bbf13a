"""The anchored balances root is tied to the app hash (docs/anchoring.md, "Tied to the app hash"): on
a 4-validator localnet with anvil and its relayers, the anchor record is proven in the chain's
state against a header its validators signed, an address's exit proof leads to that record's
balances root, and the leaf is the address's balance proven in the state the record describes.
The CLI's `--prove` prints it. A relayer in verifying mode refuses a record its node misreports."""

from __future__ import annotations

import base64
import json
from typing import Any, Callable

import pytest

from bridge.config import RelayerConfig
from bridge.relayer import Relayer
from client import NotVerified, TrustRoot
from client.anchor import AnchorClient, proof_call_args, record_from_json
from client.rpc import RpcClient
from modules.anchor import merkle
from modules.anchor.types import encode_record
from tests.bridge_chain.conftest import BridgedNet, wait_for
from tests.harness import TamperingTransport, run_perpchain
from wire.crypto import keccak256

pytestmark = pytest.mark.integration

Edit = Callable[[dict[str, Any], dict[str, Any]], None]


def edit_query_answer(path: str, change: Callable[[dict[str, Any]], None]) -> Edit:
    """A tampering edit: the JSON answer of abci_query `path` passed through `change` (in place)."""
    def edit(call: dict[str, Any], result: dict[str, Any]) -> None:
        if call["method"] == "abci_query" and call["params"]["path"] == path:
            answer = json.loads(base64.b64decode(result["response"]["value"]))
            change(answer)
            result["response"]["value"] = base64.b64encode(json.dumps(answer).encode()).decode()
    return edit


def checked_cli(*args: str) -> str:
    done = run_perpchain(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_exit_proof_and_query_proof_speak_of_the_same_state(bridged_net: BridgedNet) -> None:
    faucet = bridged_net.faucet.address
    with bridged_net.client(1) as client:
        wait_for(lambda: client.prove_latest_anchor().record is not None, 120, "a first anchor, proven")
        checked = AnchorClient(client).proven_proof(faucet)
        record = checked.record
        assert checked.proven.value == encode_record(record)  # the record is in the state header H+1 commits to
        amount, nodes = proof_call_args(checked.answer)
        assert merkle.verify(keccak256, record.balances_root, faucet, amount, nodes)
        assert not merkle.verify(keccak256, record.balances_root, faucet, amount + 1, nodes)
        # The record names the app hash of the state it describes: the one in the signed header after it,
        # where the faucet's bank balance (it holds no position) is its leaf.
        assert client.light().header(record.height + 1).app_hash == record.app_hash
        anchored_balance = client.prove_balance("0x" + faucet.hex(), 0, record.height)
        assert anchored_balance.proven.height == record.height
        assert anchored_balance.balance.amount_micro_usdc == amount > 0

    node = bridged_net.layout.nodes[1].rpc_url
    printed = json.loads(checked_cli("query", "exit-proof", f"0x{faucet.hex()}", "--prove", "--node", node))
    assert printed["verified"].startswith("leaf checked against the balances root of anchor ")
    assert printed["amount_micro_usdc"] == str(amount) or int(printed["anchor"]["nonce"]) > record.nonce
    anchor = json.loads(checked_cli("query", "anchor", "--prove", "--node", node))
    assert int(anchor["record"]["nonce"]) >= record.nonce and anchor["verified"].startswith("verified against header")


def test_an_exit_proof_off_the_proven_root_is_refused(bridged_net: BridgedNet) -> None:
    faucet = bridged_net.faucet.address
    path = f"/anchor/proof/0x{faucet.hex()}"
    with bridged_net.client(2) as client:
        wait_for(lambda: client.prove_latest_anchor().record is not None, 120, "a first anchor, proven")
        nonce = client.prove_latest_anchor().latest.value
        assert nonce is not None
        lying = edit_query_answer(f"{path}/{int.from_bytes(nonce, 'big')}",
                                  lambda answer: answer.update(amount_micro_usdc=str(int(answer["amount_micro_usdc"]) * 2)))
        client.rpc = RpcClient(client.rpc.url, transport=TamperingTransport(lying))
        with pytest.raises(NotVerified, match="does not lead to anchor"):
            AnchorClient(client).proven_proof(faucet, int.from_bytes(nonce, "big"))


def test_a_verifying_relayer_refuses_an_anchor_record_its_node_misreports(bridged_net: BridgedNet) -> None:
    config = RelayerConfig.load(bridged_net.bridge_files.relayer_config(3))
    relayer = Relayer(config, verify=TrustRoot())
    try:
        with bridged_net.client(3) as client:
            wait_for(lambda: client.prove_latest_anchor().record is not None, 120, "a first anchor, proven")
        status = relayer.anchor_relay.anchors.status()
        relayer.anchor_relay.check_proven(record_from_json(status["latest"]["record"]))  # the node's word holds

        def zero_root(answer: dict[str, Any]) -> None:
            answer["latest"]["record"]["balances_root"] = "0x" + "00" * 32

        relayer.client.rpc = RpcClient(config.node_rpc, transport=TamperingTransport(
            edit_query_answer("/anchor/status", zero_root)))
        with pytest.raises(NotVerified, match="the node reports another record than the one proven"):
            relayer.anchor_relay.step()  # refused before anything is signed or sent
    finally:
        relayer.client.close()
