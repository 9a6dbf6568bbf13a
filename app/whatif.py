"""The what-if query: a prospective order run against the current book and state on a branch
that is thrown away: expected fills, fees, resulting position, margin and liquidation price.

    /whatif/<address>/<subaccount>/<market>/<buy|sell>/<price>/<size>/<gtc|ioc|fok|post_only>

Runs on the node's latest state (including a block finalized but not yet committed, the same
state the books show) and the next height; nothing is written, the books roll back.
"""

from __future__ import annotations

from typing import Any

from modules.context import BlockContext
from modules.funding.keeper import FundingKeeper
from modules.margin.funding_settlement import settled_view
from modules.margin.risk import liquidation_price, margin_price_ticks
from modules.errors import ChainError
from modules.orderbook.actions import PlaceOrder
from modules.orderbook.book import Books
from modules.orderbook.keeper import OrderbookKeeper
from modules.orderbook.msg_server import handle_place
from modules.orderbook.types import Side, TimeInForce
from modules.store import KVStore
from modules.types import SubaccountId

from app.store import CacheStore

KINDS = {"gtc": (TimeInForce.GTC, False), "ioc": (TimeInForce.IOC, False), "fok": (TimeInForce.FOK, False),
         "post_only": (TimeInForce.GTC, True)}


class BadWhatIf(ChainError):
    codespace = "query"
    code = 23


def parse(args: list[str]) -> tuple[SubaccountId, PlaceOrder]:
    try:
        address = bytes.fromhex(args[0][2:]) if args[0].startswith("0x") and len(args[0]) == 42 else b""
        number, market_id, price, size = int(args[1]), int(args[2]), int(args[4]), int(args[5])
        side = {"buy": Side.BUY, "sell": Side.SELL}[args[3]]
        tif, post_only = KINDS[args[6]]
    except (ValueError, KeyError, IndexError):
        raise BadWhatIf("expected /whatif/<0xaddress>/<subaccount>/<market>/<buy|sell>/<price>/<size>/"
                        "<gtc|ioc|fok|post_only>") from None
    if len(address) != 20:
        raise BadWhatIf("address must be 0x followed by 40 hex digits")
    return SubaccountId(address, number), PlaceOrder(number, market_id, side, price, size, tif, 0, 0, post_only)


def what_if(base: KVStore, books: Books, ctx: BlockContext, args: list[str]) -> dict[str, Any]:
    owner, order = parse(args)
    branch = CacheStore(base)  # type: ignore[arg-type]
    token = books.checkpoint()
    try:
        keeper = OrderbookKeeper(branch, books, ctx)
        market = keeper.markets.market(order.market_id)
        try:
            events = handle_place(keeper, owner.address, order)
        except ChainError as error:
            return {"accepted": False, "code": error.code, "codespace": error.codespace, "log": error.log}
        fills = [dict(e.attributes) for e in events if e.type == "fill"]
        filled = sum(int(f["size"]) for f in fills)
        notional = sum(int(f["size"]) * int(f["price"]) for f in fills) // 10**market.size_decimals
        risk = keeper.risk(owner)
        position = keeper.margin.position(owner, market.market_id)
        liquidation = liquidation_price(settled_view(position, FundingKeeper(branch)), market, risk,
                                        margin_price_ticks(market, keeper.oracle))
        return {
            "accepted": True,
            "fills": [{"price": f["price"], "size": f["size"], "maker_order_id": f["maker_order_id"]} for f in fills],
            "filled_size": str(filled),
            "average_price": str(notional * 10**market.size_decimals // filled) if filled else None,
            "fees_micro_usdc": str(sum(int(f["taker_fee_micro_usdc"]) for f in fills)),
            "rests_size": str(order.size - filled if order.time_in_force == TimeInForce.GTC else 0),
            "position_after": {"size": str(position.size_lots * market.step_size),
                               "cost_micro_usdc": str(position.cost_micro_usdc)},
            "collateral_after_micro_usdc": str(keeper.bank.balance(owner)),
            "equity_after_micro_usdc": str(risk.equity_micro_usdc),
            "initial_margin_after_micro_usdc": str(risk.initial_micro_usdc),
            "maintenance_margin_after_micro_usdc": str(risk.maintenance_micro_usdc),
            "free_collateral_after_micro_usdc": str(risk.free_collateral_micro_usdc),
            "liquidation_price_after": str(liquidation) if liquidation is not None else None,
        }
    finally:
        books.rollback(token)
