"""What the relayer (and its anchor relay, which sends through the same methods) makes of being
overtaken, beside a stand-in chain and vault: a refusal by the chain meaning another tx got there
first, or the vault's error saying another relayer sent the same, ends the duty for this step;
any other refusal fails it. And whose turn it is to send to the vault."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from eth_abi import encode
from web3.exceptions import ContractCustomError

from bridge import relayer as relayer_module
from bridge.contracts import build
from bridge.relayer import ALREADY_SIGNED, CLAIM_OVERTAKEN, Relayer
from client.artifacts import load_artifact
from client.errors import TxRejected
from client.eth import error_selectors
from modules.bridge.errors import BadWithdrawalSignature, DepositAlreadyCredited
from modules.bridge.types import SignWithdrawal


def _relayer(index: int = 0, count: int = 1, backup_delay_ms: int = 0) -> Relayer:
    relayer = Relayer.__new__(Relayer)
    relayer.operator = relayer.eth_key = None  # type: ignore[assignment]
    relayer.config = SimpleNamespace(backup_delay_ms=backup_delay_ms)  # type: ignore[assignment]
    relayer._validator_index, relayer._validator_count, relayer._ready_seen = index, count, {}
    return relayer


class RefusingChain:
    def __init__(self, code: int) -> None:
        self.code = code

    def send(self, key: Any, actions: Any, timeout_s: float) -> Any:
        raise TxRejected(self.code, "bridge", f"refused with {self.code}", "check", "AB" * 32)


@pytest.mark.parametrize("code", [ALREADY_SIGNED, DepositAlreadyCredited.code])
def test_a_refusal_meaning_overtaken_ends_the_duty_for_this_step(code: int) -> None:
    relayer = _relayer()
    relayer.client = RefusingChain(code)  # type: ignore[assignment]
    overtaken_by = (ALREADY_SIGNED,) if code == ALREADY_SIGNED else CLAIM_OVERTAKEN
    assert relayer.send_to_chain([SignWithdrawal(1, bytes(65))], overtaken_by=overtaken_by) is None


def test_any_other_refusal_by_the_chain_fails_the_duty() -> None:
    relayer = _relayer()
    relayer.client = RefusingChain(BadWithdrawalSignature.code)  # type: ignore[assignment]
    with pytest.raises(TxRejected, match=f"refused with {BadWithdrawalSignature.code}"):
        relayer.send_to_chain([SignWithdrawal(1, bytes(65))], overtaken_by=(ALREADY_SIGNED,))


def _vault_refusing(monkeypatch: pytest.MonkeyPatch, relayer: Relayer, error: str, *args: Any) -> None:
    """The vault's ABI, and a send that reverts with its custom error `error(*args)` while gas is estimated."""
    build()  # no-op when .gen/contracts matches the sources
    abi = load_artifact("Vault").abi
    (selector, types), = [(s, types) for s, (name, types) in error_selectors(abi).items() if name == error]
    payload = "0x" + (selector + encode(types, list(args))).hex()

    def send(*_: Any) -> Any:
        raise ContractCustomError(payload, data=payload)

    monkeypatch.setattr(relayer_module, "send_eth_transaction", send)
    relayer.bridge = SimpleNamespace(web3=None, vault=SimpleNamespace(abi=abi))  # type: ignore[assignment]


def test_the_vault_saying_another_relayer_was_first_ends_the_duty(monkeypatch: pytest.MonkeyPatch) -> None:
    relayer = _relayer()
    _vault_refusing(monkeypatch, relayer, "AlreadyPaid", 7)
    call = SimpleNamespace(fn_name="withdraw")
    assert relayer.send_to_vault("withdrawal 7", call, raced_by="AlreadyPaid") is None  # type: ignore[arg-type]


def test_any_other_refusal_by_the_vault_fails_the_duty_naming_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    relayer = _relayer()
    _vault_refusing(monkeypatch, relayer, "AlreadyPaid", 7)
    call = SimpleNamespace(fn_name="withdraw")
    with pytest.raises(RuntimeError, match=r"Vault.withdraw for withdrawal 7 would revert: AlreadyPaid\(7,\)"):
        relayer.send_to_vault("withdrawal 7", call, raced_by="StaleAnchorNonce")  # type: ignore[arg-type]


def test_the_relayer_whose_turn_it_is_sends_first_and_the_others_after_the_backup_delay() -> None:
    relayer = _relayer(index=1, count=4, backup_delay_ms=100)
    assert relayer.my_turn("anchor", 5)  # 5 mod 4 == 1
    assert not relayer.my_turn("anchor", 6) and not relayer.my_turn("withdrawal", 6)
    time.sleep(0.12)
    assert relayer.my_turn("anchor", 6) and relayer.my_turn("withdrawal", 6)
    assert not relayer.my_turn("valset", 6)  # each kind waits from when it was seen ready
