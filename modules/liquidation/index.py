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

from modules.store import KVStore, PrefixStore, prefix_end
from modules.types import SubaccountId

STORE_PREFIX = b"liquidation/"
MOVEMENT = b"movement"  # u64: cumulative max relative move, ppm
LAST_PRICE = b"lp/"  # lp/<market u32> -> u64 micro-USDC
DEADLINE = b"q/"  # q/<deadline u64><address 20><number 1> -> ""
BY_SUBACCOUNT = b"s/"  # s/<address 20><number 1> -> deadline u64
HISTORY = b"h/"  # h/<seq u64> -> height u64, address 20, number 1, equity i128
HISTORY_SEQ = b"hn"
QUEUE = b"a/"  # a/<market u32><side u8: 0 long, 1 short><rank u128><address 20><number 1> -> ""
QUEUED = b"aq/"  # aq/<address 20><number 1> -> (market u32, side u8, rank u128) per queued position
_ENTRY = 21
SAFETY_FACTOR = 3
RANK_ZERO = 2**127  # rank = RANK_ZERO - score: the highest score sorts first
SCORE_LIMIT = 2**126


def _sub(subaccount: SubaccountId) -> bytes:
    return subaccount.address + bytes([subaccount.number])


class LiquidationIndex:
    def __init__(self, store: KVStore) -> None:
        self._store = PrefixStore(store, STORE_PREFIX)

    def movement(self) -> int:
        raw = self._store.get(MOVEMENT)
        return int.from_bytes(raw, "big") if raw is not None else 0

    def advance(self, ppm: int) -> int:
        value = self.movement() + ppm
        self._store.set(MOVEMENT, value.to_bytes(8, "big"))
        return value

    def last_price(self, market_id: int) -> int:
        raw = self._store.get(LAST_PRICE + market_id.to_bytes(4, "big"))
        return int.from_bytes(raw, "big") if raw is not None else 0

    def set_last_price(self, market_id: int, price: int) -> None:
        self._store.set(LAST_PRICE + market_id.to_bytes(4, "big"), price.to_bytes(8, "big"))

    def due(self, movement: int, limit: int | None = None) -> list[SubaccountId]:
        """Subaccounts whose deadline is at or below `movement`, by deadline then subaccount, at
        most `limit`."""
        end = DEADLINE + (movement + 1).to_bytes(8, "big")
        found: list[SubaccountId] = []
        for key, _ in self._store.iterate(DEADLINE, end):
            if limit is not None and len(found) == limit:
                break
            found.append(SubaccountId(key[10:30], key[30]))
        return found

    def set_deadline(self, subaccount: SubaccountId, deadline: int) -> None:
        self.remove(subaccount)
        self._store.set(DEADLINE + deadline.to_bytes(8, "big") + _sub(subaccount), b"")
        self._store.set(BY_SUBACCOUNT + _sub(subaccount), deadline.to_bytes(8, "big"))

    def remove(self, subaccount: SubaccountId) -> None:
        raw = self._store.get(BY_SUBACCOUNT + _sub(subaccount))
        if raw is not None:
            self._store.delete(DEADLINE + raw + _sub(subaccount))
            self._store.delete(BY_SUBACCOUNT + _sub(subaccount))

    # -- deleveraging queue ---------------------------------------------------------------------

    def queue_positions(self, subaccount: SubaccountId, entries: list[tuple[int, bool, int]]) -> None:
        """Key the subaccount's positions, (market, long, score) each, in the deleveraging queue
        (none: out of it); writes nothing when they are already so."""
        packed = b"".join(market_id.to_bytes(4, "big") + bytes([0 if long else 1])
                          + (RANK_ZERO - max(-SCORE_LIMIT, min(SCORE_LIMIT, score))).to_bytes(16, "big")
                          for market_id, long, score in sorted(entries))
        by_subaccount = QUEUED + _sub(subaccount)
        before = self._store.get(by_subaccount) or b""
        if before == packed:
            return
        old = {before[i:i + _ENTRY] for i in range(0, len(before), _ENTRY)}
        new = {packed[i:i + _ENTRY] for i in range(0, len(packed), _ENTRY)}
        for entry in sorted(old - new):
            self._store.delete(QUEUE + entry + _sub(subaccount))
        for entry in sorted(new - old):
            self._store.set(QUEUE + entry + _sub(subaccount), b"")
        if packed:
            self._store.set(by_subaccount, packed)
        else:
            self._store.delete(by_subaccount)

    def queue_page(self, market_id: int, long: bool, after: bytes | None, limit: int) -> list[tuple[bytes, SubaccountId]]:
        """Up to `limit` (key, subaccount) of the market's longs (or shorts), highest score first,
        starting after the key `after`."""
        start = QUEUE + market_id.to_bytes(4, "big") + bytes([0 if long else 1])
        end = prefix_end(start)
        if after is not None:
            start = after + b"\x00"
        found: list[tuple[bytes, SubaccountId]] = []
        for key, _ in self._store.iterate(start, end):
            found.append((key, SubaccountId(key[-21:-1], key[-1])))
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
        raw = self._store.get(HISTORY_SEQ)
        seq = int.from_bytes(raw, "big") if raw is not None else 1
        self._store.set(HISTORY_SEQ, (seq + 1).to_bytes(8, "big"))
        self._store.set(HISTORY + seq.to_bytes(8, "big"),
                        height.to_bytes(8, "big") + _sub(subaccount) + equity.to_bytes(16, "big", signed=True))
        if seq > keep:
            self._store.delete(HISTORY + (seq - keep).to_bytes(8, "big"))

    def latest(self, limit: int) -> list[tuple[int, SubaccountId, int]]:
        entries = [(int.from_bytes(v[:8], "big"), SubaccountId(v[8:28], v[28]), int.from_bytes(v[29:], "big", signed=True))
                   for _, v in self._store.iterate(HISTORY, prefix_end(HISTORY))]
        return entries[-limit:][::-1]

    def at_risk(self, limit: int) -> list[tuple[SubaccountId, int]]:
        """Indexed subaccounts nearest their limit: (subaccount, deadline in movement ppm)."""
        out = []
        for key, _ in self._store.iterate(DEADLINE, prefix_end(DEADLINE)):
            out.append((SubaccountId(key[10:30], key[30]), int.from_bytes(key[2:10], "big")))
            if len(out) == limit:
                break
        return out
