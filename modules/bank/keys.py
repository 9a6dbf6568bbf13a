"""bank's keys under prefix `bank/`."""

from __future__ import annotations

from modules.types import SubaccountId

STORE_PREFIX = b"bank/"
BALANCE = b"b/"  # b/<address 20><number 1> -> i128 micro-USDC
SUPPLY = b"supply"  # total micro-USDC held by all subaccounts


def balance_key(subaccount: SubaccountId) -> bytes:
    return BALANCE + subaccount.address + bytes([subaccount.number])


def subaccount_from_balance_key(key: bytes) -> SubaccountId:
    return SubaccountId(key[len(BALANCE) : len(BALANCE) + 20], key[len(BALANCE) + 20])
