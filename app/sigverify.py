"""Signature recovery, the single largest cost of a tx, spread over cores and done once per tx.

libsecp256k1 (through coincurve's cffi binding) releases the GIL, so a thread pool recovers
signatures on every core. Results are cached by tx hash: a tx recovered for CheckTx is not
recovered again for FinalizeBlock. Recovery is a pure function, so the cache cannot change results.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from modules.auth.errors import BadSignature
from wire.codec import DecodedTx
from wire.crypto import recover_address

_PARALLEL_BELOW = 8  # smaller batches cost more to hand over than to recover inline


class SignerCache:
    """tx hash -> signer address (or the BadSignature it raised), least recently used dropped."""

    def __init__(self, capacity: int = 262_144) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[bytes, bytes | BadSignature] = OrderedDict()
        self.recoveries = 0  # signatures actually recovered, cache hits excluded
        self._workers = max(1, min(8, os.cpu_count() or 1))
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="sigverify")

    def signer(self, tx_hash: bytes, decoded: DecodedTx) -> bytes:
        """The recovered signer; raises BadSignature for a signature that does not recover."""
        entry = self._entries.get(tx_hash)
        if entry is None:
            entry = _recover(decoded)
            self.recoveries += 1
            self.remember(tx_hash, entry)
        if isinstance(entry, BadSignature):
            raise entry
        return entry

    def prefetch(self, batch: Sequence[tuple[bytes, DecodedTx]]) -> None:
        """Recover a batch's missing signers in parallel, ahead of their sequential processing."""
        missing = [(h, d) for h, d in batch if h not in self._entries]
        if len(missing) < _PARALLEL_BELOW:
            return
        # One contiguous chunk per worker: a future per signature would cost more than recovering it.
        step = -(-len(missing) // self._workers)
        chunks = [[d for _, d in missing[i : i + step]] for i in range(0, len(missing), step)]
        entries = (entry for chunk in self._pool.map(_recover_all, chunks) for entry in chunk)
        for (tx_hash, _), entry in zip(missing, entries):
            self.recoveries += 1
            self.remember(tx_hash, entry)

    def remember(self, tx_hash: bytes, entry: bytes | BadSignature) -> None:
        """Keep a signer (recovered here, or reported by the mempool worker, which recovered it)."""
        self._entries[tx_hash] = entry
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _recover_all(chunk: Sequence[DecodedTx]) -> list[bytes | BadSignature]:
    return [_recover(decoded) for decoded in chunk]


def _recover(decoded: DecodedTx) -> bytes | BadSignature:
    try:
        return recover_address(decoded.digest, decoded.signature)
    except BadSignature as error:
        return error
