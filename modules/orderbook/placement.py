"""Order placement, the one path every order takes whatever sent it: a direct order (msg_server),
a triggered conditional (conditional.py), a TWAP child (twap_handlers.py). It holds the rules
every order obeys (market open, price band), matching and clearing through the keeper, and what
a stored order, conditional or TWAP must keep paid for (initial margin, the storage tier).
"""

from __future__ import annotations

from modules.context import Attributes, Event
from modules.margin.errors import InsufficientMargin
from modules.margin.risk import AccountRisk, PendingChange, RiskView, margin_price_ticks
from modules.markets.errors import MarketPaused, MarketReduceOnly
from modules.markets.types import Market, MarketStatus
from modules.oracle.errors import MarketStale
from modules.oracle.params import STALE_AFTER_BLOCKS
from modules.orderbook.errors import (
    FillOrKillNotFilled,
    PostOnlyWouldCross,
    PriceOutsideBand,
    TooManyOpenOrders,
)
from modules.orderbook.expected_keepers import Oracle
from modules.orderbook.keeper import OrderbookKeeper, order_attributes
from modules.orderbook.types import RESTING_TIME_IN_FORCE, FillSummary, Order, Side, TimeInForce
from modules.types import SubaccountId


def market_open_to(market: Market, oracle: Oracle, height: int, reduce_only: bool) -> None:
    """The market takes this order: not paused, and unless it is reduce-only, neither reduce-only
    nor without a fresh oracle price."""
    if market.status == MarketStatus.PAUSED:
        raise MarketPaused(f"{market.ticker} is paused")
    if market.status == MarketStatus.REDUCE_ONLY and not reduce_only:
        raise MarketReduceOnly(f"{market.ticker} accepts only reduce-only orders")
    if not reduce_only and oracle.is_stale(market.market_id, height):
        raise MarketStale(f"{market.ticker} has had no fresh oracle price for {STALE_AFTER_BLOCKS} blocks; "
                          "only reduce-only orders are accepted")


def within_band(market: Market, oracle: Oracle, side: Side, price_ticks: int) -> None:
    """The price lies within the market's band around the oracle price (docs/orders.md)."""
    oracle_ticks = margin_price_ticks(market, oracle)
    low, high = market.band_ticks(oracle_ticks)
    if not low <= price_ticks <= high:
        raise PriceOutsideBand(f"a {side.name.lower()} at {price_ticks * market.tick_size} is outside {market.ticker}'s "
                               f"band of {low * market.tick_size}..{high * market.tick_size} (oracle "
                               f"{oracle_ticks * market.tick_size} ± {market.price_band_ppm // 10_000}%)")


def order_rules(market: Market, oracle: Oracle, height: int, order: Order) -> None:
    """The rules every order obeys whatever sent it: a direct order, a TWAP child, a triggered
    conditional (place_order runs them; margin and the open-interest cap follow in matching)."""
    market_open_to(market, oracle, height, order.reduce_only)
    within_band(market, oracle, order.side, order.price_ticks)


class RiskCarry:
    """What a placement hands the next one in a run of placements (consecutive orders of one tx,
    as a market maker's ladder): the subaccount's risk view as it stands after the order rested,
    and its count of conditionals and TWAPs. Kept only when the order changed nothing but the
    subaccount's holding in its own market: no fill, no maker cancelled, no order or conditional
    cancelled (each of those has an event; the one silent change, a reduce-only order resized,
    stays in that market). The next placement of that subaccount then starts from that view, grown
    by the lots that came to rest (RiskView.with_resting; after a reduce-only order, that holding
    read again: RiskView.moved), not from its balance, every market's inputs and every term."""

    __slots__ = ("owner", "view", "besides_orders")

    def __init__(self) -> None:
        self.owner: SubaccountId | None = None
        self.view: RiskView | None = None
        self.besides_orders = 0  # the subaccount's conditionals and TWAPs, which placing leaves as they are

    def take(self, owner: SubaccountId) -> tuple[RiskView, int] | None:
        """The view and count handed on for `owner`, once (None: none, or another subaccount's)."""
        handed = (self.view, self.besides_orders) if self.owner == owner and self.view is not None else None
        self.owner = self.view = None
        return handed

    def keep(self, owner: SubaccountId, view: RiskView, besides_orders: int) -> None:
        self.owner, self.view, self.besides_orders = owner, view, besides_orders


def place_order(keeper: OrderbookKeeper, market: Market, order: Order, display_lots: int = 0,
                carry: RiskCarry | None = None, rules_checked: bool = False) -> list[Event]:
    """Match, clear, rest what may rest, then hold the taker to its initial margin. An iceberg
    (`display_lots` > 0) takes like any order; what rests shows `display_lots` and hides the rest.
    `carry`: the run's (RiskCarry), which this placement takes its view from and hands one on.
    `rules_checked`: the caller applied `order_rules` to this very order (a direct order's
    validate_place did, in this block and with this oracle price)."""
    if not rules_checked:
        order_rules(market, keeper.oracle, keeper.ctx.height, order)
    book = keeper.books[market.market_id]
    handed = carry.take(order.owner) if carry is not None else None
    view, carried_besides = handed if handed is not None else (keeper.risk_view(order.owner), None)
    before = view.risk()
    if not order.reduce_only:
        require_worst_case_collateral(view, market, order, before)
    if order.post_only and book.would_cross(order.side, order.price_ticks):
        raise PostOnlyWouldCross(f"post-only {order.side.name.lower()} at {order.price_ticks * market.tick_size} "
                                 f"would cross the book")
    if order.tif == TimeInForce.FOK:
        available = book.available_to_fill(order.side, order.price_ticks, order.owner, order.size_lots)
        if available < order.size_lots:
            raise FillOrKillNotFilled(f"only {available * market.step_size} of {order.size_lots * market.step_size} "
                                      f"atoms can fill at {order.price_ticks * market.tick_size} or better")
    if display_lots:  # announce the shown slice only: the hidden size is never in an event
        announced = order.with_size(min(display_lots, order.size_lots))
        events = [Event.deferred("order_placed", _placed_attributes, announced, market, True)]
    else:
        events = [Event.deferred("order_placed", _placed_attributes, order, market, False)]
    # An order that crosses nothing (every post-only one, by now) has nothing to match.
    summary = keeper.match(market, order) if book.would_cross(order.side, order.price_ticks) else FillSummary()
    events.extend(summary.events)
    if order.tif == TimeInForce.FOK and summary.filled_lots < order.size_lots:
        raise FillOrKillNotFilled(f"a maker dropped out; {summary.filled_lots} of {order.size_lots} lots filled")
    remaining = order.size_lots - summary.filled_lots
    rests = bool(remaining) and order.tif in RESTING_TIME_IN_FORCE
    if rests:
        if keeper.open_order_count(order.owner) >= keeper.params.max_open_orders:
            raise TooManyOpenOrders(f"{order.owner} already has {keeper.params.max_open_orders} resting orders")
        shown = min(display_lots, remaining) if display_lots else remaining
        keeper.rest(order.with_size(shown))
        if remaining > shown:
            keeper.hide(order, display_lots, remaining - shown)
    elif remaining:
        events.append(keeper.cancel_event(market, order.with_size(remaining), "unfilled_" + order.tif.name.lower()))
    # Reduce-only orders (and TP/SL) can outgrow a position only where it shrank or changed side
    # (the fills' owners but those whose position only grew) or where one more rests (a
    # reduce-only order); the others keep holding the rule.
    touched = [order.owner] if order.reduce_only else []
    for owner in summary.not_only_grown:  # a loop, not extend(generator): compiled, that reads `touched` once
        if owner not in touched:
            touched.append(owner)
    for subaccount in touched:
        events.extend(keeper.shrink_reduce_only(subaccount, market))
    # Where matching did nothing (no fill, no maker cancelled) and nothing shrank, the order only
    # added its resting lots: the view judges that without reading the subaccount again.
    untouched = not summary.events and len(events) == 1
    if rests:
        rested = _rested(view, market, order, remaining) if untouched else None
        after = rested.risk() if rested is not None else None
        # The carried count holds while this order only rested: a fill that closes or flips the
        # position cancels its TP/SL (fit_to_position), so then it is counted again.
        besides_orders = carried_besides if untouched and carried_besides is not None else \
            keeper.stored_besides_orders(order.owner)
        require_paid_for(keeper, order.owner, before, after, besides_orders)
        if carry is not None and rested is not None:
            # A reduce-only order may have resized the owner's others here without an event
            # (shrink_reduce_only): the view handed on reads that holding again.
            carry.keep(order.owner, view.moved(market.market_id) if order.reduce_only else rested, besides_orders)
    else:
        keeper.require_initial_margin(order.owner, before)
    return events


def _rested(view: RiskView, market: Market, order: Order, lots: int) -> RiskView:
    """The view after `lots` of `order` came to rest (hidden iceberg lots count as resting)."""
    return view.with_resting(market.market_id, lots if order.side == Side.BUY else 0,
                             lots if order.side == Side.SELL else 0)


def require_paid_for(keeper: OrderbookKeeper, owner: SubaccountId, before: AccountRisk,
                     after: AccountRisk | None = None, besides_orders: int | None = None) -> None:
    """After storing an order, a conditional or a TWAP: the subaccount still meets its initial
    requirement (what it stores reserves margin for its worst case) and stays within its tier.
    `after`: the risk now when the caller knows it already (else it is read); `besides_orders`:
    its conditionals and TWAPs when the caller counted them (else they are read)."""
    after = keeper.require_initial_margin(owner, before, after)
    keeper.require_storage_room(owner, after.equity_micro_usdc, besides_orders)


def require_worst_case_collateral(view: RiskView, market: Market, order: Order, before: AccountRisk) -> None:
    """Before matching, an order that may open or grow a position must be collateralized as if it
    filled in full at its own price (dYdX's rule): equity, less what such a fill loses against the
    oracle price and its taker fee, covers the initial requirement with the whole size added. An
    order that does not raise the requirement (one that closes) always passes; what it really
    does is judged again after matching. So an account without collateral can place nothing that
    could open a position, not even an IOC that would find nothing to fill."""
    oracle_ticks = view.market_inputs(market.market_id)[1]
    worse_by = order.price_ticks - oracle_ticks if order.side == Side.BUY else oracle_ticks - order.price_ticks
    loss = market.notional(max(0, worse_by), order.size_lots)
    fee = -(-market.notional(order.price_ticks, order.size_lots) * market.taker_fee_ppm // 1_000_000)
    position = view.settled_position(market.market_id)
    lots = order.size_lots
    worst = view.risk(PendingChange(market.market_id, position, -loss - fee, lots if order.side == Side.BUY else 0,
                                    lots if order.side == Side.SELL else 0))
    if worst.initial_micro_usdc > before.initial_micro_usdc and worst.equity_micro_usdc < worst.initial_micro_usdc:
        raise InsufficientMargin(f"{order.owner} would hold equity {worst.equity_micro_usdc} micro-USDC against an "
                                 f"initial requirement of {worst.initial_micro_usdc} if the order filled in full at "
                                 f"{order.price_ticks * market.tick_size}")


def _placed_attributes(order: Order, market: Market, iceberg: bool) -> Attributes:
    """`order_placed`'s attributes; an iceberg's announce its shown slice and say so."""
    placed = (*order_attributes(order, market), ("time_in_force", order.tif.name))
    return (*placed, ("iceberg", "true")) if iceberg else placed
