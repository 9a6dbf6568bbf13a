"""bank's keeper: the only code that changes balances."""

from __future__ import annotations

from typing import Iterator

from modules.bank.errors import InsufficientBalance, InvalidAmount, InvalidSubaccount, SelfTransfer
from modules.bank.keys import BALANCE, STORE_PREFIX, SUPPLY, balance_key, subaccount_from_balance_key
from modules.bank.types import Balance
from modules.encoding import i128, read_i128
from modules.store import KVStore, PrefixStore, prefix_end
from modules.types import SubaccountId, is_valid_subaccount


class BankKeeper:
    def __init__(self, store: KVStore) -> None:
        self._store = PrefixStore(store, STORE_PREFIX)

    def balance(self, subaccount: SubaccountId) -> int:
        raw = self._store.get(balance_key(subaccount))
        return read_i128(raw) if raw is not None else 0

    def supply(self) -> int:
        raw = self._store.get(SUPPLY)
        return read_i128(raw) if raw is not None else 0

    def balances(self) -> Iterator[Balance]:
        """Every non-zero balance, in key order (address, then number)."""
        for key, value in self._store.iterate(BALANCE, prefix_end(BALANCE)):
            yield Balance(subaccount_from_balance_key(key), read_i128(value))

    def balances_of(self, address: bytes) -> Iterator[Balance]:
        """The address's non-zero balances, in subaccount order."""
        start = BALANCE + address
        for key, value in self._store.iterate(start, prefix_end(start)):
            yield Balance(subaccount_from_balance_key(key), read_i128(value))

    def transfer(self, sender: SubaccountId, recipient: SubaccountId, amount_micro_usdc: int) -> None:
        for subaccount in (sender, recipient):
            if not is_valid_subaccount(subaccount):
                raise InvalidSubaccount(f"subaccount {subaccount.number} is outside 0..127")
        if amount_micro_usdc <= 0:
            raise InvalidAmount(f"amount must be positive, got {amount_micro_usdc}")
        if sender == recipient:
            raise SelfTransfer(f"{sender} cannot transfer to itself")
        available = self.balance(sender)
        if available < amount_micro_usdc:
            raise InsufficientBalance(
                f"{sender} holds {available} micro-USDC, {amount_micro_usdc} needed"
            )
        self._set_balance(sender, available - amount_micro_usdc)
        self._set_balance(recipient, self.balance(recipient) + amount_micro_usdc)

    def mint(self, subaccount: SubaccountId, amount_micro_usdc: int) -> None:
        """Create collateral: genesis faucet now, credited bridge deposits later."""
        if not is_valid_subaccount(subaccount):
            raise InvalidSubaccount(f"subaccount {subaccount.number} is outside 0..127")
        if amount_micro_usdc <= 0:
            raise InvalidAmount(f"amount must be positive, got {amount_micro_usdc}")
        self._set_balance(subaccount, self.balance(subaccount) + amount_micro_usdc)
        self._store.set(SUPPLY, i128(self.supply() + amount_micro_usdc))

    def settle(self, subaccount: SubaccountId, delta_micro_usdc: int) -> None:
        """Add a signed amount (realized PnL, a fee): a debit beyond the balance is refused."""
        available = self.balance(subaccount)
        if available + delta_micro_usdc < 0:
            raise InsufficientBalance(f"{subaccount} holds {available} micro-USDC, {-delta_micro_usdc} needed")
        self._set_balance(subaccount, available + delta_micro_usdc)
        self._store.set(SUPPLY, i128(self.supply() + delta_micro_usdc))

    def _set_balance(self, subaccount: SubaccountId, amount_micro_usdc: int) -> None:
        if amount_micro_usdc == 0:
            self._store.delete(balance_key(subaccount))
        else:
            self._store.set(balance_key(subaccount), i128(amount_micro_usdc))
