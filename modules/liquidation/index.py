"""Which subaccounts to look at in a block, without scanning every subaccount every block.

A subaccount with positions has a buffer B = equity - maintenance and a gross notional N. One
block's price moves of at most m (the largest relative move of any market, ppm) lower its
buffer by at most about N x m (its positions) plus the maintenance change; three times that
bounds it. So a subaccount evaluated when the chain's cumulative movement counter stood at M0 is
safe until the counter passes M0 + B x 10^6 / (3 N): its deadline, kept in a sorted key range.

Each block: the counter grows by the largest market move (and by the funding cap at an hour
boundary); the subaccounts whose deadline passed (the first `liquidation_evaluations_per_block`
of them, by deadline), plus every subaccount whose collateral or positions the block touched, are
evaluated — the most urgent of those under maintenance liquidated, within the block's budgets —
and re-indexed. One left under maintenance (not reached, or only partly closed) gets deadline 0:
first in line next block. Due ones not evaluated keep their passed deadline, so they stay due.
A calm block looks only at the few subaccounts near their limit.

The same re-indexing keeps the deleveraging queue: for each market and side, every position
(the insurance fund's aside) keyed by its deleveraging score when its subaccount was last
evaluated (unrealized PnL per unit of entry notional times the subaccount's leverage, ppm x ppm),
highest first, ties by subaccount. Deleveraging reads it from the front, a page at a time, so a
block never scans every position.
"""

from __future__ import annotations

from modules.encoding import i128, read_i128, read_subaccount, read_uint, stored_uint, subaccount_bytes, u64
from modules.liquidation.keys import (
    BY_SUBACCOUNT,
    DEADLINE,
    HISTORY,
    HISTORY_SEQ,
    MOVEMENT,
    QUEUE_ENTRY_BYTES,
    STORE_PREFIX,
    by_subaccount_key,
    deadline_key,
    deadline_prefix,
    from_deadline_key,
    history_key,
    last_price_key,
    queue_entry,
    queue_key,
    queue_prefix,
    queued_key,
    subaccount_from_queue_key,
)
from modules.store import KVStore, PrefixStore, prefix_end
from modules.types import SubaccountId

SAFETY_FACTOR = 3
RANK_ZERO = 2**127  # rank = RANK_ZERO - score: the highest score sorts first
SCORE_LIMIT = 2**126


class LiquidationIndex:
    def __init__(self, store: KVStore) -> None:
        self._store = PrefixStore(store, STORE_PREFIX)

    def movement(self) -> int:
        return stored_uint(self._store.get(MOVEMENT))

    def advance(self, ppm: int) -> int:
        value = self.movement() + ppm
        self._store.set(MOVEMENT, u64(value))
        return value

    def last_price(self, market_id: int) -> int:
        return stored_uint(self._store.get(last_price_key(market_id)))

    def set_last_price(self, market_id: int, price: int) -> None:
        self._store.set(last_price_key(market_id), u64(price))

    def due(self, movement: int, limit: int | None = None) -> list[SubaccountId]:
        """Subaccounts whose deadline is at or below `movement`, by deadline then subaccount, at
        most `limit`."""
        found: list[SubaccountId] = []
        for key, _ in self._store.iterate(DEADLINE, deadline_prefix(movement + 1)):
            if limit is not None and len(found) == limit:
                break
            found.append(from_deadline_key(key)[1])
        return found

    def set_deadline(self, subaccount: SubaccountId, deadline: int) -> None:
        self.remove(subaccount)
        self._store.set(deadline_key(deadline, subaccount), b"")
        self._store.set(by_subaccount_key(subaccount), u64(deadline))

    def remove(self, subaccount: SubaccountId) -> None:
        raw = self._store.get(by_subaccount_key(subaccount))
        if raw is not None:
            self._store.delete(deadline_key(read_uint(raw), subaccount))
            self._store.delete(by_subaccount_key(subaccount))

    # -- deleveraging queue ---------------------------------------------------------------------

    def queue_positions(self, subaccount: SubaccountId, entries: list[tuple[int, bool, int]]) -> None:
        """Key the subaccount's positions, (market, long, score) each, in the deleveraging queue
        (none: out of it); writes nothing when they are already so."""
        packed = b"".join(queue_entry(market_id, long, RANK_ZERO - max(-SCORE_LIMIT, min(SCORE_LIMIT, score)))
                          for market_id, long, score in sorted(entries))
        by_subaccount = queued_key(subaccount)
        before = self._store.get(by_subaccount) or b""
        if before == packed:
            return
        old = {before[i:i + QUEUE_ENTRY_BYTES] for i in range(0, len(before), QUEUE_ENTRY_BYTES)}
        new = {packed[i:i + QUEUE_ENTRY_BYTES] for i in range(0, len(packed), QUEUE_ENTRY_BYTES)}
        for entry in sorted(old - new):
            self._store.delete(queue_key(entry, subaccount))
        for entry in sorted(new - old):
            self._store.set(queue_key(entry, subaccount), b"")
        if packed:
            self._store.set(by_subaccount, packed)
        else:
            self._store.delete(by_subaccount)

    def queue_page(self, market_id: int, long: bool, after: bytes | None, limit: int) -> list[tuple[bytes, SubaccountId]]:
        """Up to `limit` (key, subaccount) of the market's longs (or shorts), highest score first,
        starting after the key `after`."""
        start = queue_prefix(market_id, long)
        end = prefix_end(start)
        if after is not None:
            start = after + b"\x00"
        found: list[tuple[bytes, SubaccountId]] = []
        for key, _ in self._store.iterate(start, end):
            found.append((key, subaccount_from_queue_key(key)))
            if len(found) == limit:
                break
        return found

    def indexed(self) -> int:
        return sum(1 for _ in self._store.iterate(BY_SUBACCOUNT, prefix_end(BY_SUBACCOUNT)))


def deadline(movement: int, buffer_micro_usdc: int, gross_notional_micro_usdc: int) -> int:
    if buffer_micro_usdc <= 0:
        return movement
    if gross_notional_micro_usdc == 0:
        return 2**63 - 1
    return movement + buffer_micro_usdc * 1_000_000 // (SAFETY_FACTOR * gross_notional_micro_usdc)


class LiquidationHistory:
    """The latest liquidations (HISTORY_KEPT), for queries; block events carry every detail."""

    def __init__(self, store: KVStore) -> None:
        self._store = PrefixStore(store, STORE_PREFIX)

    def record(self, height: int, subaccount: SubaccountId, equity: int, keep: int) -> None:
        seq = stored_uint(self._store.get(HISTORY_SEQ), 1)
        self._store.set(HISTORY_SEQ, u64(seq + 1))
        self._store.set(history_key(seq), u64(height) + subaccount_bytes(subaccount) + i128(equity))
        if seq > keep:
            self._store.delete(history_key(seq - keep))

    def latest(self, limit: int) -> list[tuple[int, SubaccountId, int]]:
        entries = [(read_uint(v[:8]), read_subaccount(v[8:]), read_i128(v[29:]))
                   for _, v in self._store.iterate(HISTORY, prefix_end(HISTORY))]
        return entries[-limit:][::-1]

    def at_risk(self, limit: int) -> list[tuple[SubaccountId, int]]:
        """Indexed subaccounts nearest their limit: (subaccount, deadline in movement ppm)."""
        out = []
        for key, _ in self._store.iterate(DEADLINE, prefix_end(DEADLINE)):
            due_at, subaccount = from_deadline_key(key)
            out.append((subaccount, due_at))
            if len(out) == limit:
                break
        return out
