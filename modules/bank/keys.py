"""bank's keys under prefix `bank/`."""

from __future__ import annotations

from modules.encoding import SUBACCOUNT_BYTES, read_subaccount, subaccount_bytes
from modules.types import SubaccountId

STORE_PREFIX = b"bank/"
BALANCE = b"b/"  # b/<address 20><number 1> -> i128 micro-USDC
SUPPLY = b"supply"  # total micro-USDC held by all subaccounts


def balance_key(subaccount: SubaccountId) -> bytes:
    return BALANCE + subaccount_bytes(subaccount)


def subaccount_from_balance_key(key: bytes) -> SubaccountId:
    return read_subaccount(key[len(BALANCE):])


def balance_holder(store_key: bytes) -> SubaccountId | None:
    """The subaccount whose balance a whole-store key (prefix included) holds; None for any other key."""
    prefix = STORE_PREFIX + BALANCE
    if store_key.startswith(prefix) and len(store_key) == len(prefix) + SUBACCOUNT_BYTES:
        return read_subaccount(store_key[len(prefix):])
    return None
