"""A run of placements in one tx (a market maker's ladder) is delivered by one call that hands
each subaccount's risk view from one placement to the next (RiskCarry). It must decide exactly
what placing the same orders one by one decides: the same codes, logs, events and state, in
CheckTx's dry run and in the block, whatever the run holds (fills, other subaccounts and markets,
reduce-only and iceberg orders, a margin or storage refusal part way)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Iterator, NamedTuple

import pytest

from app import router
from app.store import CacheStore
from modules.bank.types import Transfer
from modules.context import BlockContext
from modules.keepers import orderbook_keeper
from modules.margin.risk import PendingChange
from modules.orderbook.actions import ConditionalKind, PlaceConditional, PlaceOrder, SetPositionTpSl
from modules.orderbook.keeper import OrderbookKeeper
from modules.orderbook.types import Order, Side, TimeInForce
from modules.types import SubaccountId
from tests.app.conftest import AppHarness, start_app
from tests.app.test_orderbook import BTC, PRICE, USDC, buy, sell, signed
from wire import PrivateKey
from wire.pb import abci_pb

TINY = 3  # TEST_MARKETS' second open market, with a small open-interest cap
KEYS = [PrivateKey.from_hex(f"{i:064x}") for i in (101, 102, 103)]


def _ladder(subaccount: int = 0, market_id: int = BTC, levels: int = 10, size: int = 100) -> list[PlaceOrder]:
    orders = []
    for level in range(1, levels + 1):
        orders.append(buy(PRICE - level * 10 * USDC, size, subaccount=subaccount, market_id=market_id, post_only=True))
        orders.append(sell(PRICE + level * 10 * USDC, size, subaccount=subaccount, market_id=market_id, post_only=True))
    return orders


class Outcome(NamedTuple):
    code: int
    log: str
    events: list[tuple[str, list[tuple[str, str]]]]


def _outcome(result: abci_pb.ExecTxResult) -> Outcome:
    return Outcome(result.code, result.log, [(e.type, [(a.key, a.value) for a in e.attributes]) for e in result.events])


class _Pair:
    """Two chains from one genesis: one delivers runs of placements through `deliver_run`, the
    other each placement on its own. Each tx is signed once and sent to both."""

    def __init__(self, root: Path) -> None:
        self.runs = start_app(root / "runs", KEYS)
        self.singles = start_app(root / "singles", KEYS)

    def block(self, *txs: bytes) -> list[Outcome]:
        """Each tx checked and then finalized on both chains: the same answers, the same state."""
        checked = [self.runs.check(raw) for raw in txs]
        found = [_outcome(r) for r in self.runs.block(list(txs))]
        route = router._ROUTES[PlaceOrder]
        assert route.deliver_run is not None, "placements are delivered as runs"
        with pytest.MonkeyPatch.context() as patch:
            patch.setitem(router._ROUTES, PlaceOrder, replace(route, deliver_run=None))
            checked_alone = [self.singles.check(raw) for raw in txs]
            expected = [_outcome(r) for r in self.singles.block(list(txs))]
        assert [(c.code, c.log) for c in checked] == [(c.code, c.log) for c in checked_alone]
        assert found == expected
        assert self.runs.state() == self.singles.state()
        return found

    def close(self) -> None:
        self.runs.close()
        self.singles.close()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[_Pair]:
    both = _Pair(tmp_path)
    yield both
    both.close()


def test_a_ladder_rests_as_its_orders_placed_one_by_one_would(pair: _Pair) -> None:
    alice = KEYS[0]
    [(code, _, events)] = pair.block(signed(pair.runs, alice, *_ladder(levels=15)))
    assert code == 0 and len(events) == 30


def test_a_run_across_markets_and_subaccounts_hands_each_its_own_view(pair: _Pair) -> None:
    alice = KEYS[0]
    assert pair.block(signed(pair.runs, alice, Transfer(0, SubaccountId(alice.address, 1), 300 * USDC)))[0][0] == 0
    mixed = [order for pair_ in zip(_ladder(0, BTC, 4), _ladder(1, BTC, 4), _ladder(0, TINY, 4), strict=True)
             for order in pair_]
    [(code, log, _)] = pair.block(signed(pair.runs, alice, *mixed))
    assert code == 0, log


def test_a_fill_inside_a_run_is_judged_on_the_subaccount_read_again(pair: _Pair) -> None:
    alice, bob = KEYS[0], KEYS[1]
    assert pair.block(signed(pair.runs, bob, sell(PRICE + 20 * USDC, 50)))[0][0] == 0
    crossing = buy(PRICE + 30 * USDC, 200, time_in_force=TimeInForce.IOC)  # fills bob's 50, drops the rest
    ladder = _ladder(levels=3)
    [(code, log, events)] = pair.block(signed(pair.runs, alice, *ladder[:3], crossing, *ladder[3:]))
    assert code == 0, log
    assert [kind for kind, _ in events].count("fill") == 1


def test_reduce_only_and_iceberg_orders_in_a_run_place_as_alone(pair: _Pair) -> None:
    alice, bob = KEYS[0], KEYS[1]
    pair.block(signed(pair.runs, bob, sell(PRICE, 100)))
    pair.block(signed(pair.runs, alice, buy(PRICE, 100, time_in_force=TimeInForce.IOC)))  # alice holds 10 lots
    run = [sell(PRICE + 50 * USDC, 60, reduce_only=True), *(_ladder(levels=2)),
           sell(PRICE + 60 * USDC, 60, reduce_only=True), buy(PRICE - 70 * USDC, 200, display_size=50),
           *(_ladder(levels=2, size=20))]
    [(code, log, _)] = pair.block(signed(pair.runs, alice, *run))
    assert code == 0, log


def test_a_run_that_outgrows_its_margin_is_refused_where_the_order_alone_would_be(pair: _Pair) -> None:
    alice = KEYS[0]
    assert pair.block(signed(pair.runs, alice, Transfer(0, SubaccountId(alice.address, 1), 100 * USDC)))[0][0] == 0
    [(code, log, _)] = pair.block(signed(pair.runs, alice, *_ladder(subaccount=1, levels=8)))
    assert code != 0 and "initial requirement" in log


def test_a_run_that_outgrows_its_storage_tier_is_refused_where_the_order_alone_would_be(pair: _Pair) -> None:
    alice = KEYS[0]
    assert pair.block(signed(pair.runs, alice, Transfer(0, SubaccountId(alice.address, 1), 100 * USDC)))[0][0] == 0
    [(code, log, _)] = pair.block(signed(pair.runs, alice, *_ladder(subaccount=1, levels=9, size=10)))
    assert code != 0 and "would store 17" in log


def test_a_run_counts_the_conditionals_stored_beside_its_orders(pair: _Pair) -> None:
    alice = KEYS[0]
    assert pair.block(signed(pair.runs, alice, Transfer(0, SubaccountId(alice.address, 1), 100 * USDC)))[0][0] == 0
    stops = [PlaceConditional(1, BTC, ConditionalKind.STOP_MARKET, Side.BUY, PRICE + (1_000 + i) * USDC,
                              PRICE + 3_000 * USDC, 10) for i in range(2)]
    assert pair.block(signed(pair.runs, alice, *stops))[0][0] == 0
    [(code, log, _)] = pair.block(signed(pair.runs, alice, *_ladder(subaccount=1, levels=8, size=10)))
    assert code != 0 and "would store 17" in log


def test_a_fill_in_a_run_that_cancels_the_positions_tpsl_is_counted_without_them(pair: _Pair) -> None:
    """Found by review: the count of conditionals handed on from an order that only rested went
    stale when the next order's fill closed the position and so cancelled its TP/SL."""
    alice, bob = KEYS[0], KEYS[1]
    sub1 = SubaccountId(alice.address, 1)
    setup = [signed(pair.runs, alice, Transfer(0, sub1, 150 * USDC)),  # tier: 16 stored
             signed(pair.runs, bob, sell(PRICE, 10)),
             signed(pair.runs, alice, buy(PRICE, 10, subaccount=1, time_in_force=TimeInForce.IOC)),  # long 1 lot
             signed(pair.runs, alice, SetPositionTpSl(1, BTC, PRICE + 1_000 * USDC, PRICE - 1_000 * USDC)),
             signed(pair.runs, alice, *[sell(PRICE + (50 + i) * USDC, 10, subaccount=1, post_only=True)
                                        for i in range(13)]),  # 13 orders and 2 conditionals: 15 of 16
             signed(pair.runs, bob, buy(PRICE - 10 * USDC, 10))]
    for raw in setup:
        assert pair.block(raw)[0].code == 0
    run = [buy(PRICE - 100 * USDC, 10, subaccount=1, post_only=True),  # rests, hands the count (2) on
           sell(PRICE - 10 * USDC, 20, subaccount=1)]  # fills bob's lot (the TP/SL go), rests one: 15 stored
    [(code, log, events)] = pair.block(signed(pair.runs, alice, *run))
    assert code == 0, log
    assert [kind for kind, _ in events].count("conditional_cancelled") == 2


def test_a_moved_view_is_the_view_read_again(harness: AppHarness) -> None:
    """RiskView.moved after an order rests equals a view built from the store anew: holdings,
    the risk now, and the risk of a further pending change."""
    alice = harness.keys[0]
    owner = SubaccountId(alice.address, 0)
    held = [buy(PRICE - 10 * USDC, 100), sell(PRICE + 10 * USDC, 30, market_id=TINY)]
    assert harness.block([signed(harness, alice, *held)])[0].code == 0
    branch = CacheStore(harness.store)
    keeper = orderbook_keeper(branch, OrderbookKeeper.load_books(branch), BlockContext("", harness.height + 1, 0))
    earlier = keeper.risk_view(owner)
    earlier.risk()
    keeper.rest(Order(keeper.next_order_id(), BTC, owner, 0, Side.BUY, (PRICE - 20 * USDC) // 100_000, 4))
    moved, fresh = earlier.moved(BTC), keeper.risk_view(owner)
    assert moved.holdings == fresh.holdings != earlier.holdings
    assert moved.risk() == fresh.risk() != earlier.risk()
    change = PendingChange(BTC, fresh.settled_position(BTC), 0, 30, 0)
    assert moved.risk(change) == fresh.risk(change)


def test_a_view_with_resting_lots_is_the_view_read_again(harness: AppHarness) -> None:
    """RiskView.with_resting after an order rests, in a market the subaccount holds and in one it
    does not, equals a view built from the store anew; its risk is the risk of that pending change."""
    alice = harness.keys[0]
    owner = SubaccountId(alice.address, 0)
    assert harness.block([signed(harness, alice, buy(PRICE - 10 * USDC, 100))])[0].code == 0
    branch = CacheStore(harness.store)
    keeper = orderbook_keeper(branch, OrderbookKeeper.load_books(branch), BlockContext("", harness.height + 1, 0))
    earlier = keeper.risk_view(owner)
    keeper.rest(Order(keeper.next_order_id(), BTC, owner, 0, Side.SELL, (PRICE + 20 * USDC) // 100_000, 4))
    rested, fresh = earlier.with_resting(BTC, 0, 4), keeper.risk_view(owner)
    assert rested.holdings == fresh.holdings != earlier.holdings
    assert rested.risk() == fresh.risk() == earlier.risk(PendingChange(BTC, earlier.settled_position(BTC), 0, 0, 4))
    keeper.rest(Order(keeper.next_order_id(), TINY, owner, 0, Side.BUY, fresh.market_inputs(TINY)[1] - 10, 3))
    again, fresh = rested.with_resting(TINY, 3, 0), keeper.risk_view(owner)
    assert [h.position.market_id for h in again.holdings] == [BTC, TINY]
    assert again.holdings == fresh.holdings and again.risk() == fresh.risk() != rested.risk()
