"""TWAP parent orders: a total size executed as IOC children, one every `interval_blocks` blocks.

The first child goes out at the start of the block after placement, after the conditionals of
that block have fired; each later one `interval_blocks` blocks after the one before. At most
`twap_children_per_block` children go out in a block, in (due block, id) order; one that waits
for the budget goes out late, and the next is due `interval_blocks` after it did. A child is
sized `ceil(remaining / slices left)`, so what an earlier child could not fill is carried into
the next ones and the last child asks for exactly what remains: the children together never
execute more than the total. Each child is an IOC at the oracle price moved by the slippage
bound and passes the normal checks; one that fails them is reported and counts as a slice.

The TWAPs are kept by the block their next child is due (keys.py, `wq/`), so a block reads only
the TWAPs due at its height, at most `twap_children_per_block` (the rest stay due and go first next
block: `twap_children_carried`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from modules.encoding import stored_uint, u64
from modules.margin.keeper import MarginKeeper
from modules.markets.types import Market
from modules.orderbook.keys import (
    NEXT_TWAP_ID,
    STORE_PREFIX,
    TWAP,
    TWAP_DUE,
    trailing_id,
    twap_count_key,
    twap_due_key,
    twap_index_key,
    twap_index_of_address,
    twap_index_prefix,
    twap_key,
)
from modules.orderbook.types import Side
from modules.store import KVStore, PrefixStore, add_to_count, prefix_end, read_count
from modules.types import SubaccountId

_RECORD = struct.Struct(">I20sBBQQIIIQHB")


@dataclass(frozen=True)
class Twap:
    twap_id: int
    market_id: int
    owner: SubaccountId
    side: Side
    total_lots: int
    filled_lots: int
    slices: int
    slices_done: int
    interval_blocks: int
    next_block: int
    slippage_bps: int
    reduce_only: bool

    @property
    def remaining_lots(self) -> int:
        return self.total_lots - self.filled_lots

    def next_child_lots(self) -> int:
        """ceil(remaining / slices left): never more than what remains, all of it in the last slice."""
        return -(-self.remaining_lots // (self.slices - self.slices_done))


class TwapBook:
    def __init__(self, store: KVStore) -> None:
        self._store = PrefixStore(store, STORE_PREFIX)
        self._margin = MarginKeeper(store)

    def reserve(self, twap: Twap, lots: int) -> None:
        """A TWAP that may open a position reserves what remains of it as open-order exposure
        (reduce-only ones reserve nothing); `lots` < 0 releases."""
        if twap.reduce_only or not lots:
            return
        self._margin.add_exposure(twap.owner, twap.market_id, lots if twap.side == Side.BUY else 0,
                                  lots if twap.side == Side.SELL else 0)

    def get(self, twap_id: int) -> Twap | None:
        raw = self._store.get(twap_key(twap_id))
        if raw is None:
            return None
        (market, address, number, side, total, filled, slices, done, interval, next_block, slippage,
         reduce_only) = _RECORD.unpack(raw)
        return Twap(twap_id, market, SubaccountId(address, number), Side(side), total, filled, slices, done, interval,
                    next_block, slippage, bool(reduce_only))

    def of(self, owner: SubaccountId, market_id: int | None = None) -> list[Twap]:
        """A subaccount's TWAPs, by market then id (its count read first, as ConditionalBook.of)."""
        if not self.count_of(owner):
            return []
        start = twap_index_prefix(owner, market_id)
        found = [self.get(trailing_id(k)) for k, _ in self._store.iterate(start, prefix_end(start))]
        return [t for t in found if t is not None]

    def count_of(self, owner: SubaccountId) -> int:
        """How many TWAPs a subaccount runs."""
        return read_count(self._store, twap_count_key(owner))

    def all(self) -> list[Twap]:
        """Every running TWAP, by id (invariant checks only: it reads them all)."""
        found = [self.get(trailing_id(k)) for k, _ in self._store.iterate(TWAP, prefix_end(TWAP))]
        return [t for t in found if t is not None]

    def of_address(self, address: bytes, limit: int) -> list[Twap]:
        """At most `limit` of an address's TWAPs, every subaccount, by subaccount, market, id."""
        start = twap_index_of_address(address)
        found: list[Twap] = []
        for key, _ in self._store.iterate(start, prefix_end(start)):
            if len(found) == limit:
                break
            twap = self.get(trailing_id(key))
            assert twap is not None, "subaccount index names a missing TWAP"
            found.append(twap)
        return found

    def due(self, height: int, limit: int | None = None) -> list[int]:
        """Ids of TWAPs whose next child is due at or before `height`, in (block, id) order, at
        most `limit` of them."""
        ids: list[int] = []
        for key, _ in self._store.iterate(TWAP_DUE, twap_due_key(height + 1)):
            if limit is not None and len(ids) == limit:
                break
            ids.append(trailing_id(key))
        return ids

    def next_id(self) -> int:
        value = stored_uint(self._store.get(NEXT_TWAP_ID), 1)
        self._store.set(NEXT_TWAP_ID, u64(value + 1))
        return value

    def put(self, twap: Twap, previous: Twap | None = None) -> None:
        self.reserve(twap, twap.remaining_lots - (previous.remaining_lots if previous is not None else 0))
        if previous is not None:
            self._store.delete(twap_due_key(previous.next_block, previous.twap_id))
        self._store.set(twap_key(twap.twap_id), _RECORD.pack(
            twap.market_id, twap.owner.address, twap.owner.number, int(twap.side), twap.total_lots, twap.filled_lots,
            twap.slices, twap.slices_done, twap.interval_blocks, twap.next_block, twap.slippage_bps, twap.reduce_only))
        self._store.set(twap_due_key(twap.next_block, twap.twap_id), b"")
        if previous is None:
            self._store.set(twap_index_key(twap.owner, twap.market_id, twap.twap_id), b"")
            add_to_count(self._store, twap_count_key(twap.owner), 1)

    def remove(self, twap: Twap) -> None:
        self.reserve(twap, -twap.remaining_lots)
        self._store.delete(twap_key(twap.twap_id))
        self._store.delete(twap_due_key(twap.next_block, twap.twap_id))
        self._store.delete(twap_index_key(twap.owner, twap.market_id, twap.twap_id))
        add_to_count(self._store, twap_count_key(twap.owner), -1)


def attributes(twap: Twap, market: Market) -> tuple[tuple[str, str], ...]:
    return (("twap_id", str(twap.twap_id)), ("market_id", str(twap.market_id)), ("owner", str(twap.owner)),
            ("side", twap.side.name.lower()), ("size", str(twap.total_lots * market.step_size)),
            ("filled", str(twap.filled_lots * market.step_size)),
            ("remaining", str(twap.remaining_lots * market.step_size)),
            ("slices_done", str(twap.slices_done)), ("slices", str(twap.slices)))


def to_json(twap: Twap, market: Market) -> dict[str, object]:
    answer: dict[str, object] = dict(attributes(twap, market))
    answer.update(market_id=twap.market_id, slices=twap.slices, slices_done=twap.slices_done,
                  interval_blocks=twap.interval_blocks, next_block=twap.next_block,
                  max_slippage_bps=twap.slippage_bps, reduce_only=twap.reduce_only)
    return answer
