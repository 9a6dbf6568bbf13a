"""Funding settles into a position's cost before anything looks at the position: a trade, a
margin check, a query. The payment moves between the position and the funding pool."""

from __future__ import annotations

from modules.funding.rules import payment_micro_usdc
from modules.margin.expected_keepers import FundingIndex
from modules.margin.types import Position


def settled(position: Position, index_now: int) -> tuple[Position, int]:
    """The position with its funding settled up to `index_now`, and the payment (> 0: it paid)."""
    if position.funding_index == index_now:
        return position, 0
    payment = payment_micro_usdc(position.size_lots, index_now, position.funding_index)
    return Position(position.subaccount, position.market_id, position.size_lots, position.cost_micro_usdc + payment,
                    index_now), payment


def settled_view(position: Position, funding: FundingIndex) -> Position:
    return settled(position, funding.index(position.market_id))[0]
