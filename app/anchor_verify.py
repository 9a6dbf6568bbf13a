"""The anchor signature check modules/anchor needs (its expected_keepers.py): secp256k1 recovery
over the vault's EIP-712 anchor digest (wire/anchor.py)."""

from __future__ import annotations

from modules.anchor.types import AnchorRecord
from wire.anchor import anchor_digest
from wire.crypto import BadSignature, recover_address


class AnchorVerifier:
    def anchor_signer(self, eth_chain_id: int, vault: bytes, record: AnchorRecord, signature: bytes) -> bytes | None:
        try:
            return recover_address(anchor_digest(eth_chain_id, vault, record), signature)
        except (BadSignature, ValueError):
            return None


VERIFIER = AnchorVerifier()
