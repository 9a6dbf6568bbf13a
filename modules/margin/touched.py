"""Which subaccounts a block's writes touched: a balance (bank) or a margin record (positions,
resting exposure). Liquidation re-checks them; anchor remembers their addresses."""

from __future__ import annotations

from typing import Iterable

from modules.bank.keys import BALANCE
from modules.bank.keys import STORE_PREFIX as BANK_PREFIX
from modules.margin.keeper import STORE_PREFIX as MARGIN_PREFIX
from modules.margin.keeper import SUBACCOUNT
from modules.types import SubaccountId

_BALANCE = BANK_PREFIX + BALANCE
_RECORD = MARGIN_PREFIX + SUBACCOUNT


def touched_subaccounts(written_keys: Iterable[bytes]) -> list[SubaccountId]:
    """Subaccounts whose balance or margin record is among `written_keys`, sorted."""
    found = set()
    for key in written_keys:
        if key.startswith(_BALANCE) and len(key) == len(_BALANCE) + 21:
            found.add(SubaccountId(key[len(_BALANCE):-1], key[-1]))
        elif key.startswith(_RECORD) and len(key) == len(_RECORD) + 21:
            found.add(SubaccountId(key[len(_RECORD):-1], key[-1]))
    return sorted(found)


def touched_addresses(written_keys: Iterable[bytes]) -> set[bytes]:
    """Addresses whose claimable amount the writes may have changed."""
    return {s.address for s in touched_subaccounts(written_keys)}
