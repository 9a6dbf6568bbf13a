"""orderbook's actions (what a tx carries). Prices in micro-USDC per unit, sizes in base atoms."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from modules.orderbook.types import Side, TimeInForce


@dataclass(frozen=True)
class PlaceOrder:
    subaccount: int
    market_id: int
    side: Side
    price: int  # a market order's worst acceptable price
    size: int
    time_in_force: TimeInForce = TimeInForce.GTC
    good_til_block: int = 0
    good_til_time_ms: int = 0
    post_only: bool = False
    reduce_only: bool = False
    client_id: int = 0  # 0: none


@dataclass(frozen=True)
class CancelOrder:
    """By `order_id`, or by `client_id` when order_id is 0."""

    subaccount: int
    market_id: int
    order_id: int = 0
    client_id: int = 0


@dataclass(frozen=True)
class CancelAll:
    """Every resting order of the subaccount, in one market (market_id > 0) or all (0)."""

    subaccount: int
    market_id: int = 0


@dataclass(frozen=True)
class ModifyOrder:
    """Cancel-replace. Keeps time priority only when the price is unchanged and the size shrinks."""

    subaccount: int
    market_id: int
    order_id: int
    new_price: int
    new_size: int


@dataclass(frozen=True)
class ScheduleCancelAll:
    """Dead-man switch: cancel every order of the signer's subaccounts at block time
    `cancel_at_ms` unless refreshed; 0 clears it."""

    cancel_at_ms: int


class ConditionalKind(IntEnum):
    """Also the order in which triggered conditionals of one block enter matching."""

    STOP_MARKET = 1
    STOP_LIMIT = 2
    TAKE_PROFIT_MARKET = 3
    TAKE_PROFIT_LIMIT = 4


@dataclass(frozen=True)
class PlaceConditional:
    subaccount: int
    market_id: int
    kind: ConditionalKind
    side: Side
    trigger_price: int
    limit_price: int  # for the *-market kinds, the worst acceptable price
    size: int
    reduce_only: bool = False


@dataclass(frozen=True)
class CancelConditional:
    subaccount: int
    market_id: int
    conditional_id: int


OrderAction = PlaceOrder | CancelOrder | CancelAll | ModifyOrder | ScheduleCancelAll | PlaceConditional | CancelConditional

# Block ordering classes (DESIGN.md, PrepareProposal): non-order actions 0, cancels 1, resting
# placements 2, taking orders 3. A tx's class is the highest of its actions'.
NON_ORDER, CANCELS, RESTING, TAKING = 0, 1, 2, 3


def action_class(action: object) -> int:
    if isinstance(action, (CancelOrder, CancelAll, CancelConditional)):
        return CANCELS
    if isinstance(action, PlaceConditional):
        return RESTING
    if isinstance(action, ModifyOrder):
        return RESTING
    if isinstance(action, PlaceOrder):
        resting = action.time_in_force in (TimeInForce.GTC, TimeInForce.GOOD_TIL_BLOCK, TimeInForce.GOOD_TIL_TIME)
        return RESTING if resting else TAKING
    return NON_ORDER
