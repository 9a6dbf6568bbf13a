"""Checks that must hold after every block; each returns a message when broken."""

from __future__ import annotations

from modules.bank.keeper import BankKeeper


def supply_matches_balances(bank: BankKeeper) -> str | None:
    total = sum(b.amount_micro_usdc for b in bank.balances())
    if total != bank.supply():
        return f"bank: balances sum to {total} but supply is {bank.supply()}"
    return None


def no_negative_balance(bank: BankKeeper) -> str | None:
    for b in bank.balances():
        if b.amount_micro_usdc < 0:
            return f"bank: {b.subaccount} holds {b.amount_micro_usdc}"
    return None
