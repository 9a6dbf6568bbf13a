"""markets' declaration (modules/module.py): its genesis markets, its query."""

from __future__ import annotations

from modules.markets import genesis, queries
from modules.markets.keeper import MarketsKeeper
from modules.module import KeeperSection, Module, Query

MODULE = Module(
    "markets",
    genesis=KeeperSection("markets", MarketsKeeper, genesis.validate_genesis, genesis.import_genesis,
                          genesis.export_genesis),
    queries={("markets",): Query(None, queries.markets)},
)
