"""anchor's declaration (modules/module.py): validators' anchor signatures, its genesis interval,
the anchor step first in the block after an anchor height, and last in every block the
addresses it wrote, for the next anchor; its queries (exit proofs from the node's tree)."""

from __future__ import annotations

from modules.anchor import genesis, queries
from modules.anchor.keeper import AnchorKeeper
from modules.anchor.msg_server import handle_sign_anchor, mark_written
from modules.anchor.types import SignAnchor
from modules.context import Event
from modules.keepers import Keepers
from modules.margin.touched import touched_addresses
from modules.module import Block, KeeperSection, Module, Query, Route, check_by_delivering


def _sign_anchor(k: Keepers, signer: bytes, action: SignAnchor) -> list[Event]:
    return handle_sign_anchor(k.anchor, k.bridge, k.verifiers.anchor, signer, action)


def _begin_block(block: Block) -> list[Event]:
    k = block.keepers
    return block.anchors.begin_block(k.store, k.ctx, block.committed, k.staking)


def _end_block(block: Block) -> list[Event]:
    mark_written(block.keepers.store, block.keepers.ctx.height, touched_addresses(block.writes))
    return []


MODULE = Module(
    "anchor",
    routes={SignAnchor: Route(_sign_anchor, check_by_delivering(_sign_anchor))},
    genesis=KeeperSection("anchor", AnchorKeeper, genesis.validate_genesis, genesis.import_genesis,
                          genesis.export_genesis),
    begin_block=_begin_block,
    end_block=_end_block,
    queries={("anchor",): Query(None, lambda q, args: queries.answer(q.store, q.anchors.keccak, args,
                                                                     q.anchors.tree))},
)
