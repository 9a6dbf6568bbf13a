"""bank's abci_query answers (docs/queries.md).

| path                              | answer                                                   |
| /bank/balance/<address>/<number>  | {"address", "subaccount", "amount_micro_usdc"}           |
| /bank/balances/<address>          | {"address", "balances": [{"subaccount", "amount_micro_usdc"}]} |
| /bank/supply                      | {"supply_micro_usdc"}                                    |
"""

from __future__ import annotations

from typing import Any

from modules.bank.keeper import BankKeeper
from modules.queries import QueryContext, address, subaccount_number
from modules.types import MAX_SUBACCOUNT, SubaccountId


def balance(q: QueryContext, args: list[str]) -> dict[str, Any]:
    owner, number = address(args[0]), subaccount_number(args[1])
    amount = BankKeeper(q.store).balance(SubaccountId(owner, number))
    return {"address": args[0].lower(), "subaccount": number, "amount_micro_usdc": str(amount)}


def balances(q: QueryContext, args: list[str]) -> dict[str, Any]:
    owner = address(args[0])
    bank = BankKeeper(q.store)
    entries = [
        {"subaccount": n, "amount_micro_usdc": str(bank.balance(SubaccountId(owner, n)))}
        for n in range(MAX_SUBACCOUNT + 1)
    ]
    return {"address": args[0].lower(), "balances": [e for e in entries if e["amount_micro_usdc"] != "0"]}


def supply(q: QueryContext, args: list[str]) -> dict[str, Any]:
    return {"supply_micro_usdc": str(BankKeeper(q.store).supply())}
