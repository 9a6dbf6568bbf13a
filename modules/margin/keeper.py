"""margin's keeper: positions, open-order exposure and open interest under `margin/`."""

from __future__ import annotations

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


def _decode(subaccount: SubaccountId, raw: bytes) -> Holdings:
    """A record's holdings."""
    holdings = []
    for offset in range(0, len(raw), _ENTRY.size):
        market_id, size, cost, index, bids, asks = _ENTRY.unpack_from(raw, offset)
        position = Position(subaccount, market_id, size, read_i128(cost), read_i128(index))
        holdings.append(Holding(position, OpenOrderExposure(bids, asks) if bids or asks else _NO_EXPOSURE))
    return tuple(holdings)


class _Records:
    """A record's bytes -> its holdings (a pure function of the bytes and the subaccount), for the
    last RECORDS_KEPT records read or written: a record written is kept as written, so reading it
    back (the next order of a ladder does) decodes nothing. Small on purpose: its entries are
    objects the garbage collector walks, and at 65,536 they made full collections cost a block
    400 ms (bench budget). The oldest entry leaves first."""

    def __init__(self) -> None:
        self._entries: dict[tuple[bytes, bytes, int], Holdings] = {}

    def read(self, subaccount: SubaccountId, raw: bytes) -> Holdings:
        key = (raw, subaccount.address, subaccount.number)
        found = self._entries.get(key)
        if found is None:
            found = self._keep(key, _decode(subaccount, raw))
        return found

    def written(self, subaccount: SubaccountId, raw: bytes, holdings: Holdings) -> None:
        self._keep((raw, subaccount.address, subaccount.number), holdings)

    def _keep(self, key: tuple[bytes, bytes, int], holdings: Holdings) -> Holdings:
        entries = self._entries
        entries[key] = holdings
        if len(entries) > RECORDS_KEPT:
            del entries[next(iter(entries))]
        return holdings


RECORDS_KEPT = 4_096
_RECORDS = _Records()


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
        return _RECORDS.read(subaccount, raw) if raw is not None else ()

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
            if kept[-2:-1] and kept[-2].position.market_id > market_id:  # not the last market held
                kept.sort(key=holding_market)
        key = subaccount_key(subaccount)
        if kept:
            raw = _encode(kept)
            self._store.set(key, raw)
            _RECORDS.written(subaccount, raw, tuple(kept))
        else:
            self._store.delete(key)

    def _records(self, start: bytes) -> Iterator[Holding]:
        for key, raw in self._store.iterate(start, prefix_end(start)):
            yield from _RECORDS.read(subaccount_from_key(key), raw)

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
