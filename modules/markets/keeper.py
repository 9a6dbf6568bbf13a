"""markets' keeper: markets by id under `markets/`, JSON-free fixed encoding."""

from __future__ import annotations

import struct
from typing import Iterator

from modules.markets.errors import UnknownMarket
from modules.markets.keys import MARKET, STORE_PREFIX, market_key
from modules.markets.types import Market, MarketStatus
from modules.store import KVStore, PrefixStore

_PACKED = struct.Struct(">IBQQQIIQiiBQI")


def _pack(m: Market) -> bytes:
    ticker = m.ticker.encode()
    return bytes([len(ticker)]) + ticker + _PACKED.pack(
        m.market_id, m.size_decimals, m.tick_size, m.step_size, m.min_order_size, m.initial_margin_ppm,
        m.maintenance_margin_ppm, m.max_open_interest, m.maker_fee_ppm, m.taker_fee_ppm, int(m.status),
        m.reference_price, m.price_band_ppm,
    )


def _unpack(raw: bytes) -> Market:
    length = raw[0]
    ticker = raw[1 : 1 + length].decode()
    (market_id, size_decimals, tick, step, min_size, imf, mmf, max_oi, maker, taker, status,
     reference, band) = _PACKED.unpack(raw[1 + length :])
    return Market(market_id, ticker, size_decimals, tick, step, min_size, imf, mmf, max_oi, maker, taker,
                  MarketStatus(status), reference, band)


class MarketsKeeper:
    def __init__(self, store: KVStore) -> None:
        self._store = PrefixStore(store, STORE_PREFIX)
        self._cache: dict[int, Market] = {}

    def market(self, market_id: int) -> Market:
        cached = self._cache.get(market_id)
        if cached is not None:
            return cached
        raw = self._store.get(market_key(market_id))
        if raw is None:
            raise UnknownMarket(f"no market {market_id}")
        market = _unpack(raw)
        self._cache[market_id] = market
        return market

    def markets(self) -> Iterator[Market]:
        for _, raw in self._store.iterate(MARKET):
            yield _unpack(raw)

    def set_market(self, market: Market) -> None:
        self._cache.pop(market.market_id, None)
        self._store.set(market_key(market.market_id), _pack(market))
