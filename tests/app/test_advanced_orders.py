"""Advanced orders on an in-process chain: position TP/SL, trailing stops, TWAP and icebergs;
their events, queries and bad inputs with their codes.

BTC-USD as in tests/app/test_orderbook.py: tick 0.1 USDC, step 10 atoms (one lot).
"""

from __future__ import annotations

from typing import Any, Sequence

import pytest

from modules.auth.keys import STORE_PREFIX as AUTH
from modules.liquidation.keys import STORE_PREFIX as LIQUIDATION
from modules.margin.keeper import MarginKeeper
from modules.oracle.keys import STORE_PREFIX as ORACLE
from modules.orderbook.actions import (
    CancelAll,
    CancelTwap,
    ModifyOrder,
    PlaceOrder,
    PlaceTrailingStop,
    PlaceTwap,
    SetPositionTpSl,
)
from modules.orderbook.types import Side, TimeInForce
from modules.types import SubaccountId
from tests.app.conftest import AppHarness, oracle_tx_with
from tests.app.test_orderbook import PRICE, USDC, buy, query, sell, signed
from wire.codec import Action
from wire.pb import abci_pb

BTC = 1
IOC = TimeInForce.IOC


def block(h: AppHarness, txs: Sequence[bytes], price: int = PRICE) -> abci_pb.ResponseFinalizeBlock:
    """One block at oracle `price`; the whole response, so block events (triggers) are visible."""
    response = h.finalize([oracle_tx_with({BTC: price}), *txs])
    h.commit()
    for result in response.tx_results[1:]:
        assert result.code == 0, result.log
    return response


def all_events(response: abci_pb.ResponseFinalizeBlock) -> list[tuple[str, dict[str, str]]]:
    """Block events then each tx's events, in order."""
    found = [(e.type, {a.key: a.value for a in e.attributes}) for e in response.events]
    for result in response.tx_results:
        found += [(e.type, {a.key: a.value for a in e.attributes}) for e in result.events]
    return found


def of_type(response: abci_pb.ResponseFinalizeBlock, kind: str) -> list[dict[str, str]]:
    return [attributes for event_type, attributes in all_events(response) if event_type == kind]


def rejected(h: AppHarness, tx: bytes) -> abci_pb.ExecTxResult:
    response = h.finalize([oracle_tx_with({BTC: PRICE}), tx])
    h.commit()
    return response.tx_results[1]


def position_atoms(h: AppHarness, key: Any) -> int:
    return MarginKeeper(h.store).position(SubaccountId(key.address, 0), BTC).size_lots * 10


def conditionals(h: AppHarness, key: Any) -> list[dict[str, Any]]:
    return list(query(h, f"/conditionals/0x{key.address.hex()}/0")["conditionals"])


def go_long(h: AppHarness, maker: Any, taker: Any, atoms: int) -> None:
    block(h, [signed(h, maker, sell(PRICE, atoms))])
    block(h, [signed(h, taker, buy(PRICE, atoms, time_in_force=IOC))])
    assert position_atoms(h, taker) == atoms


# -- position TP/SL ---------------------------------------------------------------------------------

def test_position_tpsl_shrinks_with_the_position_and_one_cancels_the_other(oracle_harness: AppHarness) -> None:
    h = oracle_harness
    alice, bob, _ = h.keys
    go_long(h, alice, bob, 100)
    placed = block(h, [signed(h, bob, SetPositionTpSl(0, BTC, 66_000 * USDC, 64_000 * USDC))])
    assert [(e["kind"], e["side"], e["size"]) for e in of_type(placed, "conditional_placed")] == [
        ("position_stop_loss", "sell", "100"), ("position_take_profit", "sell", "100")]
    stop_loss, take_profit = conditionals(h, bob)
    assert (stop_loss["linked_id"], take_profit["linked_id"]) == (take_profit["conditional_id"],
                                                                  stop_loss["conditional_id"])

    block(h, [signed(h, alice, buy(64_900 * USDC, 1000))])
    shrunk = block(h, [signed(h, bob, sell(64_900 * USDC, 40, time_in_force=IOC))])
    assert position_atoms(h, bob) == 60
    assert [e["size"] for e in of_type(shrunk, "conditional_resized")] == ["60", "60"]
    assert [c["size"] for c in conditionals(h, bob)] == ["60", "60"]

    fired = block(h, [], price=64_000 * USDC)
    assert [e["kind"] for e in of_type(fired, "conditional_triggered")] == ["position_stop_loss"]
    [other] = of_type(fired, "conditional_cancelled")
    assert (other["kind"], other["reason"]) == ("position_take_profit", "one_cancels_other")
    [fill] = of_type(fired, "fill")
    assert (fill["taker_side"], fill["price"], fill["size"]) == ("sell", str(64_900 * USDC), "60")
    assert position_atoms(h, bob) == 0
    assert conditionals(h, bob) == []
    assert of_type(block(h, [], price=66_500 * USDC), "conditional_triggered") == []  # the take-profit is gone


def test_closing_the_position_removes_its_tpsl(oracle_harness: AppHarness) -> None:
    h = oracle_harness
    alice, bob, _ = h.keys
    go_long(h, alice, bob, 100)
    block(h, [signed(h, bob, SetPositionTpSl(0, BTC, 0, 64_000 * USDC))])
    block(h, [signed(h, alice, buy(64_900 * USDC, 100))])
    closed = block(h, [signed(h, bob, sell(64_900 * USDC, 100, time_in_force=IOC))])
    [removed] = of_type(closed, "conditional_cancelled")
    assert (removed["kind"], removed["reason"]) == ("position_stop_loss", "position_closed")
    assert conditionals(h, bob) == []


def test_setting_tpsl_again_replaces_the_pair(oracle_harness: AppHarness) -> None:
    h = oracle_harness
    alice, bob, _ = h.keys
    go_long(h, alice, bob, 100)
    block(h, [signed(h, bob, SetPositionTpSl(0, BTC, 66_000 * USDC, 64_000 * USDC, size=50))])
    again = block(h, [signed(h, bob, SetPositionTpSl(0, BTC, 67_000 * USDC, 0))])
    assert sorted(e["reason"] for e in of_type(again, "conditional_cancelled")) == ["replaced", "replaced"]
    [only] = conditionals(h, bob)
    assert (only["kind"], only["trigger_price"], only["size"]) == ("position_take_profit", str(67_000 * USDC), "100")


# -- trailing stops ---------------------------------------------------------------------------------

def test_trailing_stop_follows_the_high_never_moves_back_and_fires_once(oracle_harness: AppHarness) -> None:
    h = oracle_harness
    alice, bob, _ = h.keys
    go_long(h, alice, bob, 100)
    block(h, [signed(h, bob, PlaceTrailingStop(0, BTC, Side.SELL, 100, trail_price=1_000 * USDC,
                                               reduce_only=True))])
    [trailing] = conditionals(h, bob)
    assert (trailing["anchor_price"], trailing["trigger_price"]) == (str(PRICE), str(64_000 * USDC))
    block(h, [], price=66_000 * USDC)
    assert conditionals(h, bob)[0]["trigger_price"] == str(65_000 * USDC)  # followed the high
    block(h, [], price=65_500 * USDC)
    assert conditionals(h, bob)[0]["trigger_price"] == str(65_000 * USDC)  # never moves back
    block(h, [signed(h, alice, buy(64_900 * USDC, 1000))], price=65_500 * USDC)
    fired = block(h, [], price=65_000 * USDC)
    [triggered] = of_type(fired, "conditional_triggered")
    assert (triggered["kind"], triggered["anchor_price"], triggered["oracle_price"]) == (
        "trailing_stop", str(66_000 * USDC), str(65_000 * USDC))
    assert [(f["price"], f["size"]) for f in of_type(fired, "fill")] == [(str(64_900 * USDC), "100")]
    assert position_atoms(h, bob) == 0
    assert of_type(block(h, [], price=60_000 * USDC), "conditional_triggered") == []


def test_trailing_stop_in_basis_points_rounds_away_from_the_price(oracle_harness: AppHarness) -> None:
    h = oracle_harness
    _, bob, _ = h.keys
    block(h, [signed(h, bob, PlaceTrailingStop(0, BTC, Side.BUY, 10, trail_bps=33))])
    # 65,000 * 1.0033 = 65,214.5 USDC: rounded up to the tick, away from the price
    assert conditionals(h, bob)[0]["trigger_price"] == str(65_214_500_000)
    block(h, [], price=64_000 * USDC)
    assert conditionals(h, bob)[0]["trigger_price"] == str(64_211_200_000)  # 64,000 * 1.0033


# -- TWAP -------------------------------------------------------------------------------------------

def test_twap_sends_a_child_every_n_blocks_and_never_more_than_its_total(oracle_harness: AppHarness) -> None:
    h = oracle_harness
    alice, bob, _ = h.keys
    block(h, [signed(h, alice, sell(PRICE, 1000))])
    placed = block(h, [signed(h, bob, PlaceTwap(0, BTC, Side.BUY, 100, slices=3, interval_blocks=2))])
    [announced] = of_type(placed, "twap_placed")
    twap_id, first = announced["twap_id"], int(announced["first_block"])
    assert first == h.height + 1
    children: list[tuple[int, str, str]] = []
    progress = []
    for _ in range(6):
        response = block(h, [])
        children += [(h.height, c["size"], c["filled"]) for c in of_type(response, "twap_child")]
        progress.append([(t["filled"], t["remaining"], t["slices_done"]) for t in
                         query(h, f"/twaps/0x{bob.address.hex()}/0")["twaps"]])
    # ceil(10 lots / 3) = 4, then ceil(6 / 2) = 3, then the 3 left
    assert children == [(first, "40", "40"), (first + 2, "30", "30"), (first + 4, "30", "30")]
    assert progress[0] == [("40", "60", 1)] and progress[2] == [("70", "30", 2)] and progress[4] == []
    assert position_atoms(h, bob) == 100
    assert twap_id == "1"


def test_twap_carries_what_a_child_could_not_fill_and_can_be_cancelled(oracle_harness: AppHarness) -> None:
    h = oracle_harness
    alice, bob, _ = h.keys
    block(h, [signed(h, alice, sell(PRICE, 20))])  # only 2 lots to take
    block(h, [signed(h, bob, PlaceTwap(0, BTC, Side.BUY, 100, slices=4, interval_blocks=2))])
    first = block(h, [])
    [child] = of_type(first, "twap_child")
    assert (child["size"], child["filled"], child["remaining"]) == ("30", "20", "80")
    [cancelled] = of_type(first, "order_cancelled")  # the IOC's unfilled part
    assert cancelled["reason"] == "unfilled_ioc"
    cancel = block(h, [signed(h, bob, CancelTwap(0, BTC, 1))])  # before the next child, due a block later
    [gone] = of_type(cancel, "twap_cancelled")
    assert (gone["filled"], gone["remaining"], gone["reason"]) == ("20", "80", "by_owner")
    assert of_type(block(h, []), "twap_child") == []
    assert position_atoms(h, bob) == 20


def test_cancel_all_stops_twaps(oracle_harness: AppHarness) -> None:
    h = oracle_harness
    _, bob, _ = h.keys
    response = block(h, [signed(h, bob, PlaceTwap(0, BTC, Side.BUY, 100, slices=5, interval_blocks=3),
                                CancelAll(0, BTC))])
    assert [e["reason"] for e in of_type(response, "twap_cancelled")] == ["by_owner"]
    assert query(h, f"/twaps/0x{bob.address.hex()}/0")["twaps"] == []


# -- icebergs ---------------------------------------------------------------------------------------

def _texts(response: abci_pb.ResponseFinalizeBlock) -> list[tuple[str, str, str]]:
    return [(kind, key, value) for kind, attributes in all_events(response) for key, value in attributes.items()]


def test_iceberg_shows_only_its_display_size_and_refills_at_the_back(oracle_harness: AppHarness) -> None:
    h = oracle_harness
    alice, bob, carol = h.keys
    placed = block(h, [signed(h, alice, sell(PRICE, 300, display_size=100))])
    assert not any(key == "size" and value != "100" for _, key, value in _texts(placed))  # 300 is nowhere
    [announced] = of_type(placed, "order_placed")
    assert announced["iceberg"] == "true"
    first_slice = announced["order_id"]
    assert query(h, "/book/1/10")["asks"] == [[str(PRICE), "100", 1]]
    assert [o["size"] for o in query(h, "/book/1/l3/10")["asks"]] == ["100"]
    block(h, [signed(h, carol, sell(PRICE, 50))])  # carol queues behind the shown slice

    taken = block(h, [signed(h, bob, buy(PRICE, 150, time_in_force=IOC))])
    fills = of_type(taken, "fill")
    [refill] = of_type(taken, "iceberg_refill")
    carol_order = [o for o in query(h, "/book/1/l3/10")["asks"] if o["owner"] == f"0x{carol.address.hex()}"]
    assert carol_order == []  # carol filled before the refill: it went to the back
    assert [f["maker"].split("/")[0] for f in fills] == [f"0x{alice.address.hex()}", f"0x{carol.address.hex()}"]
    assert (refill["replaces_order_id"], refill["size"]) == (first_slice, "100")
    assert query(h, "/book/1/10")["asks"] == [[str(PRICE), "100", 1]]  # the hidden 100 still hidden

    # One taker walks both remaining slices; its own rest at the same price never crosses a refill.
    swept = block(h, [signed(h, bob, buy(PRICE, 250))])
    assert [f["size"] for f in of_type(swept, "fill")] == ["100", "100"]
    assert len(of_type(swept, "iceberg_refill")) == 1
    book = query(h, "/book/1/10")
    assert (book["asks"], book["bids"]) == ([], [[str(PRICE), "50", 1]])
    assert position_atoms(h, alice) == -300


def test_cancelling_an_iceberg_releases_its_hidden_exposure(oracle_harness: AppHarness) -> None:
    h = oracle_harness
    alice, _, _ = h.keys
    placed = block(h, [signed(h, alice, sell(PRICE, 300, display_size=100))])
    order_id = int(of_type(placed, "order_placed")[0]["order_id"])
    owner = SubaccountId(alice.address, 0)
    assert MarginKeeper(h.store).exposure(owner, BTC).ask_lots == 30  # shown and hidden both count
    from modules.orderbook.actions import CancelOrder

    block(h, [signed(h, alice, CancelOrder(0, BTC, order_id))])
    assert MarginKeeper(h.store).exposure(owner, BTC).ask_lots == 0
    assert query(h, "/book/1/10")["asks"] == []


# -- bad inputs -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("case", "action", "code"), [
    ("twap with zero slices", PlaceTwap(0, BTC, Side.BUY, 100, slices=0, interval_blocks=1), 320),
    ("twap with a zero interval", PlaceTwap(0, BTC, Side.BUY, 100, slices=2, interval_blocks=0), 321),
    ("twap slices under a step", PlaceTwap(0, BTC, Side.BUY, 100, slices=20, interval_blocks=1), 321),
    ("twap without a slippage bound", PlaceTwap(0, BTC, Side.BUY, 100, 2, 1, max_slippage_bps=0), 327),
    ("twap on a paused market", PlaceTwap(0, 2, Side.BUY, 100, slices=2, interval_blocks=1), 201),
    ("iceberg display off step", PlaceOrder(0, BTC, Side.SELL, PRICE, 300, display_size=15), 322),
    ("iceberg display above the total", PlaceOrder(0, BTC, Side.SELL, PRICE, 300, display_size=310), 323),
    ("iceberg that cannot rest", PlaceOrder(0, BTC, Side.SELL, PRICE, 300, IOC, display_size=100), 324),
    ("trailing stop with two distances", PlaceTrailingStop(0, BTC, Side.SELL, 10, trail_price=USDC, trail_bps=5), 325),
    ("trailing stop with no distance", PlaceTrailingStop(0, BTC, Side.SELL, 10), 325),
    ("trailing stop over 50%", PlaceTrailingStop(0, BTC, Side.SELL, 10, trail_bps=6_000), 325),
    ("trailing distance off tick", PlaceTrailingStop(0, BTC, Side.SELL, 10, trail_price=50_000), 325),
    ("trailing stop on a paused market", PlaceTrailingStop(0, 2, Side.SELL, 10, trail_bps=100), 201),
    ("tpsl without a position", SetPositionTpSl(0, BTC, 66_000 * USDC, 64_000 * USDC), 326),
])
def test_bad_advanced_orders_get_their_code_and_change_nothing(oracle_harness: AppHarness, case: str,
                                                               action: Action, code: int) -> None:
    h = oracle_harness
    alice, _, _ = h.keys
    block(h, [])
    before = h.state()
    result = rejected(h, signed(h, alice, action))
    assert result.code == code, result.log
    assert _module_state(h) == _module_state(h, before)


def _module_state(h: AppHarness, state: list[tuple[bytes, bytes]] | None = None) -> list[tuple[bytes, bytes]]:
    """State a tx could change; the oracle, nonces and liquidation bookkeeping move every block."""
    return [kv for kv in (state if state is not None else h.state())
            if not kv[0].startswith((AUTH, ORACLE, LIQUIDATION))]


@pytest.mark.parametrize(("case", "make", "code"), [
    ("take-profit on the wrong side of the price", lambda: SetPositionTpSl(0, BTC, 64_000 * USDC, 0), 313),
    ("stop-loss on the wrong side of the price", lambda: SetPositionTpSl(0, BTC, 0, 66_000 * USDC), 313),
    ("tpsl with neither price", lambda: SetPositionTpSl(0, BTC, 0, 0), 328),
    ("tpsl with slippage over 50%", lambda: SetPositionTpSl(0, BTC, 66_000 * USDC, 0, max_slippage_bps=5_001), 327),
])
def test_bad_tpsl_on_a_position_gets_its_code(oracle_harness: AppHarness, case: str, make: Any, code: int) -> None:
    h = oracle_harness
    alice, bob, _ = h.keys
    go_long(h, alice, bob, 100)
    before = _module_state(h)
    result = rejected(h, signed(h, bob, make()))
    assert result.code == code, result.log
    assert _module_state(h) == before


def test_an_iceberg_cannot_be_modified(oracle_harness: AppHarness) -> None:
    h = oracle_harness
    alice, _, _ = h.keys
    placed = block(h, [signed(h, alice, sell(PRICE, 300, display_size=100))])
    order_id = int(of_type(placed, "order_placed")[0]["order_id"])
    result = rejected(h, signed(h, alice, ModifyOrder(0, BTC, order_id, PRICE, 200)))
    assert result.code == 324, result.log


def test_a_reduce_only_twap_never_flips_the_position_and_stops_when_it_is_gone(oracle_harness: AppHarness) -> None:
    h = oracle_harness
    alice, bob, _ = h.keys
    go_long(h, alice, bob, 30)
    block(h, [signed(h, alice, buy(64_900 * USDC, 1000)),
              signed(h, bob, PlaceTwap(0, BTC, Side.SELL, 100, slices=2, interval_blocks=1, reduce_only=True))])
    first = block(h, [])
    [child] = of_type(first, "twap_child")
    assert (child["size"], child["filled"]) == ("30", "30")  # 50 asked, capped at the position
    assert position_atoms(h, bob) == 0
    [done] = of_type(block(h, []), "twap_finished")
    assert (done["filled"], done["reason"]) == ("30", "no position left to reduce")
    assert position_atoms(h, bob) == 0


def test_check_tx_refuses_a_bad_iceberg_with_its_code(oracle_harness: AppHarness) -> None:
    h = oracle_harness
    alice, _, _ = h.keys
    response = h.check(signed(h, alice, sell(PRICE, 300, display_size=400)))
    assert (response.code, response.codespace) == (323, "orderbook"), response.log


def test_a_partial_liquidation_shrinks_the_positions_tpsl_in_the_same_block(oracle_harness: AppHarness) -> None:
    """Bob opens 0.2 BTC long at 65,000 on 1,000 USDC (tests/app/test_liquidation.py): at 61,800
    a quarter is liquidated into Carol's 61,700 bid, and his TP/SL follow the 0.15 BTC left."""
    h = oracle_harness
    alice, bob, carol = h.keys
    go_long(h, alice, bob, 2000)
    block(h, [signed(h, bob, SetPositionTpSl(0, BTC, 70_000 * USDC, 55_000 * USDC)),
              signed(h, carol, buy(61_700 * USDC, 2000))])
    liquidated = block(h, [], price=61_800 * USDC)
    assert [e["size"] for e in of_type(liquidated, "liquidation_fill")] == ["500"]
    assert [(e["kind"], e["size"]) for e in of_type(liquidated, "conditional_resized")] == [
        ("position_stop_loss", "1500"), ("position_take_profit", "1500")]
    assert [c["size"] for c in conditionals(h, bob)] == ["1500", "1500"]


def test_check_tx_refuses_with_the_block_code_and_admits_a_tpsl_beside_its_opening_order(
        oracle_harness: AppHarness) -> None:
    """CheckTx runs the block's handlers: a TWAP with zero slices, a trailing stop with both
    distances and a TP/SL without a position never enter the mempool; a TP/SL sent in the same tx
    as the order that opens its position is admitted (the actions run in order)."""
    h = oracle_harness
    alice, bob, _ = h.keys
    block(h, [signed(h, alice, sell(PRICE, 100))])
    zero = h.check(signed(h, bob, PlaceTwap(0, BTC, Side.BUY, 100, slices=0, interval_blocks=1)))
    assert zero.code == 320, zero.log
    both = h.check(signed(h, bob, PlaceTrailingStop(0, BTC, Side.SELL, 10, trail_price=USDC, trail_bps=5)))
    assert both.code == 325, both.log
    alone = h.check(signed(h, bob, SetPositionTpSl(0, BTC, 66_000 * USDC, 64_000 * USDC)))
    assert alone.code == 326, alone.log
    together = h.check(signed(h, bob, buy(PRICE, 10, time_in_force=TimeInForce.IOC),
                              SetPositionTpSl(0, BTC, 66_000 * USDC, 64_000 * USDC)))
    assert together.code == 0, together.log
