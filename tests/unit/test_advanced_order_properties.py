"""Properties of the advanced-order rules (hypothesis), on the pure parts: a trailing stop's
trigger is monotone and its index always says when it fires; iceberg refills never jump the queue
(checked fill by fill against a naive queue model)."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from modules.orderbook import Order, OrderBook, Side, TimeInForce
from modules.orderbook.actions import ConditionalKind
from modules.orderbook.conditional_store import Conditional, ConditionalBook
from modules.orderbook.trailing import trail_trigger
from modules.types import SubaccountId
from tests.memory_store import MemoryStore

MARKET = 7
OWNER = SubaccountId(b"\x01" * 20, 0)




# -- trailing stops ---------------------------------------------------------------------------------

distance = st.one_of(st.tuples(st.integers(1, 400), st.just(0)), st.tuples(st.just(0), st.integers(1, 5_000)))
# each step: the oracle prints a price; then maybe a new stop is placed at it, or a live one removed
step = st.tuples(st.one_of(st.integers(95, 105), st.integers(1, 4_000)), st.sampled_from(["place", "place", "remove", "none"]),
                 st.sampled_from([Side.BUY, Side.SELL]), distance, st.integers(0, 1_000))


@settings(max_examples=300, deadline=None)
@given(start=st.integers(500, 2_000), path=st.lists(step, min_size=1, max_size=40))
def test_trailing_stops_triggers_are_monotone_and_the_index_fires_exactly_the_crossed_ones(
        start: int, path: list[tuple[int, str, Side, tuple[int, int], int]]) -> None:
    """Many stops placed along one price path (so segments form, move and merge): each stop's
    anchor is the best price since its placement, its trigger never moves back, and the index
    returns exactly the stops whose trigger holds."""
    book = ConditionalBook(MemoryStore())
    live: dict[int, tuple[Side, int, int, int]] = {}  # id -> side, ticks, bps, best price seen
    last_trigger: dict[int, int] = {}
    next_id = 1
    price = start
    for new_price, action, side, (trail_ticks, trail_bps), pick in path:
        price = new_price
        book.trail(MARKET, price)
        for conditional_id, (stop_side, ticks, bps, best) in list(live.items()):
            best = max(best, price) if stop_side == Side.SELL else min(best, price)
            live[conditional_id] = (stop_side, ticks, bps, best)
        if action == "place" and trail_trigger(side, price, trail_ticks, trail_bps) > 0:  # else refused (325)
            book.add(Conditional(next_id, MARKET, OWNER, ConditionalKind.TRAILING_STOP, side,
                                 trail_trigger(side, price, trail_ticks, trail_bps), 0, 5, False, trail_ticks,
                                 trail_bps, price))
            live[next_id] = (side, trail_ticks, trail_bps, price)
            next_id += 1
        elif action == "remove" and live:
            gone = sorted(live)[pick % len(live)]
            stored = book.get(gone)
            assert stored is not None
            book.remove(stored)
            del live[gone]
            last_trigger.pop(gone, None)
        fires = set()
        for conditional_id, (stop_side, ticks, bps, best) in live.items():
            stored = book.get(conditional_id)
            assert stored is not None
            assert stored.anchor_ticks == best
            assert stored.trigger_ticks == trail_trigger(stop_side, best, ticks, bps)
            previous = last_trigger.get(conditional_id, stored.trigger_ticks)
            # never moves back: up only for a sell (it follows highs), down only for a buy
            assert stored.trigger_ticks >= previous if stop_side == Side.SELL else stored.trigger_ticks <= previous
            last_trigger[conditional_id] = stored.trigger_ticks
            if price <= stored.trigger_ticks if stop_side == Side.SELL else price >= stored.trigger_ticks:
                fires.add(conditional_id)
        assert set(book.trailing_fired(MARKET, price)) == fires


# -- icebergs ---------------------------------------------------------------------------------------

@dataclass
class Slice:
    order_id: int
    size_lots: int


class QueueModel:
    """Each price a plain list in arrival order; a slice that fills whole is followed by the next
    one appended at the end of its list: the rule the book must match."""

    def __init__(self) -> None:
        self.levels: dict[Side, dict[int, list[Slice]]] = {Side.BUY: {}, Side.SELL: {}}
        self.hidden: dict[int, tuple[int, int]] = {}
        self.next_id = 1

    def rest(self, side: Side, price: int, display: int, hidden: int) -> int:
        order_id = self.next_id
        self.next_id += 1
        self.levels[side].setdefault(price, []).append(Slice(order_id, display))
        if hidden:
            self.hidden[order_id] = (display, hidden)
        return order_id

    def take(self, side: Side, limit: int, size: int) -> list[tuple[int, int]]:
        makers = self.levels[Side.SELL if side == Side.BUY else Side.BUY]
        fills = []
        for price in sorted(makers, reverse=side == Side.SELL):
            if (price > limit) if side == Side.BUY else (price < limit):
                break
            queue = makers[price]
            while queue and size:
                maker = queue[0]
                traded = min(maker.size_lots, size)
                fills.append((maker.order_id, traded))
                size -= traded
                if traded < maker.size_lots:
                    maker.size_lots -= traded
                    continue
                queue.pop(0)
                if maker.order_id in self.hidden:
                    display, hidden = self.hidden.pop(maker.order_id)
                    shown = min(display, hidden)
                    new_id = self.next_id
                    self.next_id += 1
                    queue.append(Slice(new_id, shown))
                    if hidden > shown:
                        self.hidden[new_id] = (display, hidden - shown)
            if not queue:
                del makers[price]
            if not size:
                break
        return fills


rest_op = st.tuples(st.just("rest"), st.sampled_from([Side.BUY, Side.SELL]), st.integers(0, 2), st.integers(1, 6),
                    st.sampled_from([0, 0, 3, 9, 20]))
take_op = st.tuples(st.just("take"), st.sampled_from([Side.BUY, Side.SELL]), st.integers(0, 2), st.integers(1, 40),
                    st.just(0))


@settings(max_examples=300, deadline=None)
@given(ops=st.lists(st.one_of(rest_op, rest_op, take_op), min_size=1, max_size=40))
def test_iceberg_refills_never_jump_the_queue(ops: list[tuple[str, Side, int, int, int]]) -> None:
    book, model = OrderBook(MARKET), QueueModel()
    maker = SubaccountId(b"\x02" * 20, 0)
    taker = SubaccountId(b"\x03" * 20, 0)

    def refill(filled: Order) -> Order | None:
        if filled.order_id not in book_hidden:
            return None
        display, hidden = book_hidden.pop(filled.order_id)
        shown = min(display, hidden)
        new = Order(next_id[0], MARKET, filled.owner, 0, filled.side, filled.price_ticks, shown)
        next_id[0] += 1
        if hidden > shown:
            book_hidden[new.order_id] = (display, hidden - shown)
        return new

    book_hidden: dict[int, tuple[int, int]] = {}
    next_id = [1]
    for kind, side, offset, size, hidden in ops:
        if kind == "rest":  # bids at 97..99, asks at 101..103: makers never cross each other
            price = 99 - offset if side == Side.BUY else 101 + offset
            order_id = model.rest(side, price, size, hidden)
            assert order_id == next_id[0]
            book.rest(Order(order_id, MARKET, maker, 0, side, price, size))
            next_id[0] += 1
            if hidden:
                book_hidden[order_id] = (size, hidden)
        else:  # takers reach 2 levels deep
            limit = 101 + offset if side == Side.BUY else 99 - offset
            taker_id = next_id[0]
            next_id[0] += 1
            model.next_id += 1
            result = book.match(Order(taker_id, MARKET, taker, 0, side, limit, size, tif=TimeInForce.IOC), None, refill)
            expected = model.take(side, limit, size)
            assert [(f.maker_order_id, f.size_lots) for f in result.fills] == expected
        assert book.invariant_violations() == []
        for book_side in (Side.BUY, Side.SELL):
            for price, queue in model.levels[book_side].items():
                assert [(o.order_id, o.size_lots) for o in book.orders_at(book_side, price)] == \
                    [(s.order_id, s.size_lots) for s in queue]
