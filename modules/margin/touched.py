"""Which subaccounts a block's writes touched: a balance (bank) or a margin record (positions,
resting exposure). Liquidation re-checks them; anchor remembers their addresses."""

from __future__ import annotations

from typing import Iterable

from modules.bank.keys import balance_holder
from modules.margin.keys import record_holder
from modules.types import SubaccountId


def touched_subaccounts(written_keys: Iterable[bytes]) -> list[SubaccountId]:
    """Subaccounts whose balance or margin record is among `written_keys`, sorted."""
    found = set()
    for key in written_keys:
        holder = balance_holder(key) or record_holder(key)
        if holder is not None:
            found.add(holder)
    return sorted(found)


def touched_addresses(written_keys: Iterable[bytes]) -> set[bytes]:
    """Addresses whose claimable amount the writes may have changed."""
    return {s.address for s in touched_subaccounts(written_keys)}
