"""Trailing-stop rules, pure integers in price ticks.

A sell trailing stop protects a long: its anchor is the highest oracle price since placement and
it fires when the price falls to `anchor - distance`. A buy trailing stop mirrors it from the
lowest price. The anchor only moves towards the owner's favour, and the trigger is a
non-decreasing (sell) or non-increasing (buy) function of it, so the trigger never moves back.

A distance in basis points rounds away from the price (down for a sell, up for a buy), so a
trailing stop never sits closer to the price than the distance its owner asked for.
"""

from __future__ import annotations

from modules.orderbook.types import Side

BPS = 10_000
MAX_TRAIL_BPS = 5_000  # a 50% trail: further away is no protection at all


def trail_trigger(side: Side, anchor_ticks: int, trail_ticks: int, trail_bps: int) -> int:
    """Where a trailing stop anchored at `anchor_ticks` fires (exactly one distance is non-zero)."""
    if side == Side.SELL:
        if trail_ticks:
            return anchor_ticks - trail_ticks
        return anchor_ticks * (BPS - trail_bps) // BPS
    if trail_ticks:
        return anchor_ticks + trail_ticks
    return -(-anchor_ticks * (BPS + trail_bps) // BPS)


def worst_price(side: Side, oracle_ticks: int, slippage_bps: int) -> int:
    """The limit of an IOC sent at the oracle price with a slippage bound: a buy pays at most
    oracle + slippage (rounded up), a sell takes at least oracle - slippage (rounded down, >= 1 tick)."""
    if side == Side.BUY:
        return -(-oracle_ticks * (BPS + slippage_bps) // BPS)
    return max(1, oracle_ticks * (BPS - slippage_bps) // BPS)
