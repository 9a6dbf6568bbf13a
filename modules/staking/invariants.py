"""Checks that must hold after every block; each returns a message when broken, else None."""

from __future__ import annotations

from modules.bridge.keeper import BridgeKeeper
from modules.staking.keeper import StakingKeeper


def bonds_conserved(staking: StakingKeeper) -> str | None:
    """Every bond credited is a validator's bond, pending, or slashed into the insurance fund (less
    what a deposit halt's resume took back while pending)."""
    held = sum(v.bond_micro_usdc for v in staking.validators()) + sum(a for _, a in staking.pending_bonds())
    if held + staking.slashed_total() != staking.bonded_total():
        return (f"staking: bonds {held} + slashed {staking.slashed_total()} != {staking.bonded_total()} bonded "
                f"(off by {held + staking.slashed_total() - staking.bonded_total()})")
    return None


def bond_debits_match(staking: StakingKeeper) -> str | None:
    """Every micro-USDC slashed is debited to one bridge key (or unlisted), so the anchors lower the
    vault's bonds by what left the chain's."""
    debited = sum(total for _, total in staking.bond_debits()) + staking.bond_debits_unlisted()
    if debited != staking.slashed_total():
        return f"staking: bond debits {debited} != slashed total {staking.slashed_total()}"
    return None


def bridge_powers_follow(staking: StakingKeeper, bridge: BridgeKeeper) -> str | None:
    """The bridge gives each validator the power staking gave CometBFT, and slashing released no
    more bond money than it took."""
    for validator in staking.validators():
        member = bridge.validator(validator.consensus_address)
        if member is not None and member.power != validator.power:
            return (f"staking: validator 0x{validator.consensus_address.hex()} has power {validator.power}, "
                    f"the bridge gives it {member.power}")
    if bridge.bonds_released() != staking.slashed_total():
        return f"staking: {staking.slashed_total()} slashed but the bridge counts {bridge.bonds_released()} released"
    return None


def set_never_empty(staking: StakingKeeper) -> str | None:
    """CometBFT's set keeps some power: jailing defers what would empty it."""
    validators = list(staking.validators())
    if validators and sum(v.power for v in validators) == 0:
        return "staking: every validator has power 0"
    return None
