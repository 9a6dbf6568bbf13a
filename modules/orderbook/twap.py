"""TWAP parent orders: a total size executed as IOC children, one every `interval_blocks` blocks.

The first child goes out at the start of the block after placement, after the conditionals of
that block have fired; each later one `interval_blocks` blocks after the one before. At most
`twap_children_per_block` children go out in a block, in (due block, id) order; one that waits
for the budget goes out late, and the next is due `interval_blocks` after it did. A child is
sized `ceil(remaining / slices left)`, so what an earlier child could not fill is carried into
the next ones and the last child asks for exactly what remains: the children together never
execute more than the total. Each child is an IOC at the oracle price moved by the slippage
bound and passes the normal checks; one that fails them is reported and counts as a slice.

The TWAPs are kept by the block their next child is due (keys.py, `wq/`), so a block reads only
the TWAPs due at its height, at most `twap_children_per_block` (the rest stay due and go first next
block: `twap_children_carried`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from typing import Callable

from modules.context import Event
from modules.encoding import stored_uint, u64
from modules.errors import ChainError
from modules.margin.keeper import MarginKeeper
from modules.markets.errors import MarketPaused
from modules.markets.keeper import MarketsKeeper
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
from modules.orderbook.keeper import OrderbookKeeper
from modules.orderbook.keys import (
    NEXT_TWAP_ID,
    STORE_PREFIX,
    TWAP,
    TWAP_DUE,
    trailing_id,
    twap_count_key,
    twap_due_key,
    twap_index_key,
    twap_index_of_address,
    twap_index_prefix,
    twap_key,
)
from modules.orderbook.params import MAX_SLIPPAGE_BPS, MAX_TWAP_INTERVAL_BLOCKS, MAX_TWAP_SLICES
from modules.orderbook.trailing import worst_price
from modules.orderbook.types import Order, Side, TimeInForce
from modules.store import KVStore, PrefixStore, add_to_count, prefix_end, read_count
from modules.types import MAX_SUBACCOUNT, SubaccountId

_RECORD = struct.Struct(">I20sBBQQIIIQHB")

Branching = Callable[[], tuple[KVStore, Callable[[], None]]]


@dataclass(frozen=True)
class Twap:
    twap_id: int
    market_id: int
    owner: SubaccountId
    side: Side
    total_lots: int
    filled_lots: int
    slices: int
    slices_done: int
    interval_blocks: int
    next_block: int
    slippage_bps: int
    reduce_only: bool

    @property
    def remaining_lots(self) -> int:
        return self.total_lots - self.filled_lots

    def next_child_lots(self) -> int:
        """ceil(remaining / slices left): never more than what remains, all of it in the last slice."""
        return -(-self.remaining_lots // (self.slices - self.slices_done))


class TwapBook:
    def __init__(self, store: KVStore) -> None:
        self._store = PrefixStore(store, STORE_PREFIX)
        self._margin = MarginKeeper(store)

    def reserve(self, twap: Twap, lots: int) -> None:
        """A TWAP that may open a position reserves what remains of it as open-order exposure
        (reduce-only ones reserve nothing); `lots` < 0 releases."""
        if twap.reduce_only or not lots:
            return
        self._margin.add_exposure(twap.owner, twap.market_id, lots if twap.side == Side.BUY else 0,
                                  lots if twap.side == Side.SELL else 0)

    def get(self, twap_id: int) -> Twap | None:
        raw = self._store.get(twap_key(twap_id))
        if raw is None:
            return None
        (market, address, number, side, total, filled, slices, done, interval, next_block, slippage,
         reduce_only) = _RECORD.unpack(raw)
        return Twap(twap_id, market, SubaccountId(address, number), Side(side), total, filled, slices, done, interval,
                    next_block, slippage, bool(reduce_only))

    def of(self, owner: SubaccountId, market_id: int | None = None) -> list[Twap]:
        start = twap_index_prefix(owner, market_id)
        found = [self.get(trailing_id(k)) for k, _ in self._store.iterate(start, prefix_end(start))]
        return [t for t in found if t is not None]

    def count_of(self, owner: SubaccountId) -> int:
        """How many TWAPs a subaccount runs."""
        return read_count(self._store, twap_count_key(owner))

    def all(self) -> list[Twap]:
        """Every running TWAP, by id (invariant checks only: it reads them all)."""
        found = [self.get(trailing_id(k)) for k, _ in self._store.iterate(TWAP, prefix_end(TWAP))]
        return [t for t in found if t is not None]

    def of_address(self, address: bytes, limit: int) -> list[Twap]:
        """At most `limit` of an address's TWAPs, every subaccount, by subaccount, market, id."""
        start = twap_index_of_address(address)
        found: list[Twap] = []
        for key, _ in self._store.iterate(start, prefix_end(start)):
            if len(found) == limit:
                break
            twap = self.get(trailing_id(key))
            assert twap is not None, "subaccount index names a missing TWAP"
            found.append(twap)
        return found

    def due(self, height: int, limit: int | None = None) -> list[int]:
        """Ids of TWAPs whose next child is due at or before `height`, in (block, id) order, at
        most `limit` of them."""
        ids: list[int] = []
        for key, _ in self._store.iterate(TWAP_DUE, twap_due_key(height + 1)):
            if limit is not None and len(ids) == limit:
                break
            ids.append(trailing_id(key))
        return ids

    def next_id(self) -> int:
        value = stored_uint(self._store.get(NEXT_TWAP_ID), 1)
        self._store.set(NEXT_TWAP_ID, u64(value + 1))
        return value

    def put(self, twap: Twap, previous: Twap | None = None) -> None:
        self.reserve(twap, twap.remaining_lots - (previous.remaining_lots if previous is not None else 0))
        if previous is not None:
            self._store.delete(twap_due_key(previous.next_block, previous.twap_id))
        self._store.set(twap_key(twap.twap_id), _RECORD.pack(
            twap.market_id, twap.owner.address, twap.owner.number, int(twap.side), twap.total_lots, twap.filled_lots,
            twap.slices, twap.slices_done, twap.interval_blocks, twap.next_block, twap.slippage_bps, twap.reduce_only))
        self._store.set(twap_due_key(twap.next_block, twap.twap_id), b"")
        if previous is None:
            self._store.set(twap_index_key(twap.owner, twap.market_id, twap.twap_id), b"")
            add_to_count(self._store, twap_count_key(twap.owner), 1)

    def remove(self, twap: Twap) -> None:
        self.reserve(twap, -twap.remaining_lots)
        self._store.delete(twap_key(twap.twap_id))
        self._store.delete(twap_due_key(twap.next_block, twap.twap_id))
        self._store.delete(twap_index_key(twap.owner, twap.market_id, twap.twap_id))
        add_to_count(self._store, twap_count_key(twap.owner), -1)


def attributes(twap: Twap, market: Market) -> tuple[tuple[str, str], ...]:
    return (("twap_id", str(twap.twap_id)), ("market_id", str(twap.market_id)), ("owner", str(twap.owner)),
            ("side", twap.side.name.lower()), ("size", str(twap.total_lots * market.step_size)),
            ("filled", str(twap.filled_lots * market.step_size)),
            ("remaining", str(twap.remaining_lots * market.step_size)),
            ("slices_done", str(twap.slices_done)), ("slices", str(twap.slices)))


def to_json(twap: Twap, market: Market) -> dict[str, object]:
    answer: dict[str, object] = dict(attributes(twap, market))
    answer.update(market_id=twap.market_id, slices=twap.slices, slices_done=twap.slices_done,
                  interval_blocks=twap.interval_blocks, next_block=twap.next_block,
                  max_slippage_bps=twap.slippage_bps, reduce_only=twap.reduce_only)
    return answer


def validate_twap(markets: MarketsKeeper, action: PlaceTwap) -> Market:
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
    from modules.orderbook.msg_server import require_paid_for

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
    from modules.orderbook.msg_server import place_order

    market = keeper.markets.market(twap.market_id)
    size = twap.next_child_lots()
    if twap.reduce_only:
        size = min(size, keeper.closable_lots(twap.owner, market.market_id, twap.side))
        if size <= 0:  # the position it was reducing is gone: nothing more to do
            book.remove(twap)
            return [Event("twap_finished", (*attributes(twap, market), ("reason", "no position left to reduce")))]
    store, write = branching()
    branch_keeper = OrderbookKeeper(store, keeper.books, keeper.ctx)
    checkpoint = keeper.books.checkpoint()
    order_id = branch_keeper.next_order_id()
    filled, reason, placed = 0, "", []
    try:
        oracle = margin_price(keeper.oracle, market.market_id, market.reference_price) // market.tick_size
        price = market.clamp_to_band(worst_price(twap.side, oracle, twap.slippage_bps), oracle)
        order = Order(order_id, market.market_id, twap.owner, 0, twap.side, price, size, False, twap.reduce_only,
                      TimeInForce.IOC)
        branch_book = TwapBook(store)
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
