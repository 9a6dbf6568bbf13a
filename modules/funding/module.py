"""funding's declaration (modules/module.py): its step after the block's txs, its query."""

from __future__ import annotations

from modules.context import Event
from modules.funding import queries
from modules.funding.tick import funding_tick
from modules.module import Block, Module, Query


def _end_block(block: Block) -> list[Event]:
    keepers = block.keepers
    return funding_tick(keepers.funding, keepers.markets, keepers.oracle, block.books, keepers.ctx)


MODULE = Module("funding", end_block=_end_block, queries={("funding",): Query(1, queries.funding)})
