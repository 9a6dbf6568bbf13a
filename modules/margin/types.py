"""margin's records."""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Final

from modules.types import SubaccountId


@dataclass(frozen=True, init=False)
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

    def __init__(self, subaccount: SubaccountId, market_id: int, size_lots: int, cost_micro_usdc: int,
                 funding_index: int = 0) -> None:
        # Written out, as orderbook's PlaceOrder: compiled, these are plain stores.
        object.__setattr__(self, "subaccount", subaccount)
        object.__setattr__(self, "market_id", market_id)
        object.__setattr__(self, "size_lots", size_lots)
        object.__setattr__(self, "cost_micro_usdc", cost_micro_usdc)
        object.__setattr__(self, "funding_index", funding_index)


class OpenOrderExposure:
    """Lots of a subaccount's resting orders in one market, by side: a value, compared as its two
    numbers. Written out, not a named tuple, so the compiled build makes one in C (one is made
    per order resting or leaving)."""

    def __init__(self, bid_lots: int = 0, ask_lots: int = 0) -> None:
        self.bid_lots: Final = bid_lots
        self.ask_lots: Final = ask_lots

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OpenOrderExposure):
            return NotImplemented
        return self.bid_lots == other.bid_lots and self.ask_lots == other.ask_lots

    def __repr__(self) -> str:
        return f"OpenOrderExposure(bid_lots={self.bid_lots}, ask_lots={self.ask_lots})"


class Holding:
    """What a subaccount holds in one market: its position and its resting orders' lots (a value,
    written out like `OpenOrderExposure`)."""

    def __init__(self, position: Position, exposure: OpenOrderExposure) -> None:
        self.position: Final = position
        self.exposure: Final = exposure

    @property
    def has_position(self) -> bool:
        return self.position.size_lots != 0 or self.position.cost_micro_usdc != 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Holding):
            return NotImplemented
        return self.position == other.position and self.exposure == other.exposure

    def __repr__(self) -> str:
        return f"Holding(position={self.position!r}, exposure={self.exposure!r})"


Holdings = tuple[Holding, ...]  # by market id
holding_market = attrgetter("position.market_id")  # a holding's market: the key Holdings are sorted by
