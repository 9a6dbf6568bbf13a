"""What the relayer (and its anchor relay, which sends through the same methods) makes of being
overtaken, beside a stand-in chain and vault: a refusal by the chain meaning another tx got there
first, or the vault's error saying another relayer sent the same, ends the duty for this step;
any other refusal fails it. And whose turn it is to send to the vault."""

from __future__ import annotations

import json
import time
from typing import Any
from unittest import mock

import httpx
import pytest
from eth_abi import encode
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError

from bridge import relayer as relayer_module
from bridge.contracts import build
from bridge.relayer import ALREADY_SIGNED, CLAIM_OVERTAKEN, Relayer
from client import Client
from client.artifacts import load_artifact
from client.bridge import BridgeClient
from client.errors import TxRejected
from client.eth import error_selectors
from modules.bridge.errors import BadWithdrawalSignature, DepositAlreadyCredited
from modules.bridge.types import SignWithdrawal
from tests.bridge.conftest import offline_config
from wire.crypto import PrivateKey


def _relayer(index: int = 0, count: int = 1, backup_delay_ms: int = 0) -> Relayer:
    relayer = Relayer.__new__(Relayer)
    relayer.operator, relayer.eth_key = PrivateKey(b"\x31" * 32), PrivateKey(b"\x32" * 32)
    relayer.config = offline_config(backup_delay_ms=backup_delay_ms)
    relayer._validator_index, relayer._validator_count, relayer._ready_seen = index, count, {}
    return relayer


def _refusing_chain(code: int) -> Client:
    """A node whose CheckTx refuses every tx with `code`."""
    answers = {"status": {"node_info": {"network": "perpchain-test"}},
               "broadcast_tx_sync": {"code": code, "codespace": "bridge", "log": f"refused with {code}", "hash": "AB" * 32}}

    def handle(request: httpx.Request) -> httpx.Response:
        call = json.loads(request.content)
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": call["id"], "result": answers[call["method"]]})

    return Client("http://node", transport=httpx.MockTransport(handle))


@pytest.mark.parametrize("code", [ALREADY_SIGNED, DepositAlreadyCredited.code])
def test_a_refusal_meaning_overtaken_ends_the_duty_for_this_step(code: int) -> None:
    relayer = _relayer()
    relayer.client = _refusing_chain(code)
    overtaken_by = (ALREADY_SIGNED,) if code == ALREADY_SIGNED else CLAIM_OVERTAKEN
    assert relayer.send_to_chain([SignWithdrawal(1, bytes(65))], overtaken_by=overtaken_by) is None


def test_any_other_refusal_by_the_chain_fails_the_duty() -> None:
    relayer = _relayer()
    relayer.client = _refusing_chain(BadWithdrawalSignature.code)
    with pytest.raises(TxRejected, match=f"refused with {BadWithdrawalSignature.code}"):
        relayer.send_to_chain([SignWithdrawal(1, bytes(65))], overtaken_by=(ALREADY_SIGNED,))


def _vault_refusing(monkeypatch: pytest.MonkeyPatch, relayer: Relayer, error: str, *args: Any) -> ContractFunction:
    """The vault's ABI, and a send that reverts with its custom error `error(*args)` while gas is
    estimated; the withdraw call the relayer sends."""
    build()  # no-op when .gen/contracts matches the sources
    abi = load_artifact("Vault").abi
    (selector, types), = [(s, types) for s, (name, types) in error_selectors(abi).items() if name == error]
    payload = "0x" + (selector + encode(types, list(args))).hex()

    def send(*_: Any) -> Any:
        raise ContractCustomError(payload, data=payload)

    monkeypatch.setattr(relayer_module, "send_eth_transaction", send)
    w3 = Web3()
    vault = w3.eth.contract(abi=abi)
    relayer.bridge = mock.Mock(spec=BridgeClient, web3=w3, vault=vault)
    return vault.functions.withdraw(7, "0x" + "00" * 20, 1, [])


def test_the_vault_saying_another_relayer_was_first_ends_the_duty(monkeypatch: pytest.MonkeyPatch) -> None:
    relayer = _relayer()
    call = _vault_refusing(monkeypatch, relayer, "AlreadyPaid", 7)
    assert relayer.send_to_vault("withdrawal 7", call, raced_by="AlreadyPaid") is None


def test_any_other_refusal_by_the_vault_fails_the_duty_naming_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    relayer = _relayer()
    call = _vault_refusing(monkeypatch, relayer, "AlreadyPaid", 7)
    with pytest.raises(RuntimeError, match=r"Vault.withdraw for withdrawal 7 would revert: AlreadyPaid\(7,\)"):
        relayer.send_to_vault("withdrawal 7", call, raced_by="StaleAnchorNonce")


def test_the_relayer_whose_turn_it_is_sends_first_and_the_others_after_the_backup_delay() -> None:
    relayer = _relayer(index=1, count=4, backup_delay_ms=100)
    assert relayer.my_turn("anchor", 5)  # 5 mod 4 == 1
    assert not relayer.my_turn("anchor", 6) and not relayer.my_turn("withdrawal", 6)
    time.sleep(0.12)
    assert relayer.my_turn("anchor", 6) and relayer.my_turn("withdrawal", 6)
    assert not relayer.my_turn("valset", 6)  # each kind waits from when it was seen ready
