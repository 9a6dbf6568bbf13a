"""markets' records.

Units: a price is micro-USDC per whole unit of the base asset and must be a multiple of
`tick_size`; a size is in base atoms (10^-size_decimals of a unit) and a multiple of
`step_size`. The engine works in ticks and lots (price // tick_size, size // step_size);
genesis requires tick_size * step_size to be a multiple of 10^size_decimals, so the notional of
one lot at one tick, `quote_per_tick_lot`, is a whole number of micro-USDC and no fill rounds.
Fractions are parts per million (ppm).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property


class MarketStatus(IntEnum):
    ACTIVE = 1
    REDUCE_ONLY = 2
    PAUSED = 3


@dataclass(frozen=True)
class Market:
    market_id: int
    ticker: str
    size_decimals: int
    tick_size: int  # micro-USDC per unit
    step_size: int  # base atoms
    min_order_size: int  # base atoms
    initial_margin_ppm: int
    maintenance_margin_ppm: int
    max_open_interest: int  # base atoms, one side
    maker_fee_ppm: int
    taker_fee_ppm: int
    status: MarketStatus
    reference_price: int  # micro-USDC per unit; the margin price until the oracle lands
    price_band_ppm: int = 500_000  # orders priced further than this from the oracle are refused

    def band_ticks(self, oracle_ticks: int) -> tuple[int, int]:
        """The lowest and highest price (ticks) an order may carry with the oracle at `oracle_ticks`:
        oracle x (1 -+ band), rounded outward, never below one tick."""
        low = max(1, oracle_ticks * (1_000_000 - self.price_band_ppm) // 1_000_000)
        high = -(-oracle_ticks * (1_000_000 + self.price_band_ppm) // 1_000_000)
        return low, high

    def clamp_to_band(self, price_ticks: int, oracle_ticks: int) -> int:
        """The nearest price within the band: where an order priced from the oracle and a slippage
        bound (TWAP child, trailing stop, position TP/SL) goes when its bound reaches past the band."""
        low, high = self.band_ticks(oracle_ticks)
        return max(low, min(high, price_ticks))

    @cached_property
    def quote_per_tick_lot(self) -> int:
        """micro-USDC of one lot at one tick (exact by the genesis rule); worked out once per record,
        as every notional needs it."""
        atoms_per_unit: int = 10**self.size_decimals  # (int ** int is typed Any: a negative power is a float)
        return self.tick_size * self.step_size // atoms_per_unit

    def notional(self, price_ticks: int, size_lots: int) -> int:
        return price_ticks * size_lots * self.quote_per_tick_lot

    @property
    def reference_price_ticks(self) -> int:
        return self.reference_price // self.tick_size
