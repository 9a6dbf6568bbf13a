"""orderbook's abci_query answers (docs/queries.md).

| path                              | answer                                                    |
| /book/<market>/<depth>            | L2: {"bids": [[price, size, orders]], "asks": [...]}      |
| /book/<market>/l3/<depth>         | L3: each resting order, best first                        |
| /orders/<address>/<number>        | a subaccount's open orders                                |
| /conditionals/<address>/<number>  | its stops, take-profits, trailing stops and position TP/SL |
| /twaps/<address>/<number>         | its running TWAPs: filled, remaining, slices done, next block |
| /trades/<market>/<limit>          | the market's most recent trades, newest first             |
"""

from __future__ import annotations

from typing import Any

from modules.context import BlockContext
from modules.integers import parse_uint
from modules.keepers import orderbook_keeper
from modules.markets.keeper import MarketsKeeper
from modules.orderbook.book import Books
from modules.orderbook.conditional_store import ConditionalBook
from modules.orderbook.conditional_store import to_json as conditional_json
from modules.orderbook.twap import TwapBook
from modules.orderbook.twap import to_json as twap_json
from modules.orderbook.types import Order, Side
from modules.queries import BadQueryArgument, QueryContext, address, market_id, subaccount_number
from modules.store import KVStore
from modules.types import SubaccountId


def _order_json(order: Order, store: KVStore) -> dict[str, Any]:
    market = MarketsKeeper(store).market(order.market_id)
    return {
        "order_id": str(order.order_id), "market_id": order.market_id, "owner": f"0x{order.owner.address.hex()}",
        "subaccount": order.owner.number, "client_id": str(order.client_id), "side": order.side.name.lower(),
        "price": str(order.price_ticks * market.tick_size), "size": str(order.size_lots * market.step_size),
        "time_in_force": order.tif.name, "post_only": order.post_only, "reduce_only": order.reduce_only,
        "good_til_block": order.good_til_block, "good_til_time_ms": str(order.good_til_time_ms),
    }


def orders(q: QueryContext, args: list[str]) -> dict[str, Any]:
    """From the node's books, as `book` answers (between FinalizeBlock and Commit they include
    the block being committed): they index resting orders by owner; the store does not."""
    owner = SubaccountId(address(args[0]), subaccount_number(args[1]))
    return {"address": args[0].lower(), "subaccount": owner.number,
            "orders": [_order_json(o, q.store) for o in q.books.orders_of(owner)]}


def conditionals(q: QueryContext, args: list[str]) -> dict[str, Any]:
    owner = SubaccountId(address(args[0]), subaccount_number(args[1]))
    markets = MarketsKeeper(q.store)
    return {"address": args[0].lower(), "subaccount": owner.number,
            "conditionals": [conditional_json(c, markets.market(c.market_id))
                             for c in ConditionalBook(q.store).of(owner)]}


def twaps(q: QueryContext, args: list[str]) -> dict[str, Any]:
    owner = SubaccountId(address(args[0]), subaccount_number(args[1]))
    markets = MarketsKeeper(q.store)
    return {"address": args[0].lower(), "subaccount": owner.number,
            "twaps": [twap_json(t, markets.market(t.market_id)) for t in TwapBook(q.store).of(owner)]}


def trades(q: QueryContext, args: list[str]) -> dict[str, Any]:
    market = MarketsKeeper(q.store).market(market_id(args[0]))
    keeper = orderbook_keeper(q.store, Books(), BlockContext("", 0, 0))
    recent = keeper.recent_trades(market.market_id, parse_uint(args[1], "limit", 0, 200))
    return {"market_id": market.market_id, "trades": [
        {"height": t.height, "seq": t.seq, "price": str(t.price_ticks * market.tick_size),
         "size": str(t.size_lots * market.step_size), "taker_side": t.taker_side.name.lower(),
         "maker": str(t.maker), "taker": str(t.taker)} for t in recent]}


def book(q: QueryContext, args: list[str]) -> dict[str, Any]:
    """From the node's in-memory books (between FinalizeBlock and Commit they include the block
    being committed)."""
    if len(args) not in (2, 3):
        raise q.unknown()
    market = MarketsKeeper(q.store).market(market_id(args[0]))
    resting = q.books[market.market_id]
    if len(args) == 3:
        if args[1] != "l3":
            raise BadQueryArgument("book paths are /book/<market>/<depth> or /book/<market>/l3/<depth>")
        depth = parse_uint(args[2], "depth", 0, 1000)
        return {"market_id": market.market_id, **{
            name: [_order_json(o, q.store) for _, o in zip(range(depth), resting.iter_orders(side))]
            for name, side in (("bids", Side.BUY), ("asks", Side.SELL))}}
    depth = parse_uint(args[1], "depth", 0, 1000)
    return {"market_id": market.market_id, **{
        name: [[str(p * market.tick_size), str(s * market.step_size), n] for p, s, n in resting.levels(side, depth)]
        for name, side in (("bids", Side.BUY), ("asks", Side.SELL))}}
