"""orderbook's action handlers and its start-of-block step (expiries and dead-man switches).

`validate_place` holds every rule an order can be refused by without touching the book, so
CheckTx and FinalizeBlock refuse the same orders with the same codes; placement.py places.
"""

from __future__ import annotations

from typing import Sequence

from modules.context import BlockContext, Event
from modules.markets.types import Market
from modules.orderbook.actions import (
    CancelAll,
    CancelConditional,
    CancelOrder,
    CancelTwap,
    ModifyOrder,
    PlaceOrder,
    ScheduleCancelAll,
)
from modules.orderbook.conditional import handle_cancel_conditional
from modules.orderbook.conditional_store import ConditionalBook
from modules.orderbook.conditional_store import attributes as conditional_attributes
from modules.orderbook.errors import (
    DeadManSwitchRejected,
    DuplicateClientId,
    IcebergDisplayAboveTotal,
    IcebergDisplayOffStep,
    IcebergNotAllowed,
    InvalidOrder,
    InvalidSubaccountNumber,
    NotYourOrder,
    OrderNotFound,
    PriceOffTick,
    SizeOffStep,
    SizeUnderMinimum,
)
from modules.orderbook.expected_keepers import Markets, Oracle
from modules.orderbook.keeper import OrderbookKeeper, order_attributes
from modules.orderbook.params import (
    DEAD_MAN_DAILY_LIMIT,
    DEAD_MAN_MAX_DELAY_MS,
    DEAD_MAN_MIN_DELAY_MS,
    MAX_GOOD_TIL_BLOCKS_AHEAD,
    MAX_GOOD_TIL_TIME_AHEAD_MS,
)
from modules.orderbook.placement import RiskCarry, market_open_to, place_order, within_band
from modules.orderbook.twap import TwapBook
from modules.orderbook.twap import attributes as twap_attributes
from modules.orderbook.twap_handlers import handle_cancel_twap
from modules.orderbook.types import RESTING_TIME_IN_FORCE, TIME_IN_FORCE_VALUES, CancelReason, Order, Side, TimeInForce
from modules.types import MAX_SUBACCOUNT, SubaccountId

MAX_U63 = 2**63 - 1


def _subaccount(signer: bytes, number: int) -> SubaccountId:
    if not 0 <= number <= MAX_SUBACCOUNT:
        raise InvalidSubaccountNumber(f"subaccount {number} is outside 0..{MAX_SUBACCOUNT}")
    return SubaccountId(signer, number)


def validate_place(markets: Markets, oracle: Oracle, ctx: BlockContext, action: PlaceOrder) -> Market:
    """Every rule of a placement that needs neither the book nor the subaccount (market, band,
    tick, step, minimum, options)."""
    if not 0 <= action.subaccount <= MAX_SUBACCOUNT:
        raise InvalidSubaccountNumber(f"subaccount {action.subaccount} is outside 0..{MAX_SUBACCOUNT}")
    market = markets.market(action.market_id)
    market_open_to(market, oracle, ctx.height, action.reduce_only)
    if action.side not in (Side.BUY, Side.SELL):
        raise InvalidOrder(f"side must be buy (1) or sell (2), got {int(action.side)}")
    if not 0 < action.price <= MAX_U63 or action.price % market.tick_size:
        raise PriceOffTick(f"price {action.price} is not a positive multiple of {market.ticker}'s tick size "
                           f"{market.tick_size} micro-USDC")
    within_band(market, oracle, action.side, action.price // market.tick_size)
    if not 0 < action.size <= MAX_U63 or action.size % market.step_size:
        raise SizeOffStep(f"size {action.size} is not a positive multiple of {market.ticker}'s step size "
                          f"{market.step_size} atoms")
    if action.size < market.min_order_size:
        raise SizeUnderMinimum(f"size {action.size} is under {market.ticker}'s minimum {market.min_order_size} atoms")
    tif = action.time_in_force
    if tif not in TIME_IN_FORCE_VALUES:
        raise InvalidOrder(f"time_in_force {int(tif)} is not one of 1 (GTC) .. 5 (FOK)")
    if action.post_only and tif not in RESTING_TIME_IN_FORCE:
        raise InvalidOrder("post-only orders must be able to rest (GTC, good-til-block or good-til-time)")
    if tif == TimeInForce.GOOD_TIL_BLOCK and not ctx.height <= action.good_til_block <= ctx.height + MAX_GOOD_TIL_BLOCKS_AHEAD:
        raise InvalidOrder(f"good_til_block {action.good_til_block} must be from {ctx.height} to "
                           f"{ctx.height + MAX_GOOD_TIL_BLOCKS_AHEAD}")
    if tif == TimeInForce.GOOD_TIL_TIME and not ctx.time_ms < action.good_til_time_ms <= ctx.time_ms + MAX_GOOD_TIL_TIME_AHEAD_MS:
        raise InvalidOrder(f"good_til_time_ms {action.good_til_time_ms} must be after the block time {ctx.time_ms} "
                           "and at most 90 days ahead")
    if tif != TimeInForce.GOOD_TIL_BLOCK and action.good_til_block:
        raise InvalidOrder("good_til_block is set but the order is not good-til-block")
    if tif != TimeInForce.GOOD_TIL_TIME and action.good_til_time_ms:
        raise InvalidOrder("good_til_time_ms is set but the order is not good-til-time")
    if not 0 <= action.client_id <= MAX_U63:
        raise InvalidOrder("client_id must fit in 63 bits")
    if action.display_size:
        _validate_iceberg(market, action)
    return market


def _validate_iceberg(market: Market, action: PlaceOrder) -> None:
    if not 0 < action.display_size <= MAX_U63 or action.display_size % market.step_size:
        raise IcebergDisplayOffStep(f"display_size {action.display_size} is not a positive multiple of "
                                    f"{market.ticker}'s step size {market.step_size} atoms")
    if action.display_size > action.size:
        raise IcebergDisplayAboveTotal(f"display_size {action.display_size} is above the order's size {action.size}")
    if action.display_size < market.min_order_size:
        raise SizeUnderMinimum(f"display_size {action.display_size} is under {market.ticker}'s minimum "
                               f"{market.min_order_size} atoms")
    if action.time_in_force not in RESTING_TIME_IN_FORCE or action.reduce_only:
        raise IcebergNotAllowed("an iceberg must be able to rest (GTC, good-til-block or good-til-time) and may "
                                "not be reduce-only")


def handle_place(keeper: OrderbookKeeper, signer: bytes, action: PlaceOrder,
                 carry: RiskCarry | None = None) -> list[Event]:
    """One placement (`carry`: what the placement before it in a run handed on)."""
    market = validate_place(keeper.markets, keeper.oracle, keeper.ctx, action)
    owner = _subaccount(signer, action.subaccount)
    price_ticks, size_lots = action.price // market.tick_size, action.size // market.step_size
    if action.client_id and keeper.order_by_client_id(owner, action.client_id) is not None:
        raise DuplicateClientId(f"{owner} already has an open order with client id {action.client_id}")
    if action.reduce_only:
        size_lots = min(size_lots, keeper.require_reduces(owner, market, action.side))
    order = Order(keeper.next_order_id(), market.market_id, owner, action.client_id, action.side, price_ticks,
                  size_lots, action.post_only, action.reduce_only, action.time_in_force, action.good_til_block,
                  action.good_til_time_ms)
    return place_order(keeper, market, order, action.display_size // market.step_size, carry, rules_checked=True)


def handle_place_run(keeper: OrderbookKeeper, signer: bytes, actions: Sequence[PlaceOrder]) -> list[Event]:
    """Consecutive placements of one tx, each placed as `handle_place` places it alone, with one
    RiskCarry handing each subaccount's risk reads on while nothing but its new orders moved it."""
    carry = RiskCarry()
    events: list[Event] = []
    for action in actions:
        events += handle_place(keeper, signer, action, carry)
    return events


def _owned_order(keeper: OrderbookKeeper, owner: SubaccountId, market_id: int, order_id: int) -> Order:
    order = keeper.order(market_id, order_id)
    if order is None:
        raise OrderNotFound(f"no open order {order_id} in market {market_id}")
    if order.owner != owner:
        raise NotYourOrder(f"order {order_id} belongs to {order.owner}, not {owner}")
    return order


def handle_cancel(keeper: OrderbookKeeper, signer: bytes, action: CancelOrder) -> list[Event]:
    owner = _subaccount(signer, action.subaccount)
    market = keeper.markets.market(action.market_id)
    order_id = action.order_id
    if not order_id:
        found = keeper.order_by_client_id(owner, action.client_id) if action.client_id else None
        if found is None or found[0] != action.market_id:
            raise OrderNotFound(f"{owner} has no open order with client id {action.client_id} in market "
                                f"{action.market_id}")
        order_id = found[1]
    order = _owned_order(keeper, owner, action.market_id, order_id)
    keeper.remove(order)
    return [keeper.cancel_event(market, order, CancelReason.BY_OWNER)]


def handle_cancel_all(keeper: OrderbookKeeper, signer: bytes, action: CancelAll) -> list[Event]:
    owner = _subaccount(signer, action.subaccount)
    if action.market_id:
        keeper.markets.market(action.market_id)
    orders = list(keeper.orders_of(owner, action.market_id or None))
    keeper.remove_all(orders)
    events = [keeper.cancel_event(keeper.markets.market(order.market_id), order, CancelReason.BY_OWNER)
              for order in orders]
    for conditional in ConditionalBook(keeper.store).of(owner, action.market_id or None):
        events += handle_cancel_conditional(keeper, signer, CancelConditional(action.subaccount, conditional.market_id,
                                                                              conditional.conditional_id))
    for twap in TwapBook(keeper.store).of(owner, action.market_id or None):
        events += handle_cancel_twap(keeper, signer, CancelTwap(action.subaccount, twap.market_id, twap.twap_id))
    return events


def handle_modify(keeper: OrderbookKeeper, signer: bytes, action: ModifyOrder) -> list[Event]:
    owner = _subaccount(signer, action.subaccount)
    order = _owned_order(keeper, owner, action.market_id, action.order_id)
    if keeper.iceberg(order.market_id, order.order_id) is not None:
        raise IcebergNotAllowed(f"order {order.order_id} is an iceberg: cancel it and place a new one")
    replacement = PlaceOrder(action.subaccount, action.market_id, order.side, action.new_price, action.new_size,
                             order.tif, order.good_til_block, order.good_til_time_ms, order.post_only,
                             order.reduce_only, order.client_id)
    market = validate_place(keeper.markets, keeper.oracle, keeper.ctx, replacement)
    new_price, new_size = action.new_price // market.tick_size, action.new_size // market.step_size
    if new_price == order.price_ticks and new_size < order.size_lots:
        updated = keeper.shrink(order, new_size)
        return [Event("order_modified", (*order_attributes(updated, market), ("kept_priority", "true")))]
    keeper.remove(order)
    events = [keeper.cancel_event(market, order, "replaced")]
    return events + handle_place(keeper, signer, replacement)


def handle_schedule_cancel(keeper: OrderbookKeeper, signer: bytes, action: ScheduleCancelAll) -> list[Event]:
    if action.cancel_at_ms == 0:
        keeper.clear_dead_man_switch(signer)
        return [Event("dead_man_switch", (("account", f"0x{signer.hex()}"), ("cancel_at_ms", "0")))]
    earliest, latest = keeper.ctx.time_ms + DEAD_MAN_MIN_DELAY_MS, keeper.ctx.time_ms + DEAD_MAN_MAX_DELAY_MS
    if not earliest <= action.cancel_at_ms <= latest:
        raise DeadManSwitchRejected(f"cancel_at_ms must be from {earliest} to {latest} (block time + 5 s .. + 1 day)")
    if keeper.dead_man_count_today(signer) >= DEAD_MAN_DAILY_LIMIT:
        raise DeadManSwitchRejected(f"0x{signer.hex()} has scheduled {DEAD_MAN_DAILY_LIMIT} times today (UTC)")
    keeper.set_dead_man_switch(signer, action.cancel_at_ms)
    return [Event("dead_man_switch", (("account", f"0x{signer.hex()}"), ("cancel_at_ms", str(action.cancel_at_ms))))]


def begin_block(keeper: OrderbookKeeper) -> list[Event]:
    """Before any tx of the block: expire good-til orders (at most `expiries_per_block`, in key
    order), then fire due dead-man switches: each cancels everything its address has resting,
    orders, conditionals and TWAPs of every subaccount; every cancelled item (and every switch)
    counts against `dead_man_switches_per_block`. What is left stays due, first in line next
    block (`expiries_carried`, `dead_man_switches_carried`)."""
    params = keeper.params
    events: list[Event] = []
    due = keeper.due_expiries(params.expiries_per_block + 1)
    for market_id, order_id in due[:params.expiries_per_block]:
        order = keeper.order(market_id, order_id)
        if order is not None:
            keeper.remove(order)
            events.append(keeper.cancel_event(keeper.markets.market(market_id), order, CancelReason.EXPIRED))
    if len(due) > params.expiries_per_block:
        events.append(Event("expiries_carried", (("expired", str(params.expiries_per_block)), ("more", "true"))))
    return events + _dead_man_step(keeper, params.dead_man_switches_per_block)


def _dead_man_step(keeper: OrderbookKeeper, budget: int) -> list[Event]:
    events: list[Event] = []
    left = budget
    for address in keeper.due_dead_man_switches(budget):
        if left <= 0:
            break
        left -= 1  # the switch itself
        for order in keeper.orders_of_address(address, left):
            keeper.remove(order)
            events.append(keeper.cancel_event(keeper.markets.market(order.market_id), order, "dead_man_switch"))
            left -= 1
        book = ConditionalBook(keeper.store)
        for conditional in book.of_address(address, max(left, 0)):
            book.remove(conditional)
            events.append(Event("conditional_cancelled", (
                *conditional_attributes(conditional, keeper.markets.market(conditional.market_id)),
                ("reason", "dead_man_switch"))))
            left -= 1
        twaps = TwapBook(keeper.store)
        for twap in twaps.of_address(address, max(left, 0)):
            twaps.remove(twap)
            events.append(Event("twap_cancelled", (*twap_attributes(twap, keeper.markets.market(twap.market_id)),
                                                   ("reason", "dead_man_switch"))))
            left -= 1
        if left <= 0 and _holds_anything(keeper, address):
            break  # the switch stays due: the rest goes next block
        keeper.clear_dead_man_switch(address)
    if keeper.due_dead_man_switches(1):
        events.append(Event("dead_man_switches_carried", (("budget", str(budget)), ("more", "true"))))
    return events


def _holds_anything(keeper: OrderbookKeeper, address: bytes) -> bool:
    return bool(keeper.orders_of_address(address, 1) or ConditionalBook(keeper.store).of_address(address, 1)
                or TwapBook(keeper.store).of_address(address, 1))
