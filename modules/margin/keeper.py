"""margin's keeper: positions, open-order exposure and open interest under `margin/`."""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import Iterable, Iterator

from modules.margin.types import OpenOrderExposure, Position
from modules.store import KVStore, PrefixStore, prefix_end
from modules.types import SubaccountId

STORE_PREFIX = b"margin/"
# One record per subaccount holding every market it has a position or resting orders in, so its
# risk is one read, not a scan (docs/performance.md):
# a/<address 20><number 1> -> per market, by market id: market u32, size i64, cost i128,
#                             funding index i128, bid lots u64, ask lots u64
SUBACCOUNT = b"a/"
OPEN_INTEREST = b"oi/"  # oi/<market u32> -> sum of |size| over positions (twice the open interest)
_ENTRY = struct.Struct(">Iq16s16sQQ")
_NO_EXPOSURE = OpenOrderExposure()


def _sub(subaccount: SubaccountId) -> bytes:
    return subaccount.address + bytes([subaccount.number])


@dataclass(frozen=True, slots=True)
class Holding:
    """What a subaccount holds in one market: its position and its resting orders' lots."""

    position: Position
    exposure: OpenOrderExposure

    @property
    def has_position(self) -> bool:
        return self.position.size_lots != 0 or self.position.cost_micro_usdc != 0


Holdings = tuple[Holding, ...]  # by market id


@functools.lru_cache(maxsize=4_096)
def _decode(subaccount: SubaccountId, raw: bytes) -> Holdings:
    """A record's holdings (a pure function of the bytes, so decoded once while they stay hot).
    The cache is small on purpose: its entries are objects the garbage collector walks, and at
    65,536 they made full collections cost a block 400 ms (bench budget)."""
    holdings = []
    for offset in range(0, len(raw), _ENTRY.size):
        market_id, size, cost, index, bids, asks = _ENTRY.unpack_from(raw, offset)
        position = Position(subaccount, market_id, size, int.from_bytes(cost, "big", signed=True),
                            int.from_bytes(index, "big", signed=True))
        holdings.append(Holding(position, OpenOrderExposure(bids, asks) if bids or asks else _NO_EXPOSURE))
    return tuple(holdings)


def _encode(holdings: Iterable[Holding]) -> bytes:
    return b"".join(_ENTRY.pack(h.position.market_id, h.position.size_lots,
                                h.position.cost_micro_usdc.to_bytes(16, "big", signed=True),
                                h.position.funding_index.to_bytes(16, "big", signed=True),
                                h.exposure.bid_lots, h.exposure.ask_lots) for h in holdings)


class MarginKeeper:
    def __init__(self, store: KVStore) -> None:
        self.store = store  # the whole store, for the keepers margin reads beside its own
        self._store = PrefixStore(store, STORE_PREFIX)

    # -- the subaccount record ------------------------------------------------------------------

    def holdings(self, subaccount: SubaccountId) -> Holdings:
        """Every market the subaccount holds a position or resting orders in, by market id."""
        raw = self._store.get(SUBACCOUNT + _sub(subaccount))
        return _decode(subaccount, raw) if raw is not None else ()

    def _holding(self, subaccount: SubaccountId, market_id: int,
                 holdings: Holdings | None = None) -> Holding | None:
        for holding in self.holdings(subaccount) if holdings is None else holdings:
            if holding.position.market_id == market_id:
                return holding
        return None

    def _put(self, subaccount: SubaccountId, market_id: int, holding: Holding, current: Holdings) -> None:
        """Replace the subaccount's holding in `market_id` among its `current` holdings (an empty
        one is dropped)."""
        kept = [h for h in current if h.position.market_id != market_id]
        if holding.has_position or holding.exposure != _NO_EXPOSURE:
            kept.append(holding)
            kept.sort(key=lambda h: h.position.market_id)
        key = SUBACCOUNT + _sub(subaccount)
        if kept:
            self._store.set(key, _encode(kept))
        else:
            self._store.delete(key)

    def _records(self, start: bytes) -> Iterator[Holding]:
        for key, raw in self._store.iterate(start, prefix_end(start)):
            yield from _decode(SubaccountId(key[2:22], key[22]), raw)

    # -- positions ----------------------------------------------------------------------------

    def position(self, subaccount: SubaccountId, market_id: int) -> Position:
        holding = self._holding(subaccount, market_id)
        return holding.position if holding is not None else Position(subaccount, market_id, 0, 0)

    def positions(self, subaccount: SubaccountId) -> Iterator[Position]:
        return (h.position for h in self.holdings(subaccount) if h.has_position)

    def positions_of(self, address: bytes) -> Iterator[Position]:
        """Every position of the address's subaccounts, in (number, market) order."""
        return (h.position for h in self._records(SUBACCOUNT + address) if h.has_position)

    def all_positions(self) -> Iterator[Position]:
        return (h.position for h in self._records(SUBACCOUNT) if h.has_position)

    def set_position(self, position: Position) -> None:
        holdings = self.holdings(position.subaccount)
        current = self._holding(position.subaccount, position.market_id, holdings)
        before_lots = current.position.size_lots if current is not None else 0
        total = self.open_interest_lots_x2(position.market_id) + abs(position.size_lots) - abs(before_lots)
        self._store.set(OPEN_INTEREST + position.market_id.to_bytes(4, "big"), total.to_bytes(8, "big"))
        exposure = current.exposure if current is not None else _NO_EXPOSURE
        self._put(position.subaccount, position.market_id, Holding(position, exposure), holdings)

    def open_interest_lots_x2(self, market_id: int) -> int:
        raw = self._store.get(OPEN_INTEREST + market_id.to_bytes(4, "big"))
        return int.from_bytes(raw, "big") if raw is not None else 0

    # -- open-order exposure ------------------------------------------------------------------

    def exposure(self, subaccount: SubaccountId, market_id: int) -> OpenOrderExposure:
        holding = self._holding(subaccount, market_id)
        return holding.exposure if holding is not None else _NO_EXPOSURE

    def exposures(self, subaccount: SubaccountId) -> Iterator[tuple[int, OpenOrderExposure]]:
        return ((h.position.market_id, h.exposure) for h in self.holdings(subaccount) if h.exposure != _NO_EXPOSURE)

    def all_exposures(self) -> Iterator[tuple[SubaccountId, int, OpenOrderExposure]]:
        """Every (subaccount, market, exposure) with resting lots, in key order."""
        return ((h.position.subaccount, h.position.market_id, h.exposure) for h in self._records(SUBACCOUNT)
                if h.exposure != _NO_EXPOSURE)

    def add_exposure(self, subaccount: SubaccountId, market_id: int, bid_lots: int, ask_lots: int) -> None:
        """Add (or with negative numbers remove) resting lots."""
        holdings = self.holdings(subaccount)
        current = self._holding(subaccount, market_id, holdings)
        position = current.position if current is not None else Position(subaccount, market_id, 0, 0)
        exposure = current.exposure if current is not None else _NO_EXPOSURE
        updated = OpenOrderExposure(exposure.bid_lots + bid_lots, exposure.ask_lots + ask_lots)
        assert updated.bid_lots >= 0 and updated.ask_lots >= 0, "exposure below zero"
        self._put(subaccount, market_id, Holding(position, updated), holdings)
