"""Every module's keeper over one store, wired once: the app builds a set per block (and one for
the mempool's check state) and hands it to every handler and block hook, so no tx wires them.

This is the one place that knows which keeper a keeper is given (Cosmos' app.go): a module's
keeper takes the others through its expected_keepers.py and never builds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from modules.anchor.expected_keepers import AnchorSignatureVerifier
from modules.anchor.keeper import AnchorKeeper
from modules.auth.keeper import AuthKeeper
from modules.bank.keeper import BankKeeper
from modules.bridge.expected_keepers import SignatureVerifier
from modules.bridge.keeper import BridgeKeeper
from modules.context import BlockContext
from modules.funding.keeper import FundingKeeper
from modules.margin.keeper import MarginKeeper
from modules.markets.keeper import MarketsKeeper
from modules.oracle.keeper import OracleKeeper
from modules.orderbook.book import Books
from modules.orderbook.keeper import OrderbookKeeper
from modules.staking.expected_keepers import EquivocationVerifier
from modules.staking.keeper import StakingKeeper
from modules.store import KVStore


@dataclass(frozen=True)
class Verifiers:
    """The signature checks the app injects: secp256k1 recovery and the EIP-712 digests live
    outside modules/ (app/bridge_verify.py, app/anchor_verify.py, app/equivocation_verify.py)."""

    bridge: SignatureVerifier
    anchor: AnchorSignatureVerifier
    equivocation: EquivocationVerifier


@dataclass(frozen=True, slots=True)
class Keepers:
    """The keepers over `store`, for the block `ctx`. Their caches (markets, oracle prices,
    funding states, params) hold what no tx changes, so one set serves every tx of a block."""

    store: KVStore
    ctx: BlockContext
    verifiers: Verifiers
    auth: AuthKeeper
    bank: BankKeeper
    markets: MarketsKeeper
    oracle: OracleKeeper
    funding: FundingKeeper
    margin: MarginKeeper
    orderbook: OrderbookKeeper
    bridge: BridgeKeeper
    anchor: AnchorKeeper
    staking: StakingKeeper

    @classmethod
    def over(cls, store: KVStore, books: Books, ctx: BlockContext, verifiers: Verifiers) -> Keepers:
        bank, markets, oracle = BankKeeper(store), MarketsKeeper(store), OracleKeeper(store)
        funding, margin = FundingKeeper(store), MarginKeeper(store)
        orderbook = OrderbookKeeper(store, books, ctx, markets=markets, margin=margin, bank=bank, oracle=oracle,
                                    funding=funding)
        return cls(store, ctx, verifiers, AuthKeeper(store), bank, markets, oracle, funding, margin, orderbook,
                   BridgeKeeper(store), AnchorKeeper(store), StakingKeeper(store))


def orderbook_keeper(store: KVStore, books: Books, ctx: BlockContext) -> OrderbookKeeper:
    """An orderbook keeper wired to keepers of its own over `store`, for reading outside a block
    (queries, invariant checks)."""
    return OrderbookKeeper(store, books, ctx, markets=MarketsKeeper(store), margin=MarginKeeper(store),
                           bank=BankKeeper(store), oracle=OracleKeeper(store), funding=FundingKeeper(store))


Branching = Callable[[], tuple[Keepers, Callable[[], None]]]
"""`branching()` -> (keepers over a new branch of the block's store, write): the branch is kept
only if `write()` is called (a block step tries each item on its own branch)."""
