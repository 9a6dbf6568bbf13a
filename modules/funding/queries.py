"""funding's abci_query answer (docs/queries.md): /funding/<market> -> the funding index, this
hour's samples, the pool and the last 48 hourly rates."""

from __future__ import annotations

from typing import Any

from modules.funding.keeper import FundingKeeper
from modules.markets.keeper import MarketsKeeper
from modules.queries import QueryContext, market_id


def funding(q: QueryContext, args: list[str]) -> dict[str, Any]:
    market = MarketsKeeper(q.store).market(market_id(args[0]))
    keeper = FundingKeeper(q.store)
    state = keeper.state(market.market_id)
    current = (state.premium_sum_ppm // state.samples) if state.samples else 0
    return {"market_id": market.market_id, "index_pico_usdc_per_lot": str(state.index),
            "current_hour": state.hour, "samples_this_hour": state.samples, "mean_premium_ppm_this_hour": current,
            "pool_micro_usdc": str(keeper.pool()),
            "history": [{"hour": r.hour, "rate_ppm": r.rate_ppm, "index": str(r.index)}
                        for r in keeper.history(market.market_id)]}
