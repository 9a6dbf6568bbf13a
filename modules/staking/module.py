"""staking's declaration (modules/module.py): the Unjail, Unbond and equivocation-report actions,
its genesis section, its invariants, its step before the block's txs (CometBFT's set, evidence,
downtime) and after them (unbondings released, bonds joined, powers to CometBFT and the bridge),
its queries."""

from __future__ import annotations

from modules.bridge import msg_server as bridge_msg_server
from modules.bridge.keeper import BridgeKeeper
from modules.context import Event
from modules.keepers import Keepers
from modules.module import Block, Invariant, KeeperSection, Module, Query, Route, check_by_delivering
from modules.staking import genesis, invariants, msg_server, queries
from modules.staking.keeper import StakingKeeper
from modules.staking.types import ReportAnchorEquivocation, ReportWithdrawalEquivocation, Unbond, Unjail


def _unjail(k: Keepers, signer: bytes, action: Unjail) -> list[Event]:
    return msg_server.handle_unjail(k.staking, k.ctx, signer, action)


def _unbond(k: Keepers, signer: bytes, action: Unbond) -> list[Event]:
    return msg_server.handle_unbond(k.staking, k.ctx, signer, action)


def _report_anchors(k: Keepers, signer: bytes, action: ReportAnchorEquivocation) -> list[Event]:
    return msg_server.handle_report_anchor_equivocation(k.staking, k.bank, k.bridge, k.verifiers.equivocation,
                                                        k.ctx, signer, action)


def _report_withdrawals(k: Keepers, signer: bytes, action: ReportWithdrawalEquivocation) -> list[Event]:
    return msg_server.handle_report_withdrawal_equivocation(k.staking, k.bank, k.bridge, k.verifiers.equivocation,
                                                            k.ctx, signer, action)


def _begin_block(block: Block) -> list[Event]:
    k = block.keepers
    msg_server.apply_consensus_updates(k.staking, k.oracle, k.ctx.height)
    return (msg_server.handle_evidence(k.staking, k.bank, k.bridge, k.ctx, block.misbehavior)
            + msg_server.handle_downtime(k.staking, k.bank, k.bridge, k.ctx, block.commit_votes))


def _end_block(block: Block) -> list[Event]:
    k = block.keepers
    events = (msg_server.release_unbondings(k.staking, k.bank, k.bridge, k.ctx)
              + msg_server.join_pending_bonds(k.staking, k.bridge))
    updates, changed = msg_server.update_powers(k.staking, k.bridge, k.ctx)
    block.validator_updates.extend(updates)
    if any(event.type == "valset_recorded" for event in changed):
        changed += bridge_msg_server.powers_changed(k.bridge, k.bank, k.staking, k.ctx)
    return events + changed


MODULE = Module(
    "staking",
    routes={Unjail: Route(_unjail, check_by_delivering(_unjail)),
            Unbond: Route(_unbond, check_by_delivering(_unbond)),
            ReportAnchorEquivocation: Route(_report_anchors, check_by_delivering(_report_anchors)),
            ReportWithdrawalEquivocation: Route(_report_withdrawals, check_by_delivering(_report_withdrawals))},
    genesis=KeeperSection("staking", StakingKeeper, genesis.validate_genesis, genesis.import_genesis,
                          genesis.export_genesis),
    invariants=(
        Invariant("staking/bonds-conserved", lambda c: invariants.bonds_conserved(StakingKeeper(c.store))),
        Invariant("staking/bond-debits-match", lambda c: invariants.bond_debits_match(StakingKeeper(c.store))),
        Invariant("staking/bridge-powers-follow",
                  lambda c: invariants.bridge_powers_follow(StakingKeeper(c.store), BridgeKeeper(c.store))),
        Invariant("staking/set-never-empty", lambda c: invariants.set_never_empty(StakingKeeper(c.store))),
        Invariant("staking/unbonding-bounded", lambda c: invariants.unbonding_bounded(StakingKeeper(c.store))),
    ),
    begin_block=_begin_block,
    end_block=_end_block,
    queries={("staking",): Query(None, queries.staking)},
)
