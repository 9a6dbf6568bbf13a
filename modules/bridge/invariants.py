"""Checks that must hold after every block; each returns a message when broken, else None."""

from __future__ import annotations

from modules.bridge.keeper import BridgeKeeper, supermajority
from modules.bridge.msg_server import resume_power
from modules.bridge.queries import solvency
from modules.store import KVStore
from modules.types import BOND_SUBACCOUNT


def credited_deposits_attested(bridge: BridgeKeeper) -> str | None:
    """Every credited deposit was claimed with that exact content by more than 2/3 of the power of
    the valset in force when it was credited (powers change with bonds and jailing), and deposits
    are credited in nonce order with no gap."""
    for nonce in range(1, bridge.next_deposit_nonce()):
        credited, valset_nonce = bridge.credited(nonce), bridge.credited_valset(nonce)
        valset = bridge.valset(valset_nonce) if valset_nonce is not None else None
        if credited is None or valset is None:
            return f"bridge: deposit {nonce} is below the next nonce {bridge.next_deposit_nonce()} but not credited"
        content_hash, _ = credited
        total, power = valset.total_power, 0
        for consensus_address, claimed in bridge.claims(nonce):
            member = valset.member(consensus_address)
            if claimed == content_hash and member is not None:
                power += member.power
        if not supermajority(power, total):
            return f"bridge: deposit {nonce} was credited with {power} of {total} power attesting its content"
    return None


def withdrawals_queued_once(bridge: BridgeKeeper) -> str | None:
    """Withdrawal ids run 1..next-1 with no gap, and their amounts add up to the total debited."""
    total = 0
    for withdrawal_id in range(1, bridge.next_withdrawal_id()):
        withdrawal = bridge.withdrawal(withdrawal_id)
        if withdrawal is None:
            return f"bridge: withdrawal {withdrawal_id} is missing below the next id {bridge.next_withdrawal_id()}"
        total += withdrawal.amount_micro_usdc
    if total != bridge.withdrawn_total():
        return f"bridge: withdrawals add up to {total} but {bridge.withdrawn_total()} was debited"
    return None


def chain_claim_conserved(store: KVStore, genesis_supply_micro_usdc: int) -> str | None:
    """Trading, fees, funding and liquidation only move value: the chain's claim on the vault (the
    solvency query's Σ balances − Σ position costs + funding pool) changes only by what the bridge
    brought in or took out: genesis supply + credited deposits − queued withdrawals, plus the
    shortfall (credits later corrected that no balance was left to take back), plus the bonds
    slashed into the insurance fund (vault money that was a bond; bonds themselves are no claim)."""
    claim = solvency(store)
    bridge = BridgeKeeper(store)
    expected = (genesis_supply_micro_usdc + credited_total(bridge) - bridge.withdrawn_total() + bridge.shortfall()
                + bridge.bonds_released())
    total = int(claim["chain_claim_micro_usdc"])
    if total != expected:
        return (f"bridge: balances {claim['balances_micro_usdc']} - position costs {claim['position_costs_micro_usdc']} "
                f"+ funding pool {claim['funding_pool_micro_usdc']} = {total} micro-USDC, but genesis and the bridge "
                f"account for {expected} (off by {total - expected})")
    return None


def deposit_halt_consistent(bridge: BridgeKeeper) -> str | None:
    """A halt names a credited nonce and the latest halt id; every dispute is of a credited nonce;
    no resume of the current halt has more than 2/3 of the power (it would have applied)."""
    total = bridge.total_power()
    for nonce in bridge.disputed_nonces():
        if bridge.credited(nonce) is None:
            return f"bridge: deposit {nonce} is disputed but not credited"
    halt = bridge.deposit_halt()
    if halt is None:
        return None
    if bridge.credited(halt.nonce) is None or halt.halt_id != bridge.last_halt_id():
        return f"bridge: halt {halt.halt_id} names deposit {halt.nonce}, not credited or not the latest halt"
    power = resume_power(bridge, halt.halt_id)
    if supermajority(power, total):
        return f"bridge: halt {halt.halt_id} is still in place with {power} of {total} power resuming it"
    return None


def credited_total(bridge: BridgeKeeper) -> int:
    """micro-USDC minted by credited deposits (bonds, subaccount BOND_SUBACCOUNT, are no balance)."""
    amount = 0
    for nonce in range(1, bridge.next_deposit_nonce()):
        credited = bridge.credited(nonce)
        if credited is not None:
            claim = bridge.claim_content(nonce, credited[0])
            amount += claim.amount_micro_usdc if claim is not None and claim.subaccount != BOND_SUBACCOUNT else 0
    return amount
