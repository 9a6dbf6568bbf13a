"""Clearing a fill: both positions, realized PnL and fees, collateral conserved.

For each side the signed size change d (+ for the buyer) splits into a reducing part (closing
against the current position) and an opening part. The reducing part takes its share of the
cost basis with it, rounded up (toward +infinity), so realized PnL rounds down; the opening part
adds its notional to the cost. Hence collateral - cost moves by exactly -d x price for each
side: the two sides cancel, and only fees leave the traders, into the fee pool.
"""

from __future__ import annotations

from dataclasses import dataclass

from modules.margin.funding_settlement import settled
from modules.margin.risk import PPM, ceil_div
from modules.margin.types import Position
from modules.markets.types import Market


@dataclass(frozen=True)
class SideSettlement:
    position: Position
    realized_pnl_micro_usdc: int
    fee_micro_usdc: int
    funding_paid_micro_usdc: int = 0  # settled into the position's cost before the trade

    @property
    def collateral_delta_micro_usdc(self) -> int:
        return self.realized_pnl_micro_usdc - self.fee_micro_usdc


def trade(market: Market, position: Position, size_delta_lots: int, price_ticks: int) -> tuple[Position, int]:
    """The position after trading `size_delta_lots` (signed) at `price_ticks`, and the realized PnL."""
    size, cost = position.size_lots, position.cost_micro_usdc
    buying = size_delta_lots > 0
    if size == 0 or (size > 0) == buying:
        opened = market.notional(price_ticks, abs(size_delta_lots))
        return _traded(position, size + size_delta_lots, cost + (opened if buying else -opened)), 0
    closing = min(abs(size_delta_lots), abs(size))
    removed_cost = ceil_div(cost * closing, abs(size))
    closed_value = market.notional(price_ticks, closing)
    realized = (closed_value if size > 0 else -closed_value) - removed_cost
    cost -= removed_cost
    opening = abs(size_delta_lots) - closing
    if opening:
        opened = market.notional(price_ticks, opening)
        cost += opened if buying else -opened
    return _traded(position, size + size_delta_lots, cost), realized


def _traded(position: Position, size_lots: int, cost_micro_usdc: int) -> Position:
    return Position(position.subaccount, position.market_id, size_lots, cost_micro_usdc, position.funding_index)


def fee(market: Market, notional_micro_usdc: int, maker: bool) -> int:
    """Fees are owed, so they round up."""
    rate = market.maker_fee_ppm if maker else market.taker_fee_ppm
    return ceil_div(notional_micro_usdc * rate, PPM)


def settle_side(market: Market, position: Position, size_delta_lots: int, price_ticks: int,
                maker: bool, funding_index: int) -> SideSettlement:
    """Funding first (into the cost), then the trade and its fee."""
    position, funding_paid = settled(position, funding_index)
    updated, realized = trade(market, position, size_delta_lots, price_ticks)
    return SideSettlement(updated, realized, fee(market, market.notional(price_ticks, abs(size_delta_lots)), maker),
                          funding_paid)
