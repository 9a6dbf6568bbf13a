"""Routes each action of an admitted tx to the module that owns it."""

from __future__ import annotations

from modules.auth.keeper import AuthKeeper
from modules.bank.keeper import BankKeeper
from modules.bank.msg_server import handle_transfer
from modules.bank.types import Transfer
from modules.context import BlockContext, Event
from modules.store import KVStore

from app.ante import AdmittedTx


def execute_tx(store: KVStore, ctx: BlockContext, admitted: AdmittedTx) -> list[Event]:
    """Use the nonce, then run every action in order; any error aborts the whole tx."""
    tx = admitted.tx
    AuthKeeper(store).use_nonce(tx.account, tx.nonce, ctx.time_ms)
    bank = BankKeeper(store)
    events: list[Event] = []
    for action in tx.actions:
        if isinstance(action, Transfer):
            events.extend(handle_transfer(bank, tx.account, action))
        else:  # the codec only produces known actions; this guards a missing route
            raise TypeError(f"no route for action {type(action).__name__}")
    return events
