"""`perpchain tx report-equivocation --file`: the JSON it reads (docs/staking.md) is the action's."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import pytest

from client.errors import ClientError
from modules.staking.types import ReportAnchorEquivocation, ReportWithdrawalEquivocation, SignedAnchor, SignedWithdrawalTerms
from perpchain.staking_cli import tx_action

ANCHOR = {"anchor_nonce": 3, "chain_id": "perpchain-local", "height": 40, "app_hash": "0x" + "aa" * 32,
          "balances_root": "0x" + "bb" * 32, "total_claimable_micro_usdc": str(2**200), "deposit_nonce": 2,
          "withdrawal_id": 1, "withdrawn_total_micro_usdc": "5", "bond_debits_hash": "0x" + "dd" * 32,
          "signature": "0x" + "01" * 65}


def read(tmp_path: Path, document: object) -> object:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(document))
    return tx_action(argparse.Namespace(tx_command="report-equivocation", file=path))


def test_an_anchor_report_is_read_member_by_member(tmp_path: Path) -> None:
    side = SignedAnchor(3, "perpchain-local", 40, b"\xaa" * 32, b"\xbb" * 32, 2**200, 2, 1, 5, b"\xdd" * 32, b"\x01" * 65)
    other = {**ANCHOR, "app_hash": "0x" + "cc" * 32}
    assert read(tmp_path, {"kind": "anchor", "a": ANCHOR, "b": other}) == ReportAnchorEquivocation(
        side, replace(side, app_hash=b"\xcc" * 32))


def test_a_withdrawal_report_is_read_member_by_member(tmp_path: Path) -> None:
    a = {"recipient": "0x" + "01" * 20, "amount_micro_usdc": "7", "signature": "0x" + "02" * 65}
    b = {**a, "amount_micro_usdc": 8}
    assert read(tmp_path, {"kind": "withdrawal", "withdrawal_id": 9, "a": a, "b": b}) == ReportWithdrawalEquivocation(
        9, SignedWithdrawalTerms(b"\x01" * 20, 7, b"\x02" * 65), SignedWithdrawalTerms(b"\x01" * 20, 8, b"\x02" * 65))


@pytest.mark.parametrize("document", [{"kind": "vote"}, {"kind": "anchor", "a": ANCHOR},
                                      {"kind": "anchor", "a": ANCHOR, "b": {**ANCHOR, "height": -1}},
                                      {"kind": "anchor", "a": ANCHOR, "b": {**ANCHOR, "app_hash": "aa"}}])
def test_a_report_file_out_of_shape_is_a_client_error_naming_it(tmp_path: Path, document: object) -> None:
    with pytest.raises(ClientError, match="report.json"):
        read(tmp_path, document)
