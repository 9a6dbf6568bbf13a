"""The oracle step of FinalizeBlock: each observed market's new price."""

from __future__ import annotations

from typing import Protocol

from modules.context import BlockContext, Event
from modules.markets.keeper import MarketsKeeper
from modules.oracle.aggregate import next_price
from modules.oracle.keeper import OracleKeeper
from modules.oracle.types import Observation, OraclePrice


def update_prices(oracle: OracleKeeper, markets: MarketsKeeper, ctx: BlockContext,
                  observations: list[Observation]) -> list[Event]:
    by_market: dict[int, list[Observation]] = {}
    for observation in observations:
        by_market.setdefault(observation.market_id, []).append(observation)
    events = []
    for market_id in sorted(by_market):
        market = markets.market(market_id)
        current = oracle.price(market_id)
        previous = current.price if current is not None else market.reference_price
        price = next_price(previous, by_market[market_id], market.tick_size)
        oracle.set_price(OraclePrice(market_id, price, ctx.height))
        events.append(Event("oracle_price", (("market_id", str(market_id)), ("price", str(price)),
                                             ("observations", str(len(by_market[market_id]))))))
    return events


class Prices(Protocol):
    """Where the margin price comes from: the latest oracle price of a market (an oracle keeper)."""

    def price(self, market_id: int) -> OraclePrice | None: ...


def margin_price(oracle: Prices, market_id: int, reference_price: int) -> int:
    """The price margin and funding use: the oracle's once it has one, else genesis's reference."""
    current = oracle.price(market_id)
    return current.price if current is not None else reference_price
