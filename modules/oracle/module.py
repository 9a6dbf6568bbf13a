"""oracle's declaration (modules/module.py): the block's new prices, from the validators'
observations in tx 0 (the app verifies and decodes them: app/oracle_votes.py); its query."""

from __future__ import annotations

from modules.context import Event
from modules.module import Block, Module, Query
from modules.oracle import queries
from modules.oracle.update import update_prices


def _begin_block(block: Block) -> list[Event]:
    keepers = block.keepers
    return update_prices(keepers.oracle, keepers.markets, keepers.ctx, block.observations)


MODULE = Module("oracle", begin_block=_begin_block, queries={("oracle",): Query(None, queries.oracle)})
