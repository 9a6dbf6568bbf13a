"""oracle's declaration (modules/module.py): the block's new prices, from the validators'
observations in tx 0 (the app verifies and decodes them: app/oracle_votes.py)."""

from __future__ import annotations

from modules.context import Event
from modules.module import Block, Module
from modules.oracle.update import update_prices


def _begin_block(block: Block) -> list[Event]:
    keepers = block.keepers
    return update_prices(keepers.oracle, keepers.markets, keepers.ctx, block.observations)


MODULE = Module("oracle", begin_block=_begin_block)
