"""bridge's declaration (modules/module.py): deposits, withdrawals and the validators' bridge
keys, its genesis configuration, its invariants, its queries. CheckTx runs every action in full on the check
state, so a duplicate claim or signature fails there as it would in the block."""

from __future__ import annotations

from modules.bridge import genesis, invariants, msg_server, queries
from modules.bridge.keeper import BridgeKeeper
from modules.bridge.types import ClaimDeposit, ResumeDeposits, SetBridgeKey, SignValset, SignWithdrawal, Withdraw
from modules.context import Event
from modules.keepers import Keepers
from modules.margin.collateral import require_free_collateral
from modules.module import Handler, Invariant, KeeperSection, Module, Query, Route, check_by_delivering
from modules.types import SubaccountId


def _claim(k: Keepers, signer: bytes, action: ClaimDeposit) -> list[Event]:
    return msg_server.handle_claim(k.bridge, k.bank, k.staking, k.ctx, signer, action)


def _withdraw(k: Keepers, signer: bytes, action: Withdraw) -> list[Event]:
    events = msg_server.handle_withdraw(k.bridge, k.bank, k.ctx, signer, action)
    require_free_collateral(SubaccountId(signer, action.subaccount), k.markets, k.bank, k.margin, k.oracle,
                            k.orderbook)
    return events


def _sign_withdrawal(k: Keepers, signer: bytes, action: SignWithdrawal) -> list[Event]:
    return msg_server.handle_sign_withdrawal(k.bridge, k.verifiers.bridge, signer, action)


def _set_bridge_key(k: Keepers, signer: bytes, action: SetBridgeKey) -> list[Event]:
    return msg_server.handle_set_bridge_key(k.bridge, k.verifiers.bridge, k.ctx.chain_id, signer, action)


def _sign_valset(k: Keepers, signer: bytes, action: SignValset) -> list[Event]:
    return msg_server.handle_sign_valset(k.bridge, k.verifiers.bridge, signer, action)


def _resume_deposits(k: Keepers, signer: bytes, action: ResumeDeposits) -> list[Event]:
    return msg_server.handle_resume_deposits(k.bridge, k.bank, k.staking, k.ctx, signer, action)


def _in_full(deliver: Handler) -> Route:
    return Route(deliver, check_by_delivering(deliver))


MODULE = Module(
    "bridge",
    routes={
        ClaimDeposit: _in_full(_claim),
        Withdraw: _in_full(_withdraw),
        SignWithdrawal: _in_full(_sign_withdrawal),
        SetBridgeKey: _in_full(_set_bridge_key),
        SignValset: _in_full(_sign_valset),
        ResumeDeposits: _in_full(_resume_deposits),
    },
    genesis=KeeperSection("bridge", BridgeKeeper, genesis.validate_genesis, genesis.import_genesis,
                          genesis.export_genesis),
    invariants=(
        Invariant("bridge/chain-claim-conserved",
                  lambda c: invariants.chain_claim_conserved(c.store, c.genesis_supply_micro_usdc)),
        Invariant("bridge/credited-deposits-attested",
                  lambda c: invariants.credited_deposits_attested(BridgeKeeper(c.store))),
        Invariant("bridge/withdrawals-queued-once", lambda c: invariants.withdrawals_queued_once(BridgeKeeper(c.store))),
        Invariant("bridge/deposit-halt-consistent", lambda c: invariants.deposit_halt_consistent(BridgeKeeper(c.store))),
    ),
    queries={("bridge",): Query(None, lambda q, args: queries.answer(q.store, args))},
)
