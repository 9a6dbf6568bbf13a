"""Routes each action of an admitted tx to the module that declared it (modules/registry.py), and
wires the keepers the handlers get, with the signature checks injected from app/."""

from __future__ import annotations

from typing import Any

from app.anchor_verify import VERIFIER as ANCHOR_VERIFIER
from app.ante import AdmittedTx
from app.bridge_verify import VERIFIER as BRIDGE_VERIFIER
from app.equivocation_verify import VERIFIER as EQUIVOCATION_VERIFIER
from modules.context import BlockContext, Event
from modules.keepers import Keepers, Verifiers
from modules.module import Route
from modules.orderbook.book import Books
from modules.registry import REGISTRY
from modules.store import KVStore

VERIFIERS = Verifiers(bridge=BRIDGE_VERIFIER, anchor=ANCHOR_VERIFIER, equivocation=EQUIVOCATION_VERIFIER)
_ROUTES = REGISTRY.routes


def keepers_over(store: KVStore, books: Books, ctx: BlockContext) -> Keepers:
    """Every keeper over `store`, with the app's verifiers."""
    return Keepers.over(store, books, ctx, VERIFIERS)


def _route(action: Any) -> Route:
    route = _ROUTES.get(type(action))
    if route is None:  # the codec only produces known actions; this guards a missing declaration
        raise TypeError(f"no route for action {type(action).__name__}")
    return route


def use_nonce(keepers: Keepers, admitted: AdmittedTx) -> None:
    """A tx whose signature and nonce are valid uses its nonce, whatever its actions do, so it can
    never be included twice (the caller writes this outside the actions' branch)."""
    keepers.auth.use_nonce(admitted.tx.account, admitted.tx.nonce, keepers.ctx.time_ms)


def needs_dry_run(admitted: AdmittedTx) -> bool:
    """Whether CheckTx runs the tx with the block's handlers too (an order's fate depends on the book)."""
    return any(_route(action).dry_run for action in admitted.tx.actions)


def execute_tx(keepers: Keepers, admitted: AdmittedTx) -> list[Event]:
    """Run every action in order (the nonce is used already); any error aborts the whole tx (the
    caller discards the keepers' store branch and rolls the books back)."""
    tx = admitted.tx
    actions = tx.actions
    events: list[Event] = []
    at = 0
    while at < len(actions):
        action = actions[at]
        route = _route(action)
        if route.deliver_run is None:
            events.extend(route.deliver(keepers, tx.account, action))
            at += 1
            continue
        end = at + 1
        while end < len(actions) and type(actions[end]) is type(action):
            end += 1
        events.extend(route.deliver_run(keepers, tx.account, actions[at:end]))
        at = end
    return events


def check_tx(keepers: Keepers, admitted: AdmittedTx) -> None:
    """The mempool's check on the check state, which keeps its effects for later txs: the nonce,
    and each action's check (the dry run, see Mempool.check_tx, runs the rest)."""
    use_nonce(keepers, admitted)
    tx = admitted.tx
    for action in tx.actions:
        _route(action).check(keepers, tx.account, action)
