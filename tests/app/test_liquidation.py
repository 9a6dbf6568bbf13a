"""Liquidation scenarios with hand-checked numbers (docs/liquidation.md).

BTC-USD: IMF 5%, MMF 3%, one lot 0.001 BTC, 100 micro-USDC per lot per 0.1 USDC tick. Bob opens
0.2 BTC long at 65,000 from Alice (notional 13,000 USDC; taker fee 6.5): collateral 993.5 USDC.
His bankruptcy price is 65,000 - 993.5 / 0.2 = 60,032.5 USDC whatever the mark.
"""

from __future__ import annotations

from typing import Any

from modules.bank.keeper import BankKeeper
from modules.bank.types import Transfer
from modules.margin.keeper import MarginKeeper
from modules.orderbook.types import TimeInForce
from modules.types import INSURANCE_FUND, SubaccountId
from tests.app.conftest import AppHarness
from tests.app.test_orderbook import PRICE, USDC, buy, sell, signed

BTC = 1


def _open_bob_long(h: AppHarness) -> None:
    alice, bob, _ = h.keys
    results = h.block([signed(h, alice, sell(PRICE, 2000)),
                       signed(h, bob, buy(PRICE, 2000, time_in_force=TimeInForce.IOC))], prices={BTC: PRICE})
    assert [r.code for r in results[1:]] == [0, 0]
    assert h.balance(bob) == 993_500_000


def _events(results: Any, kind: str) -> list[dict[str, str]]:
    return [{a.key: a.value for a in e.attributes} for e in results.events if e.type == kind]


def _position(h: AppHarness, who: Any) -> tuple[int, int]:
    p = MarginKeeper(h.store).position(who if isinstance(who, SubaccountId) else SubaccountId(who.address, 0), BTC)
    return p.size_lots, p.cost_micro_usdc


def test_an_under_margined_long_is_partly_liquidated_through_the_book(oracle_harness: AppHarness) -> None:
    """Oracle 61,800: equity 993.5 - 0.2 x 3,200 = 353.5 < maintenance 0.2 x 61,800 x 3% = 370.8.
    Carol bids 0.2 BTC at 61,700. One chunk (a quarter, 0.05 BTC) sells into her bid at 61,700:
    realized (61,700 - 65,000) x 0.05 = -165; fee 0.5% x 3,085 = 15.425 to the insurance fund.
    Equity 353.5 - 5 - 15.425 = 333.075 >= maintenance 0.15 x 61,800 x 3% = 278.1: it stops."""
    h = oracle_harness
    alice, bob, carol = h.keys
    _open_bob_long(h)
    h.block([signed(h, carol, buy(61_700 * USDC, 2000))], prices={BTC: PRICE})
    result = h.finalize([oracle_tx_prices(61_800 * USDC)])
    h.commit()
    [liquidation] = _events(result, "liquidation")
    assert liquidation["subaccount"] == f"0x{bob.address.hex()}/0"
    [chunk] = _events(result, "liquidation_fill")
    assert (chunk["size"], chunk["bankruptcy_price"], chunk["fee_micro_usdc"]) == ("500", "60032500000", "15425000")
    assert _position(h, bob) == (150, 9_750_000_000)
    assert h.balance(bob) == 813_075_000
    assert BankKeeper(h.store).balance(INSURANCE_FUND) == 15_425_000
    assert _position(h, carol)[0] == 50


def test_a_gap_below_bankruptcy_goes_to_the_insurance_fund_while_it_can_carry_it(oracle_harness: AppHarness) -> None:
    """Oracle 59,000 in one block: Bob's equity -206.5. No bid at or above 60,032.5, so the fund
    (500 USDC) takes chunks at the bankruptcy price while it still meets its own initial
    requirement: after two (0.1 BTC, unrealized -103.25) its equity 396.75 covers 5% of 5,900;
    a third would leave 345.125 against 442.5. The fund refusing it, the rest of the position (the
    last two chunks) is deleveraged against Alice's short in one trade: she buys back 0.1 BTC at
    60,032.5, realizing (65,000 - 60,032.5) x 0.1 = 496.75."""
    h = oracle_harness
    alice, bob, carol = h.keys
    _open_bob_long(h)
    [funded] = h.block([signed(h, carol, Transfer(0, INSURANCE_FUND, 500 * USDC), buy(58_000 * USDC, 100))],
                       prices={BTC: PRICE})[1:]
    assert funded.code == 0, funded.log
    result = h.finalize([oracle_tx_prices(59_000 * USDC)])
    h.commit()
    assert len(_events(result, "insurance_fund_takeover")) == 2
    assert [(e["counterparty"], e["size"]) for e in _events(result, "deleveraging")] == \
        [(f"0x{alice.address.hex()}/0", "1000")]
    assert _position(h, bob) == (0, 0)
    assert h.balance(bob) == 0
    assert _position(h, INSURANCE_FUND) == (100, 6_003_250_000)  # 0.1 BTC at 60,032.5
    assert _position(h, alice) == (-100, -6_500_000_000)
    assert _position(h, carol) == (0, 0)  # her bid was below bankruptcy: untouched
    assert BankKeeper(h.store).balance(INSURANCE_FUND) == 500 * USDC


def test_a_fund_too_small_hands_everything_to_auto_deleveraging(oracle_harness: AppHarness) -> None:
    """The same gap with 100 USDC in the fund: one chunk would leave it 48.375 against 147.5, so
    the whole position goes to the opposite one, Alice's short from 65,000, at the bankruptcy
    price, in one deleveraging trade (not one per chunk): she buys back 0.2 BTC at 60,032.5,
    realizing (65,000 - 60,032.5) x 0.2 = +993.5."""
    h = oracle_harness
    alice, bob, carol = h.keys
    _open_bob_long(h)
    alice_before = h.balance(alice)
    h.block([signed(h, carol, Transfer(0, INSURANCE_FUND, 100 * USDC))], prices={BTC: PRICE})
    result = h.finalize([oracle_tx_prices(59_000 * USDC)])
    h.commit()
    assert _events(result, "insurance_fund_takeover") == []
    assert [(e["counterparty"], e["size"]) for e in _events(result, "deleveraging")] == \
        [(f"0x{alice.address.hex()}/0", "2000")]
    assert _position(h, bob) == (0, 0) and h.balance(bob) == 0
    assert _position(h, alice) == (0, 0)
    assert h.balance(alice) == alice_before + 993_500_000
    assert _position(h, INSURANCE_FUND) == (0, 0)


def test_the_fee_on_a_partial_fill_leaves_what_the_rest_of_the_chunk_needs_at_bankruptcy(
    oracle_harness: AppHarness,
) -> None:
    """Oracle 61,000: equity 193.5 < maintenance 366. Carol bids 0.15 BTC at 60,500 and 0.03 at
    59,540. Three chunks sell into 60,500 (each -25 and a fee of 15.125): equity 73.125, still
    under 91.5. The last 0.05 has bankruptcy price 61,000 - 73.125 / 0.05 = 59,537.5: the book
    takes 0.03 at 59,540 (equity 29.325) and the fund must take 0.02 at 59,537.5, which costs
    29.25. So the fee on the 0.03 (8.931 in full) is cut to the 0.075 left: what the fill made
    above bankruptcy. Bob ends flat with 0; had the fee taken 8.931, he could not pay for the
    0.02 and would stay under maintenance holding it."""
    h = oracle_harness
    alice, bob, carol = h.keys
    _open_bob_long(h)
    h.block([signed(h, carol, buy(60_500 * USDC, 1500), buy(59_540 * USDC, 300))], prices={BTC: PRICE})
    result = h.finalize([oracle_tx_prices(61_000 * USDC)])
    h.commit()
    assert [(e["size"], e["bankruptcy_price"], e["fee_micro_usdc"]) for e in _events(result, "liquidation_fill")] == [
        ("500", "60032500000", "15125000"), ("500", "59977500000", "15125000"),
        ("500", "59867500000", "15125000"), ("300", "59537500000", "75000")]
    [takeover] = _events(result, "insurance_fund_takeover")
    assert (takeover["size"], takeover["price"]) == ("200", "59537500000")
    assert _position(h, bob) == (0, 0) and h.balance(bob) == 0
    assert _position(h, INSURANCE_FUND) == (20, 1_190_750_000)
    assert BankKeeper(h.store).balance(INSURANCE_FUND) == 45_450_000
    assert _position(h, carol)[0] == 180


def test_a_position_closes_no_worse_than_where_the_collateral_runs_out_when_the_others_are_in_profit(
    oracle_harness: AppHarness,
) -> None:
    """Bob buys 0.1 BTC at 65,000 from Alice and 1 ETH at 3,200 from Carol (collateral 995.15).
    At 70,000 / 3,500 he moves 995 USDC to his subaccount 1 (equity 800.15 against initial 700),
    keeping 0.15. At 67,000 / 3,350 both positions are in profit (+200, +150), yet equity 350.15 is
    under maintenance 368.5. BTC, the more profitable, closes first: at 67,000 - 350.15 / 0.1 =
    63,498.5 its equity would be zero but the close would realize -150.15 against the 0.15 held;
    at 65,000 - 0.15 / 0.1 = 64,998.5 the collateral is zero, so that is its bankruptcy price. No
    bid, an empty fund: Alice's short is deleveraged there (she realizes +0.15), then ETH (equity
    150 < 167.5) at 3,350 - 150 = 3,200 against Carol. Bob ends flat with 0, not stuck under
    maintenance until BTC falls below his entry with the loss left for Alice."""
    h = oracle_harness
    alice, bob, carol = h.keys
    eth = 4
    results = h.block([signed(h, alice, sell(PRICE, 1000)), signed(h, carol, sell(3_200 * USDC, 1000, market_id=eth)),
                       signed(h, bob, buy(PRICE, 1000, time_in_force=TimeInForce.IOC),
                              buy(3_200 * USDC, 1000, market_id=eth, time_in_force=TimeInForce.IOC))],
                      prices={BTC: PRICE, eth: 3_200 * USDC})
    assert [r.code for r in results[1:]] == [0, 0, 0]
    [moved] = h.block([signed(h, bob, Transfer(0, SubaccountId(bob.address, 1), 995 * USDC))],
                      prices={BTC: 70_000 * USDC, eth: 3_500 * USDC})[1:]
    assert moved.code == 0, moved.log
    assert h.balance(bob) == 150_000
    alice_before = h.balance(alice)
    result = h.finalize([oracle_tx_with({BTC: 67_000 * USDC, eth: 3_350 * USDC})])
    h.commit()
    assert [(e["counterparty"], e["market_id"], e["size"], e["price"]) for e in _events(result, "deleveraging")] == [
        (f"0x{alice.address.hex()}/0", "1", "1000", "64998500000"),
        (f"0x{carol.address.hex()}/0", "4", "1000", "3200000000")]
    assert list(MarginKeeper(h.store).positions(SubaccountId(bob.address, 0))) == [] and h.balance(bob) == 0
    assert _position(h, alice) == (0, 0) and h.balance(alice) == alice_before + 150_000


def oracle_tx_prices(btc: int) -> bytes:
    from tests.app.conftest import oracle_tx_with

    return oracle_tx_with({BTC: btc})


def test_liquidation_queries_show_the_fund_the_history_and_who_is_nearest(oracle_harness: AppHarness) -> None:
    from tests.app.test_orderbook import query

    h = oracle_harness
    _, bob, carol = h.keys
    _open_bob_long(h)
    at_risk = query(h, "/liquidation/at_risk/5")["at_risk"]
    assert f"0x{bob.address.hex()}/0" in [entry["subaccount"] for entry in at_risk]
    h.block([signed(h, carol, buy(61_700 * USDC, 2000))], prices={BTC: PRICE})
    h.finalize([oracle_tx_prices(61_800 * USDC)])
    h.commit()
    [entry] = query(h, "/liquidation/history/10")["liquidations"]
    assert (entry["subaccount"], entry["equity_micro_usdc"]) == (f"0x{bob.address.hex()}/0", "353500000")
    assert query(h, "/liquidation/status")["insurance_fund_collateral_micro_usdc"] == "15425000"


def test_a_cascade_across_two_markets_closes_the_less_losing_position_first(oracle_harness: AppHarness) -> None:
    """Bob, cross-margined: long 0.1 BTC at 65,000 and 1 ETH at 3,200 (collateral 995.15 after
    fees; maintenance 195 + 160). BTC falls to 60,000 and ETH to 2,900: equity 995.15 - 500 - 300
    = 195.15 against maintenance 180 + 145 = 325. ETH (-300) is closed before BTC (-500): four
    chunks into Carol's 2,890 bid still leave him under (equity 195.15 - 10 - 14.45 = 170.7 against
    180), so BTC's first chunk follows into her 59,900 bid, after which he is safe."""
    h = oracle_harness
    alice, bob, carol = h.keys
    eth = 4
    prices = {BTC: PRICE, eth: 3_200 * USDC}
    results = h.block([signed(h, alice, sell(PRICE, 1000), sell(3_200 * USDC, 1000, market_id=eth)),
                       signed(h, bob, buy(PRICE, 1000, time_in_force=TimeInForce.IOC),
                              buy(3_200 * USDC, 1000, market_id=eth, time_in_force=TimeInForce.IOC))], prices=prices)
    assert [r.code for r in results[1:]] == [0, 0]
    assert h.balance(bob) == 995_150_000
    h.block([signed(h, carol, buy(2_890 * USDC, 1000, market_id=eth), buy(59_900 * USDC, 1000))], prices=prices)
    result = h.finalize([oracle_tx_with({BTC: 60_000 * USDC, eth: 2_900 * USDC})])
    h.commit()
    chunks = [(e["market_id"], e["size"]) for e in _events(result, "liquidation_fill")]
    assert chunks == [("4", "250")] * 4 + [("1", "250")]
    assert MarginKeeper(h.store).position(SubaccountId(bob.address, 0), eth).size_lots == 0
    assert _position(h, bob)[0] == 75  # 0.075 BTC left
    from tests.app.test_orderbook import query

    view = query(h, f"/positions/0x{bob.address.hex()}/0")
    assert int(view["equity_micro_usdc"]) >= int(view["maintenance_margin_micro_usdc"])


def test_an_isolated_subaccount_is_liquidated_while_the_same_address_cross_account_is_untouched(
    oracle_harness: AppHarness,
) -> None:
    """Bob moves 500 USDC to subaccount 1 and trades BTC only there (0.1 BTC, 13x); subaccount 0
    keeps its other 500 and no position. A -5.4% move liquidates subaccount 1 alone: its loss
    never reaches subaccount 0, which has its own collateral and margin."""
    h = oracle_harness
    alice, bob, carol = h.keys
    isolated = SubaccountId(bob.address, 1)
    h.block([signed(h, bob, Transfer(0, isolated, 500 * USDC))], prices={BTC: PRICE})
    results = h.block([signed(h, alice, sell(PRICE, 1000)),
                       signed(h, bob, buy(PRICE, 1000, subaccount=1, time_in_force=TimeInForce.IOC))],
                      prices={BTC: PRICE})
    assert [r.code for r in results[1:]] == [0, 0]
    h.block([signed(h, carol, buy(61_000 * USDC, 1000))], prices={BTC: PRICE})
    result = h.finalize([oracle_tx_prices(61_500 * USDC)])
    h.commit()
    assert [e["subaccount"] for e in _events(result, "liquidation")] == [str(isolated)]
    assert h.balance(bob, 0) == 500 * USDC
    assert MarginKeeper(h.store).position(SubaccountId(bob.address, 0), BTC).size_lots == 0


def oracle_tx_with(prices: dict[int, int]) -> bytes:
    from tests.app.conftest import oracle_tx_with as build

    return build(prices)


def test_a_whale_walking_a_thin_book_moves_no_margin_price_and_liquidates_nobody(oracle_harness: AppHarness) -> None:
    """Modelled on thin-market manipulations: Carol is short 0.1 BTC at 65,000 (6.5x). Alice's book
    is one lot per 1,000 USDC up to 78,000. Bob market-buys through all of it: the last trade
    prints 78,000 (+20%), which would put Carol at -300 USDC if margin followed trades. Margin
    follows the validators' oracle (still 65,000): nobody is liquidated."""
    from tests.app.test_orderbook import query

    h = oracle_harness
    alice, bob, carol = h.keys
    h.block([signed(h, alice, buy(PRICE, 1000)),
             signed(h, carol, sell(PRICE, 1000, time_in_force=TimeInForce.IOC))], prices={BTC: PRICE})
    ladder = [sell(PRICE + step * 1_000 * USDC, 10) for step in range(14)]
    h.block([signed(h, alice, *ladder)], prices={BTC: PRICE})
    result = h.finalize([oracle_tx_with({BTC: PRICE}),
                         signed(h, bob, buy(PRICE + 13_000 * USDC, 140, time_in_force=TimeInForce.IOC))])
    h.commit()
    fills = [{a.key: a.value for a in e.attributes} for e in result.tx_results[1].events if e.type == "fill"]
    assert fills[-1]["price"] == str(78_000 * USDC) and len(fills) == 14
    assert _events(result, "liquidation") == []
    assert query(h, "/oracle/prices")["prices"][0]["price"] == str(PRICE)
    carol_view = query(h, f"/positions/0x{carol.address.hex()}/0")
    assert int(carol_view["equity_micro_usdc"]) > int(carol_view["maintenance_margin_micro_usdc"])


def test_deleveraging_cancels_the_reduce_only_orders_of_the_position_it_closed(oracle_harness: AppHarness) -> None:
    """Alice's short is closed by auto-deleveraging; her resting reduce-only buy, which closed that
    short, is cancelled with it instead of opening a long later."""
    h = oracle_harness
    alice, bob, carol = h.keys
    _open_bob_long(h)
    [_, rested] = h.block([signed(h, alice, buy(50_000 * USDC, 2000, reduce_only=True))], prices={BTC: PRICE})
    assert rested.code == 0, rested.log
    h.block([signed(h, carol, Transfer(0, INSURANCE_FUND, 100 * USDC))], prices={BTC: PRICE})
    result = h.finalize([oracle_tx_prices(59_000 * USDC)])
    h.commit()
    assert _events(result, "deleveraging") and _position(h, alice) == (0, 0)
    [cancelled] = [e for e in _events(result, "order_cancelled") if e["owner"] == f"0x{alice.address.hex()}"]
    assert cancelled["reason"] == "reduce_only_position_closed"
    assert MarginKeeper(h.store).exposure(SubaccountId(alice.address, 0), BTC).bid_lots == 0


def test_deleveraging_takes_all_it_can_from_the_top_of_the_queue_one_trade_each(oracle_harness: AppHarness) -> None:
    """Bob buys 0.2 BTC at 65,000: 0.16 from Alice (about 10x: 1,000 USDC) and 0.04 from Carol
    (about 2.6x). At 59,000 Bob is bankrupt (60,032.5), there is no bid and the fund is empty, so
    all 0.2 BTC is deleveraged. Alice's buffer (2.2% of her notional, a third of it) falls due at a
    9.2% move: she is evaluated in the crash block and re-queued with her fresh score (9.2% PnL
    times her leverage) ahead of Carol, whose score is still the zero of her entry (on a tie
    Carol's address would sort first). Two trades, each taking the whole of the counterparty's
    position: Alice's 0.16, then Carol's 0.04."""
    h = oracle_harness
    alice, bob, carol = h.keys
    results = h.block([signed(h, alice, sell(PRICE, 1600)), signed(h, carol, sell(PRICE, 400)),
                       signed(h, bob, buy(PRICE, 2000, time_in_force=TimeInForce.IOC))], prices={BTC: PRICE})
    assert [r.code for r in results[1:]] == [0, 0, 0]
    result = h.finalize([oracle_tx_prices(59_000 * USDC)])
    h.commit()
    assert [e["subaccount"] for e in _events(result, "liquidation")] == [f"0x{bob.address.hex()}/0"]
    assert [(e["counterparty"], e["size"], e["price"]) for e in _events(result, "deleveraging")] == [
        (f"0x{alice.address.hex()}/0", "1600", "60032500000"), (f"0x{carol.address.hex()}/0", "400", "60032500000")]
    assert _position(h, bob) == (0, 0) and _position(h, carol) == (0, 0) and _position(h, alice) == (0, 0)
