"""What bridge needs from outside the module, as narrow interfaces (Cosmos' expected_keepers.go)."""

from __future__ import annotations

from typing import Protocol, Sequence

from modules.types import SubaccountId


class Bank(Protocol):
    def balance(self, subaccount: SubaccountId) -> int: ...

    def mint(self, subaccount: SubaccountId, amount_micro_usdc: int) -> None: ...

    def settle(self, subaccount: SubaccountId, delta_micro_usdc: int) -> None: ...


class Bonds(Protocol):
    """Where a credited bond (subaccount BOND_SUBACCOUNT) goes instead of the bank: the staking module."""

    def credit_bond(self, eth_address: bytes, amount_micro_usdc: int) -> None: ...

    def take_pending_bond(self, eth_address: bytes, amount_micro_usdc: int) -> int:
        """Take back up to `amount_micro_usdc` of a bond not yet joined to a validator; what was taken."""
        ...

    def take_joined_bond(self, consensus_address: bytes, amount_micro_usdc: int) -> int:
        """Take back up to `amount_micro_usdc` of the validator's bond, then of its unbonding; what was taken."""
        ...


class SignatureVerifier(Protocol):
    """secp256k1 recovery and the EIP-712 digests live in wire/ and wire/vault.py (keccak is not
    in the standard library); the router hands an implementation in (app/bridge_verify.py)."""

    def withdrawal_signer(self, eth_chain_id: int, vault: bytes, withdrawal_id: int, recipient: bytes,
                          amount_micro_usdc: int, signature: bytes) -> bytes | None:
        """The Ethereum address that signed the withdrawal digest, or None for a bad signature."""
        ...

    def bridge_key_signer(self, chain_id: str, consensus_address: bytes, eth_address: bytes,
                          proof: bytes) -> bytes | None:
        """The address that signed the key-registration digest, or None."""
        ...

    def rotation_signer(self, chain_id: str, consensus_address: bytes, old_eth_address: bytes,
                        new_eth_address: bytes, valset_nonce: int, approval: bytes) -> bytes | None:
        """The address that signed the rotation digest (wire.vault.bridge_key_rotation_digest) of
        old key -> new key at `valset_nonce`, or None."""
        ...

    def valset_signer(self, eth_chain_id: int, vault: bytes, validators: Sequence[bytes], powers: Sequence[int],
                      nonce: int, signature: bytes) -> bytes | None:
        """The address that signed the vault's digest of (validators, powers, nonce), or None."""
        ...
