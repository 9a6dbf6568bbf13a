"""Checks that must hold after every block; each returns a message when broken, else None."""

from __future__ import annotations

from modules.margin.keeper import MarginKeeper
from modules.markets.keeper import MarketsKeeper


def positions_sum_to_zero(margin: MarginKeeper) -> str | None:
    """Every long has its short: per market, signed sizes add up to nothing."""
    totals: dict[int, int] = {}
    for position in margin.all_positions():
        totals[position.market_id] = totals.get(position.market_id, 0) + position.size_lots
    for market_id, total in sorted(totals.items()):
        if total != 0:
            return f"margin: positions in market {market_id} sum to {total} lots, not 0"
    return None


def open_interest_matches_positions(margin: MarginKeeper, markets: MarketsKeeper) -> str | None:
    """The open-interest counter equals the sum of |size| it summarises."""
    totals: dict[int, int] = {}
    for position in margin.all_positions():
        totals[position.market_id] = totals.get(position.market_id, 0) + abs(position.size_lots)
    for market in markets.markets():
        counted = margin.open_interest_lots_x2(market.market_id)
        if counted != totals.get(market.market_id, 0):
            return (f"margin: market {market.market_id}'s open-interest counter says {counted} but positions "
                    f"sum to {totals.get(market.market_id, 0)} lots (both sides)")
    return None


def open_interest_within_caps(margin: MarginKeeper, markets: MarketsKeeper) -> str | None:
    for market in markets.markets():
        one_side_atoms = margin.open_interest_lots_x2(market.market_id) // 2 * market.step_size
        if one_side_atoms > market.max_open_interest:
            return (f"margin: market {market.market_id} holds {one_side_atoms} atoms of open interest, "
                    f"over its cap of {market.max_open_interest}")
    return None

