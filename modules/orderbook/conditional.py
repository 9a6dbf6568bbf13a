"""Conditional orders: stops, take-profits, trailing stops and position TP/SL, resting off the book
until the oracle crosses their trigger at the start of a block (docs/orders.md).

| kind | side | triggers when the oracle price is |
|---|---|---|
| stop (market, limit), trailing stop, position stop-loss | buy | at or above the trigger |
| the same | sell | at or below the trigger |
| take-profit (market, limit), position take-profit | buy | at or below the trigger |
| the same | sell | at or above the trigger |

A conditional whose trigger already holds at placement is refused (code 313: it would fire at
once; send an order instead), and so is one whose trigger a crossing still being queued already
passed (`refuse_within_pending_reach`). At the start of a block (`trigger_step`), trailing stops
first follow the new price (their trigger never moves back; not in a band with a pending
backlog); then at most 4 x `triggers_per_block` crossed conditionals move into the triggered
queue, oldest crossing first; then at most `triggers_per_block` fire from the head of the queue:
by the height whose price first crossed them, then by how far past the trigger that price went
(furthest first, in ppm of the trigger), then by id. What is left carries to the next block
(`triggers_carried`) and fires then even if the price came back: a crossed trigger is triggered
(modules/orderbook/conditional_store.py says how, with a bounded number of reads per block).
Stop- and take-profit-market become an IOC at their limit (the worst acceptable price), the
*-limit kinds a GTC at theirs, and the trailing and position kinds an IOC at the oracle price
moved by their slippage bound. Each passes the normal checks; one that fails them is cancelled
with the reason. A position TP/SL that fires cancels its sibling (one cancels the other).
"""

from __future__ import annotations

from modules.context import Event
from modules.errors import ChainError
from modules.keepers import Branching
from modules.markets.errors import MarketPaused
from modules.markets.types import Market, MarketStatus
from modules.oracle.update import margin_price
from modules.orderbook.actions import (
    CancelConditional,
    ConditionalKind,
    PlaceConditional,
    PlaceTrailingStop,
    SetPositionTpSl,
)
from modules.orderbook.conditional_store import Conditional, ConditionalBook, attributes
from modules.orderbook.errors import (
    InvalidOrder,
    InvalidSlippage,
    InvalidSubaccountNumber,
    InvalidTrail,
    NoPositionToProtect,
    NotYourOrder,
    OrderNotFound,
    PriceOffTick,
    SizeOffStep,
    SizeUnderMinimum,
    TooManyOpenOrders,
    TpSlPriceMissing,
    TriggerWrongSide,
)
from modules.orderbook.expected_keepers import Markets
from modules.orderbook.keeper import OrderbookKeeper
from modules.orderbook.params import MAX_SLIPPAGE_BPS
from modules.orderbook.placement import place_order, require_paid_for
from modules.orderbook.trailing import MAX_TRAIL_BPS, trail_trigger, worst_price
from modules.orderbook.types import Order, Side, TimeInForce
from modules.store import KVStore
from modules.types import MAX_SUBACCOUNT, SubaccountId

_PLAIN_KINDS = (ConditionalKind.STOP_MARKET, ConditionalKind.STOP_LIMIT, ConditionalKind.TAKE_PROFIT_MARKET,
                ConditionalKind.TAKE_PROFIT_LIMIT)

__all__ = ["Conditional", "ConditionalBook", "handle_cancel_conditional", "handle_place_conditional",
           "handle_place_trailing_stop", "handle_set_position_tpsl", "refuse_within_pending_reach", "trigger_step",
           "validate_position_tpsl", "validate_trailing_stop"]

DETECT_FACTOR = 4  # a block queues at most this many times `triggers_per_block` crossed conditionals


# -- checks shared by every kind ------------------------------------------------------------------

def _open_market(markets: Markets, subaccount: int, market_id: int) -> Market:
    if not 0 <= subaccount <= MAX_SUBACCOUNT:
        raise InvalidSubaccountNumber(f"subaccount {subaccount} is outside 0..{MAX_SUBACCOUNT}")
    market = markets.market(market_id)
    if market.status == MarketStatus.PAUSED:
        raise MarketPaused(f"{market.ticker} is paused")
    return market


def _price_ticks(market: Market, name: str, price: int) -> int:
    if not 0 < price < 2**63 or price % market.tick_size:
        raise PriceOffTick(f"{name} {price} is not a positive multiple of {market.ticker}'s tick size "
                           f"{market.tick_size}")
    return price // market.tick_size


def _size_lots(market: Market, size: int) -> int:
    if not 0 < size < 2**63 or size % market.step_size:
        raise SizeOffStep(f"size {size} is not a positive multiple of the step size {market.step_size}")
    if size < market.min_order_size:
        raise SizeUnderMinimum(f"size {size} is under {market.ticker}'s minimum {market.min_order_size}")
    return size // market.step_size


def _check_slippage(bps: int) -> None:
    if not 0 < bps <= MAX_SLIPPAGE_BPS:
        raise InvalidSlippage(f"max_slippage_bps {bps} must be from 1 to {MAX_SLIPPAGE_BPS}")


def _room_for_one_more(keeper: OrderbookKeeper, book: ConditionalBook, owner: SubaccountId, adding: int = 1) -> None:
    most = keeper.params.max_conditionals
    if book.count_of(owner) + adding > most:
        raise TooManyOpenOrders(f"{owner} already has {most} conditional orders")


def _oracle_ticks(keeper: OrderbookKeeper, market: Market) -> int:
    return margin_price(keeper.oracle, market.market_id, market.reference_price) // market.tick_size


def _refuse_if_fires_now(c: Conditional, now_ticks: int, market: Market) -> None:
    if (now_ticks >= c.trigger_ticks) if c.fires_up else (now_ticks <= c.trigger_ticks):
        raise TriggerWrongSide(f"a {c.kind.name.lower()} {c.side.name.lower()} triggered at "
                               f"{c.trigger_ticks * market.tick_size} would fire at once: the oracle is at "
                               f"{now_ticks * market.tick_size}")


def refuse_within_pending_reach(store: KVStore, c: Conditional, market: Market) -> None:
    """Refuse (313) a conditional whose trigger a crossing still being queued already passed: a
    price before it existed would fire it. `c` as it would be stored (a trailing stop with its
    trigger at the current anchor). Placement calls it beside `_refuse_if_fires_now`;
    `ConditionalBook.add` refuses the same as a backstop."""
    book = ConditionalBook(store)
    if book.within_pending_reach(c):
        raise TriggerWrongSide(f"a {c.kind.name.lower()} {c.side.name.lower()} triggered at "
                               f"{c.trigger_ticks * market.tick_size} would fire at once: a price move still being "
                               "processed already crossed it")


# -- handlers ---------------------------------------------------------------------------------------

def handle_place_conditional(keeper: OrderbookKeeper, signer: bytes, action: PlaceConditional) -> list[Event]:
    market = _open_market(keeper.markets, action.subaccount, action.market_id)
    if action.kind not in _PLAIN_KINDS:
        raise InvalidOrder(f"kind {int(action.kind)} is placed by its own action (trailing stop, position TP/SL)")
    trigger = _price_ticks(market, "trigger_price", action.trigger_price)
    limit = _price_ticks(market, "limit_price", action.limit_price)
    size = _size_lots(market, action.size)
    owner = SubaccountId(signer, action.subaccount)
    if action.reduce_only:
        keeper.require_reduces(owner, market, action.side)
    book = ConditionalBook(keeper.store)
    _room_for_one_more(keeper, book, owner)
    before = keeper.risk(owner)
    conditional = Conditional(book.next_id(), market.market_id, owner, action.kind, action.side, trigger, limit,
                              size, action.reduce_only)
    _refuse_if_fires_now(conditional, _oracle_ticks(keeper, market), market)
    book.add(conditional)
    require_paid_for(keeper, owner, before)
    return [Event("conditional_placed", attributes(conditional, market))]


def validate_trailing_stop(markets: Markets, action: PlaceTrailingStop) -> Market:
    """Every rule of a trailing stop that needs neither the oracle nor the subaccount (CheckTx too)."""
    market = _open_market(markets, action.subaccount, action.market_id)
    _size_lots(market, action.size)
    _check_slippage(action.max_slippage_bps)
    if bool(action.trail_price) == bool(action.trail_bps):
        raise InvalidTrail("set exactly one of trail_price (micro-USDC) and trail_bps")
    if action.trail_price and (not 0 < action.trail_price < 2**63 or action.trail_price % market.tick_size):
        raise InvalidTrail(f"trail_price {action.trail_price} is not a positive multiple of {market.ticker}'s tick "
                           f"size {market.tick_size}")
    if action.trail_bps and not 0 < action.trail_bps <= MAX_TRAIL_BPS:
        raise InvalidTrail(f"trail_bps {action.trail_bps} must be from 1 to {MAX_TRAIL_BPS}")
    return market


def handle_place_trailing_stop(keeper: OrderbookKeeper, signer: bytes, action: PlaceTrailingStop) -> list[Event]:
    market = validate_trailing_stop(keeper.markets, action)
    trail_ticks = action.trail_price // market.tick_size
    anchor = _oracle_ticks(keeper, market)
    trigger = trail_trigger(action.side, anchor, trail_ticks, action.trail_bps)
    if trigger <= 0:
        raise InvalidTrail(f"a trail of {action.trail_price} from {anchor * market.tick_size} leaves no price to "
                           "trigger at")
    owner = SubaccountId(signer, action.subaccount)
    if action.reduce_only:
        keeper.require_reduces(owner, market, action.side)
    book = ConditionalBook(keeper.store)
    _room_for_one_more(keeper, book, owner)
    before = keeper.risk(owner)
    conditional = book.add(Conditional(book.next_id(), market.market_id, owner, ConditionalKind.TRAILING_STOP,
                                       action.side, trigger, 0, action.size // market.step_size, action.reduce_only,
                                       trail_ticks, action.trail_bps, anchor, action.max_slippage_bps))
    require_paid_for(keeper, owner, before)
    return [Event("conditional_placed", attributes(conditional, market))]


def validate_position_tpsl(markets: Markets, action: SetPositionTpSl) -> Market:
    """Every rule of a position TP/SL that needs neither the oracle nor the position (CheckTx too:
    the position may come from an earlier tx of the same block)."""
    market = _open_market(markets, action.subaccount, action.market_id)
    _check_slippage(action.max_slippage_bps)
    if not action.take_profit_price and not action.stop_loss_price:
        raise TpSlPriceMissing("set a take_profit_price, a stop_loss_price or both")
    for name, price in (("take_profit_price", action.take_profit_price), ("stop_loss_price", action.stop_loss_price)):
        if price:
            _price_ticks(market, name, price)
    if action.size:
        _size_lots(market, action.size)
    return market


def handle_set_position_tpsl(keeper: OrderbookKeeper, signer: bytes, action: SetPositionTpSl) -> list[Event]:
    market = validate_position_tpsl(keeper.markets, action)
    owner = SubaccountId(signer, action.subaccount)
    held = keeper.margin.position(owner, market.market_id).size_lots
    if held == 0:
        raise NoPositionToProtect(f"{owner} holds no {market.ticker} position to attach a take-profit or stop-loss to")
    size = abs(held) if action.size == 0 else min(action.size // market.step_size, abs(held))
    side = Side.SELL if held > 0 else Side.BUY  # closing side
    now = _oracle_ticks(keeper, market)
    book = ConditionalBook(keeper.store)
    events = _remove_position_pair(book, owner, market, "replaced")
    wanted = [(kind, price // market.tick_size) for kind, price in (
        (ConditionalKind.POSITION_STOP_LOSS, action.stop_loss_price),
        (ConditionalKind.POSITION_TAKE_PROFIT, action.take_profit_price)) if price]
    _room_for_one_more(keeper, book, owner, len(wanted))
    ids = {kind: book.next_id() for kind, _ in wanted}
    placed = []
    for kind, trigger in wanted:
        sibling = next((i for k, i in ids.items() if k != kind), 0)
        conditional = Conditional(ids[kind], market.market_id, owner, kind, side, trigger, 0, size, True,
                                  slippage_bps=action.max_slippage_bps, link_id=sibling)
        _refuse_if_fires_now(conditional, now, market)
        placed.append(conditional)
    before = keeper.risk(owner)
    for conditional in placed:
        book.add(conditional)
        events.append(Event("conditional_placed", attributes(conditional, market)))
    require_paid_for(keeper, owner, before)
    book.set_position_pair(owner, market.market_id, ids.get(ConditionalKind.POSITION_STOP_LOSS, 0),
                           ids.get(ConditionalKind.POSITION_TAKE_PROFIT, 0))
    return events


def _remove_position_pair(book: ConditionalBook, owner: SubaccountId, market: Market, reason: str) -> list[Event]:
    events = []
    for conditional_id in book.position_pair(owner, market.market_id):
        existing = book.get(conditional_id) if conditional_id else None
        if existing is not None:
            book.remove(existing)
            events.append(Event("conditional_cancelled", (*attributes(existing, market), ("reason", reason))))
    return events


def handle_cancel_conditional(keeper: OrderbookKeeper, signer: bytes, action: CancelConditional) -> list[Event]:
    book = ConditionalBook(keeper.store)
    conditional = book.get(action.conditional_id)
    if conditional is None or conditional.market_id != action.market_id:
        raise OrderNotFound(f"no conditional order {action.conditional_id} in market {action.market_id}")
    owner = SubaccountId(signer, action.subaccount)
    if conditional.owner != owner:
        raise NotYourOrder(f"conditional {action.conditional_id} belongs to {conditional.owner}, not {owner}")
    book.remove(conditional)
    return [Event("conditional_cancelled", (*attributes(conditional, keeper.markets.market(conditional.market_id)),
                                            ("reason", "by_owner")))]


# -- the start-of-block step ------------------------------------------------------------------------

def trigger_step(keeper: OrderbookKeeper, branching: Branching) -> list[Event]:
    """1. trailing stops follow each market's price and at most 4 x `triggers_per_block` crossed
    conditionals move into the triggered queue (`ConditionalBook.detect`); 2. at most
    `triggers_per_block` fire from its head, each on its own branch so a failure leaves nothing
    but its reason; 3. `triggers_carried` when some are left for the next block."""
    book = ConditionalBook(keeper.store)
    budget = keeper.params.triggers_per_block
    prices = [(market.market_id, _oracle_ticks(keeper, market)) for market in keeper.markets.markets()]
    detection = book.detect(prices, keeper.ctx.height, budget * DETECT_FACTOR)
    events: list[Event] = []
    for conditional_id in book.queue_head(budget):
        conditional = book.get(conditional_id)
        if conditional is not None:  # else its sibling fired earlier in this block
            events += _fire(keeper, branching, conditional)
    queued = book.queued_count()
    if queued or detection.pending_bands:
        events.append(Event("triggers_carried", (("queued", str(queued)),
                                                 ("more", "true" if detection.pending_bands else "false"))))
    return events


def _fire(keeper: OrderbookKeeper, branching: Branching, conditional: Conditional) -> list[Event]:
    market = keeper.markets.market(conditional.market_id)
    branch, write = branching()
    book = ConditionalBook(branch.store)
    if book.get(conditional.conditional_id) is None:  # its sibling fired earlier in this block
        return []
    book.remove(conditional)
    oracle = _oracle_ticks(keeper, market)
    events = [Event("conditional_triggered", (*attributes(conditional, market),
                                              ("oracle_price", str(oracle * market.tick_size))))]
    sibling = book.get(conditional.link_id) if conditional.link_id else None
    if sibling is not None:
        book.remove(sibling)
        events.append(Event("conditional_cancelled", (*attributes(sibling, market), ("reason", "one_cancels_other"))))
    write()

    branch, write = branching()
    branch_keeper = branch.orderbook
    checkpoint = keeper.books.checkpoint()
    try:
        size = conditional.size_lots
        if conditional.reduce_only:
            closable = branch_keeper.closable_lots(conditional.owner, market.market_id, conditional.side)
            if closable <= 0:
                raise OrderNotFound("no position left to reduce")
            size = min(size, closable)
        kind = conditional.kind
        price = market.clamp_to_band(worst_price(conditional.side, oracle, conditional.slippage_bps), oracle) \
            if kind.prices_from_oracle else conditional.limit_ticks
        order = Order(branch_keeper.next_order_id(), market.market_id, conditional.owner, 0, conditional.side, price,
                      size, False, conditional.reduce_only, TimeInForce.GTC if kind.is_limit else TimeInForce.IOC)
        placed = place_order(branch_keeper, market, order)
        keeper.books.release(checkpoint)
        write()
        return events + placed
    except ChainError as error:
        keeper.books.rollback(checkpoint)
        return events + [Event("conditional_cancelled", (*attributes(conditional, market), ("reason", error.log)))]
