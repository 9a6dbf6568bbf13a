"""TWAP parent orders: a total size executed as IOC children, one every `interval_blocks` blocks.

The first child goes out at the start of the block after placement, after the conditionals of
that block have fired; each later one `interval_blocks` blocks after the one before. At most
`twap_children_per_block` children go out in a block, in (due block, id) order; one that waits
for the budget goes out late, and the next is due `interval_blocks` after it did. A child is
sized `ceil(remaining / slices left)`, so what an earlier child could not fill is carried into
the next ones and the last child asks for exactly what remains: the children together never
execute more than the total. Each child is an IOC at the oracle price moved by the slippage
bound and passes the normal checks; one that fails them is reported and counts as a slice.

| key (under `orderbook/`) | holds |
|---|---|
| `wr/<id u64>` | the packed TWAP |
| `wq/<next block u64><id u64>` | due index: a block reads only the TWAPs due at its height, at most `twap_children_per_block` (the rest stay due and go first next block: `twap_children_carried`) |
| `ws/<address 20><number 1><market u32><id u64>` | a subaccount's TWAPs |
"""  # noqa: E501  (a markdown table row of the key layout: it cannot wrap)

from __future__ import annotations

import struct
from dataclasses import dataclass

from modules.margin.keeper import MarginKeeper
from modules.markets.types import Market
from modules.orderbook.types import Side
from modules.store import KVStore, PrefixStore, add_to_count, prefix_end, read_count
from modules.types import SubaccountId

STORE_PREFIX = b"orderbook/"
RECORD = b"wr/"
DUE = b"wq/"
BY_SUBACCOUNT = b"ws/"
COUNT = b"wn/"  # wn/<address 20><number 1> -> TWAPs the subaccount runs, u32
NEXT_ID = b"twap_next"
MAX_SLICES = 1_000
MAX_INTERVAL_BLOCKS = 10_000
MAX_SLIPPAGE_BPS = 5_000
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


def _u(value: int, width: int) -> bytes:
    return value.to_bytes(width, "big")


def _sub(owner: SubaccountId) -> bytes:
    return owner.address + bytes([owner.number])


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
        raw = self._store.get(RECORD + _u(twap_id, 8))
        if raw is None:
            return None
        (market, address, number, side, total, filled, slices, done, interval, next_block, slippage,
         reduce_only) = _RECORD.unpack(raw)
        return Twap(twap_id, market, SubaccountId(address, number), Side(side), total, filled, slices, done, interval,
                    next_block, slippage, bool(reduce_only))

    def of(self, owner: SubaccountId, market_id: int | None = None) -> list[Twap]:
        start = BY_SUBACCOUNT + _sub(owner) + (_u(market_id, 4) if market_id else b"")
        found = [self.get(int.from_bytes(k[-8:], "big")) for k, _ in self._store.iterate(start, prefix_end(start))]
        return [t for t in found if t is not None]

    def count_of(self, owner: SubaccountId) -> int:
        """How many TWAPs a subaccount runs."""
        return read_count(self._store, COUNT + _sub(owner))

    def all(self) -> list[Twap]:
        """Every running TWAP, by id (invariant checks only: it reads them all)."""
        found = [self.get(int.from_bytes(k[-8:], "big")) for k, _ in self._store.iterate(RECORD, prefix_end(RECORD))]
        return [t for t in found if t is not None]

    def of_address(self, address: bytes, limit: int) -> list[Twap]:
        """At most `limit` of an address's TWAPs, every subaccount, by subaccount, market, id."""
        start = BY_SUBACCOUNT + address
        found: list[Twap] = []
        for key, _ in self._store.iterate(start, prefix_end(start)):
            if len(found) == limit:
                break
            twap = self.get(int.from_bytes(key[-8:], "big"))
            assert twap is not None, "subaccount index names a missing TWAP"
            found.append(twap)
        return found

    def due(self, height: int, limit: int | None = None) -> list[int]:
        """Ids of TWAPs whose next child is due at or before `height`, in (block, id) order, at
        most `limit` of them."""
        ids: list[int] = []
        for key, _ in self._store.iterate(DUE, DUE + _u(height + 1, 8)):
            if limit is not None and len(ids) == limit:
                break
            ids.append(int.from_bytes(key[-8:], "big"))
        return ids

    def next_id(self) -> int:
        raw = self._store.get(NEXT_ID)
        value = int.from_bytes(raw, "big") if raw is not None else 1
        self._store.set(NEXT_ID, _u(value + 1, 8))
        return value

    def put(self, twap: Twap, previous: Twap | None = None) -> None:
        self.reserve(twap, twap.remaining_lots - (previous.remaining_lots if previous is not None else 0))
        if previous is not None:
            self._store.delete(DUE + _u(previous.next_block, 8) + _u(previous.twap_id, 8))
        self._store.set(RECORD + _u(twap.twap_id, 8), _RECORD.pack(
            twap.market_id, twap.owner.address, twap.owner.number, int(twap.side), twap.total_lots, twap.filled_lots,
            twap.slices, twap.slices_done, twap.interval_blocks, twap.next_block, twap.slippage_bps, twap.reduce_only))
        self._store.set(DUE + _u(twap.next_block, 8) + _u(twap.twap_id, 8), b"")
        if previous is None:
            self._store.set(BY_SUBACCOUNT + _sub(twap.owner) + _u(twap.market_id, 4) + _u(twap.twap_id, 8), b"")
            add_to_count(self._store, COUNT + _sub(twap.owner), 1)

    def remove(self, twap: Twap) -> None:
        self.reserve(twap, -twap.remaining_lots)
        self._store.delete(RECORD + _u(twap.twap_id, 8))
        self._store.delete(DUE + _u(twap.next_block, 8) + _u(twap.twap_id, 8))
        self._store.delete(BY_SUBACCOUNT + _sub(twap.owner) + _u(twap.market_id, 4) + _u(twap.twap_id, 8))
        add_to_count(self._store, COUNT + _sub(twap.owner), -1)


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
