"""Checks that must hold after every block; each returns a message when broken, else None."""

from __future__ import annotations

from modules.bridge.keeper import BridgeKeeper
from modules.staking.keeper import StakingKeeper
from modules.staking.params import MAX_UNBONDING_ENTRIES


def bonds_conserved(staking: StakingKeeper) -> str | None:
    """Every bond credited is a validator's bond, pending, unbonding, slashed into the insurance fund
    or released to its operator (less what a deposit halt's resume took back)."""
    held = (sum(v.bond_micro_usdc for v in staking.validators()) + sum(a for _, a in staking.pending_bonds())
            + sum(e.amount_micro_usdc for e in staking.all_unbonding_entries()))
    gone = staking.slashed_total() + staking.unbonded_total()
    if held + gone != staking.bonded_total():
        return (f"staking: bonds {held} + slashed {staking.slashed_total()} + unbonded {staking.unbonded_total()} "
                f"!= {staking.bonded_total()} bonded (off by {held + gone - staking.bonded_total()})")
    return None


def unbonding_bounded(staking: StakingKeeper) -> str | None:
    """No validator has more than MAX_UNBONDING_ENTRIES entries, and none is empty."""
    counts: dict[bytes, int] = {}
    for entry in staking.all_unbonding_entries():
        if entry.amount_micro_usdc == 0:
            return f"staking: unbonding entry {entry.entry_id} holds nothing"
        counts[entry.consensus_address] = counts.get(entry.consensus_address, 0) + 1
    over = [address for address, count in counts.items() if count > MAX_UNBONDING_ENTRIES]
    if over:
        return f"staking: validator 0x{over[0].hex()} has {counts[over[0]]} unbonding entries"
    return None


def bond_debits_match(staking: StakingKeeper) -> str | None:
    """Every micro-USDC that left a bond (slashed or released from unbonding) is debited to one
    bridge key (or unlisted), so the anchors lower the vault's bonds by what left the chain's."""
    debited = sum(total for _, total in staking.bond_debits()) + staking.bond_debits_unlisted()
    taken = staking.slashed_total() + staking.unbonded_total()
    if debited != taken:
        return (f"staking: bond debits {debited} != slashed {staking.slashed_total()} + unbonded "
                f"{staking.unbonded_total()}")
    return None


def bridge_powers_follow(staking: StakingKeeper, bridge: BridgeKeeper) -> str | None:
    """The bridge gives each validator the power staking gave CometBFT, and the bridge counts as
    released exactly what slashing and unbonding moved onto the chain's ledger (what they took out of
    bonds, less the reporter shares the vault pays)."""
    for validator in staking.validators():
        member = bridge.validator(validator.consensus_address)
        if member is not None and member.power != validator.power:
            return (f"staking: validator 0x{validator.consensus_address.hex()} has power {validator.power}, "
                    f"the bridge gives it {member.power}")
    credited = staking.slashed_total() + staking.unbonded_total() - staking.withheld_total()
    if bridge.bonds_released() != credited:
        return (f"staking: {staking.slashed_total()} slashed + {staking.unbonded_total()} unbonded - "
                f"{staking.withheld_total()} withheld for reporters, but the bridge counts {bridge.bonds_released()} released")
    return None


def set_never_empty(staking: StakingKeeper) -> str | None:
    """CometBFT's set keeps some power: jailing defers what would empty it."""
    validators = list(staking.validators())
    if validators and sum(v.power for v in validators) == 0:
        return "staking: every validator has power 0"
    return None
