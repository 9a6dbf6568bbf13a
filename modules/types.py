"""Records shared by every module: who owns collateral and positions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

ADDRESS_BYTES = 20
MAX_SUBACCOUNT = 127
BOND_SUBACCOUNT = 255  # a vault deposit to this subaccount is a validator's bond (Vault.bond), never a balance


@dataclass(frozen=True, order=True)
class SubaccountId:
    """A subaccount `(address, number)`; the address's key signs for all 128 of them."""

    address: bytes
    number: int

    def __str__(self) -> str:
        return f"0x{self.address.hex()}/{self.number}"

    @classmethod
    def from_text(cls, text: str) -> SubaccountId:
        """The subaccount `str()` wrote, `0x<address hex>/<number>` (as events carry it)."""
        address, _, number = text.partition("/")
        return cls(bytes.fromhex(address[2:]), int(number))


def is_valid_subaccount(subaccount: SubaccountId) -> bool:
    return len(subaccount.address) == ADDRESS_BYTES and 0 <= subaccount.number <= MAX_SUBACCOUNT


def module_subaccount(name: str) -> SubaccountId:
    """The subaccount a module keeps collateral in (fee pool, insurance fund). Its address is a
    hash of the name, so no key signs for it: only the owning module's code moves it."""
    return SubaccountId(hashlib.sha256(b"perpchain module " + name.encode()).digest()[:ADDRESS_BYTES], 0)


FEE_POOL = module_subaccount("fee_pool")
INSURANCE_FUND = module_subaccount("insurance_fund")
