"""margin's keeper: positions, open-order exposure and open interest under `margin/`."""

from __future__ import annotations

import struct
from collections import OrderedDict
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
    400 ms (bench budget). The oldest entry leaves first: an OrderedDict pops it in constant time,
    where a dict's first key is found by walking past the slots its earlier removals left empty
    (about 1 µs per record kept at this size)."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[bytes, bytes, int], Holdings] = OrderedDict()

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
            entries.popitem(last=False)
        return holdings


RECORDS_KEPT = 4_096
_RECORDS = _Records()


def _encode(holdings: Iterable[Holding]) -> bytes:
    return b"".join([_ENTRY.pack(h.position.market_id, h.position.size_lots, i128(h.position.cost_micro_usdc),
                                 i128(h.position.funding_index), h.exposure.bid_lots, h.exposure.ask_lots)
                     for h in holdings])


def _index(holdings: Holdings, market_id: int) -> int:
    """Where `holdings` holds `market_id` (-1: nowhere)."""
    for at, holding in enumerate(holdings):
        if holding.position.market_id == market_id:
            return at
    return -1


class MarginKeeper:
    def __init__(self, store: KVStore) -> None:
        self.store = store  # the whole store, for the keepers margin reads beside its own
        self._store = PrefixStore(store, STORE_PREFIX)

    # -- the subaccount record ------------------------------------------------------------------

    def holdings(self, subaccount: SubaccountId) -> Holdings:
        """Every market the subaccount holds a position or resting orders in, by market id."""
        raw = self._store.get(subaccount_key(subaccount))
        return _RECORDS.read(subaccount, raw) if raw is not None else ()

    def _holding(self, subaccount: SubaccountId, market_id: int) -> Holding | None:
        holdings = self.holdings(subaccount)
        at = _index(holdings, market_id)
        return holdings[at] if at >= 0 else None

    def _put(self, subaccount: SubaccountId, current: Holdings, at: int, holding: Holding) -> None:
        """Make `holding` the subaccount's in its market, where `current` holds it at index `at`
        (-1: not held; an empty holding is dropped). Holdings stay sorted by market."""
        if not (holding.has_position or holding.exposure != _NO_EXPOSURE):
            kept = current[:at] + current[at + 1:] if at >= 0 else current
        elif at >= 0:
            kept = (*current[:at], holding, *current[at + 1:])
        else:
            kept = tuple(sorted((*current, holding), key=holding_market))
        key = subaccount_key(subaccount)
        if kept:
            raw = _encode(kept)
            self._store.set(key, raw)
            _RECORDS.written(subaccount, raw, kept)
        else:
            self._store.delete(key)

    def _records(self, start: bytes) -> Iterator[Holding]:
        for key, raw in self._store.iterate(start, prefix_end(start)):
            yield from _RECORDS.read(subaccount_from_key(key), raw)

    # -- positions ----------------------------------------------------------------------------

    def position(self, subaccount: SubaccountId, market_id: int) -> Position:
        holding = self._holding(subaccount, market_id)
        return holding.position if holding is not None else Position(subaccount, market_id, 0, 0)

    # What these return are lists, read at the call: compiled (app/native.py), a generator
    # comprehension is built as a list anyway, and both forms must behave alike.
    def positions(self, subaccount: SubaccountId) -> list[Position]:
        return [h.position for h in self.holdings(subaccount) if h.has_position]

    def positions_of(self, address: bytes) -> list[Position]:
        """Every position of the address's subaccounts, in (number, market) order."""
        return [h.position for h in self._records(address_prefix(address)) if h.has_position]

    def all_positions(self) -> list[Position]:
        return [h.position for h in self._records(SUBACCOUNT) if h.has_position]

    def set_position(self, position: Position) -> None:
        holdings = self.holdings(position.subaccount)
        at = _index(holdings, position.market_id)
        before_lots = holdings[at].position.size_lots if at >= 0 else 0
        total = self.open_interest_lots_x2(position.market_id) + abs(position.size_lots) - abs(before_lots)
        self._store.set(open_interest_key(position.market_id), u64(total))
        exposure = holdings[at].exposure if at >= 0 else _NO_EXPOSURE
        self._put(position.subaccount, holdings, at, Holding(position, exposure))

    def open_interest_lots_x2(self, market_id: int) -> int:
        return stored_uint(self._store.get(open_interest_key(market_id)))

    # -- open-order exposure ------------------------------------------------------------------

    def exposure(self, subaccount: SubaccountId, market_id: int) -> OpenOrderExposure:
        holding = self._holding(subaccount, market_id)
        return holding.exposure if holding is not None else _NO_EXPOSURE

    def exposures(self, subaccount: SubaccountId) -> list[tuple[int, OpenOrderExposure]]:
        return [(h.position.market_id, h.exposure) for h in self.holdings(subaccount) if h.exposure != _NO_EXPOSURE]

    def all_exposures(self) -> list[tuple[SubaccountId, int, OpenOrderExposure]]:
        """Every (subaccount, market, exposure) with resting lots, in key order."""
        return [(h.position.subaccount, h.position.market_id, h.exposure) for h in self._records(SUBACCOUNT)
                if h.exposure != _NO_EXPOSURE]

    def add_exposure(self, subaccount: SubaccountId, market_id: int, bid_lots: int, ask_lots: int) -> None:
        """Add (or with negative numbers remove) resting lots."""
        holdings = self.holdings(subaccount)
        at = _index(holdings, market_id)
        if at >= 0:
            held = holdings[at]
            position = held.position
            updated = OpenOrderExposure(held.exposure.bid_lots + bid_lots, held.exposure.ask_lots + ask_lots)
        else:
            position, updated = Position(subaccount, market_id, 0, 0), OpenOrderExposure(bid_lots, ask_lots)
        assert updated.bid_lots >= 0 and updated.ask_lots >= 0, "exposure below zero"
        self._put(subaccount, holdings, at, Holding(position, updated))
