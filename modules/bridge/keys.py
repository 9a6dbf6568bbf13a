"""bridge's keys under prefix `bridge/`. Integers are fixed-width big-endian, so key order is
numeric order."""

from __future__ import annotations

from modules.encoding import u64

STORE_PREFIX = b"bridge/"
PARAMS = b"params"  # eth chain id u64, vault 20
VALIDATOR = b"v/"  # v/<consensus address 20> -> operator 20, eth 20, power u64
OPERATOR = b"o/"  # o/<operator 20> -> consensus address 20
ETH_KEY = b"e/"  # e/<eth address 20> -> consensus address 20: every key a validator holds or held (never reused)
NEXT_DEPOSIT = b"next_deposit"  # u64: the next nonce to credit (the first is 1)
LAST_CLAIM = b"l/"  # l/<consensus address 20> -> u64: the validator's latest claimed nonce
CLAIM = b"c/"  # c/<nonce u64><consensus address 20> -> content hash 32
CONTENT = b"k/"  # k/<nonce u64><content hash 32> -> encoded claim
CREDITED = b"d/"  # d/<nonce u64> -> content hash 32, height u64, the valset nonce in force u64
NEXT_WITHDRAWAL = b"next_withdrawal"  # u64: the next withdrawal id (the first is 1)
WITHDRAWN_TOTAL = b"withdrawn_total"  # u128: micro-USDC of every withdrawal ever queued
WITHDRAWAL = b"w/"  # w/<id u64> -> owner 20, number 1, recipient 20, amount u128, height u64
SIGNATURE = b"s/"  # s/<id u64><consensus address 20> -> 65-byte signature, the signing key 20
VALSET_NONCE = b"valset_nonce"  # u64: grows with every key rotation (the vault's next valset nonce)
VALSET = b"vs/"  # vs/<nonce u64> -> members (consensus 20, operator 20, eth 20, power u64) in consensus order
VALSET_SIGNATURE = b"vg/"  # vg/<nonce u64><consensus address 20> -> 65-byte signature by its previous key
DISPUTE = b"x/"  # x/<nonce u64><consensus address 20> -> content hash 32: a credited nonce claimed with another content
OPEN_DISPUTES = b"xc/"  # xc/<consensus address 20> -> u64: the validator's disputes under DISPUTE (bounded)
DEPOSIT_HALT = b"deposit_halt"  # halt id u64, nonce u64, height u64: present only while deposits are halted
LAST_HALT = b"last_halt"  # u64: the latest halt id (the first is 1)
RESUME_VOTE = b"r/"  # r/<halt id u64><consensus address 20> -> height u64 of the operator's resume
RESUMED = b"rz/"  # rz/<halt id u64> -> height u64, corrected nonces u64, debited u128, shortfall u128
SHORTFALL = b"shortfall"  # u128: micro-USDC of undone credits that no balance was left to debit
BONDS_RELEASED = b"bonds_released"  # u128: micro-USDC of bonds slashed into the ledger (the insurance fund)


def claim_key(nonce: int, validator: bytes) -> bytes:
    return CLAIM + u64(nonce) + validator


def content_key(nonce: int, content_hash: bytes) -> bytes:
    return CONTENT + u64(nonce) + content_hash


def withdrawal_key(withdrawal_id: int) -> bytes:
    return WITHDRAWAL + u64(withdrawal_id)


def signature_key(withdrawal_id: int, validator: bytes) -> bytes:
    return SIGNATURE + u64(withdrawal_id) + validator


def valset_signature_key(nonce: int, validator: bytes) -> bytes:
    return VALSET_SIGNATURE + u64(nonce) + validator


def dispute_key(nonce: int, validator: bytes) -> bytes:
    return DISPUTE + u64(nonce) + validator


def resume_vote_key(halt_id: int, validator: bytes) -> bytes:
    return RESUME_VOTE + u64(halt_id) + validator
