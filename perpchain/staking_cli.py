"""`perpchain tx unjail | unbond | report-equivocation` (docs/staking.md). Unjail and unbond are
signed by a validator's operator key (encrypted at rest); anyone may report an equivocation."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from client.errors import ClientError
from modules.staking.types import (
    ReportAnchorEquivocation,
    ReportWithdrawalEquivocation,
    SignedAnchor,
    SignedWithdrawalTerms,
    Unbond,
    Unjail,
)
from wire.amounts import parse_usdc

TX_COMMANDS = ("unjail", "unbond", "report-equivocation")
OPERATOR_TX_COMMANDS = ("unjail", "unbond")


def add_tx_parsers(tx_commands: argparse._SubParsersAction[argparse.ArgumentParser],
                   signer: argparse.ArgumentParser) -> None:
    tx_commands.add_parser("unjail", parents=[signer],
                           help="bring your jailed validator back after its cool-down (its operator key; docs/staking.md)")
    unbond = tx_commands.add_parser("unbond", parents=[signer],
                                    help="move part or all of your validator's bond out; paid to your subaccount 0 "
                                         "after the unbonding period (its operator key)")
    unbond.add_argument("--amount", required=True, help="USDC, up to 6 decimals")
    report = tx_commands.add_parser("report-equivocation", parents=[signer],
                                    help="report two conflicting vault signatures by one validator's bridge key")
    report.add_argument("--file", required=True, type=Path,
                        help='JSON: {"kind": "anchor", "a": {...}, "b": {...}} or {"kind": "withdrawal", '
                             '"withdrawal_id": N, "a": {...}, "b": {...}} (docs/staking.md)')


def _bytes(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"{where} must be 0x-prefixed hex")
    return bytes.fromhex(value[2:])


def _integer(value: Any, where: str) -> int:
    """A JSON integer or a decimal string (uint256 amounts do not fit a JSON number)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise ValueError(f"{where} must be a non-negative integer or its decimal digits, got {value!r}")


def _anchor(side: dict[str, Any], where: str) -> SignedAnchor:
    return SignedAnchor(
        _integer(side["anchor_nonce"], f"{where}.anchor_nonce"), str(side["chain_id"]),
        _integer(side["height"], f"{where}.height"), _bytes(side["app_hash"], f"{where}.app_hash"),
        _bytes(side["balances_root"], f"{where}.balances_root"),
        _integer(side["total_claimable_micro_usdc"], f"{where}.total_claimable_micro_usdc"),
        _integer(side["deposit_nonce"], f"{where}.deposit_nonce"),
        _integer(side["withdrawal_id"], f"{where}.withdrawal_id"),
        _integer(side["withdrawn_total_micro_usdc"], f"{where}.withdrawn_total_micro_usdc"),
        _bytes(side["bond_debits_hash"], f"{where}.bond_debits_hash"), _bytes(side["signature"], f"{where}.signature"))


def _withdrawal(side: dict[str, Any], where: str) -> SignedWithdrawalTerms:
    return SignedWithdrawalTerms(_bytes(side["recipient"], f"{where}.recipient"),
                                 _integer(side["amount_micro_usdc"], f"{where}.amount_micro_usdc"),
                                 _bytes(side["signature"], f"{where}.signature"))


def equivocation_report(document: dict[str, Any]) -> ReportAnchorEquivocation | ReportWithdrawalEquivocation:
    """The report a `--file` describes: its `a` and `b` are the action's JSON (docs/api/actions.md)."""
    kind = document.get("kind")
    try:
        if kind == "anchor":
            return ReportAnchorEquivocation(_anchor(document["a"], "a"), _anchor(document["b"], "b"))
        if kind == "withdrawal":
            return ReportWithdrawalEquivocation(_integer(document["withdrawal_id"], "withdrawal_id"),
                                                _withdrawal(document["a"], "a"), _withdrawal(document["b"], "b"))
    except KeyError as missing:
        raise ValueError(f"the report has no field {missing}") from None
    raise ValueError(f'"kind" must be "anchor" or "withdrawal", got {kind!r}')


def tx_action(args: argparse.Namespace) -> Unjail | Unbond | ReportAnchorEquivocation | ReportWithdrawalEquivocation:
    """The one action each command sends."""
    if args.tx_command == "unjail":
        return Unjail()
    if args.tx_command == "unbond":
        return Unbond(parse_usdc(args.amount))
    try:
        return equivocation_report(json.loads(args.file.read_text()))
    except (OSError, ValueError) as error:  # json's JSONDecodeError is a ValueError
        raise ClientError(f"{args.file}: {error}") from None
