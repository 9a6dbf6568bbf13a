"""orderbook: the price-time priority order book of each market (the matching engine).

`OrderBook` holds one market in memory and produces fills as plain records; `Books` holds every
market and branches them together so a failed tx rolls back exactly. Applying fills to positions
and balances is the margin module's job.
"""

from modules.orderbook.book import BookError, Books, Journal, MakerCheck, OrderBook
from modules.orderbook.types import (
    RESTING_TIME_IN_FORCE,
    Cancelled,
    CancelReason,
    Fill,
    MatchResult,
    Order,
    Side,
    TimeInForce,
)

__all__ = [
    "RESTING_TIME_IN_FORCE",
    "BookError",
    "Books",
    "CancelReason",
    "Cancelled",
    "Fill",
    "Journal",
    "MakerCheck",
    "MatchResult",
    "Order",
    "OrderBook",
    "Side",
    "TimeInForce",
]
