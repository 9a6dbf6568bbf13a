"""client/ beside its transport seam: the chain's answers become typed results and errors."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from client import Client, NodeUnreachable, QueryFailed, SubaccountId, TxRejected
from wire import PrivateKey

KEY = PrivateKey.from_hex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")


def node(answers: dict[str, object]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        call = json.loads(request.content)
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": call["id"], "result": answers[call["method"]]})

    return httpx.MockTransport(handle)


STATUS = {"node_info": {"network": "perpchain-test"}, "sync_info": {"latest_block_height": "7"}}


def test_a_check_tx_rejection_raises_with_the_chain_code_and_log() -> None:
    transport = node({"status": STATUS, "broadcast_tx_sync": {"code": 100, "codespace": "bank", "log": "InsufficientBalance: x", "hash": "AB"}})
    with Client("http://node", transport=transport) as client, pytest.raises(TxRejected) as rejected:
        client.transfer(KEY, SubaccountId(b"\x01" * 20, 0), 5)
    assert (rejected.value.code, rejected.value.codespace, rejected.value.stage, rejected.value.tx_hash) == (100, "bank", "check", "AB")
    assert "InsufficientBalance" in str(rejected.value)


def test_a_failure_inside_the_block_raises_with_stage_block() -> None:
    transport = node({
        "status": STATUS,
        "broadcast_tx_sync": {"code": 0, "hash": "CD"},
        "tx": {"height": "9", "tx_result": {"code": 6, "codespace": "auth", "log": "NonceAlreadyUsed: n"}},
    })
    with Client("http://node", transport=transport) as client, pytest.raises(TxRejected) as rejected:
        client.transfer(KEY, SubaccountId(b"\x01" * 20, 0), 5)
    assert (rejected.value.code, rejected.value.stage) == (6, "block")


def test_a_query_decodes_json_and_a_bad_one_raises() -> None:
    value = base64.b64encode(b'{"address":"0xab","subaccount":2,"amount_micro_usdc":"12"}').decode()
    good = node({"abci_query": {"response": {"code": 0, "value": value}}})
    with Client("http://node", transport=good) as client:
        balance = client.balance("0xAB", 2)
    assert (balance.subaccount, balance.amount_micro_usdc) == (2, 12)
    bad = node({"abci_query": {"response": {"code": 20, "codespace": "query", "log": "UnknownQueryPath: no"}}})
    with Client("http://node", transport=bad) as client, pytest.raises(QueryFailed) as failed:
        client.query("/nope")
    assert failed.value.code == 20


def test_a_node_that_does_not_answer_is_unreachable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with Client("http://node", transport=httpx.MockTransport(refuse)) as client, pytest.raises(NodeUnreachable):
        client.height()
