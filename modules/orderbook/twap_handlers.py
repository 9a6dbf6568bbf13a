"""TWAP's actions and its start-of-block step, which sends the children due (twap.py says how a
TWAP runs and keeps its records; every child is placed through placement.py)."""

from __future__ import annotations

from dataclasses import replace

from modules.context import Event
from modules.errors import ChainError
from modules.keepers import Branching
from modules.markets.errors import MarketPaused
from modules.markets.types import Market, MarketStatus
from modules.oracle.update import margin_price
from modules.orderbook.actions import CancelTwap, PlaceTwap
from modules.orderbook.errors import (
    InvalidSlippage,
    InvalidSubaccountNumber,
    InvalidTwap,
    NotYourOrder,
    OrderNotFound,
    SizeOffStep,
    SizeUnderMinimum,
    TooManyTwaps,
    TwapZeroSlices,
)
from modules.orderbook.expected_keepers import Markets
from modules.orderbook.keeper import OrderbookKeeper
from modules.orderbook.params import MAX_SLIPPAGE_BPS, MAX_TWAP_INTERVAL_BLOCKS, MAX_TWAP_SLICES
from modules.orderbook.placement import place_order, require_paid_for
from modules.orderbook.trailing import worst_price
from modules.orderbook.twap import Twap, TwapBook, attributes
from modules.orderbook.types import Order, TimeInForce
from modules.types import MAX_SUBACCOUNT, SubaccountId


def validate_twap(markets: Markets, action: PlaceTwap) -> Market:
    """Every rule of a TWAP that needs no position or count (CheckTx runs it too)."""
    if not 0 <= action.subaccount <= MAX_SUBACCOUNT:
        raise InvalidSubaccountNumber(f"subaccount {action.subaccount} is outside 0..{MAX_SUBACCOUNT}")
    market = markets.market(action.market_id)
    if market.status == MarketStatus.PAUSED:
        raise MarketPaused(f"{market.ticker} is paused")
    if action.slices == 0:
        raise TwapZeroSlices("a TWAP needs at least one slice")
    if not 0 < action.size < 2**63 or action.size % market.step_size:
        raise SizeOffStep(f"size {action.size} is not a positive multiple of the step size {market.step_size}")
    if action.size < market.min_order_size:
        raise SizeUnderMinimum(f"size {action.size} is under {market.ticker}'s minimum {market.min_order_size}")
    if action.slices > MAX_TWAP_SLICES:
        raise InvalidTwap(f"slices {action.slices} is over the limit of {MAX_TWAP_SLICES}")
    if not 0 < action.interval_blocks <= MAX_TWAP_INTERVAL_BLOCKS:
        raise InvalidTwap(f"interval_blocks {action.interval_blocks} must be from 1 to {MAX_TWAP_INTERVAL_BLOCKS}")
    if action.size // market.step_size < action.slices:
        raise InvalidTwap(f"{action.slices} slices of a {action.size}-atom TWAP would be under one step "
                          f"({market.step_size} atoms) each")
    if not 0 < action.max_slippage_bps <= MAX_SLIPPAGE_BPS:
        raise InvalidSlippage(f"max_slippage_bps {action.max_slippage_bps} must be from 1 to {MAX_SLIPPAGE_BPS}")
    return market


def handle_place_twap(keeper: OrderbookKeeper, signer: bytes, action: PlaceTwap) -> list[Event]:
    market = validate_twap(keeper.markets, action)
    owner = SubaccountId(signer, action.subaccount)
    if action.reduce_only:
        keeper.require_reduces(owner, market, action.side)
    book = TwapBook(keeper.store)
    if book.count_of(owner) >= keeper.params.max_twaps:
        raise TooManyTwaps(f"{owner} already runs {keeper.params.max_twaps} TWAPs")
    before = keeper.risk(owner)
    twap = Twap(book.next_id(), market.market_id, owner, action.side, action.size // market.step_size, 0,
                action.slices, 0, action.interval_blocks, keeper.ctx.height + 1, action.max_slippage_bps,
                action.reduce_only)
    book.put(twap)
    require_paid_for(keeper, owner, before)
    return [Event("twap_placed", (*attributes(twap, market), ("interval_blocks", str(twap.interval_blocks)),
                                  ("first_block", str(twap.next_block))))]


def handle_cancel_twap(keeper: OrderbookKeeper, signer: bytes, action: CancelTwap) -> list[Event]:
    book = TwapBook(keeper.store)
    twap = book.get(action.twap_id)
    if twap is None or twap.market_id != action.market_id:
        raise OrderNotFound(f"no running TWAP {action.twap_id} in market {action.market_id}")
    owner = SubaccountId(signer, action.subaccount)
    if twap.owner != owner:
        raise NotYourOrder(f"TWAP {action.twap_id} belongs to {twap.owner}, not {owner}")
    book.remove(twap)
    return [Event("twap_cancelled", (*attributes(twap, keeper.markets.market(twap.market_id)), ("reason", "by_owner")))]


def twap_step(keeper: OrderbookKeeper, branching: Branching) -> list[Event]:
    """Send the children due at this height, at most `twap_children_per_block`, in (due block,
    id) order. The others stay due (their due block passed, so they come first next block):
    `twap_children_carried` says some wait."""
    book = TwapBook(keeper.store)
    budget = keeper.params.twap_children_per_block
    due = book.due(keeper.ctx.height, budget + 1)
    events: list[Event] = []
    for twap_id in due[:budget]:
        twap = book.get(twap_id)
        assert twap is not None, "TWAP due index names a missing TWAP"
        events += _send_child(keeper, branching, book, twap)
    if len(due) > budget:
        events.append(Event("twap_children_carried", (("sent", str(budget)), ("more", "true"))))
    return events


def _send_child(keeper: OrderbookKeeper, branching: Branching, book: TwapBook, twap: Twap) -> list[Event]:
    """One child IOC on its own branch, then the TWAP's progress (kept whatever the child did)."""
    market = keeper.markets.market(twap.market_id)
    size = twap.next_child_lots()
    if twap.reduce_only:
        size = min(size, keeper.closable_lots(twap.owner, market.market_id, twap.side))
        if size <= 0:  # the position it was reducing is gone: nothing more to do
            book.remove(twap)
            return [Event("twap_finished", (*attributes(twap, market), ("reason", "no position left to reduce")))]
    branch, write = branching()
    branch_keeper = branch.orderbook
    checkpoint = keeper.books.checkpoint()
    order_id = branch_keeper.next_order_id()
    filled, reason, placed = 0, "", []
    try:
        oracle = margin_price(keeper.oracle, market.market_id, market.reference_price) // market.tick_size
        price = market.clamp_to_band(worst_price(twap.side, oracle, twap.slippage_bps), oracle)
        order = Order(order_id, market.market_id, twap.owner, 0, twap.side, price, size, False, twap.reduce_only,
                      TimeInForce.IOC)
        branch_book = TwapBook(branch.store)
        branch_book.reserve(twap, -size)  # the child stands for this part while it trades
        placed = place_order(branch_keeper, market, order)
        branch_book.reserve(twap, size)  # ... and the TWAP's progress below releases what filled
        filled = sum(int(dict(e.attributes)["size"]) for e in placed
                     if e.type == "fill" and dict(e.attributes)["taker_order_id"] == str(order_id)) // market.step_size
        keeper.books.release(checkpoint)
        write()
    except ChainError as error:
        keeper.books.rollback(checkpoint)
        filled, reason, placed = 0, error.log, []
        order_id = 0  # its branch is gone: the id names no order
    # The next child is due `interval_blocks` after this one went out: a child the budget made
    # late does not keep an old due block (a backlog would then always come first and starve the
    # TWAPs due after it; this way the due index is first come, first served).
    updated = replace(twap, filled_lots=twap.filled_lots + filled, slices_done=twap.slices_done + 1,
                      next_block=max(twap.next_block, keeper.ctx.height) + twap.interval_blocks)
    child = [("twap_id", str(twap.twap_id)), ("order_id", str(order_id)), ("slice", str(updated.slices_done)),
             ("size", str(size * market.step_size)), ("filled", str(filled * market.step_size)),
             ("remaining", str(updated.remaining_lots * market.step_size))]
    if reason:
        child.append(("reason", reason))
    events = [Event("twap_child", tuple(child)), *placed]
    if updated.slices_done == updated.slices or updated.remaining_lots == 0:
        book.remove(twap)
        events.append(Event("twap_finished", attributes(updated, market)))
    else:
        book.put(updated, previous=twap)
    return events
