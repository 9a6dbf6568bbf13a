"""What anchor needs from outside the module, as narrow interfaces."""

from __future__ import annotations

from typing import Callable, Protocol

from modules.anchor.types import AnchorRecord, BondDebit

Keccak = Callable[[bytes], bytes]
"""keccak256 (not in the standard library); the router hands wire.crypto.keccak256 in."""


class AnchorSignatureVerifier(Protocol):
    def anchor_signer(self, eth_chain_id: int, vault: bytes, record: AnchorRecord, signature: bytes) -> bytes | None:
        """The Ethereum address that signed the anchor's EIP-712 digest, or None for a bad signature."""
        ...


class BondDebits(Protocol):
    """staking: the cumulative debit of each bridge key's bond, by increasing key (at most
    Vault.MAX_BOND_DEBITS entries), which each anchor carries to the vault."""

    def bond_debits(self) -> list[BondDebit]: ...
