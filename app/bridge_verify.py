"""The signature checks the chain's bridge module needs (modules/bridge/expected_keepers.py):
secp256k1 recovery from wire.crypto over the vault's EIP-712 withdrawal digest, and the digest a
validator's new bridge key signs to prove it holds the key. No web3 here: the chain imports it."""

from __future__ import annotations

from wire.vault import withdrawal_digest
from wire.crypto import BadSignature, keccak256, recover_address

BRIDGE_KEY_DOMAIN = b"perpchain-bridge-key"


def bridge_key_digest(chain_id: str, consensus_address: bytes, eth_address: bytes) -> bytes:
    """keccak256("perpchain-bridge-key" || chain id || validator consensus address || eth address)."""
    return keccak256(BRIDGE_KEY_DOMAIN + chain_id.encode() + consensus_address + eth_address)


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


VERIFIER = Secp256k1Verifier()
