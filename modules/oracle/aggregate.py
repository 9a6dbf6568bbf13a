"""The oracle price of a market from one block's observations.

Stake-weighted median: sort by price (then by power, for a total order), walk until the
cumulative power reaches half of the observing power; that price. A validator reporting a wild
price moves the median no more than any other single vote. The result is then clamped to
within MAX_CHANGE_PPM_PER_BLOCK of the previous price and rounded down to the market's tick.
"""

from __future__ import annotations

from modules.oracle.params import MAX_CHANGE_PPM_PER_BLOCK
from modules.oracle.types import Observation

PPM = 1_000_000


def weighted_median(observations: list[Observation]) -> int:
    ordered = sorted(observations, key=lambda o: (o.price, o.power))
    total = sum(o.power for o in ordered)
    cumulative = 0
    for observation in ordered:
        cumulative += observation.power
        if 2 * cumulative >= total:
            return observation.price
    raise ValueError("no observations")


def clamp(previous: int, proposed: int) -> int:
    """Within MAX_CHANGE_PPM_PER_BLOCK of `previous` (0: no previous price, no clamp)."""
    if previous == 0:
        return proposed
    step = previous * MAX_CHANGE_PPM_PER_BLOCK // PPM
    return max(previous - step, min(previous + step, proposed))


def next_price(previous: int, observations: list[Observation], tick_size: int) -> int:
    price = clamp(previous, weighted_median(observations))
    return max(tick_size, price - price % tick_size)
