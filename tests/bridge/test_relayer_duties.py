"""The relayer's duties do not depend on each other's success: a withdrawal the token will not
pay (a blacklisted recipient, a paused token) must not stop anchors, which every later withdrawal
waits for, nor the payment of the next withdrawal. The relayer beside a stand-in chain and vault."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest

from bridge.relayer import Relayer, StepFailed


def _relayer(paid: list[int], anchored: list[str]) -> Relayer:
    relayer = Relayer.__new__(Relayer)
    relayer._identify = lambda: None  # type: ignore[method-assign]
    for duty in ("follow_deposits", "claim_deposits", "sign_withdrawals", "hand_over_valsets"):
        setattr(relayer, duty, lambda: None)
    relayer.anchor_relay = SimpleNamespace(step=lambda: anchored.append("anchor"))  # type: ignore[assignment]
    relayer.metrics = {"relayer_steps_total": 0, "relayer_withdrawals_failing": 0}
    relayer.last_error = ""
    relayer.state = SimpleNamespace(paid_through=0, save=lambda: None)  # type: ignore[assignment]
    relayer.config = SimpleNamespace(confirmations=0, backup_delay_ms=0)  # type: ignore[assignment]
    relayer._validator_count, relayer._validator_index, relayer._ready_seen = 1, 0, {}
    functions = mock.MagicMock()
    functions.anchoredWithdrawalId.return_value.call.return_value = 2
    functions.withdrawalPaid.side_effect = lambda i: SimpleNamespace(call=lambda **_: i in paid)
    relayer.bridge = SimpleNamespace(  # type: ignore[assignment]
        web3=SimpleNamespace(eth=SimpleNamespace(block_number=10)), vault=SimpleNamespace(functions=functions),
        status=lambda: {"next_withdrawal_id": "3"},
        withdrawal=lambda i: {"withdrawal_id": str(i), "ready": True})
    return relayer


def test_a_withdrawal_that_cannot_be_paid_stops_neither_anchors_nor_the_next_payment() -> None:
    paid: list[int] = []
    anchored: list[str] = []
    relayer = _relayer(paid, anchored)

    def pay(w: dict[str, Any]) -> None:
        if w["withdrawal_id"] == "1":
            raise RuntimeError("Vault.withdraw for withdrawal 1 would revert: the token refuses the recipient")
        paid.append(int(w["withdrawal_id"]))

    relayer._pay = pay  # type: ignore[method-assign]
    relayer.step()
    assert anchored == ["anchor"] and paid == [2]
    assert relayer.metrics["relayer_withdrawals_failing"] == 1 and "withdrawal 1" in relayer.last_error


def test_a_failing_duty_is_reported_after_every_other_duty_ran() -> None:
    anchored: list[str] = []
    relayer = _relayer([], anchored)
    relayer._pay = lambda w: None  # type: ignore[method-assign]

    def claim_deposits() -> None:
        raise ConnectionError("node unreachable")

    relayer.claim_deposits = claim_deposits  # type: ignore[method-assign]
    with pytest.raises(StepFailed, match="claim_deposits: ConnectionError: node unreachable"):
        relayer.step()
    assert anchored == ["anchor"]
    assert relayer.metrics["relayer_steps_total"] == 0
