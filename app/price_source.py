"""Where a validator's app gets the prices it puts in its vote extension (ExtendVote).

Not consensus code: each validator observes on its own; the chain aggregates their votes.

  sim:<seed>         deterministic simulated feed around each market's reference price: a slow
                     shared drift plus per-validator noise of a few bps (localnet)
  sim-wild:<seed>    the same, times ten (a faulty validator, for tests)
  file:<path>        {"BTC-USD": "65000.5", ...} read on every vote (operators, scripted shocks)
  http(s)://...      the same JSON from a URL, 300 ms timeout; a failed read votes no prices
  none               votes no prices
Shocks for `sim`: a JSON file named by PERPCHAIN_PRICE_SHOCKS, {"<from height>": {"BTC-USD": ppm}},
multiplies the simulated price from that height on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Protocol

import httpx

from modules.markets.types import Market
from wire.amounts import parse_decimal

log = logging.getLogger("perpchain.prices")
PPM = 1_000_000


class PriceSource(Protocol):
    def prices(self, height: int, markets: list[Market]) -> dict[int, int]:
        """market id -> micro-USDC per unit, for the markets this source can price now."""
        ...


class SimulatedFeed:
    def __init__(self, seed: int, scale: int = 1) -> None:
        self.seed = seed
        self.scale = scale

    def prices(self, height: int, markets: list[Market]) -> dict[int, int]:
        shocks = _shocks()
        out = {}
        for market in markets:
            drift = _triangle(height, 600) * 2_000 // 600  # +-0.2% over 1,200 blocks, all validators alike
            digest = hashlib.sha256(f"{self.seed}/{market.market_id}/{height}".encode()).digest()
            noise = int.from_bytes(digest[:4], "big") % 1_001 - 500  # +-5 bps per validator
            shock = sum(ppm for start, table in shocks for ticker, ppm in table.items()
                        if height >= start and ticker == market.ticker)
            price = market.reference_price * (PPM + drift + noise // 10 + shock) // PPM
            out[market.market_id] = max(market.tick_size, price - price % market.tick_size) * self.scale
        return out


def _triangle(x: int, half_period: int) -> int:
    phase = x % (2 * half_period)
    return phase - half_period if phase >= half_period else half_period - phase - half_period


def _shocks() -> list[tuple[int, dict[str, int]]]:
    path = os.environ.get("PERPCHAIN_PRICE_SHOCKS")
    if not path or not Path(path).exists():
        return []
    try:
        table = json.loads(Path(path).read_text())
        return sorted((int(height), {k: int(v) for k, v in entry.items()}) for height, entry in table.items())
    except (ValueError, AttributeError) as error:
        log.error("ignoring price shocks in %s: %s", path, error)
        return []


class JsonPriceSource:
    """{"TICKER": "decimal USDC price"} from a file or a URL."""

    def __init__(self, location: str) -> None:
        self.location = location

    def prices(self, height: int, markets: list[Market]) -> dict[int, int]:
        try:
            if self.location.startswith(("http://", "https://")):
                table = httpx.get(self.location, timeout=0.3).json()
            else:
                table = json.loads(Path(self.location).read_text())
            by_ticker = {m.ticker: m for m in markets}
            return {by_ticker[t].market_id: parse_decimal(str(v), 6, "price") for t, v in table.items()
                    if t in by_ticker}
        except (OSError, ValueError, httpx.HTTPError) as error:
            log.warning("no prices from %s: %s", self.location, error)
            return {}


class NoPrices:
    def prices(self, height: int, markets: list[Market]) -> dict[int, int]:
        return {}


def price_source(spec: str) -> PriceSource:
    kind, _, argument = spec.partition(":")
    if kind == "sim":
        return SimulatedFeed(int(argument or "0"))
    if kind == "sim-wild":
        return SimulatedFeed(int(argument or "0"), scale=10)
    if kind == "file":
        return JsonPriceSource(argument)
    if kind in ("http", "https"):
        return JsonPriceSource(spec)
    if kind == "none":
        return NoPrices()
    raise ValueError(f"unknown price source {spec!r}: sim:SEED, sim-wild:SEED, file:PATH, http(s)://URL or none")
