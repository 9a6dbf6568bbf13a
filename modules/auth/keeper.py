"""auth's keeper: the chain id, the last block's time and each account's recent nonces under
prefix `auth/`."""

from __future__ import annotations

import struct

from modules.auth.keys import BLOCK_TIME, CHAIN_ID, STORE_PREFIX, nonces_key
from modules.auth.nonces import check_nonce, record_nonce
from modules.encoding import stored_uint, u64
from modules.store import KVStore, PrefixStore


class AuthKeeper:
    def __init__(self, store: KVStore) -> None:
        self._store = PrefixStore(store, STORE_PREFIX)

    def recent_nonces(self, account: bytes) -> tuple[int, ...]:
        raw = self._store.get(nonces_key(account)) or b""
        return struct.unpack(f">{len(raw) // 8}Q", raw)

    def use_nonce(self, account: bytes, nonce: int, block_time_ms: int) -> None:
        """Check the nonce against the window and the account's history, then record it."""
        recent = self.recent_nonces(account)
        check_nonce(recent, nonce, block_time_ms)
        updated = record_nonce(recent, nonce)
        self._store.set(nonces_key(account), struct.pack(f">{len(updated)}Q", *updated))

    def chain_id(self) -> str:
        return (self._store.get(CHAIN_ID) or b"").decode()

    def set_chain_id(self, chain_id: str) -> None:
        """Written once at InitChain; every tx must name it."""
        self._store.set(CHAIN_ID, chain_id.encode())

    def block_time_ms(self) -> int:
        """The time of the last block written to this store (0 before the first): kept in the
        state, under the app hash, so a node restored from a snapshot knows it as surely as the
        state (anchor records carry the committed block's time)."""
        return stored_uint(self._store.get(BLOCK_TIME))

    def set_block_time_ms(self, time_ms: int) -> None:
        self._store.set(BLOCK_TIME, u64(time_ms))
