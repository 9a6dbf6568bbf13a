"""orderbook's keeper: the in-memory books mirrored in the store under `orderbook/`.

The books (modules/orderbook/book.py) match; this keeper keeps the store equal to them (so the
app hash commits to every resting order and a restarted node rebuilds the same books), keeps the
indexes (a subaccount's orders, client ids, expiries, dead-man switches, recent trades), and
hands each fill to margin's clearing before it happens, through the book's maker check.
"""

from __future__ import annotations

import struct
from dataclasses import replace
from typing import Callable, Mapping, Sequence

from modules.context import Attributes, BlockContext, Event
from modules.encoding import read_uint, stored_uint, u32, u64
from modules.margin.clearing import SideSettlement, settle_side
from modules.margin.errors import InsufficientMargin, OpenInterestCap
from modules.margin.risk import AccountRisk, PendingChange, RiskView, meets_initial_margin, read_view
from modules.markets.keeper import MarketsKeeper
from modules.markets.types import Market
from modules.orderbook.book import Books
from modules.orderbook.conditional_store import ConditionalBook
from modules.orderbook.errors import ReduceOnlyWouldIncrease, StorageLimitReached
from modules.orderbook.expected_keepers import Bank, Funding, Margin, Markets, Oracle
from modules.orderbook.genesis import load_params
from modules.orderbook.keys import (
    DEAD_MAN_DUE,
    EXPIRE_BLOCK,
    EXPIRE_TIME,
    NEXT_ORDER_ID,
    ORDER,
    STORE_PREFIX,
    client_id_key,
    dead_man_count_key,
    dead_man_count_prefix,
    dead_man_due_address,
    dead_man_due_key,
    dead_man_key,
    expire_block_key,
    expire_time_key,
    iceberg_count_key,
    iceberg_key,
    order_key,
    trade_key,
    trade_prefix,
    trade_seq_key,
    trailing_id,
    trailing_order,
)
from modules.orderbook.params import RECENT_TRADES_KEPT, OrderbookParams
from modules.orderbook.twap import TwapBook
from modules.orderbook.types import (
    SIDE_BY_VALUE,
    TIME_IN_FORCE_BY_VALUE,
    CancelReason,
    FillSummary,
    Order,
    Side,
    TimeInForce,
    Trade,
)
from modules.store import KVStore, PrefixStore, prefix_end
from modules.types import FEE_POOL, SubaccountId

_ORDER = struct.Struct(">20sBQBQQBBBQQ")
_TRADE = struct.Struct(">QQQBQQ20sB20sB")


def pack_order(order: Order) -> bytes:
    return _ORDER.pack(order.owner.address, order.owner.number, order.client_id, int(order.side), order.price_ticks,
                       order.size_lots, order.post_only, order.reduce_only, int(order.tif), order.good_til_block,
                       order.good_til_time_ms)


def unpack_order(market_id: int, order_id: int, raw: bytes,
                 owners: dict[tuple[bytes, int], SubaccountId] | None = None) -> Order:
    """`owners`: subaccount ids made so far, shared by the orders of one owner (a bulk load)."""
    (address, number, client_id, side, price, size, post_only, reduce_only, tif, gtb,
     gtt) = _ORDER.unpack(raw)
    if owners is None:
        owner = SubaccountId(address, number)
    else:
        owner = owners.get((address, number)) or owners.setdefault((address, number), SubaccountId(address, number))
    return Order(order_id, market_id, owner, client_id, SIDE_BY_VALUE[side], price, size, bool(post_only), bool(reduce_only),
                 TIME_IN_FORCE_BY_VALUE[tif], gtb, gtt)


def order_attributes(order: Order, market: Market) -> Attributes:
    """An order's event attributes; its price and size in atoms."""
    return (
        ("order_id", str(order.order_id)),
        ("market_id", str(order.market_id)),
        ("owner", f"0x{order.owner.address.hex()}"),
        ("subaccount", str(order.owner.number)),
        ("client_id", str(order.client_id)),
        ("side", order.side.name.lower()),
        ("price", str(order.price_ticks * market.tick_size)),
        ("size", str(order.size_lots * market.step_size)),
    )


def _cancel_attributes(order: Order, market: Market, reason: CancelReason | str) -> Attributes:
    return (*order_attributes(order, market), ("reason", str(reason)))


def _refill_attributes(slice_: Order, market: Market, replaces_order_id: int) -> Attributes:
    return (*order_attributes(slice_, market), ("replaces_order_id", str(replaces_order_id)))


def _fill_attributes(market: Market, maker: Order, taker: Order, size_lots: int, maker_side: SideSettlement,
                     taker_side: SideSettlement) -> Attributes:
    """One match's `fill` event: both orders and owners, price and size in atoms, both fees and PnLs."""
    return (
        ("market_id", str(market.market_id)),
        ("maker_order_id", str(maker.order_id)),
        ("taker_order_id", str(taker.order_id)),
        ("maker", str(maker.owner)),
        ("taker", str(taker.owner)),
        ("taker_side", taker.side.name.lower()),
        ("price", str(maker.price_ticks * market.tick_size)),
        ("size", str(size_lots * market.step_size)),
        ("maker_fee_micro_usdc", str(maker_side.fee_micro_usdc)),
        ("taker_fee_micro_usdc", str(taker_side.fee_micro_usdc)),
        ("maker_realized_pnl_micro_usdc", str(maker_side.realized_pnl_micro_usdc)),
        ("taker_realized_pnl_micro_usdc", str(taker_side.realized_pnl_micro_usdc)),
    )


class OrderbookKeeper:
    """The other modules' keepers it reads and writes through are handed in, over the same store
    (modules/keepers.py wires them)."""

    def __init__(self, store: KVStore, books: Books, ctx: BlockContext, *, markets: Markets, margin: Margin,
                 bank: Bank, oracle: Oracle, funding: Funding) -> None:
        self._root = store
        self._store = PrefixStore(store, STORE_PREFIX)
        self.books = books
        self.ctx = ctx
        self.markets = markets
        self.margin = margin
        self.bank = bank
        self.oracle = oracle
        self.funding = funding
        self._params: OrderbookParams | None = None

    @property
    def params(self) -> OrderbookParams:
        """The genesis params in force (read once per keeper)."""
        if self._params is None:
            self._params = load_params(self._root)
        return self._params

    @property
    def store(self) -> KVStore:
        """The whole store this keeper writes through (other orderbook parts keep their own keys)."""
        return self._root

    # -- loading ------------------------------------------------------------------------------

    @staticmethod
    def load_books(store: KVStore) -> Books:
        """The books as the store holds them: every market, every resting order."""
        books = Books()
        for market in MarketsKeeper(store).markets():
            books.add_market(market.market_id)
        owners: dict[tuple[bytes, int], SubaccountId] = {}
        by_market: dict[int, list[Order]] = {}
        start = STORE_PREFIX + ORDER
        for key, raw in store.iterate(start, prefix_end(start)):  # by market, then order id
            market_id, order_id = trailing_order(key)
            held = by_market.get(market_id)
            if held is None:
                held = by_market[market_id] = []
            held.append(unpack_order(market_id, order_id, raw, owners))
        for market_id, orders in by_market.items():
            books[market_id].load(orders)
        return books

    @staticmethod
    def follow_writes(books: Books, writes: Mapping[bytes, bytes | None], market_ids: Sequence[int]) -> None:
        """Bring a copy of the books (the mempool's) from the previous committed state to the
        next, given the committed block's writes (whole-store keys) and the markets that have a
        book: the same books `load_books` would build from the new state, at a cost in the
        orders the block changed. Removals go first, then changes and new orders by id, so
        nothing rests across an order that has left."""
        for market_id in market_ids:
            if market_id not in books:
                books.add_market(market_id)
        prefix = STORE_PREFIX + ORDER
        changed = sorted(key for key in writes if key.startswith(prefix))
        for key in changed:
            if writes[key] is None:
                market_id, order_id = trailing_order(key)
                book = books[market_id]
                if order_id in book:
                    book.remove(order_id)
        for key in changed:
            raw = writes[key]
            if raw is None:
                continue
            market_id, order_id = trailing_order(key)
            book, order = books[market_id], unpack_order(market_id, order_id, raw)
            held = book.get(order_id)
            if held == order:
                continue
            if held is not None and held.with_size(order.size_lots) == order and order.size_lots < held.size_lots:
                book.resize(order_id, order.size_lots)  # a partial fill or a shrink: same priority
                continue
            if held is not None:
                book.remove(order_id)
            book.rest(order)

    def ensure_books(self) -> None:
        for market in self.markets.markets():
            if market.market_id not in self.books:
                self.books.add_market(market.market_id)

    # -- reads --------------------------------------------------------------------------------

    def order(self, market_id: int, order_id: int) -> Order | None:
        raw = self._store.get(order_key(market_id, order_id))
        return unpack_order(market_id, order_id, raw) if raw is not None else None

    def orders_of(self, subaccount: SubaccountId, market_id: int | None = None) -> list[Order]:
        """A subaccount's resting orders, by market then order id (the books' owner index)."""
        return self.books.orders_of(subaccount, market_id)

    def open_order_count(self, subaccount: SubaccountId) -> int:
        return self.books.open_count(subaccount)

    def order_by_client_id(self, subaccount: SubaccountId, client_id: int) -> tuple[int, int] | None:
        raw = self._store.get(client_id_key(subaccount, client_id))
        if raw is None:
            return None
        return read_uint(raw[:4]), read_uint(raw[4:])

    def recent_trades(self, market_id: int, limit: int) -> list[Trade]:
        start = trade_prefix(market_id)
        trades = []
        for key, raw in self._store.iterate(start, prefix_end(start)):
            height, price, size, side, maker_order, _, maker_addr, maker_n, taker_addr, taker_n = _TRADE.unpack(raw)
            trades.append(Trade(height, trailing_id(key), price, Side(side), size, maker_order,
                                SubaccountId(maker_addr, maker_n), SubaccountId(taker_addr, taker_n)))
        return trades[-limit:][::-1]

    def dead_man_switch(self, address: bytes) -> int:
        return stored_uint(self._store.get(dead_man_key(address)))

    # -- order ids ----------------------------------------------------------------------------

    def next_order_id(self) -> int:
        order_id = stored_uint(self._store.get(NEXT_ORDER_ID), 1)
        self._store.set(NEXT_ORDER_ID, u64(order_id + 1))
        return order_id

    # -- resting orders: book and store together ----------------------------------------------

    def rest(self, order: Order) -> None:
        self.books[order.market_id].rest(order)
        self._write_order(order)
        self._write_indexes(order)
        self._expose(order, order.size_lots)

    def _write_indexes(self, order: Order) -> None:
        if order.client_id:
            self._store.set(client_id_key(order.owner, order.client_id), u32(order.market_id) + u64(order.order_id))
        if order.tif == TimeInForce.GOOD_TIL_BLOCK:
            self._store.set(expire_block_key(order.good_til_block, order.market_id, order.order_id), b"")
        elif order.tif == TimeInForce.GOOD_TIL_TIME:
            self._store.set(expire_time_key(order.good_til_time_ms, order.market_id, order.order_id), b"")

    def remove(self, order: Order) -> None:
        """Take a resting order out of its book and the store."""
        self.books[order.market_id].remove(order.order_id)
        self._forget(order)

    def remove_all(self, orders: Sequence[Order]) -> None:
        """Take resting orders (as the store holds them) out of their books and the store; their
        exposure moves once per subaccount and market, not once per order."""
        lots: dict[tuple[SubaccountId, int], list[int]] = {}
        icebergs: dict[int, bool] = {}  # per market: whether it holds any (else no order's is looked up)
        for order in orders:
            self.books[order.market_id].remove(order.order_id)
            self._store.delete(order_key(order.market_id, order.order_id))
            self._forget_indexes(order)
            market_id = order.market_id
            if market_id not in icebergs:
                icebergs[market_id] = self._store.get(iceberg_count_key(market_id)) is not None
            hidden = self._drop_iceberg(order)[1] if icebergs[market_id] else 0
            resting = lots.setdefault((order.owner, order.market_id), [0, 0])
            resting[0 if order.side == Side.BUY else 1] += order.size_lots + hidden
        for (owner, market_id), (bids, asks) in lots.items():  # in order of first appearance: deterministic
            self.margin.add_exposure(owner, market_id, -bids, -asks)

    def shrink(self, order: Order, new_size_lots: int) -> Order:
        """Shrink in place, keeping time priority."""
        updated = self.books[order.market_id].resize(order.order_id, new_size_lots)
        self._write_order(updated)
        self._expose(order, new_size_lots - order.size_lots)
        return updated

    def _write_order(self, order: Order) -> None:
        self._store.set(order_key(order.market_id, order.order_id), pack_order(order))

    def _forget(self, order: Order) -> None:
        """Drop a resting order (already out of the book) from the store and its exposure,
        with the hidden reserve behind it if it is an iceberg."""
        stored = self.order(order.market_id, order.order_id)
        assert stored is not None, f"order {order.order_id} is not in the store"
        self._store.delete(order_key(order.market_id, order.order_id))
        self._forget_indexes(order)
        _, hidden = self._drop_iceberg(order)
        self._expose(order, -stored.size_lots - hidden)

    # -- icebergs: the book holds the shown slice, the store the hidden reserve -------------------

    def iceberg(self, market_id: int, order_id: int) -> tuple[int, int] | None:
        """(display lots, hidden lots) of a resting iceberg slice; None for a plain order."""
        raw = self._store.get(iceberg_key(market_id, order_id))
        if raw is None:
            return None
        return read_uint(raw[:8]), read_uint(raw[8:])

    def hide(self, order: Order, display_lots: int, hidden_lots: int) -> None:
        """Keep `hidden_lots` behind the resting slice `order`; they count as exposure at once."""
        self._store.set(iceberg_key(order.market_id, order.order_id), u64(display_lots) + u64(hidden_lots))
        self._count_icebergs(order.market_id, 1)
        self._expose(order, hidden_lots)

    def _drop_iceberg(self, order: Order) -> tuple[int, int]:
        found = self.iceberg(order.market_id, order.order_id)
        if found is None:
            return 0, 0
        self._store.delete(iceberg_key(order.market_id, order.order_id))
        self._count_icebergs(order.market_id, -1)
        return found

    def _count_icebergs(self, market_id: int, change: int) -> None:
        count = stored_uint(self._store.get(iceberg_count_key(market_id))) + change
        if count:
            self._store.set(iceberg_count_key(market_id), u64(count))
        else:
            self._store.delete(iceberg_count_key(market_id))

    def _refiller(self, market: Market, summary: FillSummary) -> Callable[[Order], Order | None] | None:
        """The book's refill callback, or None while the market has no iceberg resting (the usual
        case costs one read per match, not one per fill)."""
        if self._store.get(iceberg_count_key(market.market_id)) is None:
            return None

        def refill(maker: Order) -> Order | None:
            found = self._drop_iceberg(maker)
            if found == (0, 0):
                return None
            display, hidden = found
            shown = min(display, hidden)
            # A new id is what puts the slice at the back of its price level (time priority).
            slice_ = Order(self.next_order_id(), maker.market_id, maker.owner, maker.client_id, maker.side,
                           maker.price_ticks, shown, maker.post_only, maker.reduce_only, maker.tif,
                           maker.good_til_block, maker.good_til_time_ms)
            self._write_order(slice_)
            self._write_indexes(slice_)
            if hidden > shown:
                self._store.set(iceberg_key(market.market_id, slice_.order_id), u64(display) + u64(hidden - shown))
                self._count_icebergs(market.market_id, 1)
            summary.events.append(Event.deferred("iceberg_refill", _refill_attributes, slice_, market, maker.order_id))
            return slice_

        return refill

    def _expose(self, order: Order, lots: int) -> None:
        if order.side == Side.BUY:
            self.margin.add_exposure(order.owner, order.market_id, lots, 0)
        else:
            self.margin.add_exposure(order.owner, order.market_id, 0, lots)

    # -- matching -----------------------------------------------------------------------------

    def match(self, market: Market, taker: Order, liquidation: bool = False) -> FillSummary:
        """Match `taker` against the book; every fill cleared as it happens. Does not rest it.
        A liquidation order pays no taker fee (the liquidation fee replaces it)."""
        summary = FillSummary()
        book = self.books[market.market_id]

        def clear(maker: Order, size_lots: int) -> bool | CancelReason:
            standing = self._maker_standing(market, maker, size_lots)
            if standing is not None:
                return standing
            # Both sides trade at the maker's resting price.
            price = maker.price_ticks
            maker_side = self._settlement(market, maker, size_lots, price, True)
            if maker_side is None:
                return False
            taker_side = self._settlement(market, taker, size_lots, price, False, liquidation)
            if taker_side is None:
                raise InsufficientMargin(f"{taker.owner} cannot pay for this fill (realized loss and fee exceed "
                                         "its collateral)")
            self._apply(market, maker, maker_side, size_lots)
            self._apply(market, taker, taker_side, 0)
            self._check_open_interest(market)
            self._record_trade(market, maker, taker, size_lots, maker_side, taker_side, summary)
            summary.filled_lots += size_lots
            return True

        result = book.match(taker, clear, self._refiller(market, summary))
        for fill in result.fills:
            resting = book.get(fill.maker_order_id)
            stored = self.order(market.market_id, fill.maker_order_id)
            assert stored is not None
            if resting is None:
                self._store.delete(order_key(market.market_id, stored.order_id))
                self._forget_indexes(stored)
            elif resting.size_lots != stored.size_lots:
                self._write_order(resting)
        for cancelled in result.cancelled:
            self._forget(cancelled.order)
            summary.events.append(self.cancel_event(market, cancelled.order, cancelled.reason))
        return summary

    def _maker_standing(self, market: Market, maker: Order, size_lots: int) -> CancelReason | None:
        """Why a resting order may no longer trade, checked at each fill (the start-of-block steps that
        remove such orders have budgets, so one may still rest for a block or more): past its expiry,
        its owner's dead-man switch due, or reduce-only with less position left than the fill."""
        if (maker.tif == TimeInForce.GOOD_TIL_BLOCK and maker.good_til_block < self.ctx.height) or \
                (maker.tif == TimeInForce.GOOD_TIL_TIME and maker.good_til_time_ms <= self.ctx.time_ms):
            return CancelReason.EXPIRED
        switch = self.dead_man_switch(maker.owner.address)
        if switch and switch <= self.ctx.time_ms:
            return CancelReason.DEAD_MAN_SWITCH
        if maker.reduce_only and self.closable_lots(maker.owner, market.market_id, maker.side) < size_lots:
            return CancelReason.REDUCE_ONLY_WOULD_OPEN
        return None

    def _forget_indexes(self, order: Order) -> None:
        """Every stored index naming a resting order (alone for a maker filled completely: its
        exposure already left with the fills). The client id stays if an iceberg's next slice took
        it over."""
        if order.client_id and self.order_by_client_id(order.owner, order.client_id) == (order.market_id, order.order_id):
            self._store.delete(client_id_key(order.owner, order.client_id))
        if order.tif == TimeInForce.GOOD_TIL_BLOCK:
            self._store.delete(expire_block_key(order.good_til_block, order.market_id, order.order_id))
        elif order.tif == TimeInForce.GOOD_TIL_TIME:
            self._store.delete(expire_time_key(order.good_til_time_ms, order.market_id, order.order_id))

    def _settlement(self, market: Market, order: Order, size_lots: int, price_ticks: int,
                    maker: bool, fee_exempt: bool = False) -> SideSettlement | None:
        """What the fill does to one side, or None if that side cannot take it (collateral or,
        for a maker, margin)."""
        position = self.margin.position(order.owner, market.market_id)
        signed_lots = size_lots if order.side == Side.BUY else -size_lots
        settlement = settle_side(market, position, signed_lots, price_ticks, maker, self.funding.index(market.market_id))
        if fee_exempt:
            settlement = replace(settlement, fee_micro_usdc=0)
        if self.bank.balance(order.owner) + settlement.collateral_delta_micro_usdc < 0:
            return None
        if maker:
            exposure_delta = -size_lots
            before = self.risk(order.owner)
            after = self.risk_view(order.owner).risk(PendingChange(
                market.market_id, settlement.position, settlement.collateral_delta_micro_usdc,
                exposure_delta if order.side == Side.BUY else 0, exposure_delta if order.side == Side.SELL else 0))
            if not meets_initial_margin(before, after):
                return None
        return settlement

    def _apply(self, market: Market, order: Order, settlement: SideSettlement, maker_lots: int) -> None:
        self.margin.set_position(settlement.position)
        if settlement.funding_paid_micro_usdc:
            self.funding.add_to_pool(settlement.funding_paid_micro_usdc)
        if settlement.collateral_delta_micro_usdc:
            self.bank.settle(order.owner, settlement.collateral_delta_micro_usdc)
        if settlement.fee_micro_usdc:
            self.bank.settle(FEE_POOL, settlement.fee_micro_usdc)
        if maker_lots:
            self._expose(order, -maker_lots)

    def _check_open_interest(self, market: Market) -> None:
        cap_lots = market.max_open_interest // market.step_size
        open_interest = self.margin.open_interest_lots_x2(market.market_id) // 2
        if open_interest > cap_lots:
            raise OpenInterestCap(f"{market.ticker} open interest would be {open_interest * market.step_size} atoms, "
                                  f"over its cap of {market.max_open_interest}")

    def _record_trade(self, market: Market, maker: Order, taker: Order, size_lots: int, maker_side: SideSettlement,
                      taker_side: SideSettlement, summary: FillSummary) -> None:
        seq_key = trade_seq_key(market.market_id)
        seq = stored_uint(self._store.get(seq_key), 1)
        self._store.set(seq_key, u64(seq + 1))
        self._store.set(trade_key(market.market_id, seq), _TRADE.pack(
            self.ctx.height, maker.price_ticks, size_lots, int(taker.side), maker.order_id, taker.order_id,
            maker.owner.address, maker.owner.number, taker.owner.address, taker.owner.number))
        if seq > RECENT_TRADES_KEPT:
            self._store.delete(trade_key(market.market_id, seq - RECENT_TRADES_KEPT))
        summary.events.append(Event.deferred("fill", _fill_attributes, market, maker, taker, size_lots, maker_side,
                                             taker_side))
        for order, side in ((maker, maker_side), (taker, taker_side)):
            lots = size_lots if order.side == Side.BUY else -size_lots
            held = side.position.size_lots - lots  # before this fill
            if (held == 0 or (held > 0) != (lots > 0)) and order.owner not in summary.not_only_grown:
                summary.not_only_grown.append(order.owner)

    def cancel_event(self, market: Market, order: Order, reason: CancelReason | str) -> Event:
        kind = "order_expired" if reason == CancelReason.EXPIRED else "order_cancelled"
        return Event.deferred(kind, _cancel_attributes, order, market, reason)

    # -- reduce-only upkeep ---------------------------------------------------------------------

    def closable_lots(self, owner: SubaccountId, market_id: int, side: Side) -> int:
        """Lots of `owner`'s position an order on `side` would close (<= 0: none, it would open)."""
        held = self.margin.position(owner, market_id).size_lots
        return -held if side == Side.BUY else held

    def require_reduces(self, owner: SubaccountId, market: Market, side: Side) -> int:
        """What a reduce-only order, conditional or TWAP on `side` may close; refused when nothing."""
        closable = self.closable_lots(owner, market.market_id, side)
        if closable <= 0:
            held = self.margin.position(owner, market.market_id).size_lots
            raise ReduceOnlyWouldIncrease(f"{owner} holds {held} lots of {market.ticker}: a reduce-only "
                                          f"{side.name.lower()} would not reduce it")
        return closable

    def shrink_reduce_only(self, subaccount: SubaccountId, market: Market) -> list[Event]:
        """Resting reduce-only orders, and the position's TP/SL, never exceed what would close it."""
        position = self.margin.position(subaccount, market.market_id).size_lots
        events: list[Event] = []
        room = {Side.SELL: max(position, 0), Side.BUY: max(-position, 0)}
        for order in list(self.orders_of(subaccount, market.market_id)):
            if not order.reduce_only:
                continue
            allowed = room[order.side]
            if allowed == 0:
                self.remove(order)
                events.append(self.cancel_event(market, order, "reduce_only_position_closed"))
            elif order.size_lots > allowed:
                self.shrink(order, allowed)
            room[order.side] = max(allowed - order.size_lots, 0)
        return events + ConditionalBook(self._root).fit_to_position(subaccount, market, position)

    # -- risk ---------------------------------------------------------------------------------

    def risk(self, subaccount: SubaccountId) -> AccountRisk:
        return self.risk_view(subaccount).risk()

    def risk_view(self, subaccount: SubaccountId) -> RiskView:
        return read_view(subaccount, self.markets, self.bank, self.margin, self.oracle, self.funding)

    def require_initial_margin(self, subaccount: SubaccountId, before: AccountRisk,
                               after: AccountRisk | None = None) -> AccountRisk:
        """The subaccount's risk now (`after`, when the caller has it), if it meets the initial
        requirement (or lowered it)."""
        if after is None:
            after = self.risk(subaccount)
        if not meets_initial_margin(before, after):
            raise InsufficientMargin(
                f"{subaccount} would hold equity {after.equity_micro_usdc} micro-USDC against an initial "
                f"requirement of {after.initial_micro_usdc}")
        return after

    # -- storage tier ---------------------------------------------------------------------------

    def stored_obligations(self, owner: SubaccountId) -> int:
        """What a subaccount keeps stored: resting orders, conditionals and TWAPs."""
        return self.open_order_count(owner) + self.stored_besides_orders(owner)

    def stored_besides_orders(self, owner: SubaccountId) -> int:
        """The subaccount's conditionals and TWAPs (what placing an order that rests leaves as it is)."""
        return ConditionalBook(self._root).count_of(owner) + TwapBook(self._root).count_of(owner)

    def require_storage_room(self, owner: SubaccountId, equity_micro_usdc: int,
                             besides_orders: int | None = None) -> None:
        """What the subaccount stores stays within its equity tier (docs/orders.md); equity under
        the first tier stores nothing. `besides_orders`: its conditionals and TWAPs, when the
        caller has counted them already."""
        allowed = self.params.max_stored(equity_micro_usdc)
        if besides_orders is None:
            besides_orders = self.stored_besides_orders(owner)
        stored = self.open_order_count(owner) + besides_orders
        if stored > allowed:
            raise StorageLimitReached(f"{owner} would store {stored} orders, conditionals and TWAPs; equity "
                                      f"{equity_micro_usdc} micro-USDC allows {allowed} (docs/orders.md)")

    # -- block start ----------------------------------------------------------------------------

    def due_expiries(self, limit: int | None = None) -> list[tuple[int, int]]:
        """(market, order id) of orders whose good-til block or time has passed, in key order
        (good-til-block first), at most `limit` of them."""
        due: list[tuple[int, int]] = []
        for start, end in ((EXPIRE_BLOCK, EXPIRE_BLOCK + u64(self.ctx.height)),
                           (EXPIRE_TIME, EXPIRE_TIME + u64(self.ctx.time_ms + 1))):
            for key, _ in self._store.iterate(start, end):
                if limit is not None and len(due) == limit:
                    return due
                due.append(trailing_order(key))
        return due

    def due_dead_man_switches(self, limit: int | None = None) -> list[bytes]:
        """Addresses whose dead-man switch is due, by due time then address, at most `limit`."""
        found: list[bytes] = []
        for key, _ in self._store.iterate(DEAD_MAN_DUE, dead_man_due_key(self.ctx.time_ms + 1)):
            if limit is not None and len(found) == limit:
                break
            found.append(dead_man_due_address(key))
        return found

    def clear_dead_man_switch(self, address: bytes) -> None:
        current = self.dead_man_switch(address)
        if current:
            self._store.delete(dead_man_key(address))
            self._store.delete(dead_man_due_key(current, address))

    def set_dead_man_switch(self, address: bytes, cancel_at_ms: int) -> int:
        """Schedule (replacing any earlier schedule); returns today's count of schedules."""
        self.clear_dead_man_switch(address)
        self._store.set(dead_man_key(address), u64(cancel_at_ms))
        self._store.set(dead_man_due_key(cancel_at_ms, address), b"")
        today = self.ctx.time_ms // 86_400_000
        day_key = dead_man_count_key(address, today)
        start = dead_man_count_prefix(address)  # only today's count is read: an earlier day's goes (one at most)
        for key, _ in list(self._store.iterate(start, prefix_end(start))):
            if key != day_key:
                self._store.delete(key)
        count = stored_uint(self._store.get(day_key)) + 1
        self._store.set(day_key, u32(count))
        return count

    def dead_man_count_today(self, address: bytes) -> int:
        return stored_uint(self._store.get(dead_man_count_key(address, self.ctx.time_ms // 86_400_000)))

    def orders_of_address(self, address: bytes, limit: int | None = None) -> list[Order]:
        """The address's resting orders in every subaccount, by subaccount, market, id (at most
        `limit`)."""
        return self.books.orders_of_address(address, limit)
