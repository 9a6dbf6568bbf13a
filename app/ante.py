"""Admission of a raw tx: size, decoding, chain id, action count, signature. No state touched."""

from __future__ import annotations

from dataclasses import dataclass

from app.sigverify import SignerCache
from modules.auth.errors import NoActions, SignerMismatch, TooManyActions, TxTooLarge, WrongChainId
from modules.auth.params import MAX_ACTIONS_PER_TX, MAX_TX_BYTES
from wire.codec import DecodedTx, Tx, decode_signed_tx
from wire.crypto import keccak256


@dataclass(frozen=True)
class AdmittedTx:
    """A tx whose envelope checks passed: its signer is its account."""

    tx: Tx
    tx_hash: bytes


def decode(raw: bytes) -> tuple[bytes, DecodedTx]:
    """Size check first (cheap), then decoding; returns (tx hash, decoded tx)."""
    if len(raw) > MAX_TX_BYTES:
        raise TxTooLarge(f"tx is {len(raw)} bytes, the limit is {MAX_TX_BYTES}")
    return keccak256(raw), decode_signed_tx(raw)


def admit(tx_hash: bytes, decoded: DecodedTx, chain_id: str, signers: SignerCache) -> AdmittedTx:
    tx = decoded.tx
    if tx.chain_id != chain_id:
        raise WrongChainId(f"tx is for chain {tx.chain_id!r}, this is {chain_id!r}")
    if not tx.actions:
        raise NoActions("the tx carries no actions")
    if len(tx.actions) > MAX_ACTIONS_PER_TX:
        raise TooManyActions(f"{len(tx.actions)} actions, at most {MAX_ACTIONS_PER_TX} per tx")
    signer = signers.signer(tx_hash, decoded)
    if signer != tx.account:
        raise SignerMismatch(f"signed by 0x{signer.hex()}, but the tx is for account 0x{tx.account.hex()}")
    return AdmittedTx(tx=tx, tx_hash=tx_hash)
