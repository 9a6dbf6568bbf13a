"""bank's genesis section: validate, import, export (round-trip tested).

    {"balances": [{"address": "0x..", "subaccount": 0, "amount_micro_usdc": "1000000"}]}

Amounts are decimal strings so no JSON reader turns them into floats.
"""

from __future__ import annotations

from typing import Any

from modules.bank.errors import InvalidGenesis
from modules.bank.keeper import BankKeeper
from modules.types import MAX_SUBACCOUNT, SubaccountId


def _parse_entry(index: int, entry: Any) -> tuple[SubaccountId, int]:
    where = f"bank.balances[{index}]"
    if not isinstance(entry, dict):
        raise InvalidGenesis(f"{where} must be an object")
    unknown = sorted(set(entry) - {"address", "subaccount", "amount_micro_usdc"})
    if unknown:
        raise InvalidGenesis(f"{where} has unknown field {unknown[0]!r}")
    address = entry.get("address")
    if not (isinstance(address, str) and address.startswith("0x") and len(address) == 42):
        raise InvalidGenesis(f"{where}.address must be 0x followed by 40 hex digits")
    try:
        address_bytes = bytes.fromhex(address[2:])
    except ValueError:
        raise InvalidGenesis(f"{where}.address is not hexadecimal") from None
    number = entry.get("subaccount", 0)
    if not (isinstance(number, int) and not isinstance(number, bool) and 0 <= number <= MAX_SUBACCOUNT):
        raise InvalidGenesis(f"{where}.subaccount must be an integer from 0 to {MAX_SUBACCOUNT}")
    amount = entry.get("amount_micro_usdc")
    if not (isinstance(amount, str) and amount.isdigit() and int(amount) > 0):
        raise InvalidGenesis(f"{where}.amount_micro_usdc must be a positive integer written as a string")
    return SubaccountId(address_bytes, number), int(amount)


def validate_genesis(section: Any) -> list[tuple[SubaccountId, int]]:
    if not isinstance(section, dict):
        raise InvalidGenesis("bank must be an object")
    unknown = sorted(set(section) - {"balances"})
    if unknown:
        raise InvalidGenesis(f"bank has unknown field {unknown[0]!r}")
    entries = section.get("balances", [])
    if not isinstance(entries, list):
        raise InvalidGenesis("bank.balances must be a list")
    parsed = [_parse_entry(i, entry) for i, entry in enumerate(entries)]
    seen: dict[SubaccountId, int] = {}
    for index, (subaccount, _) in enumerate(parsed):
        if subaccount in seen:
            raise InvalidGenesis(f"bank.balances[{index}] repeats {subaccount} (first at index {seen[subaccount]})")
        seen[subaccount] = index
    return parsed


def import_genesis(bank: BankKeeper, section: Any) -> None:
    for subaccount, amount in validate_genesis(section):
        bank.mint(subaccount, amount)


def export_genesis(bank: BankKeeper) -> dict[str, Any]:
    return {
        "balances": [
            {
                "address": f"0x{b.subaccount.address.hex()}",
                "subaccount": b.subaccount.number,
                "amount_micro_usdc": str(b.amount_micro_usdc),
            }
            for b in bank.balances()
        ]
    }
