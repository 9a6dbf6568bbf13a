"""bank's declaration (modules/module.py): transfers, its genesis balances, its invariants, its queries."""

from __future__ import annotations

from modules.bank import genesis, invariants, queries
from modules.bank.keeper import BankKeeper
from modules.bank.msg_server import handle_transfer
from modules.bank.types import Transfer
from modules.context import Event
from modules.keepers import Keepers
from modules.margin.collateral import require_free_collateral
from modules.module import Invariant, KeeperSection, Module, Query, Route, check_by_delivering
from modules.types import SubaccountId


def _transfer(k: Keepers, signer: bytes, action: Transfer) -> list[Event]:
    events = handle_transfer(k.bank, signer, action)
    require_free_collateral(SubaccountId(signer, action.from_subaccount), k.markets, k.bank, k.margin, k.oracle,
                            k.orderbook)
    return events


MODULE = Module(
    "bank",
    routes={Transfer: Route(_transfer, check_by_delivering(_transfer))},
    genesis=KeeperSection("bank", BankKeeper, genesis.validate_genesis, genesis.import_genesis,
                          genesis.export_genesis),
    invariants=(
        Invariant("bank/supply-matches-balances", lambda c: invariants.supply_matches_balances(BankKeeper(c.store))),
        Invariant("bank/no-negative-balance", lambda c: invariants.no_negative_balance(BankKeeper(c.store))),
    ),
    queries={
        ("bank", "balance"): Query(2, queries.balance),
        ("bank", "balances"): Query(1, queries.balances),
        ("bank", "supply"): Query(0, queries.supply),
    },
)
