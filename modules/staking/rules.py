"""staking's rules as functions over records: power, slash amounts, the signing window, and which
power changes a block may make.

Every division says which way it rounds: a slash rounds up (in the chain's favour), power rounds
down (a partial unit gives none), the signed share a window needs rounds up.
"""

from __future__ import annotations

from modules.staking.params import MAX_VALIDATOR_POWER, PPM, REPORTER_SHARE_BPS, StakingParams
from modules.staking.types import SigningWindow, StakingValidator


def bonded_power(bond_micro_usdc: int, params: StakingParams) -> int:
    """Whole power units the bond buys, at most MAX_VALIDATOR_POWER: bonds arrive unrefused from
    the vault, and a set past CometBFT's total power bound would halt the chain."""
    return min(bond_micro_usdc // params.power_unit_micro_usdc, MAX_VALIDATOR_POWER)


def due_power(validator: StakingValidator, params: StakingParams) -> int:
    """The power the validator should have: none while jailed, else what its bond buys."""
    return 0 if validator.jailed else bonded_power(validator.bond_micro_usdc, params)


def reporter_share(forfeited_micro_usdc: int) -> int:
    """What the vault pays whoever proves an equivocation there, rounded as the vault rounds (down):
    money the chain must not also count as its own."""
    return forfeited_micro_usdc * REPORTER_SHARE_BPS // 10_000


def slash_amount(bond_micro_usdc: int, slash_ppm: int) -> int:
    """`slash_ppm` of the bond, rounded up, never more than the bond."""
    return min(bond_micro_usdc, -(-bond_micro_usdc * slash_ppm // PPM))


def empty_window(params: StakingParams) -> SigningWindow:
    return SigningWindow(0, 0, params.downtime_window_blocks)


def record_vote(window: SigningWindow, slot_was_missed: bool, signed: bool) -> SigningWindow:
    """The window after one more commit took its next slot, which held `slot_was_missed` and now
    holds this commit's vote: the missed count follows."""
    return SigningWindow(window.counted + 1, window.missed - slot_was_missed + (not signed), window.size)


def min_signed_blocks(params: StakingParams) -> int:
    """Commits a validator must sign in a full window, rounded up."""
    return -(-params.downtime_window_blocks * params.downtime_min_signed_ppm // PPM)


def is_down(window: SigningWindow, params: StakingParams) -> bool:
    """A full window in which the validator signed fewer commits than the minimum."""
    return window.counted >= window.size and window.size - window.missed < min_signed_blocks(params)


def allowed_powers(changes: list[tuple[bytes, int, int]]) -> dict[bytes, int]:
    """Of the changes (consensus address, power now, power due) in address order, those a block
    sends to CometBFT: every increase, and decreases in address order while the power left of the
    set as it stands stays above 2/3 of its total. The set never empties, and no block moves a
    third of the power out at once (what a light client's trust in 1/3 of the old set needs); a
    deferred decrease goes out in a later block."""
    total = sum(now for _, now, _ in changes)
    remaining = total
    allowed: dict[bytes, int] = {}
    for address, now, due in changes:
        if due == now:
            continue
        if due > now:
            allowed[address] = due
            continue
        if 3 * (remaining - (now - due)) > 2 * total:
            remaining -= now - due
            allowed[address] = due
    return allowed
