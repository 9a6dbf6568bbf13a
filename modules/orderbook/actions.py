"""orderbook's actions (what a tx carries). Prices in micro-USDC per unit, sizes in base atoms."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from modules.orderbook.types import Side, TimeInForce


@dataclass(frozen=True, init=False)
class PlaceOrder:
    """Every order placed is decoded into one, so its constructor is written out: compiled
    (app/native.py), `object.__setattr__` on its own fields is a plain store, where the generated
    constructor runs as Python."""

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
    display_size: int = 0  # 0: a plain order; else an iceberg showing at most this much

    def __init__(self, subaccount: int, market_id: int, side: Side, price: int, size: int,
                 time_in_force: TimeInForce = TimeInForce.GTC, good_til_block: int = 0, good_til_time_ms: int = 0,
                 post_only: bool = False, reduce_only: bool = False, client_id: int = 0, display_size: int = 0) -> None:
        object.__setattr__(self, "subaccount", subaccount)
        object.__setattr__(self, "market_id", market_id)
        object.__setattr__(self, "side", side)
        object.__setattr__(self, "price", price)
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "time_in_force", time_in_force)
        object.__setattr__(self, "good_til_block", good_til_block)
        object.__setattr__(self, "good_til_time_ms", good_til_time_ms)
        object.__setattr__(self, "post_only", post_only)
        object.__setattr__(self, "reduce_only", reduce_only)
        object.__setattr__(self, "client_id", client_id)
        object.__setattr__(self, "display_size", display_size)


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
    TRAILING_STOP = 5  # placed by PlaceTrailingStop
    POSITION_STOP_LOSS = 6  # placed by SetPositionTpSl
    POSITION_TAKE_PROFIT = 7  # placed by SetPositionTpSl

    @property
    def is_stop(self) -> bool:
        """Stops fire on a move against the side's owner; take-profits on a move in its favour."""
        return self in (ConditionalKind.STOP_MARKET, ConditionalKind.STOP_LIMIT, ConditionalKind.TRAILING_STOP,
                        ConditionalKind.POSITION_STOP_LOSS)

    @property
    def is_limit(self) -> bool:
        """The *-limit kinds rest as GTC at their limit; every other kind is an IOC."""
        return self in (ConditionalKind.STOP_LIMIT, ConditionalKind.TAKE_PROFIT_LIMIT)

    @property
    def prices_from_oracle(self) -> bool:
        """Trailing and position kinds take their worst price from the oracle and a slippage bound."""
        return self >= ConditionalKind.TRAILING_STOP

    @property
    def on_position(self) -> bool:
        return self in (ConditionalKind.POSITION_STOP_LOSS, ConditionalKind.POSITION_TAKE_PROFIT)


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


@dataclass(frozen=True)
class PlaceTrailingStop:
    """A stop-market whose trigger trails the best oracle price since placement by `trail_price`
    (micro-USDC) or `trail_bps`, exactly one of them non-zero; the trigger never moves back."""

    subaccount: int
    market_id: int
    side: Side
    size: int
    trail_price: int = 0
    trail_bps: int = 0
    max_slippage_bps: int = 100
    reduce_only: bool = False


@dataclass(frozen=True)
class SetPositionTpSl:
    """Take-profit and/or stop-loss on the signer's position in `market_id` (0: none); replaces any
    earlier pair. `size` 0 protects the whole position."""

    subaccount: int
    market_id: int
    take_profit_price: int = 0
    stop_loss_price: int = 0
    size: int = 0
    max_slippage_bps: int = 100


@dataclass(frozen=True)
class PlaceTwap:
    """`size` split into `slices` IOC children, the first in the next block, then one every
    `interval_blocks` blocks."""

    subaccount: int
    market_id: int
    side: Side
    size: int
    slices: int
    interval_blocks: int
    max_slippage_bps: int = 100
    reduce_only: bool = False


@dataclass(frozen=True)
class CancelTwap:
    subaccount: int
    market_id: int
    twap_id: int


# Block ordering classes (app/ordering.py, PrepareProposal): non-order actions 0, cancels 1, resting
# placements 2, taking orders 3. A tx's class is the highest of its actions'.
NON_ORDER, CANCELS, RESTING, TAKING = 0, 1, 2, 3


def action_class(action: object) -> int:
    if isinstance(action, (CancelOrder, CancelAll, CancelConditional, CancelTwap)):
        return CANCELS
    if isinstance(action, (PlaceConditional, PlaceTrailingStop, SetPositionTpSl, PlaceTwap)):
        return RESTING
    if isinstance(action, ModifyOrder):
        return RESTING
    if isinstance(action, PlaceOrder):
        resting = action.time_in_force in (TimeInForce.GTC, TimeInForce.GOOD_TIL_BLOCK, TimeInForce.GOOD_TIL_TIME)
        return RESTING if resting else TAKING
    return NON_ORDER
