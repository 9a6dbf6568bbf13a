"""The order book in the app: placement, matching, clearing, cancels, expiry, ordering, bad inputs.

BTC-USD (market 1): price in micro-USDC per BTC, tick 0.1 USDC; size in atoms of 0.0001 BTC,
step 10 atoms. One lot (0.001 BTC) at 65,000 USDC is 65 USDC; maker fee 1 bp, taker fee 5 bp.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from app.ordering import order_txs, proposal_order_error
from modules.bank.keeper import BankKeeper
from modules.bank.types import Transfer
from modules.margin.keeper import MarginKeeper
from modules.orderbook.actions import CancelAll, CancelOrder, ModifyOrder, PlaceOrder, ScheduleCancelAll
from modules.orderbook.types import Side, TimeInForce
from modules.types import FEE_POOL, SubaccountId
from tests.app.conftest import FUNDED_MICRO_USDC, AppHarness, without_nonces
from wire import PrivateKey, sign_tx
from wire.codec import Action, Tx
from wire.pb import abci_pb

BTC = 1
USDC = 1_000_000
PRICE = 65_000 * USDC
_nonces = itertools.count(1)


def signed(h: AppHarness, key: PrivateKey, *actions: Action) -> bytes:
    return sign_tx(key, Tx("perpchain-test", key.address, h.time_ms + next(_nonces), actions))


def buy(price: int = PRICE, size: int = 100, **options: Any) -> PlaceOrder:
    return PlaceOrder(options.pop("subaccount", 0), options.pop("market_id", BTC), Side.BUY, price, size, **options)


def sell(price: int = PRICE, size: int = 100, **options: Any) -> PlaceOrder:
    return PlaceOrder(options.pop("subaccount", 0), options.pop("market_id", BTC), Side.SELL, price, size, **options)



def run(h: AppHarness, *txs: bytes) -> list[abci_pb.ExecTxResult]:
    return h.block(list(txs))


def events(result: abci_pb.ExecTxResult, kind: str) -> list[dict[str, str]]:
    return [{a.key: a.value for a in e.attributes} for e in result.events if e.type == kind]


def query(h: AppHarness, path: str) -> Any:
    response = h.app.query(abci_pb.RequestQuery(path=path))
    assert response.code == 0, response.log
    return json.loads(response.value)


def position(h: AppHarness, key: PrivateKey, market_id: int = BTC) -> tuple[int, int]:
    p = MarginKeeper(h.store).position(SubaccountId(key.address, 0), market_id)
    return p.size_lots, p.cost_micro_usdc


def l2(h: AppHarness, market_id: int = BTC) -> dict[str, list[list[Any]]]:
    answer = query(h, f"/book/{market_id}/10")
    return {"bids": answer["bids"], "asks": answer["asks"]}


def test_crossing_orders_fill_at_the_maker_price_and_settle_positions_fees_and_collateral(harness: AppHarness) -> None:
    alice, bob, _ = harness.keys
    [placed] = run(harness, signed(harness, alice, sell(PRICE, 100)))
    assert placed.code == 0 and events(placed, "order_placed")[0]["price"] == str(PRICE)
    [taken] = run(harness, signed(harness, bob, buy(PRICE + 100 * USDC, 100, time_in_force=TimeInForce.IOC)))
    assert taken.code == 0, taken.log
    [fill] = events(taken, "fill")
    assert (fill["price"], fill["size"], fill["taker_side"]) == (str(PRICE), "100", "buy")
    notional = 650 * USDC  # 0.01 BTC at 65,000
    assert (fill["maker_fee_micro_usdc"], fill["taker_fee_micro_usdc"]) == (str(notional // 10_000), str(notional * 5 // 10_000))
    assert position(harness, alice) == (-10, -notional)
    assert position(harness, bob) == (10, notional)
    bank = BankKeeper(harness.store)
    assert harness.balance(alice) == FUNDED_MICRO_USDC - 65_000
    assert harness.balance(bob) == FUNDED_MICRO_USDC - 325_000
    assert bank.balance(FEE_POOL) == 390_000
    assert l2(harness) == {"bids": [], "asks": []}
    trades = query(harness, "/trades/1/10")["trades"]
    assert [(t["price"], t["size"], t["taker_side"]) for t in trades] == [(str(PRICE), "100", "buy")]


def test_closing_a_position_realizes_pnl_and_conserves_collateral_plus_fees(harness: AppHarness) -> None:
    alice, bob, carol = harness.keys
    run(harness, signed(harness, alice, sell(PRICE, 100)))
    run(harness, signed(harness, bob, buy(PRICE, 100, time_in_force=TimeInForce.IOC)))
    run(harness, signed(harness, carol, buy(PRICE + 1_000 * USDC, 100)))  # bob closes 1,000 USDC higher
    [closed] = run(harness, signed(harness, bob, sell(PRICE + 1_000 * USDC, 100, time_in_force=TimeInForce.IOC,
                                                       reduce_only=True)))
    [fill] = events(closed, "fill")
    assert fill["taker_realized_pnl_micro_usdc"] == str(10 * USDC)  # 0.01 BTC x 1,000 USDC
    assert position(harness, bob) == (0, 0)
    margin = MarginKeeper(harness.store)
    total = sum(harness.balance(k) for k in harness.keys) + BankKeeper(harness.store).balance(FEE_POOL)
    costs = sum(p.cost_micro_usdc for p in margin.all_positions())
    assert total - costs == 3 * FUNDED_MICRO_USDC
    assert sum(p.size_lots for p in margin.all_positions()) == 0


def test_price_time_priority_and_partial_fills(harness: AppHarness) -> None:
    alice, bob, carol = harness.keys
    run(harness, signed(harness, alice, sell(PRICE + 100_000, 100)), signed(harness, bob, sell(PRICE, 100)),
        signed(harness, carol, sell(PRICE, 100)))
    [taken] = run(harness, signed(harness, alice, buy(PRICE + 100_000, 150, time_in_force=TimeInForce.IOC)))
    fills = events(taken, "fill")
    # alice's own ask at the better-for-nobody price is not reached; bob (earlier) then carol at PRICE.
    assert [(f["maker"].split("/")[0], f["size"]) for f in fills] == [
        ("0x" + bob.address.hex(), "100"), ("0x" + carol.address.hex(), "50")]
    assert l2(harness)["asks"] == [[str(PRICE), "50", 1], [str(PRICE + 100_000), "100", 1]]


def test_self_trade_cancels_the_resting_order_instead_of_filling(harness: AppHarness) -> None:
    alice, bob, _ = harness.keys
    run(harness, signed(harness, alice, sell(PRICE, 100)), signed(harness, bob, sell(PRICE + 100_000, 100)))
    [taken] = run(harness, signed(harness, alice, buy(PRICE + 100_000, 100, time_in_force=TimeInForce.IOC)))
    assert events(taken, "order_cancelled")[0]["reason"] == "self_trade"
    assert [f["maker"].split("/")[0] for f in events(taken, "fill")] == ["0x" + bob.address.hex()]
    assert query(harness, f"/orders/0x{alice.address.hex()}/0")["orders"] == []


def test_post_only_never_takes(harness: AppHarness) -> None:
    alice, bob, _ = harness.keys
    run(harness, signed(harness, alice, sell(PRICE, 100)))
    [refused] = run(harness, signed(harness, bob, buy(PRICE, 100, post_only=True)))
    assert refused.code == 306
    [rested] = run(harness, signed(harness, bob, buy(PRICE - 100_000, 100, post_only=True)))
    assert rested.code == 0 and events(rested, "fill") == []
    assert l2(harness)["bids"] == [[str(PRICE - 100_000), "100", 1]]


def test_fill_or_kill_fills_whole_or_changes_nothing(harness: AppHarness) -> None:
    alice, bob, _ = harness.keys
    run(harness, signed(harness, alice, sell(PRICE, 100)))
    before = harness.state()
    [killed] = run(harness, signed(harness, bob, buy(PRICE, 200, time_in_force=TimeInForce.FOK)))
    assert killed.code == 307
    assert l2(harness)["asks"] == [[str(PRICE), "100", 1]]
    assert without_nonces(harness.state()) == without_nonces(before)
    [filled] = run(harness, signed(harness, bob, buy(PRICE, 100, time_in_force=TimeInForce.FOK)))
    assert filled.code == 0 and position(harness, bob)[0] == 10


def test_ioc_remainder_does_not_rest(harness: AppHarness) -> None:
    alice, bob, _ = harness.keys
    run(harness, signed(harness, alice, sell(PRICE, 100)))
    [taken] = run(harness, signed(harness, bob, buy(PRICE, 300, time_in_force=TimeInForce.IOC)))
    assert events(taken, "order_cancelled")[0]["reason"] == "unfilled_ioc"
    assert l2(harness) == {"bids": [], "asks": []}


def test_reduce_only_never_grows_a_position_and_shrinks_with_it(harness: AppHarness) -> None:
    alice, bob, carol = harness.keys
    [refused] = run(harness, signed(harness, bob, sell(PRICE, 100, reduce_only=True)))
    assert refused.code == 308  # no position to reduce
    run(harness, signed(harness, alice, sell(PRICE, 100)))
    run(harness, signed(harness, bob, buy(PRICE, 100, time_in_force=TimeInForce.IOC)))  # bob long 10 lots
    [resting] = run(harness, signed(harness, bob, sell(PRICE + 500 * USDC, 500, reduce_only=True)))
    assert query(harness, f"/orders/0x{bob.address.hex()}/0")["orders"][0]["size"] == "100"  # clamped to the position
    run(harness, signed(harness, carol, buy(PRICE, 60)))
    run(harness, signed(harness, bob, sell(PRICE, 60, time_in_force=TimeInForce.IOC)))  # bob now long 4 lots
    assert position(harness, bob)[0] == 4
    assert query(harness, f"/orders/0x{bob.address.hex()}/0")["orders"][0]["size"] == "40"
    assert resting.code == 0


def test_cancel_by_id_by_client_id_and_all(harness: AppHarness) -> None:
    alice, bob, _ = harness.keys
    [placed] = run(harness, signed(harness, alice, buy(PRICE - 100_000, 100, client_id=7),
                                   buy(PRICE - 200_000, 100, client_id=8), buy(PRICE - 300_000, 100, client_id=9)))
    ids = [e["order_id"] for e in events(placed, "order_placed")]
    [duplicate] = run(harness, signed(harness, alice, buy(PRICE - 400_000, 100, client_id=7)))
    assert duplicate.code == 303
    [foreign] = run(harness, signed(harness, bob, CancelOrder(0, BTC, order_id=int(ids[0]))))
    assert foreign.code == 305
    [by_id] = run(harness, signed(harness, alice, CancelOrder(0, BTC, order_id=int(ids[0]))))
    [by_client] = run(harness, signed(harness, alice, CancelOrder(0, BTC, client_id=8)))
    assert events(by_id, "order_cancelled")[0]["order_id"] == ids[0]
    assert events(by_client, "order_cancelled")[0]["client_id"] == "8"
    [gone] = run(harness, signed(harness, alice, CancelOrder(0, BTC, order_id=int(ids[0]))))
    assert gone.code == 304
    [everything] = run(harness, signed(harness, alice, CancelAll(0)))
    assert [e["order_id"] for e in events(everything, "order_cancelled")] == [ids[2]]
    assert MarginKeeper(harness.store).exposure(SubaccountId(alice.address, 0), BTC).bid_lots == 0


def test_modify_keeps_priority_only_when_just_the_size_shrinks(harness: AppHarness) -> None:
    alice, bob, carol = harness.keys
    [a] = run(harness, signed(harness, alice, sell(PRICE, 100)))
    [b] = run(harness, signed(harness, bob, sell(PRICE, 100)))
    alice_id, bob_id = (int(events(r, "order_placed")[0]["order_id"]) for r in (a, b))
    [grown] = run(harness, signed(harness, alice, ModifyOrder(0, BTC, alice_id, PRICE, 150)))
    assert events(grown, "order_cancelled")[0]["reason"] == "replaced"
    alice_id = int(events(grown, "order_placed")[0]["order_id"])
    assert alice_id > bob_id  # behind bob now
    [shrunk] = run(harness, signed(harness, bob, ModifyOrder(0, BTC, bob_id, PRICE, 50)))
    assert events(shrunk, "order_modified")[0]["kept_priority"] == "true"
    [taken] = run(harness, signed(harness, carol, buy(PRICE, 60, time_in_force=TimeInForce.IOC)))
    assert [(f["maker_order_id"], f["size"]) for f in events(taken, "fill")] == [(str(bob_id), "50"),
                                                                                  (str(alice_id), "10")]
    [gone] = run(harness, signed(harness, bob, ModifyOrder(0, BTC, bob_id, PRICE, 10)))
    assert gone.code == 304  # filled completely


def test_good_til_block_and_time_orders_expire_before_the_block_matches(harness: AppHarness) -> None:
    alice, bob, _ = harness.keys
    next_height = harness.height + 1
    run(harness, signed(harness, alice, sell(PRICE, 100, time_in_force=TimeInForce.GOOD_TIL_BLOCK,
                                            good_til_block=next_height + 1),
                        sell(PRICE + 100_000, 100, time_in_force=TimeInForce.GOOD_TIL_TIME,
                             good_til_time_ms=harness.time_ms + 1_200)))
    run(harness)  # height next+1: both still rest
    assert len(l2(harness)["asks"]) == 2
    response = harness.finalize([signed(harness, bob, buy(PRICE + 100_000, 100, time_in_force=TimeInForce.IOC))])
    harness.commit()
    expired = [{a.key: a.value for a in e.attributes} for e in response.events if e.type == "order_expired"]
    assert len(expired) == 2  # both gone before bob's order ran
    assert events(response.tx_results[0], "fill") == []


def test_dead_man_switch_cancels_everything_when_not_refreshed(harness: AppHarness) -> None:
    alice, _, _ = harness.keys
    [too_soon] = run(harness, signed(harness, alice, ScheduleCancelAll(harness.time_ms + 1_000)))
    assert too_soon.code == 311
    [scheduled] = run(harness, signed(harness, alice, Transfer(0, SubaccountId(alice.address, 3), 100 * USDC),
                                      buy(PRICE - 100_000, 100), buy(PRICE - 100_000, 100, subaccount=3),
                                      ScheduleCancelAll(harness.time_ms + 500 + 5_000)))
    assert scheduled.code == 0, scheduled.log
    for _ in range(9):
        run(harness)
        assert len(query(harness, f"/orders/0x{alice.address.hex()}/3")["orders"]) == 1
    response = harness.finalize([])
    harness.commit()
    assert sum(1 for e in response.events if e.type == "order_cancelled") == 2
    assert query(harness, f"/orders/0x{alice.address.hex()}/0")["orders"] == []


@pytest.mark.parametrize(
    ("case", "action", "code"),
    [
        ("price off tick", buy(PRICE + 1, 100), 300),
        ("size off step", buy(PRICE, 105), 301),
        ("size under minimum", buy(PRICE, 0), 301),
        ("unknown market", buy(PRICE, 100, market_id=99), 200),
        ("paused market", PlaceOrder(0, 2, Side.BUY, 1_000, 1), 201),
        ("post-only IOC", buy(PRICE, 100, post_only=True, time_in_force=TimeInForce.IOC), 310),
        ("good-til-block in the past", buy(PRICE, 100, time_in_force=TimeInForce.GOOD_TIL_BLOCK, good_til_block=1), 310),
        ("subaccount over 127", buy(PRICE, 100, subaccount=200), 312),
        ("over initial margin", buy(PRICE, 400_000), 400),  # 40 BTC = 2.6M USDC on 1,000 USDC
    ],
)
def test_bad_orders_get_their_code_and_change_nothing(harness: AppHarness, case: str, action: PlaceOrder,
                                                      code: int) -> None:
    alice, _, _ = harness.keys
    raw = signed(harness, alice, action)
    checked = harness.check(raw)
    before = harness.state()
    [result] = run(harness, raw)
    assert result.code == code, result.log
    assert without_nonces(harness.state()) == without_nonces(before)  # the failed tx used its nonce only
    assert checked.code == code


def test_open_interest_never_exceeds_the_cap(harness: AppHarness) -> None:
    alice, bob, _ = harness.keys  # TINY-USD: cap 100 atoms = 10 lots
    run(harness, signed(harness, alice, sell(PRICE, 200, market_id=3)))
    [over] = run(harness, signed(harness, bob, buy(PRICE, 200, market_id=3, time_in_force=TimeInForce.IOC)))
    assert over.code == 401
    [within] = run(harness, signed(harness, bob, buy(PRICE, 100, market_id=3, time_in_force=TimeInForce.IOC)))
    assert within.code == 0 and position(harness, bob, 3)[0] == 10


def test_resting_orders_beyond_the_equity_tier_are_refused(harness: AppHarness) -> None:
    alice, _, _ = harness.keys  # 1,000 USDC: the tier that stores 64
    [ok] = run(harness, signed(harness, alice, *[buy(PRICE - (1 + i) * 100_000, 10) for i in range(64)]))
    assert ok.code == 0, ok.log
    [refused] = run(harness, signed(harness, alice, buy(PRICE - 900 * 100_000, 10)))
    assert refused.code == 332, refused.log
    [taker] = run(harness, signed(harness, alice, sell(PRICE + 100_000, 10, time_in_force=TimeInForce.IOC)))
    assert taker.code == 0, taker.log  # an order that stores nothing is not counted


def test_too_many_open_orders_is_refused(tmp_path: Any) -> None:
    from tests.app.conftest import start_app
    from wire import PrivateKey

    alice = PrivateKey.from_hex(f"{101:064x}")
    h = start_app(tmp_path / "db", [alice], sections={"orderbook": {"params": {"max_open_orders": 8}}})
    try:
        [ok] = run(h, signed(h, alice, *[buy(PRICE - (1 + i) * 100_000, 10) for i in range(8)]))
        assert ok.code == 0, ok.log
        [refused] = run(h, signed(h, alice, buy(PRICE - 900 * 100_000, 10)))
        assert refused.code == 309, refused.log
    finally:
        h.app.signers.close()
        h.store.close()


def test_a_restarted_app_rebuilds_the_same_books_from_the_store(harness: AppHarness, tmp_path: Any) -> None:
    from app.application import Application

    alice, bob, _ = harness.keys
    run(harness, signed(harness, alice, sell(PRICE, 100), sell(PRICE + 100_000, 30), buy(PRICE - 100_000, 20)),
        signed(harness, bob, buy(PRICE, 40, time_in_force=TimeInForce.IOC)))
    rebuilt = Application(harness.store)
    assert rebuilt.books.dump() == harness.app.books.dump()
    rebuilt.signers.close()


def test_proposals_are_ordered_by_class_and_a_misordered_one_is_rejected(harness: AppHarness) -> None:
    alice, bob, _ = harness.keys
    taking = signed(harness, alice, buy(PRICE, 100, time_in_force=TimeInForce.IOC))
    resting = signed(harness, bob, sell(PRICE, 100))
    cancel = signed(harness, bob, CancelAll(0))
    transfer = signed(harness, alice, Transfer(0, SubaccountId(bob.address, 1), 5))
    seed = harness.app.ordering_seed
    assert order_txs([taking, resting, cancel, transfer], seed) == [transfer, cancel, resting, taking]
    assert proposal_order_error([transfer, cancel, resting, taking], seed) is None
    assert "taking order" in (proposal_order_error([taking, resting], seed) or "")
    response = harness.app.process_proposal(abci_pb.RequestProcessProposal(txs=[taking, resting], height=5))
    assert response.status == abci_pb.ResponseProcessProposal.REJECT
