"""The nonce rule: many concurrent txs per account, no sequence to keep, no replay.

A nonce is a millisecond timestamp the client picks. The chain keeps each account's
RECENT_NONCES_KEPT highest used nonces. A new nonce must be unused, greater than the smallest kept
one once the list is full, and within (block time - 2 days, block time + 1 day), so a nonce that
fell out of the list is also outside the window long before it could be replayed.
"""

from __future__ import annotations

import bisect

from modules.auth.errors import NonceAlreadyUsed, NonceOutsideWindow, NonceTooOld
from modules.auth.params import NONCE_FUTURE_WINDOW_MS, NONCE_PAST_WINDOW_MS, RECENT_NONCES_KEPT


def check_nonce(recent: tuple[int, ...], nonce: int, block_time_ms: int) -> None:
    """Raise the matching error if `nonce` may not be used; `recent` is sorted ascending."""
    if not block_time_ms - NONCE_PAST_WINDOW_MS < nonce < block_time_ms + NONCE_FUTURE_WINDOW_MS:
        raise NonceOutsideWindow(
            f"nonce {nonce} must lie between {block_time_ms - NONCE_PAST_WINDOW_MS} and "
            f"{block_time_ms + NONCE_FUTURE_WINDOW_MS} (block time {block_time_ms} ms - 2 days, + 1 day); "
            "use the current time in milliseconds"
        )
    index = bisect.bisect_left(recent, nonce)
    if index < len(recent) and recent[index] == nonce:
        raise NonceAlreadyUsed(f"nonce {nonce} was already used by this account")
    if len(recent) >= RECENT_NONCES_KEPT and nonce < recent[0]:
        raise NonceTooOld(f"nonce {nonce} is below {recent[0]}, the oldest of the last {RECENT_NONCES_KEPT} used")


def record_nonce(recent: tuple[int, ...], nonce: int) -> tuple[int, ...]:
    """The kept list after using `nonce`: inserted in order, the smallest dropped beyond the limit."""
    updated = list(recent)
    bisect.insort(updated, nonce)
    return tuple(updated[-RECENT_NONCES_KEPT:])
