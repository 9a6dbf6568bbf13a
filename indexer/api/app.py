"""The read API: an ASGI app over the indexer's database and a node (through client/).

REST under /v1 (markets, book, candles, trades; a subaccount's fills, orders, order updates,
funding payments and transfers), WebSocket channels under /v1/ws (indexer/api/streams.py), the
OpenAPI document at /openapi.json and its pages at /docs. Read-only: it opens the database
read-only and holds no key. docs/read-api.md documents every route, error code and channel.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, AsyncIterator

from fastapi import FastAPI, Path, Query, Response
from sqlalchemy import ColumnElement, Engine, event
from starlette.concurrency import run_in_threadpool

from indexer import models
from indexer.api import queries, schemas, streams
from indexer.api.book import BookFeeds
from indexer.api.errors import STATUS_BY_CODE, ApiError, install_error_handlers
from indexer.api.node import MarketDirectory, Node, ask_node
from indexer.db import open_engine

BOOK_MAX_DEPTH = 1000  # the node's own limit for /book

Limit = Annotated[int, Query(ge=1, le=queries.MAX_LIMIT, description=f"items per page, 1..{queries.MAX_LIMIT}")]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page; absent: the first page")]
MarketRef = Annotated[str, Path(description="a market id or ticker (BTC-USD)")]
Address = Annotated[str, Path(description="0x + 40 hex digits")]
Number = Annotated[int, Path(ge=0, le=127, description="the subaccount's number, 0..127")]

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": schemas.ErrorAnswer, "description": ", ".join(c for c, s in STATUS_BY_CODE.items() if s == status)}
    for status in sorted(set(STATUS_BY_CODE.values()))
}


def open_read_engine(url: str) -> Engine:
    """The indexer's database, opened so that this process cannot write it: SQLite's query_only,
    PostgreSQL's read-only transactions."""
    if url.startswith("postgresql"):
        from sqlalchemy import create_engine

        return create_engine(url, connect_args={"options": "-c default_transaction_read_only=on"}, pool_size=20)
    engine = open_engine(url)

    def query_only(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.execute("PRAGMA query_only=ON")

    event.listen(engine, "connect", query_only)
    return engine


@dataclass
class Context:
    """What the handlers share: the database, the node, the market directory and the book feeds."""

    engine: Engine
    node: Node
    markets: MarketDirectory
    books: BookFeeds
    heads: streams.IndexedHeads

    def _page(self, listing: queries.Listing, where: list[ColumnElement[bool]], cursor: str | None,
              limit: int) -> bytes:
        with self.engine.connect() as connection:
            return json.dumps(queries.page(connection, listing, where, cursor, limit), separators=(",", ":")).encode()

    async def page(self, listing: queries.Listing, where: list[ColumnElement[bool]], cursor: str | None,
                   limit: int) -> Response:
        """A page as JSON. SQLite is read on the event loop: an embedded read of an indexed range is
        CPU work that a thread would only queue for the same interpreter lock; a database across
        the network is read from a worker thread so its round trips do not stall the loop."""
        if self.engine.dialect.name == "sqlite":
            body = self._page(listing, where, cursor, limit)
        else:
            body = await run_in_threadpool(self._page, listing, where, cursor, limit)
        return Response(body, media_type="application/json")

    async def market_id(self, market: str) -> int:
        """The id of the market named by id or ticker; when the node is down, an id is taken as given
        so that history stays readable."""
        try:
            return int((await self.markets.resolve(market))["market_id"])
        except ApiError as error:
            if error.code == "node_unavailable" and market.isdigit():
                return int(market)
            raise


def create_app(engine: Engine, node: Node, poll_interval_s: float = 0.1) -> FastAPI:
    """The app over `engine` (opened read-only by the caller) and `node`; `poll_interval_s`: how often
    the streams look for a new block, in the database and on the node."""

    async def read_book(market_id: int, depth: int) -> dict[str, Any]:
        return dict(await ask_node(node.book, market_id, depth))

    async def read_height() -> int:
        return int(await ask_node(node.height))

    context = Context(engine, node, MarketDirectory(node), BookFeeds(read_book, read_height, poll_interval_s),
                      streams.IndexedHeads(engine, poll_interval_s))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await context.books.close()
        await context.heads.close()

    app = FastAPI(title="perpchain read API", version="1",
                  description="History from the indexer and live books from a node. Read-only. docs/read-api.md.",
                  lifespan=lifespan, responses=ERRORS)
    app.state.context = context
    install_error_handlers(app)

    @app.get("/v1/status", tags=["status"])
    def status() -> schemas.Status:
        """How far the indexer has stored the chain."""
        with engine.connect() as connection:
            height, time_ms = queries.indexed_head(connection)
        return schemas.Status(indexed_height=height, indexed_time_ms=time_ms)

    @app.get("/v1/markets", tags=["markets"])
    async def markets() -> schemas.Markets:
        """Every market's parameters, from the node (re-read at most every 5 s)."""
        return schemas.Markets.model_validate({"markets": await context.markets.all()})

    @app.get("/v1/markets/{market}", tags=["markets"])
    async def market(market: MarketRef) -> schemas.Market:
        """One market's parameters, by id or ticker."""
        return schemas.Market.model_validate(await context.markets.resolve(market))

    @app.get("/v1/markets/{market}/book", tags=["markets"])
    async def book(market: MarketRef,
                   depth: Annotated[int, Query(ge=1, le=BOOK_MAX_DEPTH, description="levels per side")] = 20
                   ) -> schemas.BookSnapshot:
        """The market's L2 book from the node, best first; GET /v1/ws/book/{market} streams it."""
        market_id = int((await context.markets.resolve(market))["market_id"])
        height = await read_height()
        answer = await read_book(market_id, depth)
        return schemas.BookSnapshot(market_id=market_id, height=height, bids=answer["bids"], asks=answer["asks"])

    @app.get("/v1/markets/{market}/candles", tags=["markets"], response_model=schemas.Page[schemas.Candle])
    async def candles(
        market: MarketRef,
        resolution: Annotated[str, Query(description="1m, 5m, 1h or 1d")],
        from_ms: Annotated[int, Query(alias="from", ge=0, description="first start time, Unix ms (inclusive)")] = 0,
        to_ms: Annotated[int | None, Query(alias="to", ge=0, description="last start time, Unix ms (exclusive)")] = None,
        limit: Limit = queries.DEFAULT_LIMIT, cursor: Cursor = None,
    ) -> Response:
        """The market's candles whose start is in [from, to), oldest first."""
        if resolution not in models.CANDLE_INTERVALS_MS:
            raise ApiError("invalid_parameter",
                           f"resolution: {resolution!r} is not one of {', '.join(models.CANDLE_INTERVALS_MS)}")
        if to_ms is not None and to_ms < from_ms:
            raise ApiError("invalid_parameter", f"to ({to_ms}) is before from ({from_ms})")
        where = [models.Candle.market_id == await context.market_id(market), models.Candle.interval == resolution,
                 models.Candle.start_ms >= from_ms]
        if to_ms is not None:
            where.append(models.Candle.start_ms < to_ms)
        return await context.page(queries.CANDLES, where, cursor, limit)

    @app.get("/v1/markets/{market}/trades", tags=["markets"], response_model=schemas.Page[schemas.Trade])
    async def trades(market: MarketRef, limit: Limit = queries.DEFAULT_LIMIT,
                     cursor: Cursor = None) -> Response:
        """The market's trades, newest first."""
        where = [models.Trade.market_id == await context.market_id(market)]
        return await context.page(queries.TRADES, where, cursor, limit)

    @app.get("/v1/subaccounts/{address}/{number}/fills", tags=["subaccounts"], response_model=schemas.Page[schemas.Fill])
    async def fills(address: Address, number: Number, limit: Limit = queries.DEFAULT_LIMIT,
              cursor: Cursor = None) -> Response:
        """The subaccount's fills (as maker or taker), newest first."""
        where = [models.Fill.subaccount == queries.subaccount_key(address, number)]
        return await context.page(queries.FILLS, where, cursor, limit)

    @app.get("/v1/subaccounts/{address}/{number}/orders", tags=["subaccounts"], response_model=schemas.Page[schemas.Order])
    async def orders(address: Address, number: Number,
               status: Annotated[str | None, Query(description="only orders in this status")] = None,
               limit: Limit = queries.DEFAULT_LIMIT, cursor: Cursor = None) -> Response:
        """The subaccount's orders in their latest state, newest (highest id) first."""
        where = [models.Order.subaccount == queries.subaccount_key(address, number)]
        if status is not None:
            if status not in models.ORDER_STATUSES:
                raise ApiError("invalid_parameter", f"status: {status!r} is not one of {', '.join(models.ORDER_STATUSES)}")
            where.append(models.Order.status == status)
        return await context.page(queries.ORDERS, where, cursor, limit)

    @app.get("/v1/subaccounts/{address}/{number}/order-updates", tags=["subaccounts"], response_model=schemas.Page[schemas.OrderUpdate])
    async def order_updates(address: Address, number: Number,
                      order_id: Annotated[int | None, Query(ge=0, description="only this order's steps")] = None,
                      limit: Limit = queries.DEFAULT_LIMIT,
                      cursor: Cursor = None) -> Response:
        """Each step of the subaccount's orders' lives (placed, filled, modified, cancelled, expired), newest first."""
        where = [models.OrderUpdate.subaccount == queries.subaccount_key(address, number)]
        if order_id is not None:
            where.append(models.OrderUpdate.order_id == order_id)
        return await context.page(queries.ORDER_UPDATES, where, cursor, limit)

    @app.get("/v1/subaccounts/{address}/{number}/funding", tags=["subaccounts"], response_model=schemas.Page[schemas.FundingPayment])
    async def funding(address: Address, number: Number, limit: Limit = queries.DEFAULT_LIMIT,
                cursor: Cursor = None) -> Response:
        """The subaccount's hourly funding payments, newest first."""
        where = [models.FundingPayment.subaccount == queries.subaccount_key(address, number)]
        return await context.page(queries.FUNDING_PAYMENTS, where, cursor, limit)

    @app.get("/v1/subaccounts/{address}/{number}/transfers", tags=["subaccounts"], response_model=schemas.Page[schemas.Transfer])
    async def transfers(address: Address, number: Number, limit: Limit = queries.DEFAULT_LIMIT,
                  cursor: Cursor = None) -> Response:
        """Deposits, withdrawals and transfers into or out of the subaccount, newest first."""
        where = [models.Transfer.subaccount == queries.subaccount_key(address, number)]
        return await context.page(queries.TRANSFERS, where, cursor, limit)

    streams.add_routes(app, context)
    return app
