"""markets' abci_query answer (docs/queries.md): /markets (every market) and /markets/<id>."""

from __future__ import annotations

from typing import Any

from modules.markets.genesis import market_to_json
from modules.markets.keeper import MarketsKeeper
from modules.queries import QueryContext, market_id


def markets(q: QueryContext, args: list[str]) -> dict[str, Any]:
    if not args:
        return {"markets": [market_to_json(m) for m in MarketsKeeper(q.store).markets()]}
    if len(args) != 1:
        raise q.wrong_arity(1, args)
    return market_to_json(MarketsKeeper(q.store).market(market_id(args[0])))
