"""liquidation's declaration (modules/module.py): its genesis params, its invariant, its step
after the block's txs and funding, its queries."""

from __future__ import annotations

from modules.context import Event
from modules.liquidation import genesis, invariants, queries
from modules.liquidation.engine import liquidation_step
from modules.margin.touched import touched_subaccounts
from modules.module import Block, Invariant, Module, Query


def _end_block(block: Block) -> list[Event]:
    funding_ticked = any(event.type == "funding_rate" for event in block.events)
    return liquidation_step(block.branching, block.books, block.keepers.ctx, touched_subaccounts(block.writes),
                            funding_ticked)


MODULE = Module(
    "liquidation",
    genesis=genesis.SECTION,
    invariants=(Invariant("liquidation/no-negative-equity", lambda c: invariants.no_negative_equity(c.store)),),
    end_block=_end_block,
    queries={("liquidation",): Query(None, queries.liquidation)},
)
