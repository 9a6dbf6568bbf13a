"""Every module's invariants in one registry, run against the committed state after each block.

Each check lives in its module's `invariants.py` and returns a message when broken; this file only
gathers them with what they need. Order is fixed, so the first broken one reported is the same on
every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from modules.bank import invariants as bank
from modules.bank.keeper import BankKeeper
from modules.bridge import invariants as bridge
from modules.bridge.keeper import BridgeKeeper
from modules.liquidation import invariants as liquidation
from modules.margin import invariants as margin
from modules.margin.keeper import MarginKeeper
from modules.markets.keeper import MarketsKeeper
from modules.orderbook import invariants as orderbook
from modules.orderbook.book import Books
from modules.store import KVStore


@dataclass(frozen=True)
class InvariantContext:
    store: KVStore
    books: Books
    genesis_supply_micro_usdc: int


@dataclass(frozen=True)
class Invariant:
    name: str
    check: Callable[[InvariantContext], str | None]


INVARIANTS: tuple[Invariant, ...] = (
    Invariant("bank/supply-matches-balances", lambda c: bank.supply_matches_balances(BankKeeper(c.store))),
    Invariant("bank/no-negative-balance", lambda c: bank.no_negative_balance(BankKeeper(c.store))),
    Invariant("bridge/chain-claim-conserved",
              lambda c: bridge.chain_claim_conserved(c.store, c.genesis_supply_micro_usdc)),
    Invariant("margin/positions-sum-to-zero", lambda c: margin.positions_sum_to_zero(MarginKeeper(c.store))),
    Invariant("margin/open-interest-counted",
              lambda c: margin.open_interest_matches_positions(MarginKeeper(c.store), MarketsKeeper(c.store))),
    Invariant("margin/open-interest-within-caps",
              lambda c: margin.open_interest_within_caps(MarginKeeper(c.store), MarketsKeeper(c.store))),
    Invariant("liquidation/no-negative-equity", lambda c: liquidation.no_negative_equity(c.store)),
    Invariant("orderbook/books-sound", lambda c: orderbook.books_sound(c.books)),
    Invariant("orderbook/books-match-store", lambda c: orderbook.books_match_store(c.store, c.books)),
    Invariant("orderbook/orders-have-owners", lambda c: orderbook.resting_orders_have_owners(c.store, c.books)),
    Invariant("orderbook/exposure-matches-orders", lambda c: orderbook.exposure_matches_orders(c.store, c.books)),
    Invariant("bridge/credited-deposits-attested", lambda c: bridge.credited_deposits_attested(BridgeKeeper(c.store))),
    Invariant("bridge/withdrawals-queued-once", lambda c: bridge.withdrawals_queued_once(BridgeKeeper(c.store))),
    Invariant("bridge/deposit-halt-consistent", lambda c: bridge.deposit_halt_consistent(BridgeKeeper(c.store))),
)


def first_broken(ctx: InvariantContext, invariants: tuple[Invariant, ...] = INVARIANTS) -> tuple[str, str] | None:
    """(name, message) of the first broken invariant, or None."""
    for invariant in invariants:
        message = invariant.check(ctx)
        if message is not None:
            return invariant.name, message
    return None
