"""The what-if query: a prospective order run against the current book and state on a branch
that is thrown away: expected fills, fees, resulting position, margin and liquidation price.

    /whatif/<address>/<subaccount>/<market>/<buy|sell>/<price>/<size>/<gtc|ioc|fok|post_only>

Runs on the node's latest state (including a block finalized but not yet committed, the same
state the books show) and the next height; nothing is written, the books roll back.
"""

from __future__ import annotations

from typing import Any

from app.router import keepers_over
from app.store import CacheStore
from modules.context import BlockContext
from modules.errors import ChainError
from modules.integers import I64_MAX, U32_MAX, parse_uint, shown
from modules.margin.funding_settlement import settled_view
from modules.margin.risk import liquidation_price, margin_price_ticks
from modules.orderbook.actions import PlaceOrder
from modules.orderbook.book import Books
from modules.orderbook.msg_server import handle_place
from modules.orderbook.types import Side, TimeInForce
from modules.store import KVStore
from modules.types import SubaccountId

KINDS = {"gtc": (TimeInForce.GTC, False), "ioc": (TimeInForce.IOC, False), "fok": (TimeInForce.FOK, False),
         "post_only": (TimeInForce.GTC, True)}
SIDES = {"buy": Side.BUY, "sell": Side.SELL}


class BadWhatIf(ChainError):
    """A what-if path of the wrong shape: not 7 arguments, a malformed address, an unknown side or
    kind (a bad integer in it gets the integer codes 24-26 instead)."""

    codespace = "query"
    code = 23


class WhatIfTooLarge(ChainError):
    """A what-if order that would meet more resting orders than a query may walk (its cost is the
    orders it touches, so it has a ceiling: MAX_MAKERS)."""

    codespace = "query"
    code = 27


MAX_MAKERS = 10_000  # resting orders one what-if may match against and roll back
USAGE = "expected /whatif/<0xaddress>/<subaccount>/<market>/<buy|sell>/<price>/<size>/<gtc|ioc|fok|post_only>"


def _address(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text[2:]) if text.startswith("0x") else b""
    except ValueError:
        raw = b""
    if len(raw) != 20:
        raise BadWhatIf(f"address must be 0x followed by 40 hex digits, got {shown(text)}")
    return raw


def parse(args: list[str]) -> tuple[SubaccountId, PlaceOrder]:
    """The prospective order. Its integers go through the one parser (modules/integers.py) with the
    ranges the tx envelope gives the same fields, so what-if answers what the tx would get."""
    if len(args) != 7 or args[3] not in SIDES or args[6] not in KINDS:
        raise BadWhatIf(USAGE)
    address = _address(args[0])
    number = parse_uint(args[1], "subaccount", 0, U32_MAX)
    market_id = parse_uint(args[2], "market id", 0, U32_MAX)
    price, size = parse_uint(args[4], "price", 0, I64_MAX), parse_uint(args[5], "size", 0, I64_MAX)
    tif, post_only = KINDS[args[6]]
    return SubaccountId(address, number), PlaceOrder(number, market_id, SIDES[args[3]], price, size, tif, 0, 0,
                                                     post_only)


def what_if(base: KVStore, books: Books, ctx: BlockContext, args: list[str]) -> dict[str, Any]:
    owner, order = parse(args)
    branch = CacheStore(base)
    token = books.checkpoint()
    try:
        keepers = keepers_over(branch, books, ctx)
        keeper = keepers.orderbook
        market = keeper.markets.market(order.market_id)
        book = books.get(market.market_id)
        makers = book.makers_to_fill(order.side, order.price // market.tick_size,
                                     order.size // market.step_size) if book is not None else 0
        if makers > MAX_MAKERS:
            raise WhatIfTooLarge(f"the order would meet up to {makers} resting orders; a what-if walks at most "
                                 f"{MAX_MAKERS} (ask for a smaller size or a nearer price)")
        try:
            events = handle_place(keeper, owner.address, order)
        except ChainError as error:
            return {"accepted": False, "code": error.code, "codespace": error.codespace, "log": error.log}
        fills = [dict(e.attributes) for e in events if e.type == "fill"]
        filled = sum(int(f["size"]) for f in fills)
        notional = sum(int(f["size"]) * int(f["price"]) for f in fills) // 10**market.size_decimals
        risk = keeper.risk(owner)
        position = keeper.margin.position(owner, market.market_id)
        liquidation = liquidation_price(settled_view(position, keepers.funding), market, risk,
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
