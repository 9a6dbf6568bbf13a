"""bank's action handlers: validate, call the keeper, report events."""

from __future__ import annotations

from modules.bank.errors import InvalidSubaccount
from modules.bank.keeper import BankKeeper
from modules.bank.types import Transfer
from modules.context import Event
from modules.types import MAX_SUBACCOUNT, SubaccountId


def handle_transfer(bank: BankKeeper, signer: bytes, action: Transfer) -> list[Event]:
    if not 0 <= action.from_subaccount <= MAX_SUBACCOUNT:
        raise InvalidSubaccount(f"from_subaccount {action.from_subaccount} is outside 0..127")
    sender = SubaccountId(signer, action.from_subaccount)
    bank.transfer(sender, action.to, action.amount_micro_usdc)
    return [
        Event(
            "transfer",
            (
                ("sender", f"0x{signer.hex()}"),
                ("sender_subaccount", str(action.from_subaccount)),
                ("recipient", f"0x{action.to.address.hex()}"),
                ("recipient_subaccount", str(action.to.number)),
                ("amount_micro_usdc", str(action.amount_micro_usdc)),
            ),
        )
    ]
