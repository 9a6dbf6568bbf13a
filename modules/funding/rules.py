"""Funding arithmetic, pure.

    premium_ppm  = (max(0, impact_bid - oracle) - max(0, oracle - impact_ask)) * 10^6 / oracle,
                   clamped to +-max(0.1%, initial - maintenance margin) per sample
    hourly rate  = clamp(mean premium of the hour / 8, +-MAX_HOURLY_RATE_PPM), truncated toward 0
    index       += rate_ppm * oracle_price_ticks * quote_per_tick_lot       (pico-USDC per lot)
    payment      = ceil(size * (index - position's index) / 10^6)            (micro-USDC, > 0: pays)

A long pays a positive rate, a short receives it. Every payment rounds toward +infinity, so
payers pay the rounding and receivers forgo it: the payments of a market sum to zero or slightly
above, and the difference stays in the funding pool (in favour of the system).
"""

from __future__ import annotations

from modules.funding.params import INDEX_SCALE, MAX_HOURLY_RATE_PPM, MIN_PREMIUM_CLAMP_PPM, PREMIUM_TO_HOURLY_DIVISOR

PPM = 1_000_000


def impact_price(levels: list[tuple[int, int]], notional_needed: int, quote_per_tick_lot: int) -> int | None:
    """Average price (ticks, rounded down) to trade `notional_needed` micro-USDC through `levels`
    (best first, (price_ticks, lots)); None if the book is not that deep."""
    remaining, lots_taken, cost = notional_needed, 0, 0
    for price, lots in levels:
        per_lot = price * quote_per_tick_lot
        take = min(lots, -(-remaining // per_lot))
        lots_taken += take
        cost += take * per_lot
        remaining -= take * per_lot
        if remaining <= 0:
            return cost // (lots_taken * quote_per_tick_lot)
    return None


def premium_ppm(impact_bid: int | None, impact_ask: int | None, oracle_ticks: int) -> int:
    above = max(0, impact_bid - oracle_ticks) if impact_bid is not None else 0
    below = max(0, oracle_ticks - impact_ask) if impact_ask is not None else 0
    return _toward_zero((above - below) * PPM, oracle_ticks)


def clamped_premium_ppm(premium: int, initial_margin_ppm: int, maintenance_margin_ppm: int) -> int:
    """One block's premium sample, within +-(initial - maintenance margin) of the market (at least
    0.1%): a premium wider than the margin buffer is not one arbitrage would leave standing, so a
    sample never says more than that, whatever one order shows."""
    bound = max(MIN_PREMIUM_CLAMP_PPM, initial_margin_ppm - maintenance_margin_ppm)
    return max(-bound, min(bound, premium))


def hourly_rate_ppm(premium_sum_ppm: int, samples: int) -> int:
    if samples == 0:
        return 0
    rate = _toward_zero(_toward_zero(premium_sum_ppm, samples), PREMIUM_TO_HOURLY_DIVISOR)
    return max(-MAX_HOURLY_RATE_PPM, min(MAX_HOURLY_RATE_PPM, rate))


def index_step(rate_ppm: int, oracle_ticks: int, quote_per_tick_lot: int) -> int:
    """pico-USDC per lot: rate (ppm) x price (micro-USDC per lot), exact."""
    return rate_ppm * oracle_ticks * quote_per_tick_lot


def payment_micro_usdc(size_lots: int, index_now: int, index_then: int) -> int:
    """What the position owes (> 0) or is owed (< 0) since `index_then`, rounded toward +inf."""
    return -(-(size_lots * (index_now - index_then)) // INDEX_SCALE)


def _toward_zero(numerator: int, denominator: int) -> int:
    quotient = abs(numerator) // abs(denominator)
    return quotient if (numerator >= 0) == (denominator > 0) else -quotient
