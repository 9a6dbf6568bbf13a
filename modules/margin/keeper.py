"""margin's keeper: positions, open-order exposure and open interest under `margin/`."""

from __future__ import annotations

import struct
from typing import Iterator

from modules.margin.types import OpenOrderExposure, Position
from modules.store import KVStore, PrefixStore, prefix_end
from modules.types import SubaccountId

STORE_PREFIX = b"margin/"
POSITION = b"p/"  # p/<address 20><number 1><market u32> -> size i64, cost i128, funding index i128
EXPOSURE = b"x/"  # x/<address 20><number 1><market u32> -> bid lots u64, ask lots u64
OPEN_INTEREST = b"oi/"  # oi/<market u32> -> sum of |size| over positions (twice the open interest)
_POSITION = struct.Struct(">q16s16s")
_EXPOSURE = struct.Struct(">QQ")


def _sub(subaccount: SubaccountId) -> bytes:
    return subaccount.address + bytes([subaccount.number])


def _unpack(subaccount: SubaccountId, market_id: int, raw: bytes) -> Position:
    size, cost, index = _POSITION.unpack(raw)
    return Position(subaccount, market_id, size, int.from_bytes(cost, "big", signed=True),
                    int.from_bytes(index, "big", signed=True))


class MarginKeeper:
    def __init__(self, store: KVStore) -> None:
        self.store = store  # the whole store, for the keepers margin reads beside its own
        self._store = PrefixStore(store, STORE_PREFIX)

    # -- positions ----------------------------------------------------------------------------

    def position(self, subaccount: SubaccountId, market_id: int) -> Position:
        raw = self._store.get(POSITION + _sub(subaccount) + market_id.to_bytes(4, "big"))
        if raw is None:
            return Position(subaccount, market_id, 0, 0)
        return _unpack(subaccount, market_id, raw)

    def positions(self, subaccount: SubaccountId) -> Iterator[Position]:
        start = POSITION + _sub(subaccount)
        for key, raw in self._store.iterate(start, prefix_end(start)):
            yield _unpack(subaccount, int.from_bytes(key[-4:], "big"), raw)

    def positions_of(self, address: bytes) -> Iterator[Position]:
        """Every position of the address's subaccounts, in (number, market) order."""
        start = POSITION + address
        for key, raw in self._store.iterate(start, prefix_end(start)):
            body = key[len(POSITION):]
            yield _unpack(SubaccountId(address, body[20]), int.from_bytes(body[21:], "big"), raw)

    def all_positions(self) -> Iterator[Position]:
        for key, raw in self._store.iterate(POSITION, prefix_end(POSITION)):
            body = key[len(POSITION):]
            yield _unpack(SubaccountId(body[:20], body[20]), int.from_bytes(body[21:], "big"), raw)

    def set_position(self, position: Position) -> None:
        key = POSITION + _sub(position.subaccount) + position.market_id.to_bytes(4, "big")
        before = self.position(position.subaccount, position.market_id)
        total = self.open_interest_lots_x2(position.market_id) + abs(position.size_lots) - abs(before.size_lots)
        self._store.set(OPEN_INTEREST + position.market_id.to_bytes(4, "big"), total.to_bytes(8, "big"))
        if position.size_lots == 0 and position.cost_micro_usdc == 0:
            self._store.delete(key)
        else:
            self._store.set(key, _POSITION.pack(position.size_lots,
                                                position.cost_micro_usdc.to_bytes(16, "big", signed=True),
                                                position.funding_index.to_bytes(16, "big", signed=True)))

    def open_interest_lots_x2(self, market_id: int) -> int:
        raw = self._store.get(OPEN_INTEREST + market_id.to_bytes(4, "big"))
        return int.from_bytes(raw, "big") if raw is not None else 0

    # -- open-order exposure ------------------------------------------------------------------

    def exposure(self, subaccount: SubaccountId, market_id: int) -> OpenOrderExposure:
        raw = self._store.get(EXPOSURE + _sub(subaccount) + market_id.to_bytes(4, "big"))
        if raw is None:
            return OpenOrderExposure()
        return OpenOrderExposure(*_EXPOSURE.unpack(raw))

    def exposures(self, subaccount: SubaccountId) -> Iterator[tuple[int, OpenOrderExposure]]:
        start = EXPOSURE + _sub(subaccount)
        for key, raw in self._store.iterate(start, prefix_end(start)):
            yield int.from_bytes(key[-4:], "big"), OpenOrderExposure(*_EXPOSURE.unpack(raw))

    def all_exposures(self) -> Iterator[tuple[SubaccountId, int, OpenOrderExposure]]:
        """Every (subaccount, market, exposure) with resting lots, in key order."""
        for key, raw in self._store.iterate(EXPOSURE, prefix_end(EXPOSURE)):
            body = key[len(EXPOSURE):]
            yield SubaccountId(body[:20], body[20]), int.from_bytes(body[21:], "big"), OpenOrderExposure(*_EXPOSURE.unpack(raw))

    def add_exposure(self, subaccount: SubaccountId, market_id: int, bid_lots: int, ask_lots: int) -> None:
        """Add (or with negative numbers remove) resting lots."""
        current = self.exposure(subaccount, market_id)
        updated = OpenOrderExposure(current.bid_lots + bid_lots, current.ask_lots + ask_lots)
        assert updated.bid_lots >= 0 and updated.ask_lots >= 0, "exposure below zero"
        key = EXPOSURE + _sub(subaccount) + market_id.to_bytes(4, "big")
        if updated == OpenOrderExposure():
            self._store.delete(key)
        else:
            self._store.set(key, _EXPOSURE.pack(updated.bid_lots, updated.ask_lots))
