"""auth's keys under prefix `auth/`."""

from __future__ import annotations

STORE_PREFIX = b"auth/"
NONCES = b"n/"  # n/<address 20> -> the account's recent nonces, u64 each, ascending
CHAIN_ID = b"chain_id"  # the chain id, UTF-8, written once at InitChain
BLOCK_TIME = b"block_time_ms"  # the last finalized block's time, u64 ms, written by every block


def nonces_key(account: bytes) -> bytes:
    return NONCES + account
