"""The signature checks the chain's bridge module needs (modules/bridge/expected_keepers.py):
secp256k1 recovery from wire.crypto over the vault's EIP-712 withdrawal and valset digests and over
the digests a validator's new bridge key signs to prove it holds the key and its current key signs to
approve the rotation. No web3 here: the chain imports it."""

from __future__ import annotations

from typing import Sequence

from wire.crypto import BadSignature, recover_address
from wire.vault import bridge_key_digest, bridge_key_rotation_digest, valset_digest, withdrawal_digest


class Secp256k1Verifier:
    def withdrawal_signer(self, eth_chain_id: int, vault: bytes, withdrawal_id: int, recipient: bytes,
                          amount_micro_usdc: int, signature: bytes) -> bytes | None:
        try:
            digest = withdrawal_digest(eth_chain_id, vault, withdrawal_id, recipient, amount_micro_usdc)
            return recover_address(digest, signature)
        except (BadSignature, ValueError):
            return None

    def bridge_key_signer(self, chain_id: str, consensus_address: bytes, eth_address: bytes,
                          proof: bytes) -> bytes | None:
        try:
            return recover_address(bridge_key_digest(chain_id, consensus_address, eth_address), proof)
        except (BadSignature, ValueError):
            return None

    def rotation_signer(self, chain_id: str, consensus_address: bytes, old_eth_address: bytes,
                        new_eth_address: bytes, valset_nonce: int, approval: bytes) -> bytes | None:
        try:
            digest = bridge_key_rotation_digest(chain_id, consensus_address, old_eth_address, new_eth_address,
                                                valset_nonce)
            return recover_address(digest, approval)
        except (BadSignature, ValueError):
            return None

    def valset_signer(self, eth_chain_id: int, vault: bytes, validators: Sequence[bytes], powers: Sequence[int],
                      nonce: int, signature: bytes) -> bytes | None:
        try:
            return recover_address(valset_digest(eth_chain_id, vault, validators, powers, nonce), signature)
        except (BadSignature, ValueError):
            return None


VERIFIER = Secp256k1Verifier()
