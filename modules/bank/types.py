"""bank's records and actions."""

from __future__ import annotations

from dataclasses import dataclass

from modules.types import SubaccountId


@dataclass(frozen=True)
class Transfer:
    """Action: move `amount_micro_usdc` from one of the signer's subaccounts to any subaccount."""

    from_subaccount: int
    to: SubaccountId
    amount_micro_usdc: int


@dataclass(frozen=True)
class Balance:
    subaccount: SubaccountId
    amount_micro_usdc: int
