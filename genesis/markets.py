"""The markets a localnet starts with. Prices in micro-USDC per unit, sizes in base atoms."""

from __future__ import annotations

from typing import Any


def market(market_id: int, ticker: str, size_decimals: int, tick_size: int, step_size: int, min_order_size: int,
           reference_price: int, max_open_interest: int, initial_margin_ppm: int = 50_000,
           maintenance_margin_ppm: int = 30_000, status: str = "active") -> dict[str, Any]:
    return {
        "market_id": market_id, "ticker": ticker, "size_decimals": size_decimals, "tick_size": str(tick_size),
        "step_size": str(step_size), "min_order_size": str(min_order_size),
        "initial_margin_ppm": initial_margin_ppm, "maintenance_margin_ppm": maintenance_margin_ppm,
        "max_open_interest": str(max_open_interest), "maker_fee_ppm": 100, "taker_fee_ppm": 500,
        "status": status, "reference_price": str(reference_price),
    }


# BTC: 1 atom = 0.0001 BTC, tick 0.1 USDC, step 0.001 BTC (a lot at a tick is 100 micro-USDC).
# ETH: 1 atom = 0.001 ETH, tick 0.01 USDC, step 0.01 ETH (100 micro-USDC).
# SOL: 1 atom = 0.01 SOL, tick 0.001 USDC, step 0.1 SOL (100 micro-USDC).
LOCALNET_MARKETS: list[dict[str, Any]] = [
    market(1, "BTC-USD", 4, 100_000, 10, 10, 65_000_000_000, 1_000_000),
    market(2, "ETH-USD", 3, 10_000, 10, 10, 3_200_000_000, 10_000_000, 100_000, 50_000),
    market(3, "SOL-USD", 2, 1_000, 10, 10, 150_000_000, 100_000_000, 100_000, 50_000),
]
