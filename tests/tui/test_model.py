"""The terminal's rules without a screen or a node: display, order preview, candles, account,
fills, and the market maker's quoting (pure functions)."""

from __future__ import annotations

import argparse

import pytest

from client import PlaceOrder, Side, TimeInForce
from client.client import TxEvent
from localnet.market_maker import MakerConfig, MarketParams, plan_quotes
from tui.model import (
    Book,
    Candle,
    Level,
    MarketInfo,
    OrderKind,
    Ticket,
    TradeRow,
    account_from_json,
    balances_by_subaccount,
    build_preview,
    candles,
    close_order,
    day_stats,
    fills_for,
    liquidation_notices,
    market_order_price,
    merge_candles,
    next_subaccount,
    parse_subaccount,
)

BTC = MarketInfo(1, "BTC-USD", 4, 100_000, 10, 10, 50_000, 30_000, 100, 500, "active", 65_000_000_000)
BOOK = Book(1, bids=(Level(64_990_000_000, 100, 1), Level(64_980_000_000, 200, 2)),
            asks=(Level(65_010_000_000, 50, 1), Level(65_020_000_000, 300, 1)), height=7)


def test_prices_and_sizes_show_as_many_decimals_as_a_tick_and_a_step() -> None:
    assert BTC.format_price(65_000_100_000) == "65,000.1"
    assert BTC.format_size(40) == "0.004"
    assert BTC.parse_price("65,000.1") == 65_000_100_000
    assert BTC.parse_size("0.004") == 40


def test_mark_is_the_oracle_price_once_there_is_one() -> None:
    assert BTC.mark_price == 65_000_000_000
    from dataclasses import replace
    assert replace(BTC, oracle_price=64_000_000_000).mark_price == 64_000_000_000


def test_limit_buy_through_the_ask_previews_the_cross_and_the_rest() -> None:
    preview = build_preview(BTC, BOOK, Ticket(Side.BUY, OrderKind.LIMIT, "65010", "0.01"), subaccount=2)
    assert isinstance(preview.order, PlaceOrder) and preview.order.price == 65_010_000_000 and preview.order.size == 100
    assert preview.order.subaccount == 2 and preview.order.time_in_force == TimeInForce.GTC
    assert (preview.fill_atoms, preview.rest_atoms) == (50, 50)
    assert "crosses: fills 0.005 @ 65,010.0" in preview.line and "rests 0.005" in preview.line
    assert preview.problems == ()


def test_limit_below_the_ask_rests_and_pays_maker_fee_estimate() -> None:
    preview = build_preview(BTC, BOOK, Ticket(Side.BUY, OrderKind.LIMIT, "64000", "0.01"), 0)
    assert preview.fill_atoms == 0 and "rests on the book" in preview.line
    assert "≈ 640.00 USDC" in preview.line and "fee ≈ 0.06" in preview.line  # 100 ppm of 640


def test_post_only_that_would_cross_is_flagged_but_still_sendable() -> None:
    preview = build_preview(BTC, BOOK, Ticket(Side.SELL, OrderKind.POST_ONLY, "64990", "0.01"), 0)
    assert preview.sendable and isinstance(preview.order, PlaceOrder) and preview.order.post_only
    assert any("post-only would cross" in p for p in preview.problems)


def test_off_tick_price_is_a_warning_so_the_chain_answers_it() -> None:
    preview = build_preview(BTC, BOOK, Ticket(Side.BUY, OrderKind.LIMIT, "65000.05", "0.01"), 0)
    assert preview.sendable and any("off the 0.1 tick" in p for p in preview.problems)


def test_fok_that_cannot_fill_says_so() -> None:
    preview = build_preview(BTC, BOOK, Ticket(Side.BUY, OrderKind.FOK, "65010", "0.01"), 0)
    assert isinstance(preview.order, PlaceOrder) and preview.order.time_in_force == TimeInForce.FOK
    assert any("only 0.005 fillable" in p for p in preview.problems)


def test_market_order_price_is_the_deepest_level_plus_slippage_on_tick() -> None:
    assert market_order_price(BTC, BOOK, Side.BUY, 100) == 65_670_200_000  # 65,020 x 1.01, rounded up
    assert market_order_price(BTC, BOOK, Side.SELL, 100) == 64_340_100_000  # 64,990 x 0.99
    empty = Book(1, (), ())
    assert market_order_price(BTC, empty, Side.BUY, 10) == 68_250_000_000  # no liquidity: mark + 5%
    preview = build_preview(BTC, BOOK, Ticket(Side.BUY, OrderKind.MARKET, "", "0.01"), 0)
    assert isinstance(preview.order, PlaceOrder) and preview.order.time_in_force == TimeInForce.IOC


def test_good_til_expiries_are_set_from_the_chain_clock() -> None:
    from tui.model import EXPIRIES
    ticket = Ticket(Side.BUY, OrderKind.LIMIT, "64000", "0.01", EXPIRIES[1])
    order = build_preview(BTC, BOOK, ticket, 0, height=10, block_time_ms=1_000_000).order
    assert isinstance(order, PlaceOrder) and order.time_in_force == TimeInForce.GOOD_TIL_TIME
    assert order.good_til_time_ms == 1_060_000
    order = build_preview(BTC, BOOK, Ticket(Side.BUY, OrderKind.IOC, "64000", "0.01", EXPIRIES[1]), 0, 10, 1).order
    assert isinstance(order, PlaceOrder) and order.good_til_time_ms == 0  # IOC: no expiry


def test_incomplete_tickets_are_not_sendable() -> None:
    assert not build_preview(BTC, BOOK, Ticket(Side.BUY, OrderKind.LIMIT, "", "0.01"), 0).sendable
    assert not build_preview(BTC, BOOK, Ticket(Side.BUY, OrderKind.LIMIT, "65000", ""), 0).sendable
    assert not build_preview(BTC, BOOK, Ticket(Side.BUY, OrderKind.LIMIT, "65000", "0.00001"), 0).sendable


def test_closing_a_short_buys_reduce_only_ioc() -> None:
    order = close_order(BTC, BOOK, -70, 0)
    assert (order.side, order.size, order.reduce_only, order.time_in_force) == (Side.BUY, 70, True, TimeInForce.IOC)


def trade(height: int, seq: int, price: int, size: int, time_ms: int | None) -> TradeRow:
    return TradeRow(height, seq, price, size, Side.BUY, "0xa/0", "0xb/0", time_ms)


def test_candles_bucket_trades_and_carry_the_close_through_quiet_buckets() -> None:
    trades = [trade(1, 1, 100, 1, 1_000), trade(1, 2, 120, 2, 2_000), trade(2, 3, 90, 1, 4_000),
              trade(5, 4, 110, 5, 16_000), trade(6, 5, 999, 1, None)]
    series = candles(trades, 5_000, now_ms=19_000, count=5)
    assert series[0] is None  # before the first trade (bucket -5 s .. 0)
    first = series[1]
    assert first is not None and (first.open, first.high, first.low, first.close, first.volume_atoms) == \
        (100, 120, 90, 90, 4)
    assert series[2] is not None and series[2].volume_atoms == 0 and series[2].close == 90  # flat
    assert series[4] is not None and series[4].close == 110 and series[4].rising


def test_day_stats_change_and_volume_over_the_window() -> None:
    day = 24 * 3600 * 1000
    trades = [trade(1, 1, 60_000_000_000, 10, 0), trade(2, 2, 64_000_000_000, 10, day),
              trade(3, 3, 65_000_000_000, 20, day + 10)]
    stats = day_stats(BTC, trades, now_ms=day + 20)
    assert stats.last_price == 65_000_000_000 and stats.trades == 2
    assert stats.change_bps == 156  # 64,000 -> 65,000
    assert stats.volume_micro_usdc == 64_000_000 + 130_000_000


def test_account_positions_entry_mark_and_unrealized_pnl() -> None:
    answer = {"collateral_micro_usdc": "1000000000", "equity_micro_usdc": "990000000",
              "initial_margin_micro_usdc": "32500000", "maintenance_margin_micro_usdc": "19500000",
              "free_collateral_micro_usdc": "957500000",
              "positions": [{"market_id": 1, "size": "-100", "cost_micro_usdc": "-660000000",
                             "liquidation_price": "162000000000", "unsettled_funding_micro_usdc": "-1200"}]}
    account = account_from_json(answer, {1: BTC})
    (short,) = account.positions
    assert (short.liquidation_price, short.unsettled_funding) == (162_000_000_000, -1200)
    assert short.side_word == "SHORT" and short.entry_price == 66_000_000_000
    assert short.unrealized_pnl == 10_000_000  # sold at 66,000, marked at 65,000, 0.01 BTC
    assert short.notional == 650_000_000
    assert round(account.leverage, 3) == 0.657


def test_fills_for_a_subaccount_as_maker_and_as_taker() -> None:
    attributes = {"market_id": "1", "maker_order_id": "4", "taker_order_id": "9", "maker": "0xaa/0",
                  "taker": "0xbb/1", "taker_side": "buy", "price": "65000000000", "size": "40",
                  "maker_fee_micro_usdc": "26000", "taker_fee_micro_usdc": "130000",
                  "maker_realized_pnl_micro_usdc": "0", "taker_realized_pnl_micro_usdc": "5"}
    events = [TxEvent("fill", attributes), TxEvent("order_placed", {})]
    (maker,) = fills_for("0xaa/0", events)
    assert (maker.role, maker.side, maker.fee) == ("maker", Side.SELL, 26_000)
    (taker,) = fills_for("0xbb/1", events)
    assert (taker.role, taker.side, taker.fee, taker.realized_pnl) == ("taker", Side.BUY, 130_000, 5)
    assert fills_for("0xbb/0", events) == []


def test_liquidation_notices_name_the_subaccounts_own_liquidation_and_deleveraging_on_either_side() -> None:
    events = [
        TxEvent("liquidation", {"subaccount": "0xAA/0", "equity_micro_usdc": "12000000",
                                "maintenance_micro_usdc": "19500000"}),
        TxEvent("liquidation_fill", {"subaccount": "0xaa/0", "market_id": "1", "size": "100",
                                     "bankruptcy_price": "63800000000", "fee_micro_usdc": "3190000"}),
        TxEvent("deleveraging", {"subaccount": "0xaa/0", "counterparty": "0xbb/2", "market_id": "1", "size": "20",
                                 "price": "63800000000"}),
        TxEvent("liquidation", {"subaccount": "0xcc/0", "equity_micro_usdc": "1", "maintenance_micro_usdc": "2"}),
    ]
    mine = liquidation_notices("0xaa/0", events, {1: BTC})
    assert [title for title, _ in mine] == ["Liquidation", "Liquidated BTC-USD", "Auto-deleveraging BTC-USD"]
    assert mine[0][1] == ("equity 12.00 USDC fell under the maintenance requirement 19.50: orders cancelled, "
                          "positions closing")
    assert mine[1][1] == "0.010 BTC closed, bankruptcy price 63,800.0, fee 3.19 USDC"
    (theirs,) = liquidation_notices("0xbb/2", events, {1: BTC})
    assert theirs == ("Auto-deleveraging BTC-USD",
                      "0.002 BTC of your profitable position, against a bankrupt account, closed at 63,800.0")
    assert liquidation_notices("0xdd/0", events, {1: BTC}) == []


MM_BTC = MarketParams(1, "BTC-USD", 4, 100_000, 10, 10, "active", 65_000_000_000)


def test_market_maker_quotes_levels_each_side_around_the_fair_price() -> None:
    plan = plan_quotes(MM_BTC, 65_000_000_000, 0, MakerConfig(levels=5, spread_bps=10, size_usdc=500,
                                                              max_position_usdc=100_000))
    assert len(plan.bids) == len(plan.asks) == 5
    assert plan.asks[0].price - plan.bids[0].price == 65_000_000  # 10 bps
    assert all(a.price < b.price for a, b in zip(plan.asks, plan.asks[1:]))  # best first, outward
    assert all(a.price > b.price for a, b in zip(plan.bids, plan.bids[1:]))
    assert [q.size for q in plan.bids] == [70] * 5  # 500 USDC at 65,000 = 0.0076 BTC, down to the step


def test_market_maker_side_that_grows_the_position_offers_at_most_the_room_left() -> None:
    config = MakerConfig(levels=5, size_usdc=500, max_position_usdc=2_000)  # 300 atoms
    for position in (0, 120, 290, 300, 500, -300):
        plan = plan_quotes(MM_BTC, 65_000_000_000, position, config)
        assert position + sum(q.size for q in plan.bids) <= max(300, position)
        assert -position + sum(q.size for q in plan.asks) <= max(300, -position)
    long = plan_quotes(MM_BTC, 65_000_000_000, 300, config)
    assert long.bids == () and long.centre < 65_000_000_000  # leans to sell


def test_market_maker_never_crosses_other_resting_orders() -> None:
    plan = plan_quotes(MM_BTC, 65_000_000_000, 0, MakerConfig(levels=3), best_other_bid=65_010_000_000,
                       best_other_ask=64_995_000_000)
    assert max(q.price for q in plan.bids) < 64_995_000_000
    assert min(q.price for q in plan.asks) > 65_010_000_000


def test_cli_registers_tui_and_mm() -> None:
    from perpchain.tui_cli import add_parsers, run_mm, run_tui

    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"), "http://127.0.0.1:1")
    args = parser.parse_args(["tui", "--key", "k.json", "--subaccount", "2", "--market", "ETH-USD"])
    assert (args.func, args.node, args.key, args.subaccount, args.market) == \
        (run_tui, "http://127.0.0.1:1", "k.json", 2, "ETH-USD")
    args = parser.parse_args(["mm", "--key", "k.json", "--levels", "3", "--spread-bps", "20", "--size", "100"])
    assert (args.func, args.levels, args.spread_bps, args.size) == (run_mm, 3, 20, 100)


def test_a_stop_ticket_builds_a_conditional_that_fires_when_the_oracle_rises_for_a_buy() -> None:
    from client import ConditionalKind, PlaceConditional

    market, book = BTC, BOOK
    preview = build_preview(market, book, Ticket(Side.BUY, OrderKind.STOP, "66000", "0.01", trigger_text="65900"), 0)
    assert isinstance(preview.order, PlaceConditional)
    assert preview.order.kind == ConditionalKind.STOP_LIMIT
    assert (preview.order.trigger_price, preview.order.limit_price, preview.order.size) == (
        65_900_000_000, 66_000_000_000, 100)
    assert "when the oracle ≥ 65,900.0" in preview.line
    missing = build_preview(market, book, Ticket(Side.SELL, OrderKind.TAKE_PROFIT, "66000", "0.01"), 0)
    assert missing.order is None and "trigger" in missing.line


def test_next_subaccount_cycles_through_those_holding_collateral_and_zero_in_number_order() -> None:
    balances = balances_by_subaccount({"balances": [{"subaccount": 3, "amount_micro_usdc": "250000000"},
                                                    {"subaccount": 9, "amount_micro_usdc": "1"}]})
    assert balances == {3: 250_000_000, 9: 1}
    assert [next_subaccount(balances, n) for n in (0, 3, 9)] == [3, 9, 0]
    assert next_subaccount(balances, 5) == 9  # an empty one picked by number still has a place in the cycle
    assert next_subaccount({}, 0) == 0


def test_a_typed_subaccount_number_is_0_to_127() -> None:
    assert parse_subaccount(" 127 ") == 127
    for text in ("128", "", "-1", "3a"):
        with pytest.raises(ValueError, match="0 to 127"):
            parse_subaccount(text)


def test_stored_candles_fill_the_chart_slots_before_the_live_trades_and_the_fuller_candle_wins() -> None:
    minute = 60_000
    now = 10 * minute + 5_000  # slots 7, 8, 9 and 10 (minutes)
    live = candles([TradeRow(5, 0, 105, 2, Side.BUY, "m", "t", 9 * minute + 1), TradeRow(6, 0, 107, 1, Side.BUY, "m", "t",
                                                                                        10 * minute)], minute, now, 4)
    stored = {7 * minute: Candle(7 * minute, 100, 102, 99, 101, 30), 9 * minute: Candle(9 * minute, 104, 106, 103, 105, 9)}
    merged = merge_candles(live, stored, minute, now)
    assert merged == [stored[7 * minute], Candle(8 * minute, 101, 101, 101, 101, 0),  # flat: the previous close
                      stored[9 * minute],  # 9 atoms stored against the 2 the node still lists
                      Candle(10 * minute, 107, 107, 107, 107, 1)]  # newer than the indexer: live
