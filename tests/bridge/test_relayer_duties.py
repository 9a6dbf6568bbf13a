"""The relayer's duties do not depend on each other's success: a withdrawal the token will not
pay (a blacklisted recipient, a paused token) must not stop anchors, which every later withdrawal
waits for, nor the payment of the next withdrawal. The relayer beside a stand-in chain and vault."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest

from bridge.anchor_relay import AnchorRelay
from bridge.relayer import Relayer, RelayerState, StepFailed
from client.bridge import BridgeClient
from tests.bridge.conftest import offline_config


def _relayer(tmp_path: Path, paid: list[int], anchored: list[str]) -> Relayer:
    relayer = Relayer.__new__(Relayer)
    for duty in ("_identify", "follow_deposits", "claim_deposits", "sign_withdrawals", "hand_over_valsets"):
        setattr(relayer, duty, lambda: None)
    relayer.anchor_relay = mock.Mock(spec=AnchorRelay, step=lambda: anchored.append("anchor"))
    relayer.metrics = {"relayer_steps_total": 0, "relayer_withdrawals_failing": 0}
    relayer.last_error = ""
    relayer.state = RelayerState(tmp_path / "relayer-state.json", 0)
    relayer.config = offline_config(confirmations=0, backup_delay_ms=0)
    relayer._validator_count, relayer._validator_index, relayer._ready_seen = 1, 0, {}
    functions = mock.MagicMock()
    functions.anchoredWithdrawalId.return_value.call.return_value = 2
    functions.withdrawalPaid.side_effect = lambda i: SimpleNamespace(call=lambda **_: i in paid)
    relayer.bridge = mock.Mock(
        spec=BridgeClient, web3=SimpleNamespace(eth=SimpleNamespace(block_number=10)),
        vault=SimpleNamespace(functions=functions), status=lambda: {"next_withdrawal_id": "3"},
        withdrawal=lambda i: {"withdrawal_id": str(i), "ready": True})
    return relayer


def test_a_withdrawal_that_cannot_be_paid_stops_neither_anchors_nor_the_next_payment(tmp_path: Path) -> None:
    paid: list[int] = []
    anchored: list[str] = []
    relayer = _relayer(tmp_path, paid, anchored)

    def pay(w: dict[str, Any]) -> None:
        if w["withdrawal_id"] == "1":
            raise RuntimeError("Vault.withdraw for withdrawal 1 would revert: the token refuses the recipient")
        paid.append(int(w["withdrawal_id"]))

    setattr(relayer, "_pay", pay)
    relayer.step()
    assert anchored == ["anchor"] and paid == [2]
    assert relayer.metrics["relayer_withdrawals_failing"] == 1 and "withdrawal 1" in relayer.last_error


def test_a_failing_duty_is_reported_after_every_other_duty_ran(tmp_path: Path) -> None:
    anchored: list[str] = []
    relayer = _relayer(tmp_path, [], anchored)
    setattr(relayer, "_pay", lambda w: None)

    def claim_deposits() -> None:
        raise ConnectionError("node unreachable")

    setattr(relayer, "claim_deposits", claim_deposits)
    with pytest.raises(StepFailed, match="claim_deposits: ConnectionError: node unreachable"):
        relayer.step()
    assert anchored == ["anchor"]
    assert relayer.metrics["relayer_steps_total"] == 0
