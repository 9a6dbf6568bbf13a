"""bridge's records and actions. Addresses are 20 bytes; amounts micro-USDC integers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from modules.encoding import read_uint, u64, u128
from modules.types import SubaccountId

MAX_AMOUNT_MICRO_USDC = 2**127 - 1  # what a bank balance (i128) can hold


@dataclass(frozen=True)
class BridgeValidator:
    """A CometBFT validator as the bridge sees it: who operates it and which key signs for the vault."""

    consensus_address: bytes  # 20 bytes, CometBFT's sha256(pub_key)[:20]
    operator: bytes  # perpchain account that signs its claims and signatures
    eth_address: bytes  # its key in the vault's validator set
    power: int


@dataclass(frozen=True)
class BridgeParams:
    eth_chain_id: int
    vault: bytes  # 20-byte vault address, bound into every withdrawal digest


@dataclass(frozen=True)
class ClaimDeposit:
    """Action (validator operators): one Vault `Deposited` event as this validator saw it."""

    deposit_nonce: int
    eth_block: int
    eth_tx_hash: bytes
    sender: bytes
    recipient: bytes
    subaccount: int
    amount_micro_usdc: int

    def content_hash(self) -> bytes:
        """What validators must agree on: every field, fixed-width, in order."""
        return hashlib.sha256(encode_claim(self)).digest()

    @property
    def credited_to(self) -> SubaccountId:
        return SubaccountId(self.recipient, self.subaccount)


def encode_claim(claim: ClaimDeposit) -> bytes:
    return (u64(claim.deposit_nonce) + u64(claim.eth_block) + claim.eth_tx_hash + claim.sender + claim.recipient
            + bytes([claim.subaccount]) + u128(claim.amount_micro_usdc))


def decode_claim(raw: bytes) -> ClaimDeposit:
    return ClaimDeposit(read_uint(raw[0:8]), read_uint(raw[8:16]), raw[16:48], raw[48:68], raw[68:88], raw[88],
                        read_uint(raw[89:105]))


@dataclass(frozen=True)
class ResumeDeposits:
    """Action (validator operators): resume deposits after halt `halt_id`. Takes effect once
    operators of more than 2/3 of the bridge power sent it for that halt (docs/bridge.md)."""

    halt_id: int


@dataclass(frozen=True)
class DepositHalt:
    """Deposits halted at `height` because credited deposit `nonce` was disputed by validators
    holding more than 1/3 of the bridge power."""

    halt_id: int
    nonce: int
    height: int


@dataclass(frozen=True)
class Withdraw:
    """Action (anyone): debit `amount_micro_usdc` of the signer's subaccount and queue a payment
    from the vault to `eth_recipient`."""

    subaccount: int
    eth_recipient: bytes
    amount_micro_usdc: int


@dataclass(frozen=True)
class SignWithdrawal:
    """Action (validator operators): the validator's Ethereum signature over a withdrawal's digest."""

    withdrawal_id: int
    signature: bytes


@dataclass(frozen=True)
class SetBridgeKey:
    """Action (validator operators): rotate the validator's Ethereum key. `proof`: the new key's
    signature over the registration digest; `approval`: the current key's signature over the
    rotation digest (current key -> new key at `valset_nonce`, the valset nonce the rotation
    records, i.e. the chain's latest + 1). Both digests are in wire/vault.py."""

    eth_address: bytes
    proof: bytes
    valset_nonce: int
    approval: bytes


@dataclass(frozen=True)
class SignValset:
    """Action (validator operators): the validator's signature, by its key in set `valset_nonce - 1`
    (the set the vault holds), over the vault's digest of set `valset_nonce`."""

    valset_nonce: int
    signature: bytes


@dataclass(frozen=True)
class Valset:
    """The bridge validator set as the vault will hold it after `Vault.updateValset(..., nonce)`:
    the members in consensus-address order (the vault takes them sorted by Ethereum address)."""

    nonce: int
    members: tuple[BridgeValidator, ...]

    @property
    def total_power(self) -> int:
        return sum(member.power for member in self.members)

    def vault_order(self) -> tuple[list[bytes], list[int]]:
        """(Ethereum addresses ascending, their powers): Vault.updateValset's arguments."""
        ordered = sorted((m.eth_address, m.power) for m in self.members)
        return [address for address, _ in ordered], [power for _, power in ordered]

    def member(self, consensus_address: bytes) -> BridgeValidator | None:
        return next((m for m in self.members if m.consensus_address == consensus_address), None)


@dataclass(frozen=True)
class Withdrawal:
    """A queued withdrawal: the chain debited `owner`; the vault pays `recipient` once per id."""

    withdrawal_id: int
    owner: SubaccountId
    recipient: bytes
    amount_micro_usdc: int
    height: int
