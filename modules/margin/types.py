"""margin's records."""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import NamedTuple

from modules.types import SubaccountId


@dataclass(frozen=True)
class Position:
    """A subaccount's position in one market.

    `size_lots` is signed (long > 0). `cost_micro_usdc` is the signed entry notional still held:
    paid for a long (> 0), received for a short (< 0). Unrealized PnL at a price is
    size x price - cost; funding settles into the cost (docs/funding.md); on a reducing fill the reduced share of the cost leaves with the realized
    PnL, so collateral - cost (the quote balance) moves by exactly the fill's notional.
    """

    subaccount: SubaccountId
    market_id: int
    size_lots: int
    cost_micro_usdc: int
    funding_index: int = 0  # the market's funding index (pico-USDC per lot) this position last settled at


class OpenOrderExposure(NamedTuple):
    """Lots of a subaccount's resting orders in one market, by side (a named tuple: one is built
    per order resting or leaving, and a frozen dataclass costs several times as much to build)."""

    bid_lots: int = 0
    ask_lots: int = 0


class Holding(NamedTuple):
    """What a subaccount holds in one market: its position and its resting orders' lots."""

    position: Position
    exposure: OpenOrderExposure

    @property
    def has_position(self) -> bool:
        return self.position.size_lots != 0 or self.position.cost_micro_usdc != 0


Holdings = tuple[Holding, ...]  # by market id
holding_market = attrgetter("position.market_id")  # a holding's market: the key Holdings are sorted by
