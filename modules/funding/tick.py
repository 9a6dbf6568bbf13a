"""The funding step of FinalizeBlock, after the block's txs: sample each market's premium; when
the block's hour is past the samples' hour, turn them into that hour's rate and move the index."""

from __future__ import annotations

from dataclasses import replace

from modules.context import BlockContext, Event
from modules.funding.keeper import FundingKeeper
from modules.funding.params import HISTORY_KEPT, HOUR_MS, IMPACT_NOTIONAL_MICRO_USDC
from modules.funding.rules import clamped_premium_ppm, hourly_rate_ppm, impact_price, index_step, premium_ppm
from modules.funding.types import FundingRate, FundingState
from modules.markets.keeper import MarketsKeeper
from modules.oracle.keeper import OracleKeeper
from modules.oracle.update import margin_price
from modules.orderbook.book import Books
from modules.orderbook.types import Side


def funding_tick(funding: FundingKeeper, markets: MarketsKeeper, oracle: OracleKeeper, books: Books,
                 ctx: BlockContext) -> list[Event]:
    hour = ctx.time_ms // HOUR_MS
    events: list[Event] = []
    for market in markets.markets():
        state = funding.state(market.market_id)
        oracle_ticks = margin_price(oracle, market.market_id, market.reference_price) // market.tick_size
        if state.hour == 0:
            state = replace(state, hour=hour)
        elif hour > state.hour:
            rate = hourly_rate_ppm(state.premium_sum_ppm, state.samples)
            index = state.index + index_step(rate, oracle_ticks, market.quote_per_tick_lot)
            funding.record_rate(market.market_id, FundingRate(state.hour, rate, index), HISTORY_KEPT)
            events.append(Event("funding_rate", (("market_id", str(market.market_id)), ("hour", str(state.hour)),
                                                 ("rate_ppm", str(rate)), ("samples", str(state.samples)),
                                                 ("index", str(index)))))
            state = FundingState(index, 0, 0, hour)
        book = books[market.market_id]
        needed = IMPACT_NOTIONAL_MICRO_USDC
        impact_bid = impact_price([(p, s) for p, s, _ in book.levels(Side.BUY, 500)], needed, market.quote_per_tick_lot)
        impact_ask = impact_price([(p, s) for p, s, _ in book.levels(Side.SELL, 500)], needed, market.quote_per_tick_lot)
        sample = clamped_premium_ppm(premium_ppm(impact_bid, impact_ask, oracle_ticks), market.initial_margin_ppm,
                                     market.maintenance_margin_ppm)
        funding.set_state(market.market_id, replace(state, premium_sum_ppm=state.premium_sum_ppm + sample,
                                                    samples=state.samples + 1))
    return events
