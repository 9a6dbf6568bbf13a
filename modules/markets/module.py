"""markets' declaration (modules/module.py): its genesis markets."""

from __future__ import annotations

from modules.markets import genesis
from modules.markets.keeper import MarketsKeeper
from modules.module import KeeperSection, Module

MODULE = Module(
    "markets",
    genesis=KeeperSection("markets", MarketsKeeper, genesis.validate_genesis, genesis.import_genesis,
                          genesis.export_genesis),
)
