"""The checks an equivocation report needs (modules/staking/expected_keepers.py): the vault's
EIP-712 anchor and withdrawal digests (wire/anchor.py, wire/vault.py) and secp256k1 recovery with
the vault's rules (v 27/28, low s, a key recovered)."""

from __future__ import annotations

from modules.anchor.types import AnchorRecord
from wire.anchor import anchor_digest
from wire.crypto import BadSignature, recover_address
from wire.vault import withdrawal_digest


class EquivocationVerifier:
    def anchor_digest(self, eth_chain_id: int, vault: bytes, record: AnchorRecord) -> bytes:
        return anchor_digest(eth_chain_id, vault, record)

    def withdrawal_digest(self, eth_chain_id: int, vault: bytes, withdrawal_id: int, recipient: bytes,
                          amount_micro_usdc: int) -> bytes:
        return withdrawal_digest(eth_chain_id, vault, withdrawal_id, recipient, amount_micro_usdc)

    def signer(self, digest: bytes, signature: bytes) -> bytes | None:
        try:
            return recover_address(digest, signature)
        except (BadSignature, ValueError):
            return None


VERIFIER = EquivocationVerifier()
