"""Bounded work at the start and end of a block (docs/orders.md "Budgets", docs/liquidation.md):
what exceeds a per-block budget carries to the next block, in a fixed order, with an event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modules.bank.types import Transfer
from modules.orderbook.actions import ConditionalKind, PlaceConditional, PlaceTwap, ScheduleCancelAll
from modules.orderbook.types import Side, TimeInForce
from modules.types import SubaccountId
from tests.app.conftest import AppHarness, oracle_tx_with, start_app
from tests.app.test_orderbook import PRICE, USDC, buy, sell, signed
from wire import PrivateKey

BTC = 1
TICK = 100_000  # 0.1 USDC


def _start(tmp_path: Path, orderbook: dict[str, int] | None = None,
           liquidation: dict[str, int] | None = None) -> AppHarness:
    keys = [PrivateKey.from_hex(f"{i:064x}") for i in (101, 102, 103)]
    sections: dict[str, object] = {}
    if orderbook:
        sections["orderbook"] = {"params": orderbook}
    if liquidation:
        sections["liquidation"] = {"params": liquidation}
    return start_app(tmp_path / "db", keys, oracle=True, sections=sections)


def _events(response: Any, kind: str) -> list[dict[str, str]]:
    return [{a.key: a.value for a in e.attributes} for e in response.events if e.type == kind]


def _step(h: AppHarness, price: int, *txs: bytes) -> Any:
    response = h.finalize([oracle_tx_with({BTC: price}), *txs])
    h.commit()
    return response


def _stop_buy(trigger: int) -> PlaceConditional:
    return PlaceConditional(0, BTC, ConditionalKind.STOP_MARKET, Side.BUY, trigger, trigger + 1_000 * USDC, 10)


# -- triggers ---------------------------------------------------------------------------------------

def test_triggers_beyond_the_budget_carry_in_priority_order(tmp_path: Path, harnesses: list[AppHarness]) -> None:
    """Budget 2: of five stops crossed in one block, the two furthest past their trigger fire
    first; the rest carry (`triggers_carried`), then fire two a block. A stop crossed in a
    later block fires after every one crossed earlier, however far past its trigger it is."""
    h = _start(tmp_path, {"triggers_per_block": 2})
    harnesses.append(h)
    _, bob, _ = h.keys
    triggers = [65_500, 65_100, 65_300, 65_200, 65_400]  # ids 1..5
    placed = h.block([signed(h, bob, *[_stop_buy(t * USDC) for t in triggers])], prices={BTC: PRICE})
    assert [r.code for r in placed[1:]] == [0]
    first = _step(h, 65_600 * USDC)
    assert [e["trigger_price"] for e in _events(first, "conditional_triggered")] == \
        [str(65_100 * USDC), str(65_200 * USDC)]  # furthest past first
    assert _events(first, "triggers_carried") == [{"queued": "3", "more": "false"}]
    # a stop crossed one block later, further past its trigger than all the waiting ones
    second = _step(h, 65_600 * USDC, signed(h, bob, _stop_buy(65_700 * USDC)))
    assert second.tx_results[1].code == 0, second.tx_results[1].log
    third = _step(h, 70_000 * USDC)  # crosses 65,700, 4,300 past it
    fired = [e["trigger_price"] for e in _events(second, "conditional_triggered") +
             _events(third, "conditional_triggered")]
    assert fired == [str(p * USDC) for p in (65_300, 65_400, 65_500, 65_700)]
    assert _events(third, "triggers_carried") == []


def test_crossed_trigger_fires_after_price_retreats(tmp_path: Path, harnesses: list[AppHarness]) -> None:
    """Budget 1 (so a block queues at most 4): twelve stops crossed by one print are all
    triggered, though the price falls back under every trigger the next block: the band keeps
    its reach and sweeps it, and each fires exactly once, in order."""
    h = _start(tmp_path, {"triggers_per_block": 1})
    harnesses.append(h)
    _, bob, _ = h.keys
    triggers = [65_100 + 10 * i for i in range(12)]
    placed = h.block([signed(h, bob, *[_stop_buy(t * USDC) for t in triggers])], prices={BTC: PRICE})
    assert [r.code for r in placed[1:]] == [0]
    crossing = _step(h, 66_000 * USDC)
    assert _events(crossing, "triggers_carried") == [{"queued": "3", "more": "true"}]
    fired = [e["trigger_price"] for e in _events(crossing, "conditional_triggered")]
    for _ in range(11):
        fired += [e["trigger_price"] for e in _events(_step(h, PRICE), "conditional_triggered")]
    assert fired == [str(t * USDC) for t in triggers]
    assert _events(_step(h, PRICE), "conditional_triggered") == []


def test_a_conditional_within_a_pending_reach_is_refused_as_firing_at_once(tmp_path: Path,
                                                                         harnesses: list[AppHarness]) -> None:
    """While a crossing is still being queued, a new stop whose trigger that crossing passed
    would be fired by a price from before it existed: refused with 313; once drained, accepted."""
    h = _start(tmp_path, {"triggers_per_block": 1})
    harnesses.append(h)
    _, bob, carol = h.keys
    h.block([signed(h, bob, *[_stop_buy((65_100 + 10 * i) * USDC) for i in range(12)])], prices={BTC: PRICE})
    _step(h, 66_000 * USDC)  # queues 4 of 12: the band's reach stays at 66,000
    [_, refused] = h.block([signed(h, carol, _stop_buy(65_900 * USDC))], prices={BTC: PRICE})
    assert refused.code == 313, refused.log
    [_, beyond] = h.block([signed(h, carol, _stop_buy(66_100 * USDC))], prices={BTC: PRICE})
    assert beyond.code == 0, beyond.log
    for _ in range(12):
        _step(h, PRICE)
    [_, accepted] = h.block([signed(h, carol, _stop_buy(65_900 * USDC))], prices={BTC: PRICE})
    assert accepted.code == 0, accepted.log


# -- TWAP children, expiries, dead-man switches -----------------------------------------------------

def test_twap_children_beyond_the_budget_carry_in_due_order(tmp_path: Path, harnesses: list[AppHarness]) -> None:
    h = _start(tmp_path, {"twap_children_per_block": 2})
    harnesses.append(h)
    alice, bob, _ = h.keys
    h.block([signed(h, alice, sell(PRICE, 1_000))], prices={BTC: PRICE})
    h.block([signed(h, bob, *[PlaceTwap(0, BTC, Side.BUY, 30, slices=3, interval_blocks=1) for _ in range(3)])],
            prices={BTC: PRICE})
    first = _step(h, PRICE)
    assert [c["twap_id"] for c in _events(first, "twap_child")] == ["1", "2"]
    assert _events(first, "twap_children_carried") == [{"sent": "2", "more": "true"}]
    second = _step(h, PRICE)  # TWAP 3, due a block earlier, goes first
    assert [c["twap_id"] for c in _events(second, "twap_child")] == ["3", "1"]
    sent = [c["twap_id"] for _ in range(4) for c in _events(_step(h, PRICE), "twap_child")]
    assert sorted(sent) == ["1", "2", "2", "3", "3"]  # nine children in all, three per TWAP


def test_expiries_beyond_the_budget_carry(tmp_path: Path, harnesses: list[AppHarness]) -> None:
    h = _start(tmp_path, {"expiries_per_block": 2})
    harnesses.append(h)
    alice, _, _ = h.keys
    expiring = [buy(PRICE - (i + 1) * TICK, 10, time_in_force=TimeInForce.GOOD_TIL_BLOCK, good_til_block=h.height + 2)
                for i in range(3)]
    [_, placed] = h.block([signed(h, alice, *expiring)], prices={BTC: PRICE})
    assert placed.code == 0, placed.log
    _step(h, PRICE)  # the good-til block itself: still resting
    due = _step(h, PRICE)
    assert len(_events(due, "order_expired")) == 2
    assert _events(due, "expiries_carried") == [{"expired": "2", "more": "true"}]
    rest = _step(h, PRICE)
    assert len(_events(rest, "order_expired")) == 1 and _events(rest, "expiries_carried") == []


def test_dead_man_switch_cancels_conditionals_and_twaps(tmp_path: Path, harnesses: list[AppHarness]) -> None:
    """Everything the address has resting, in every subaccount: orders, conditionals, TWAPs.
    Budget 4: the switch and three items in the first block, the other three the next."""
    h = _start(tmp_path, {"dead_man_switches_per_block": 4})
    harnesses.append(h)
    alice, _, _ = h.keys
    [_, setup] = h.block([signed(h, alice, Transfer(0, SubaccountId(alice.address, 3), 100 * USDC),
                                 buy(PRICE - TICK, 10), buy(PRICE - TICK, 10, subaccount=3),
                                 _stop_buy(66_000 * USDC),
                                 PlaceConditional(3, BTC, ConditionalKind.STOP_MARKET, Side.BUY, 66_000 * USDC,
                                                  67_000 * USDC, 10),
                                 PlaceTwap(0, BTC, Side.BUY, 30, slices=3, interval_blocks=1_000),
                                 PlaceTwap(3, BTC, Side.BUY, 30, slices=3, interval_blocks=1_000),
                                 ScheduleCancelAll(h.time_ms + 500 + 5_000))], prices={BTC: PRICE})
    assert setup.code == 0, setup.log
    cancelled: list[tuple[str, str]] = []
    carried = []
    for _ in range(12):
        response = _step(h, PRICE)
        cancelled += [("order", e["subaccount"]) for e in _events(response, "order_cancelled")
                      if e["reason"] == "dead_man_switch"]
        cancelled += [("conditional", e["owner"][-1]) for e in _events(response, "conditional_cancelled")
                      if e["reason"] == "dead_man_switch"]
        cancelled += [("twap", e["owner"][-1]) for e in _events(response, "twap_cancelled")
                      if e["reason"] == "dead_man_switch"]
        carried.append(len(_events(response, "dead_man_switches_carried")))
    assert cancelled == [("order", "0"), ("order", "3"), ("conditional", "0"), ("conditional", "3"),
                         ("twap", "0"), ("twap", "3")]
    assert sum(carried) == 1  # one block left three items for the next


# -- liquidations -----------------------------------------------------------------------------------

def _two_longs(h: AppHarness) -> tuple[SubaccountId, SubaccountId]:
    """Bob's subaccounts 0 (550 USDC) and 1 (450 USDC) each long 0.1 BTC at 65,000, sold by Alice."""
    alice, bob, _ = h.keys
    results = h.block([signed(h, bob, Transfer(0, SubaccountId(bob.address, 1), 450 * USDC)),
                       signed(h, alice, sell(PRICE, 2_000)),
                       signed(h, bob, buy(PRICE, 1_000, time_in_force=TimeInForce.IOC),
                              buy(PRICE, 1_000, subaccount=1, time_in_force=TimeInForce.IOC))], prices={BTC: PRICE})
    assert [r.code for r in results[1:]] == [0, 0, 0], [r.log for r in results]
    return SubaccountId(bob.address, 0), SubaccountId(bob.address, 1)


def test_liquidations_beyond_the_budget_carry(tmp_path: Path, harnesses: list[AppHarness]) -> None:
    """Budget 1: at 61,000 both of Bob's longs are under maintenance; the more urgent one (lower
    equity / maintenance: subaccount 1, 46.75 against 183) goes first, the other carries and is
    liquidated the next block though the price does not move."""
    h = _start(tmp_path, liquidation={"liquidations_per_block": 1})
    harnesses.append(h)
    first_sub, second_sub = _two_longs(h)
    crash = _step(h, 61_000 * USDC)
    assert [e["subaccount"] for e in _events(crash, "liquidation")] == [str(second_sub)]
    assert _events(crash, "liquidations_carried") == [{"under_maintenance": "1", "more": "false"}]
    calm = _step(h, 61_000 * USDC)
    assert [e["subaccount"] for e in _events(calm, "liquidation")] == [str(first_sub)]
    assert _events(calm, "liquidations_carried") == []


def test_due_subaccounts_beyond_the_evaluation_budget_stay_due(tmp_path: Path, harnesses: list[AppHarness]) -> None:
    """Evaluation budget 1: at 61,000 both of Bob's longs are due; the one with the earlier
    deadline (subaccount 1, the smaller buffer) is evaluated and liquidated, the other is not
    evaluated (`more`: true) and stays due, so the next block evaluates and liquidates it though
    the price does not move."""
    h = _start(tmp_path, liquidation={"liquidation_evaluations_per_block": 1})
    harnesses.append(h)
    first_sub, second_sub = _two_longs(h)
    crash = _step(h, 61_000 * USDC)
    assert [e["subaccount"] for e in _events(crash, "liquidation")] == [str(second_sub)]
    assert _events(crash, "liquidations_carried") == [{"under_maintenance": "0", "more": "true"}]
    calm = _step(h, 61_000 * USDC)
    assert [e["subaccount"] for e in _events(calm, "liquidation")] == [str(first_sub)]
    assert _events(calm, "liquidations_carried") == []


def test_liquidation_notional_beyond_the_budget_carries(tmp_path: Path, harnesses: list[AppHarness]) -> None:
    """A notional budget of 3,050 USDC (50 lots at 61,000): each block closes at most 0.05 BTC;
    both longs (0.1 BTC each) close over four blocks, the more urgent first (no bids and an
    empty fund: auto-deleveraging against Alice's short). The first chunk (25 lots) finds no bid
    and no fund, so deleveraging takes the rest of the position as far as the budget reaches: one
    trade of 50 lots a block, and the last 50 lots next block."""
    h = _start(tmp_path, liquidation={"liquidation_notional_per_block_micro_usdc": 3_050 * USDC})
    harnesses.append(h)
    first_sub, second_sub = _two_longs(h)
    closed: list[list[tuple[str, str]]] = []
    carried: list[list[dict[str, str]]] = []
    for _ in range(5):
        response = _step(h, 61_000 * USDC)
        closed.append([(e["subaccount"], e["size"]) for e in _events(response, "deleveraging")])
        carried.append(_events(response, "liquidations_carried"))
    assert closed == [[(str(second_sub), "500")], [(str(second_sub), "500")],
                      [(str(first_sub), "500")], [(str(first_sub), "500")], []]
    assert carried == [[{"under_maintenance": "2", "more": "false"}], [{"under_maintenance": "1", "more": "false"}],
                       [{"under_maintenance": "1", "more": "false"}], [], []]
