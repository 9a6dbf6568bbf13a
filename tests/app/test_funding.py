"""Funding, the worked example of docs/funding.md, by hand:

BTC-USD, oracle = the reference 65,000 USDC (no validator prices in these in-process tests).
Bob buys 10 lots (0.01 BTC) from Carol at 65,000. Alice then rests 20 lots bid at 65,650 (1%
over the oracle) and 20 lots offered at 65,700: the impact bid for 1,000 USDC is 65,650, so each
block samples a premium of +10,000 ppm.

Hour 1 holds three samples, 0 (empty book), 0 (empty book), 10,000: mean 3,333 ppm, / 8 = 416 ppm.
  index += 416 ppm x 65,000,000 micro-USDC per lot = 27,040 micro-USDC per lot; Bob pays 270,400.
Hour 2 holds one sample, 10,000: / 8 = 1,250 ppm, capped at 1,000 ppm.
  index += 65,000 per lot; Bob pays 650,000. Carol receives both.
Then the price moves: Bob sells his 10 lots into Alice's 65,650 bid.
  realized = 656,500,000 - (650,000,000 + 920,400) = +5,579,600; taker fee 328,250.
"""

from __future__ import annotations

from modules.funding.keeper import FundingKeeper
from modules.funding.params import HOUR_MS
from modules.margin.keeper import MarginKeeper
from modules.orderbook.types import TimeInForce
from modules.types import SubaccountId
from tests.app.conftest import FUNDED_MICRO_USDC, AppHarness
from tests.app.test_orderbook import PRICE, USDC, buy, events, query, sell, signed


def test_a_long_and_a_short_through_two_funding_hours_and_a_price_move(harness: AppHarness) -> None:
    alice, bob, carol = harness.keys
    bob_id = f"0x{bob.address.hex()}"
    assert harness.height == 1  # one block (one zero sample) already in hour 1
    [_, taken] = harness.block([signed(harness, carol, sell(PRICE, 100)),
                                signed(harness, bob, buy(PRICE, 100, time_in_force=TimeInForce.IOC))])
    assert taken.code == 0
    [rested] = harness.block([signed(harness, alice, buy(PRICE + 650 * USDC, 200), sell(PRICE + 700 * USDC, 200))])
    assert rested.code == 0

    first = harness.finalize([], advance_ms=HOUR_MS)
    harness.commit()
    [hour_1] = [{a.key: a.value for a in e.attributes} for e in first.events if e.type == "funding_rate"
                and dict((a.key, a.value) for a in e.attributes)["market_id"] == "1"]
    assert (hour_1["samples"], hour_1["rate_ppm"]) == ("3", "416")
    bob_view = query(harness, f"/positions/{bob_id}/0")["positions"][0]
    assert bob_view["unsettled_funding_micro_usdc"] == "270400"

    second = harness.finalize([], advance_ms=HOUR_MS)
    harness.commit()
    [hour_2] = [{a.key: a.value for a in e.attributes} for e in second.events if e.type == "funding_rate"
                and dict((a.key, a.value) for a in e.attributes)["market_id"] == "1"]
    assert (hour_2["samples"], hour_2["rate_ppm"]) == ("1", "1000")
    assert [r.rate_ppm for r in FundingKeeper(harness.store).history(1)] == [416, 1000]
    bob_view = query(harness, f"/positions/{bob_id}/0")["positions"][0]
    assert bob_view["unsettled_funding_micro_usdc"] == "920400"
    carol_view = query(harness, f"/positions/0x{carol.address.hex()}/0")["positions"][0]
    assert carol_view["unsettled_funding_micro_usdc"] == "-920400"

    [closed] = harness.block([signed(harness, bob, sell(PRICE + 650 * USDC, 100, time_in_force=TimeInForce.IOC,
                                                         reduce_only=True))])
    [fill] = events(closed, "fill")
    assert fill["taker_realized_pnl_micro_usdc"] == "5579600"
    assert fill["taker_fee_micro_usdc"] == "328250"
    assert harness.balance(bob) == FUNDED_MICRO_USDC - 325_000 + 5_579_600 - 328_250
    assert FundingKeeper(harness.store).pool() == 920_400  # Bob paid; Carol has not settled yet
    carol_position = MarginKeeper(harness.store).position(SubaccountId(carol.address, 0), 1)
    assert carol_position.cost_micro_usdc == -650_000_000  # stored unsettled; she settles when she trades


def test_the_initial_margin_fraction_rises_with_the_open_interest_tier(harness: AppHarness) -> None:
    """TINY-USD (market 3): BTC's parameters, open-interest cap 10 lots. Bob holds 4 lots
    (65 USDC each at the reference price). Open interest 4 lots (40% of the cap): IMF 5%, Bob's
    initial requirement 4 x 65 x 5% = 13 USDC. Alice and Carol then trade 2 lots: open interest
    6 lots (60%): IMF 7.5%, Bob's requirement 19.5 USDC without Bob doing anything."""
    alice, bob, carol = harness.keys
    bob_id = f"0x{bob.address.hex()}"
    harness.block([signed(harness, alice, sell(PRICE, 40, market_id=3)),
                   signed(harness, bob, buy(PRICE, 40, market_id=3, time_in_force=TimeInForce.IOC))])
    assert query(harness, f"/positions/{bob_id}/0")["initial_margin_micro_usdc"] == str(13 * USDC)
    harness.block([signed(harness, alice, sell(PRICE, 20, market_id=3)),
                   signed(harness, carol, buy(PRICE, 20, market_id=3, time_in_force=TimeInForce.IOC))])
    assert query(harness, f"/positions/{bob_id}/0")["initial_margin_micro_usdc"] == str(19_500_000)


def test_a_transfer_may_move_only_free_collateral(harness: AppHarness) -> None:
    from modules.bank.types import Transfer

    alice, bob, carol = harness.keys
    harness.block([signed(harness, alice, sell(PRICE, 1000)),
                   signed(harness, bob, buy(PRICE, 1000, time_in_force=TimeInForce.IOC))])  # 0.1 BTC: 6,500 USDC
    free = int(query(harness, f"/positions/0x{bob.address.hex()}/0")["free_collateral_micro_usdc"])
    [too_much] = harness.block([signed(harness, bob, Transfer(0, SubaccountId(carol.address, 0), free + 1))])
    assert too_much.code == 402
    [fits] = harness.block([signed(harness, bob, Transfer(0, SubaccountId(bob.address, 1), free))])
    assert fits.code == 0  # to one's own subaccount too: each subaccount is its own margin account


def _sample(harness: AppHarness) -> int:
    """The premium the last block sampled in BTC-USD (the sum's change)."""
    before = FundingKeeper(harness.store).state(1).premium_sum_ppm
    harness.block([])
    return FundingKeeper(harness.store).state(1).premium_sum_ppm - before


def test_one_small_order_cannot_move_the_premium_and_a_deep_one_is_clamped(harness: AppHarness) -> None:
    alice, bob, _ = harness.keys
    [small] = harness.block([signed(harness, alice, buy(PRICE * 3 // 2, 10))])  # 1 lot at +50%: 97.5 USDC
    assert small.code == 0, small.log
    assert _sample(harness) == 0  # under the 1,000 USDC impact notional: the side counts as empty
    [deep] = harness.block([signed(harness, bob, buy(PRICE * 3 // 2, 200))])  # 1,950 USDC at +50%
    assert deep.code == 0, deep.log
    assert _sample(harness) == 20_000  # +500,000 ppm clamped to initial - maintenance (5% - 3%)
