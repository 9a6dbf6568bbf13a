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
    """The head of a validator's sliding window of the last `size` commits: the commit counted at
    index i takes slot i mod `size`, whose missed bit the keeper stores in chunks apart from the
    head (modules/staking/keys.py), so a validator that keeps signing rewrites only this head."""

    counted: int  # commits counted since the window (re)started
    missed: int  # missed bits set in the window
    size: int  # downtime_window_blocks when the window started

    @property
    def next_slot(self) -> int:
        """The slot the next commit counted takes (the oldest, once the window is full)."""
        return self.counted % self.size


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


@dataclass(frozen=True)
class Unbond:
    """Action (validator operators): move `amount_micro_usdc` of the operator's validator's bond
    into an unbonding entry, released to the operator's subaccount 0 after unbonding_period_blocks."""

    amount_micro_usdc: int


@dataclass(frozen=True)
class UnbondingEntry:
    """Bond money on its way out: still slashable until `mature_height`, then released."""

    entry_id: int  # the chain's, in creation order
    consensus_address: bytes
    amount_micro_usdc: int
    created_height: int
    mature_height: int


@dataclass(frozen=True)
class SignedAnchor:
    """One anchor record as the vault's `AnchorRecord` (the signed members only) and a bridge key's
    signature over its EIP-712 digest (wire/anchor.py)."""

    anchor_nonce: int
    chain_id: str
    height: int
    app_hash: bytes
    balances_root: bytes
    total_claimable_micro_usdc: int
    deposit_nonce: int
    withdrawal_id: int
    withdrawn_total_micro_usdc: int
    bond_debits_hash: bytes
    signature: bytes


@dataclass(frozen=True)
class SignedWithdrawalTerms:
    """One (recipient, amount) of a withdrawal and a bridge key's signature over its EIP-712 digest
    (wire/vault.withdrawal_digest)."""

    recipient: bytes
    amount_micro_usdc: int
    signature: bytes


@dataclass(frozen=True)
class ReportAnchorEquivocation:
    """Action (anyone): two different anchors with one nonce signed by one bridge key, the pair the
    vault's proveAnchorEquivocation takes."""

    a: SignedAnchor
    b: SignedAnchor


@dataclass(frozen=True)
class ReportWithdrawalEquivocation:
    """Action (anyone): two different withdrawals with one id signed by one bridge key, the pair the
    vault's proveWithdrawalEquivocation takes."""

    withdrawal_id: int
    a: SignedWithdrawalTerms
    b: SignedWithdrawalTerms
