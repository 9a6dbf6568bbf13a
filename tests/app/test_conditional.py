"""Stops and take-profits: each kind triggers exactly once, in the documented order, when the
oracle crosses its trigger; bad conditionals get their codes."""

from __future__ import annotations

import pytest

from modules.auth.keys import STORE_PREFIX as AUTH
from modules.liquidation.keys import STORE_PREFIX as LIQUIDATION
from modules.margin.keeper import MarginKeeper
from modules.oracle.keys import STORE_PREFIX as ORACLE
from modules.orderbook.actions import CancelAll, ConditionalKind, PlaceConditional
from modules.orderbook.types import Side
from modules.types import SubaccountId
from tests.app.conftest import AppHarness, oracle_tx_with
from tests.app.test_orderbook import PRICE, USDC, buy, sell, signed
from wire.pb import abci_pb

BTC = 1
UP = 66_000 * USDC


def _events(response: abci_pb.ResponseFinalizeBlock, kind: str) -> list[dict[str, str]]:
    return [{a.key: a.value for a in e.attributes} for e in response.events if e.type == kind]


def test_each_kind_triggers_once_in_the_documented_order(oracle_harness: AppHarness) -> None:
    """Crossed in the same block, they fire furthest past their trigger first (then by id), so
    the order comes from the distances, not from the ids or the kinds."""
    h = oracle_harness
    alice, bob, _ = h.keys
    h.block([signed(h, alice, sell(67_000 * USDC, 500), buy(64_000 * USDC, 500))], prices={BTC: PRICE})
    # placed in reverse of the firing order; the stop-market's trigger is furthest below 66,000
    placed = h.block([signed(h, bob,
                             PlaceConditional(0, BTC, ConditionalKind.TAKE_PROFIT_LIMIT, Side.SELL, 65_990 * USDC,
                                              65_900 * USDC, 10),
                             PlaceConditional(0, BTC, ConditionalKind.TAKE_PROFIT_MARKET, Side.SELL, 65_980 * USDC,
                                              63_000 * USDC, 10),
                             PlaceConditional(0, BTC, ConditionalKind.STOP_LIMIT, Side.BUY, 65_950 * USDC,
                                              67_000 * USDC, 10),
                             PlaceConditional(0, BTC, ConditionalKind.STOP_MARKET, Side.BUY, 65_920 * USDC,
                                              68_000 * USDC, 10))],
                     prices={BTC: PRICE})
    assert [r.code for r in placed[1:]] == [0]
    quiet = h.finalize([oracle_tx_with({BTC: 65_900 * USDC})])
    h.commit()
    assert _events(quiet, "conditional_triggered") == []  # not crossed yet
    fired = h.finalize([oracle_tx_with({BTC: UP})])
    h.commit()
    assert [e["kind"] for e in _events(fired, "conditional_triggered")] == [
        "stop_market", "stop_limit", "take_profit_market", "take_profit_limit"]
    fills = _events(fired, "fill")
    assert [(f["taker_side"], f["price"]) for f in fills] == [("buy", str(67_000 * USDC)), ("buy", str(67_000 * USDC)),
                                                               ("sell", str(64_000 * USDC))]
    again = h.finalize([oracle_tx_with({BTC: UP + 100_000})])
    h.commit()
    assert _events(again, "conditional_triggered") == []  # exactly once


@pytest.mark.parametrize(("case", "action", "code"), [
    ("stop buy below the price", PlaceConditional(0, BTC, ConditionalKind.STOP_MARKET, Side.BUY, 64_000 * USDC,
                                                  70_000 * USDC, 10), 313),
    ("take-profit sell below the price", PlaceConditional(0, BTC, ConditionalKind.TAKE_PROFIT_LIMIT, Side.SELL,
                                                          64_000 * USDC, 64_000 * USDC, 10), 313),
    ("trigger off tick", PlaceConditional(0, BTC, ConditionalKind.STOP_LIMIT, Side.BUY, UP + 1, UP, 10), 300),
    ("paused market", PlaceConditional(0, 2, ConditionalKind.STOP_MARKET, Side.BUY, 2_000, 2_000, 1), 201),
    ("size off step", PlaceConditional(0, BTC, ConditionalKind.STOP_MARKET, Side.BUY, UP, UP, 15), 301),
])
def test_bad_conditionals_get_their_code_and_change_nothing(oracle_harness: AppHarness, case: str,
                                                            action: PlaceConditional, code: int) -> None:
    h = oracle_harness
    alice, _, _ = h.keys
    h.block([], prices={BTC: PRICE})
    before = h.state()
    [_, result] = h.block([signed(h, alice, action)], prices={BTC: PRICE})
    assert result.code == code, result.log
    assert [kv for kv in h.state() if not kv[0].startswith((AUTH, ORACLE, LIQUIDATION))] == \
        [kv for kv in before if not kv[0].startswith((AUTH, ORACLE, LIQUIDATION))]


def test_a_conditional_reserves_margin_for_its_worst_case(oracle_harness: AppHarness) -> None:
    h = oracle_harness
    _, bob, _ = h.keys
    [_, refused] = h.block([signed(h, bob, PlaceConditional(0, BTC, ConditionalKind.STOP_LIMIT, Side.BUY, UP, UP,
                                                            400_000))], prices={BTC: PRICE})  # 40 BTC on 1,000 USDC
    assert refused.code == 400, refused.log
    [_, placed] = h.block([signed(h, bob, PlaceConditional(0, BTC, ConditionalKind.STOP_LIMIT, Side.BUY, UP, UP, 10))],
                          prices={BTC: PRICE})
    assert placed.code == 0, placed.log
    exposure = MarginKeeper(h.store).exposure(SubaccountId(bob.address, 0), BTC)
    assert (exposure.bid_lots, exposure.ask_lots) == (1, 0)  # the stop's 10 atoms, one lot, reserved


def test_a_triggered_order_that_fails_its_checks_is_cancelled_with_the_reason(oracle_harness: AppHarness) -> None:
    h = oracle_harness
    _, bob, _ = h.keys
    h.block([signed(h, bob, PlaceConditional(0, BTC, ConditionalKind.STOP_LIMIT, Side.BUY, UP, 3 * UP, 10))],
            prices={BTC: PRICE})
    fired = h.finalize([oracle_tx_with({BTC: UP})])  # its limit lies above the band: oracle + 50%
    h.commit()
    [cancelled] = _events(fired, "conditional_cancelled")
    assert "PriceOutsideBand" in cancelled["reason"]


def test_cancel_all_also_cancels_conditionals(oracle_harness: AppHarness) -> None:
    h = oracle_harness
    _, bob, _ = h.keys
    h.block([signed(h, bob, PlaceConditional(0, BTC, ConditionalKind.STOP_MARKET, Side.BUY, UP, UP, 10))],
            prices={BTC: PRICE})
    [_, cancelled] = h.block([signed(h, bob, CancelAll(0, BTC))], prices={BTC: PRICE})
    assert [e.type for e in cancelled.events] == ["conditional_cancelled"]
    fired = h.finalize([oracle_tx_with({BTC: UP})])
    h.commit()
    assert _events(fired, "conditional_triggered") == []
