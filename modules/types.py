"""Records shared by every module: who owns collateral and positions."""

from __future__ import annotations

from dataclasses import dataclass

ADDRESS_BYTES = 20
MAX_SUBACCOUNT = 127


@dataclass(frozen=True, order=True)
class SubaccountId:
    """A subaccount `(address, number)`; the address's key signs for all 128 of them."""

    address: bytes
    number: int

    def __str__(self) -> str:
        return f"0x{self.address.hex()}/{self.number}"


def is_valid_subaccount(subaccount: SubaccountId) -> bool:
    return len(subaccount.address) == ADDRESS_BYTES and 0 <= subaccount.number <= MAX_SUBACCOUNT
