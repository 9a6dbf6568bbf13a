"""Checks that must hold after every block; each returns a message when broken, else None."""

from __future__ import annotations

from modules.bank.keeper import BankKeeper
from modules.margin.keeper import MarginKeeper
from modules.margin.risk import account_risk
from modules.markets.keeper import MarketsKeeper
from modules.oracle.keeper import OracleKeeper
from modules.store import KVStore
from modules.types import INSURANCE_FUND, SubaccountId


def no_negative_equity(store: KVStore) -> str | None:
    """After the liquidation pass no trader's equity is below zero at the oracle price: an account
    that went bankrupt was closed at its bankruptcy price or taken over by the insurance fund (the
    fund itself may run negative; deleveraging answers that)."""
    bank, margin = BankKeeper(store), MarginKeeper(store)
    markets, oracle = MarketsKeeper(store), OracleKeeper(store)
    holders: set[SubaccountId] = {p.subaccount for p in margin.all_positions()}
    for subaccount in sorted(holders - {INSURANCE_FUND}):
        equity = account_risk(subaccount, markets, bank, margin, oracle).equity_micro_usdc
        if equity < 0:
            return f"liquidation: {subaccount} ends the block with equity {equity} micro-USDC"
    return None
