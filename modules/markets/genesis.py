"""markets' genesis section: validate, import, export (round-trip tested).

    {"markets": [{"market_id": 1, "ticker": "BTC-USD", "size_decimals": 4, "tick_size": "100000",
                  "step_size": "10", "min_order_size": "10", "initial_margin_ppm": 50000,
                  "maintenance_margin_ppm": 30000, "max_open_interest": "10000000",
                  "maker_fee_ppm": 100, "taker_fee_ppm": 500, "status": "active",
                  "reference_price": "65000000000", "price_band_ppm": 500000}]}

`price_band_ppm` is optional (default 500,000: orders within 50% of the oracle price).
"""

from __future__ import annotations

from typing import Any

from modules.markets.errors import InvalidMarketGenesis
from modules.markets.keeper import MarketsKeeper
from modules.markets.types import Market, MarketStatus

FIELDS = ("market_id", "ticker", "size_decimals", "tick_size", "step_size", "min_order_size", "initial_margin_ppm",
          "maintenance_margin_ppm", "max_open_interest", "maker_fee_ppm", "taker_fee_ppm", "status",
          "reference_price", "price_band_ppm")
AMOUNT_FIELDS = ("tick_size", "step_size", "min_order_size", "max_open_interest", "reference_price")
STATUS_NAMES = {"active": MarketStatus.ACTIVE, "reduce_only": MarketStatus.REDUCE_ONLY, "paused": MarketStatus.PAUSED}
PPM = 1_000_000
MAX_MARKET_ID = 2**32 - 1
MIN_BAND_PPM = 1_000  # a band under 0.1% would refuse ordinary quotes
DEFAULT_BAND_PPM = 500_000


def _int(where: str, entry: dict[str, Any], name: str, low: int, high: int) -> int:
    value = entry.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidMarketGenesis(f"{where}.{name} must be an integer from {low} to {high}, got {value!r}")
    return value


def _amount(where: str, entry: dict[str, Any], name: str) -> int:
    value = entry.get(name)
    if not (isinstance(value, str) and value.isdigit() and 0 < int(value) < 2**63):
        raise InvalidMarketGenesis(f"{where}.{name} must be a positive integer written as a string, got {value!r}")
    return int(value)


def parse_market(index: int, entry: Any) -> Market:
    where = f"markets.markets[{index}]"
    if not isinstance(entry, dict):
        raise InvalidMarketGenesis(f"{where} must be an object")
    unknown = sorted(k for k in entry if k not in FIELDS)
    if unknown:
        raise InvalidMarketGenesis(f"{where} has unknown field {unknown[0]!r}")
    ticker = entry.get("ticker")
    if not (isinstance(ticker, str) and 1 <= len(ticker) <= 20 and ticker.isascii()):
        raise InvalidMarketGenesis(f"{where}.ticker must be 1-20 ASCII characters")
    status = entry.get("status", "active")
    if status not in STATUS_NAMES:
        raise InvalidMarketGenesis(f"{where}.status must be one of {', '.join(STATUS_NAMES)}")
    amounts = {name: _amount(where, entry, name) for name in AMOUNT_FIELDS}
    market = Market(
        market_id=_int(where, entry, "market_id", 1, MAX_MARKET_ID),
        ticker=ticker,
        size_decimals=_int(where, entry, "size_decimals", 0, 18),
        initial_margin_ppm=_int(where, entry, "initial_margin_ppm", 1, PPM),
        maintenance_margin_ppm=_int(where, entry, "maintenance_margin_ppm", 1, PPM),
        maker_fee_ppm=_int(where, entry, "maker_fee_ppm", 0, PPM // 10),
        taker_fee_ppm=_int(where, entry, "taker_fee_ppm", 0, PPM // 10),
        status=STATUS_NAMES[status],
        price_band_ppm=_int(where, entry, "price_band_ppm", MIN_BAND_PPM, PPM) if "price_band_ppm" in entry
        else DEFAULT_BAND_PPM,
        **amounts,
    )
    if market.maintenance_margin_ppm > market.initial_margin_ppm:
        raise InvalidMarketGenesis(f"{where}.maintenance_margin_ppm must not exceed initial_margin_ppm")
    if (market.tick_size * market.step_size) % 10**market.size_decimals:
        raise InvalidMarketGenesis(f"{where}: tick_size * step_size must be a multiple of 10^size_decimals "
                                   "so that every fill's notional is whole micro-USDC")
    if market.min_order_size % market.step_size:
        raise InvalidMarketGenesis(f"{where}.min_order_size must be a multiple of step_size")
    if market.reference_price % market.tick_size:
        raise InvalidMarketGenesis(f"{where}.reference_price must be a multiple of tick_size")
    return market


def validate_genesis(section: Any) -> list[Market]:
    if not isinstance(section, dict):
        raise InvalidMarketGenesis("markets must be an object")
    unknown = sorted(k for k in section if k != "markets")
    if unknown:
        raise InvalidMarketGenesis(f"markets has unknown field {unknown[0]!r}")
    entries = section.get("markets", [])
    if not isinstance(entries, list):
        raise InvalidMarketGenesis("markets.markets must be a list")
    markets = [parse_market(i, e) for i, e in enumerate(entries)]
    first: dict[int, int] = {}
    tickers: dict[str, int] = {}
    for index, market in enumerate(markets):
        if market.market_id in first:
            raise InvalidMarketGenesis(f"markets.markets[{index}].market_id repeats markets[{first[market.market_id]}]")
        if market.ticker in tickers:
            raise InvalidMarketGenesis(f"markets.markets[{index}].ticker repeats markets[{tickers[market.ticker]}]")
        first[market.market_id] = index
        tickers[market.ticker] = index
    return markets


def import_genesis(keeper: MarketsKeeper, section: Any) -> None:
    for market in validate_genesis(section):
        keeper.set_market(market)


def market_to_json(market: Market) -> dict[str, Any]:
    names = {v: k for k, v in STATUS_NAMES.items()}
    return {
        "market_id": market.market_id, "ticker": market.ticker, "size_decimals": market.size_decimals,
        "tick_size": str(market.tick_size), "step_size": str(market.step_size),
        "min_order_size": str(market.min_order_size), "initial_margin_ppm": market.initial_margin_ppm,
        "maintenance_margin_ppm": market.maintenance_margin_ppm,
        "max_open_interest": str(market.max_open_interest), "maker_fee_ppm": market.maker_fee_ppm,
        "taker_fee_ppm": market.taker_fee_ppm, "status": names[market.status],
        "reference_price": str(market.reference_price), "price_band_ppm": market.price_band_ppm,
    }


def export_genesis(keeper: MarketsKeeper) -> dict[str, Any]:
    return {"markets": [market_to_json(m) for m in keeper.markets()]}
