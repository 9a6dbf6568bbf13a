"""Records shared by every module: who owns collateral and positions."""

from __future__ import annotations

import hashlib
from typing import Final

ADDRESS_BYTES = 20
MAX_SUBACCOUNT = 127
BOND_SUBACCOUNT = 255  # a vault deposit to this subaccount is a validator's bond (Vault.bond), never a balance


class SubaccountId:
    """A subaccount `(address, number)`; the address's key signs for all 128 of them.

    A value: compared, hashed and ordered as the pair, never changed once built (`Final`: mypy
    refuses an assignment). Written out rather than a frozen dataclass, whose generated
    constructor and hash run as Python even in the compiled build (app/native.py), and every
    order builds, hashes and compares several."""

    def __init__(self, address: bytes, number: int) -> None:
        self.address: Final = address
        self.number: Final = number

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SubaccountId):
            return NotImplemented
        return self.number == other.number and self.address == other.address

    def __hash__(self) -> int:
        return hash((self.address, self.number))

    def __lt__(self, other: SubaccountId) -> bool:
        return (self.address, self.number) < (other.address, other.number)

    def __le__(self, other: SubaccountId) -> bool:
        return (self.address, self.number) <= (other.address, other.number)

    def __gt__(self, other: SubaccountId) -> bool:
        return (self.address, self.number) > (other.address, other.number)

    def __ge__(self, other: SubaccountId) -> bool:
        return (self.address, self.number) >= (other.address, other.number)

    def __repr__(self) -> str:
        return f"SubaccountId(address={self.address!r}, number={self.number!r})"

    def __reduce__(self) -> tuple[type[SubaccountId], tuple[bytes, int]]:
        """Pickled and copied through its constructor (a compiled class has no other way)."""
        return SubaccountId, (self.address, self.number)

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
