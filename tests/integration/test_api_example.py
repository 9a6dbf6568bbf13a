"""docs/api.md's example, done as an outsider would: the typed data and the body read out of the
doc, a fresh funded account and nonce filled in, signed with eth-account, sent with a plain HTTP
POST to cometbft's broadcast_tx_sync, and seen in a block. client/ is not used to sign or send
(tests/integrator.py imports none of the project's code)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import httpx
import pytest
from eth_account import Account

from tests import integrator
from tests.harness import LocalChain

pytestmark = pytest.mark.integration


def rpc(url: str, method: str, **params: Any) -> dict[str, Any]:
    """One JSON-RPC call; the whole reply (result or error)."""
    reply = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=10)
    return dict(reply.json())


def query(url: str, path: str) -> Any:
    response = rpc(url, "abci_query", path=path)["result"]["response"]
    assert int(response.get("code", 0)) == 0, response
    return json.loads(base64.b64decode(response["value"]))


def test_the_docs_example_signed_with_eth_account_and_sent_over_raw_rpc_lands_in_a_block(chain: LocalChain) -> None:
    url = chain.rpc_url
    wallet = Account.from_key(chain.keys[0].secret)  # funded at genesis, new for this test
    chain_id = rpc(url, "status")["result"]["node_info"]["network"]
    nonce = time.time_ns() // 1_000_000

    body = integrator.doc_json("example-body")
    body.update(chain_id=chain_id, account=wallet.address.lower(), nonce=nonce)
    body_bytes = integrator.encode_body(body)
    typed = integrator.doc_json("example-typed-data")
    typed["message"] = {"chainId": chain_id, "account": wallet.address, "nonce": nonce,
                        "body": "0x" + body_bytes.hex()}
    raw = integrator.signed_tx(body_bytes, integrator.sign(typed, wallet.key.hex()))

    sent = rpc(url, "broadcast_tx_sync", tx=base64.b64encode(raw).decode())["result"]
    assert (int(sent["code"]), sent.get("log", "")) == (0, ""), sent
    assert sent["hash"] == hashlib.sha256(raw).hexdigest().upper()

    deadline = time.monotonic() + 30
    while True:
        found = rpc(url, "tx", hash=base64.b64encode(bytes.fromhex(sent["hash"])).decode())
        if "result" in found:
            break
        assert "not found" in json.dumps(found["error"]), found
        assert time.monotonic() < deadline, "the tx did not reach a block in 30 s"
        time.sleep(0.1)
    result = found["result"]
    assert int(result["tx_result"].get("code", 0)) == 0, result["tx_result"]
    assert int(result["height"]) >= 1
    [transfer] = [event for event in result["tx_result"]["events"] if event["type"] == "transfer"]
    attributes = {a["key"]: a["value"] for a in transfer["attributes"]}
    action = body["actions"][0]["transfer"]
    assert attributes["sender"] == wallet.address.lower()
    assert attributes["amount_micro_usdc"] == str(action["amount_micro_usdc"])

    recipient = query(url, f"/bank/balance/{action['to_account']}/{action['to_subaccount']}")
    assert recipient["amount_micro_usdc"] == str(action["amount_micro_usdc"])
    assert str(nonce) in query(url, f"/auth/nonces/{wallet.address.lower()}")["recent_nonces"]
