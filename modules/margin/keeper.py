"""margin's keeper: positions, open-order exposure and open interest under `margin/`."""

from __future__ import annotations

import functools
import struct
from typing import Iterable, Iterator

from modules.encoding import i128, read_i128, stored_uint, u64
from modules.margin.keys import (
    STORE_PREFIX,
    SUBACCOUNT,
    address_prefix,
    open_interest_key,
    subaccount_from_key,
    subaccount_key,
)
from modules.margin.types import Holding, Holdings, OpenOrderExposure, Position, holding_market
from modules.store import KVStore, PrefixStore, prefix_end
from modules.types import SubaccountId

_ENTRY = struct.Struct(">Iq16s16sQQ")
_NO_EXPOSURE = OpenOrderExposure()


@functools.lru_cache(maxsize=4_096)
def _decode(subaccount: SubaccountId, raw: bytes) -> Holdings:
    """A record's holdings (a pure function of the bytes, so decoded once while they stay hot).
    The cache is small on purpose: its entries are objects the garbage collector walks, and at
    65,536 they made full collections cost a block 400 ms (bench budget)."""
    holdings = []
    for offset in range(0, len(raw), _ENTRY.size):
        market_id, size, cost, index, bids, asks = _ENTRY.unpack_from(raw, offset)
        position = Position(subaccount, market_id, size, read_i128(cost), read_i128(index))
        holdings.append(Holding(position, OpenOrderExposure(bids, asks) if bids or asks else _NO_EXPOSURE))
    return tuple(holdings)


def _encode(holdings: Iterable[Holding]) -> bytes:
    return b"".join(_ENTRY.pack(h.position.market_id, h.position.size_lots,
                                i128(h.position.cost_micro_usdc), i128(h.position.funding_index),
                                h.exposure.bid_lots, h.exposure.ask_lots) for h in holdings)


class MarginKeeper:
    def __init__(self, store: KVStore) -> None:
        self.store = store  # the whole store, for the keepers margin reads beside its own
        self._store = PrefixStore(store, STORE_PREFIX)

    # -- the subaccount record ------------------------------------------------------------------

    def holdings(self, subaccount: SubaccountId) -> Holdings:
        """Every market the subaccount holds a position or resting orders in, by market id."""
        raw = self._store.get(subaccount_key(subaccount))
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
        keep = holding.has_position or holding.exposure != _NO_EXPOSURE
        kept = [h for h in current if h.position.market_id != market_id]
        if keep and len(kept) == len(current):  # a market not held before: in market order
            kept.append(holding)
            kept.sort(key=holding_market)
        elif keep:  # in the place of the one it replaces
            kept = [holding if h.position.market_id == market_id else h for h in current]
        key = subaccount_key(subaccount)
        if kept:
            self._store.set(key, _encode(kept))
        else:
            self._store.delete(key)

    def _records(self, start: bytes) -> Iterator[Holding]:
        for key, raw in self._store.iterate(start, prefix_end(start)):
            yield from _decode(subaccount_from_key(key), raw)

    # -- positions ----------------------------------------------------------------------------

    def position(self, subaccount: SubaccountId, market_id: int) -> Position:
        holding = self._holding(subaccount, market_id)
        return holding.position if holding is not None else Position(subaccount, market_id, 0, 0)

    def positions(self, subaccount: SubaccountId) -> Iterator[Position]:
        return (h.position for h in self.holdings(subaccount) if h.has_position)

    def positions_of(self, address: bytes) -> Iterator[Position]:
        """Every position of the address's subaccounts, in (number, market) order."""
        return (h.position for h in self._records(address_prefix(address)) if h.has_position)

    def all_positions(self) -> Iterator[Position]:
        return (h.position for h in self._records(SUBACCOUNT) if h.has_position)

    def set_position(self, position: Position) -> None:
        holdings = self.holdings(position.subaccount)
        current = self._holding(position.subaccount, position.market_id, holdings)
        before_lots = current.position.size_lots if current is not None else 0
        total = self.open_interest_lots_x2(position.market_id) + abs(position.size_lots) - abs(before_lots)
        self._store.set(open_interest_key(position.market_id), u64(total))
        exposure = current.exposure if current is not None else _NO_EXPOSURE
        self._put(position.subaccount, position.market_id, Holding(position, exposure), holdings)

    def open_interest_lots_x2(self, market_id: int) -> int:
        return stored_uint(self._store.get(open_interest_key(market_id)))

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
