"""Proven reads on a real 4-validator localnet (docs/queries.md, "Proofs"): a present key, an absent
key, a value or a header a node tampers with in flight, a proof held against the wrong header, and
the CLI's `--prove`."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from client import Client, NotVerified, PrivateKey, SubaccountId, TrustRoot
from client.proven import StoreAnswer, check
from modules.bank.keys import STORE_PREFIX, balance_key
from tests.harness import TamperingTransport, run_perpchain
from tests.integration.conftest import TRADER_USDC, Net

pytestmark = pytest.mark.integration


def trader(net: Net, index: int = 0) -> str:
    return "0x" + net.traders[index].address.hex()


def test_present_and_absent_keys_are_proven_against_signed_headers(net: Net) -> None:
    with net.client(0) as client:
        proven = client.prove_balance(trader(net))
        assert proven.balance.amount_micro_usdc == TRADER_USDC * 1_000_000 == client.balance(trader(net)).amount_micro_usdc
        assert proven.proven.value is not None and proven.proven.header.height == proven.proven.height + 1
        assert proven.proven.header.signed_power * 3 > proven.proven.header.total_power * 2
        nobody = client.prove_balance("0x" + PrivateKey.generate().address.hex(), 5)
        assert nobody.proven.value is None and nobody.balance.amount_micro_usdc == 0
        assert nobody.proven.height >= proven.proven.height  # the light client moved on from its last header


def test_tampered_value_is_refused(net: Net) -> None:
    doubled = (2 * TRADER_USDC * 1_000_000).to_bytes(16, "big", signed=True)

    def double_the_balance(call: dict[str, Any], result: dict[str, Any]) -> None:
        if call["method"] != "abci_query":
            return
        if call["params"]["path"] == "/store":
            result["response"]["value"] = base64.b64encode(doubled).decode()
        else:  # /bank/balance/...: the JSON answer
            answer = json.loads(base64.b64decode(result["response"]["value"]))
            answer["amount_micro_usdc"] = str(int.from_bytes(doubled, "big"))
            result["response"]["value"] = base64.b64encode(json.dumps(answer).encode()).decode()

    with Client(net.layout.nodes[0].rpc_url, transport=TamperingTransport(double_the_balance)) as client:
        assert client.balance(trader(net)).amount_micro_usdc == 2 * TRADER_USDC * 1_000_000  # believed unproven
        with pytest.raises(NotVerified, match="does not lead to the app hash of header"):
            client.prove_balance(trader(net))


def test_tampered_header_is_refused(net: Net) -> None:
    def rewrite_app_hashes(call: dict[str, Any], result: dict[str, Any]) -> None:
        if call["method"] == "commit" and int(result["signed_header"]["header"]["height"]) > 1:
            result["signed_header"]["header"]["app_hash"] = "00" * 32

    with Client(net.layout.nodes[0].rpc_url, transport=TamperingTransport(rewrite_app_hashes)) as client:
        with pytest.raises(NotVerified, match="the commit signs block"):
            client.prove_balance(trader(net))


def test_proof_against_the_wrong_header_is_refused(net: Net) -> None:
    key = STORE_PREFIX + balance_key(SubaccountId(net.traders[1].address, 0))
    with net.client(0) as client:
        before = client.store_answer(key)
        client.transfer(net.traders[1], SubaccountId(net.traders[2].address, 0), 1_000_000)
        after = client.store_answer(key)
        assert after.value != before.value
        client.wait_for_height(after.height + 1)
        light = client.light()
        assert check(before, light.header(before.height + 1)).value == before.value
        stale = StoreAnswer(key, before.value, after.height, before.proof)  # the old proof, for the new state
        with pytest.raises(NotVerified, match="does not lead to the app hash of header"):
            check(stale, light.header(after.height + 1))
        with pytest.raises(NotVerified, match=f"is committed by header {before.height + 1}, not"):
            check(before, light.header(after.height + 1))


def test_trust_root_pinned_by_hash(net: Net) -> None:
    with net.client(0) as client:
        genesis_hash = bytes.fromhex(client.rpc.call("commit", height="1")["signed_header"]["commit"]["block_id"]["hash"])
    with Client(net.layout.nodes[1].rpc_url, trust=TrustRoot(1, genesis_hash)) as client:
        assert client.prove_balance(trader(net)).balance.amount_micro_usdc == TRADER_USDC * 1_000_000
    with Client(net.layout.nodes[1].rpc_url, trust=TrustRoot(1, bytes(32))) as client:
        with pytest.raises(NotVerified, match="the trusted hash is"):
            client.prove_balance(trader(net))


def test_cli_prints_the_proven_balance_and_refuses_a_wrong_trust_hash(net: Net) -> None:
    node = net.layout.nodes[2].rpc_url
    done = run_perpchain("query", "balance", f"{trader(net)}/0", "--prove", "--node", node)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["amount_micro_usdc"] == str(TRADER_USDC * 1_000_000)
    assert answer["proof_bytes"] > 0
    verified = re.fullmatch(rf"verified against header {answer['height'] + 1} signed by (\d+) of (\d+) power",
                            answer["verified"])
    assert verified is not None and int(verified[1]) * 3 > int(verified[2]) * 2
    store = run_perpchain("query", "store", "bank/supply", "--node", node)
    assert store.returncode == 0, store.stderr
    assert json.loads(store.stdout)["present"] is True
    refused = run_perpchain("query", "balance", trader(net), "--prove", "--trust-height", "1", "--trust-hash", "00" * 32,
                  "--node", node)
    assert refused.returncode == 3 and refused.stderr.startswith("not verified: header 1 hashes to")
