"""The liquidation price shown by the positions and what-if queries, worked by hand: 1 BTC at
60,000 USDC, 10,000 USDC of equity, 3% maintenance margin."""

from __future__ import annotations

from modules.margin.risk import AccountRisk, liquidation_price
from modules.margin.types import Position
from modules.markets.types import Market, MarketStatus
from modules.types import SubaccountId

BTC = Market(1, "BTC-USD", 4, 100_000, 10, 10, 50_000, 30_000, 10**9, 0, 0, MarketStatus.ACTIVE, 60_000_000_000)
OWNER = SubaccountId(bytes(20), 0)
PRICE_TICKS = 60_000_000_000 // BTC.tick_size
USDC = 1_000_000


def risk(equity_usdc: int) -> AccountRisk:
    return AccountRisk(equity_usdc * USDC, 3_000 * USDC, 1_800 * USDC)  # maintenance: 3% of 60,000


def test_a_long_is_liquidated_where_equity_meets_maintenance_rounded_up_toward_the_price() -> None:
    # 10,000 + (P - 60,000) = 0.03 P  =>  P = 50,000 / 0.97 = 51,546.39…, rounded up to the tick
    long = Position(OWNER, BTC.market_id, 1_000, 60_000 * USDC)
    assert liquidation_price(long, BTC, risk(10_000), PRICE_TICKS) == 51_546_400_000


def test_a_short_is_liquidated_above_rounded_down_toward_the_price() -> None:
    # 10,000 - (P - 60,000) = 0.03 P  =>  P = 70,000 / 1.03 = 67,961.16…, rounded down to the tick
    short = Position(OWNER, BTC.market_id, -1_000, -60_000 * USDC)
    assert liquidation_price(short, BTC, risk(10_000), PRICE_TICKS) == 67_961_100_000


def test_no_position_or_no_reachable_price_has_none() -> None:
    assert liquidation_price(Position(OWNER, BTC.market_id, 0, 0), BTC, risk(10_000), PRICE_TICKS) is None
    # backed by 100,000 USDC a 1 BTC long survives any price down to zero
    long = Position(OWNER, BTC.market_id, 1_000, 60_000 * USDC)
    assert liquidation_price(long, BTC, risk(100_000), PRICE_TICKS) is None
