"""oracle's abci_query answer (docs/queries.md): /oracle/prices -> each market's oracle price,
the height it was set at, its reference price and whether it is stale."""

from __future__ import annotations

from typing import Any

from modules.markets.keeper import MarketsKeeper
from modules.oracle.keeper import OracleKeeper
from modules.queries import QueryContext


def oracle(q: QueryContext, args: list[str]) -> dict[str, Any]:
    if args != ["prices"]:
        raise q.unknown()
    keeper = OracleKeeper(q.store)
    entries = []
    for market in MarketsKeeper(q.store).markets():
        current = keeper.price(market.market_id)
        entries.append({"market_id": market.market_id, "ticker": market.ticker,
                        "price": str(current.price) if current else None,
                        "updated_height": current.updated_height if current else None,
                        "reference_price": str(market.reference_price),
                        "stale": keeper.is_stale(market.market_id, q.height + 1)})
    return {"prices": entries}
