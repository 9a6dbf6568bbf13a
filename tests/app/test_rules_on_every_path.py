"""The order rules hold on the paths around placement (found by an adversarial review): collateral
moved away, a reduce-only maker within one match, a liquidation, and resting orders whose expiry or
dead-man switch is due while the start-of-block budgets carry them."""

from __future__ import annotations

from pathlib import Path

from modules.bank.types import Transfer
from modules.context import BlockContext
from modules.keepers import orderbook_keeper
from modules.margin.keeper import MarginKeeper
from modules.orderbook.actions import ConditionalKind, PlaceConditional, ScheduleCancelAll
from modules.orderbook.params import OrderbookParams
from modules.orderbook.types import Side, TimeInForce
from modules.types import SubaccountId
from tests.app.conftest import AppHarness
from tests.app.test_orderbook import BTC, PRICE, USDC, buy, sell, signed
from tests.app.test_start_of_block_budgets import _events, _start, _step
from wire import PrivateKey

UP = PRICE + 1_000 * USDC


def _stored(h: AppHarness, owner: SubaccountId) -> tuple[int, int]:
    keeper = orderbook_keeper(h.store, h.app.books, BlockContext("", 0, 0))
    return keeper.stored_obligations(owner), keeper.risk(owner).equity_micro_usdc


def test_a_reduce_only_conditional_needs_a_position_to_reduce(harness: AppHarness) -> None:
    """Else it would be stored for nothing (it reserves no margin) and later crowd the triggers."""
    h = harness
    alice = h.keys[0]
    raw = signed(h, alice, PlaceConditional(0, BTC, ConditionalKind.STOP_MARKET, Side.BUY, UP, UP + 2_000 * USDC, 10,
                                            reduce_only=True))
    assert h.check(raw).code == 308
    assert [r.code for r in h.block([raw])] == [308]
    assert _stored(h, SubaccountId(alice.address, 0))[0] == 0


def test_collateral_cannot_leave_below_the_tier_of_what_stays_stored(harness: AppHarness) -> None:
    """The same with margin-reserving resting orders: the transfer keeps the initial requirement
    but takes equity under the tier the orders needed. CheckTx, which checks a transfer without a
    dry run, counts the same resting orders."""
    h = harness
    alice = h.keys[0]
    sub1 = SubaccountId(alice.address, 1)
    assert [r.code for r in h.block([signed(h, alice, Transfer(0, sub1, 100 * USDC))])] == [0]
    orders = [signed(h, alice, buy(PRICE - (i + 1) * 100 * USDC, 10, subaccount=1)) for i in range(16)]
    assert [r.code for r in h.block(orders)] == [0] * 16
    transfer = signed(h, alice, Transfer(1, SubaccountId(alice.address, 0), 40 * USDC))
    checked = h.check(transfer)
    [result] = h.block([transfer])
    assert checked.code == result.code == 332, (checked.log, result.log)
    stored, equity = _stored(h, sub1)
    allowed = OrderbookParams().max_stored(equity)
    assert stored <= allowed, (f"transfer code {result.code}: subaccount 1 keeps {stored} resting orders with equity "
                               f"{equity} (its tier allows {allowed})")


def test_a_resting_reduce_only_order_never_opens_a_position(harness: AppHarness) -> None:
    """Rule 2: reduce-only orders are resized or cancelled when a position shrinks. Within one
    match the position can shrink to 0 through the owner's plain order first; the reduce-only
    maker then fills and opens a short."""
    h = harness
    alice, bob, carol = h.keys
    # alice goes long 10 lots
    assert [r.code for r in h.block([signed(h, bob, sell(PRICE, 100)),
                                     signed(h, alice, buy(PRICE, 100, time_in_force=TimeInForce.IOC))])] == [0, 0]
    # a reduce-only sell of her whole long, and a plain sell of 10 lots at a better price
    assert [r.code for r in h.block([signed(h, alice, sell(PRICE + 200 * USDC, 100, reduce_only=True)),
                                     signed(h, alice, sell(PRICE + 100 * USDC, 100))])] == [0, 0]
    [taken] = h.block([signed(h, carol, buy(PRICE + 200 * USDC, 200, time_in_force=TimeInForce.IOC))])
    assert taken.code == 0, taken.log
    size = MarginKeeper(h.store).position(SubaccountId(alice.address, 0), BTC).size_lots
    assert size >= 0, f"alice's reduce-only sell opened a short of {size} lots"


def test_a_liquidated_subaccount_keeps_no_conditionals_or_twaps(oracle_harness: AppHarness) -> None:
    """Liquidation cancels the resting orders only (engine._liquidate); the conditionals and
    TWAPs of a subaccount left with no equity stay stored and keep reserving margin it no longer has."""
    from modules.bank.types import Transfer as T
    from modules.orderbook.actions import PlaceTwap
    from modules.types import INSURANCE_FUND
    from tests.app.test_liquidation import _open_bob_long, oracle_tx_prices

    h = oracle_harness
    alice, bob, carol = h.keys
    _open_bob_long(h)
    results = h.block([signed(h, bob, PlaceConditional(0, BTC, ConditionalKind.STOP_MARKET, Side.BUY, 70_000 * USDC,
                                                       71_000 * USDC, 100)),
                       signed(h, bob, PlaceTwap(0, BTC, Side.BUY, 100, 10, 10_000, 10)),
                       signed(h, carol, T(0, INSURANCE_FUND, 100 * USDC))], prices={BTC: PRICE})
    assert [r.code for r in results[1:]] == [0, 0, 0], [r.log for r in results]
    h.finalize([oracle_tx_prices(59_000 * USDC)])
    h.commit()
    bob0 = SubaccountId(bob.address, 0)
    assert MarginKeeper(h.store).position(bob0, BTC).size_lots == 0
    stored, equity = _stored(h, bob0)
    assert stored <= OrderbookParams().max_stored(equity), \
        f"liquidated bob (equity {equity}) still stores {stored} conditionals and TWAPs"


# -- carried budgets leave orders fillable past their expiry / switch ----------------------------

TICK = 100_000


def _tx_events(response, kind: str) -> list[dict[str, str]]:
    return [{a.key: a.value for a in e.attributes} for r in response.tx_results for e in r.events if e.type == kind]


def test_an_expired_order_carried_by_the_budget_is_not_filled(tmp_path: Path, harnesses: list[AppHarness]) -> None:
    """expiries_per_block 1: Alice's and Bob's good-til-block asks both expire at the same block;
    the budget expires Alice's, Bob's carries, and a taker in that same block fills Bob's order
    although its good-til block has passed."""
    h = _start(tmp_path, {"expiries_per_block": 1})
    harnesses.append(h)
    alice, bob, carol = h.keys
    gtb = h.height + 2
    results = h.block([signed(h, alice, sell(PRICE + TICK, 10, time_in_force=TimeInForce.GOOD_TIL_BLOCK,
                                             good_til_block=gtb)),
                       signed(h, bob, sell(PRICE + 2 * TICK, 10, time_in_force=TimeInForce.GOOD_TIL_BLOCK,
                                           good_til_block=gtb))], prices={1: PRICE})
    assert [r.code for r in results[1:]] == [0, 0]
    _step(h, PRICE)  # height gtb: both still valid
    response = _step(h, PRICE, signed(h, carol, buy(PRICE + 2 * TICK, 20, time_in_force=TimeInForce.IOC)))
    assert h.height == gtb + 1
    assert _events(response, "expiries_carried")
    fills = _tx_events(response, "fill")
    assert fills == [], f"an order whose good-til block {gtb} passed was filled at height {h.height}: {fills}"


def test_a_due_dead_man_switch_stops_fills_while_the_budget_carries_it(
        tmp_path: Path, harnesses: list[AppHarness]) -> None:
    """A key with nothing stored and no collateral schedules a switch (stored, and one budget unit
    when due); switches due first, by time then address, hold back a market maker's switch, whose
    orders stay fillable after their cancel time."""
    h = _start(tmp_path, {"dead_man_switches_per_block": 2})
    harnesses.append(h)
    alice, bob, carol = h.keys
    cancel_at = h.time_ms + 500 + 5_000
    spam = [PrivateKey.from_hex(f"{i:064x}") for i in range(900, 904)]
    txs = [signed(h, k, ScheduleCancelAll(cancel_at)) for k in spam]
    assert all(h.check(t).code == 0 for t in txs)
    results = h.block([*txs, signed(h, alice, sell(PRICE + TICK, 10)),
                       signed(h, alice, ScheduleCancelAll(cancel_at + 1))], prices={1: PRICE})
    assert [r.code for r in results[1:]] == [0] * 6
    # the first block whose time passes alice's switch: the spam switches (due 1 ms earlier) take the budget
    while h.time_ms + 500 < cancel_at + 1:
        _step(h, PRICE)
    response = _step(h, PRICE, signed(h, carol, buy(PRICE + TICK, 10, time_in_force=TimeInForce.IOC)))
    assert h.time_ms >= cancel_at + 1
    assert _events(response, "dead_man_switches_carried")
    assert _tx_events(response, "fill") == [], "alice's order was filled after her dead-man switch was due"
