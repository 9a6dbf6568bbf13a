"""anchor's records and its one action. Addresses 20 bytes, hashes 32, amounts micro-USDC."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from modules.encoding import read_uint, u32, u64, u256

BondDebit = tuple[bytes, int]
"""(a validator's bridge key, micro-USDC ever taken from its bond in the vault): Vault.BondDebit."""


@dataclass(frozen=True)
class AnchorParams:
    interval_blocks: int  # an anchor commits to every height that is a multiple of this


@dataclass(frozen=True)
class AnchorRecord:
    """What validators sign and the vault keeps: the claimable balances at `height` (its state
    after that block, its app hash), and the bridge counters that split deposits and withdrawals
    into before and after it."""

    nonce: int  # 1, 2, 3, ...: the vault takes only a nonce above the one it holds
    chain_id: str
    height: int  # the committed height the root describes
    app_hash: bytes  # that height's app hash
    balances_root: bytes
    total_claimable_micro_usdc: int  # the sum of the leaves
    deposit_nonce: int  # the last deposit credited at `height`; later ones are reclaimable after a freeze
    withdrawal_id: int  # the last withdrawal queued at `height`; the vault pays only up to it
    withdrawn_total_micro_usdc: int  # the sum of withdrawals 1..withdrawal_id; the vault pays no more
    bond_debits_hash: bytes  # keccak256(abi.encode(BondDebit[])) of staking's debits at `height`
    leaf_count: int
    time_ms: int  # block time of `height`
    # Stored, not signed: the haircut the leaves carry (claimable.py). Bankrupt equity the
    # insurance fund cannot cover is cut from unrealized gains, and beyond them from every claim.
    shortfall_micro_usdc: int = 0  # bankrupt equity at `height` beyond the insurance fund
    gains_micro_usdc: int = 0  # the unrealized gains it was cut from

    @property
    def scales_every_claim(self) -> bool:
        """The gains did not cover the shortfall: every leaf was scaled down."""
        return self.shortfall_micro_usdc > self.gains_micro_usdc


def encode_record(record: AnchorRecord) -> bytes:
    return (u64(record.nonce) + u64(record.height) + record.app_hash + record.balances_root
            + u256(record.total_claimable_micro_usdc) + u64(record.deposit_nonce) + u64(record.withdrawal_id)
            + u256(record.withdrawn_total_micro_usdc) + u32(record.leaf_count) + u64(record.time_ms)
            + u256(record.shortfall_micro_usdc) + u256(record.gains_micro_usdc) + record.bond_debits_hash
            + record.chain_id.encode())


def decode_record(raw: bytes) -> AnchorRecord:
    def number(start: int, size: int) -> int:
        return read_uint(raw[start:start + size])

    return AnchorRecord(nonce=number(0, 8), height=number(8, 8), app_hash=raw[16:48], balances_root=raw[48:80],
                        total_claimable_micro_usdc=number(80, 32), deposit_nonce=number(112, 8),
                        withdrawal_id=number(120, 8), withdrawn_total_micro_usdc=number(128, 32),
                        leaf_count=number(160, 4), time_ms=number(164, 8), shortfall_micro_usdc=number(172, 32),
                        gains_micro_usdc=number(204, 32), bond_debits_hash=raw[236:268], chain_id=raw[268:].decode())


def encode_bond_debits(debits: Sequence[BondDebit]) -> bytes:
    """abi.encode(BondDebit[] debits) with struct BondDebit {address signer; uint256 debitedTotal;}:
    the array's offset (32), its length, then each entry as two 32-byte words."""
    return u256(32) + u256(len(debits)) + b"".join(bytes(12) + signer + u256(total) for signer, total in debits)


def decode_bond_debits(raw: bytes) -> list[BondDebit]:
    entries = raw[64:]
    return [(entries[i + 12:i + 32], read_uint(entries[i + 32:i + 64])) for i in range(0, len(entries), 64)]


def bond_debits_hash(keccak: Callable[[bytes], bytes], debits: Sequence[BondDebit]) -> bytes:
    """What an anchor record signs for the debit list: keccak256(abi.encode(debits)), as
    Vault.anchor checks it. The list is by strictly increasing signer (staking keeps it so)."""
    return keccak(encode_bond_debits(debits))


@dataclass(frozen=True)
class SignAnchor:
    """Action (validator operators): the validator's bridge-key signature over the anchor's
    EIP-712 digest (wire/anchor.py)."""

    anchor_nonce: int
    signature: bytes
