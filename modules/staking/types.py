"""staking's records and its action. Addresses are 20 bytes; amounts micro-USDC integers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


@dataclass(frozen=True)
class StakingValidator:
    """A validator's bond and standing. `power` is the power last sent to CometBFT (0: out of its
    set); `jailed_until_height` is when its operator may unjail it."""

    consensus_address: bytes  # 20 bytes, CometBFT's sha256(pub_key)[:20]
    pub_key: bytes  # ed25519, 32 bytes: what a validator update names
    operator: bytes  # the perpchain account that may unjail it
    bond_micro_usdc: int
    power: int
    jailed: bool = False
    jailed_until_height: int = 0
    tombstoned: bool = False
    slashed_micro_usdc: int = 0  # total ever


@dataclass(frozen=True)
class SigningWindow:
    """A validator's sliding window of the last `downtime_window_blocks` commits: bit i of `bitmap`
    is set when the commit counted at index i (mod the window) missed its vote."""

    counted: int  # commits counted since the window (re)started
    missed: int  # set bits in the bitmap
    bitmap: bytes


class MisbehaviorKind(IntEnum):
    """CometBFT's MisbehaviorType."""

    DUPLICATE_VOTE = 1
    LIGHT_CLIENT_ATTACK = 2


@dataclass(frozen=True)
class Misbehavior:
    """Evidence CometBFT committed against a validator (FinalizeBlock's `misbehavior`)."""

    kind: int
    consensus_address: bytes
    height: int


@dataclass(frozen=True)
class CommitVote:
    """One validator's entry in the block's last commit (FinalizeBlock's `decided_last_commit`):
    `signed` unless its block_id_flag is ABSENT (a nil vote is a vote)."""

    consensus_address: bytes
    signed: bool


@dataclass(frozen=True)
class ValidatorUpdate:
    """A power change for CometBFT (0 removes the validator from its set)."""

    pub_key: bytes
    power: int


@dataclass(frozen=True)
class Unjail:
    """Action (validator operators): bring the operator's jailed validator back after its cool-down."""
