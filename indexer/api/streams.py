"""The WebSocket channels: a market's trades, its book (snapshot, then deltas numbered seq + 1),
and a subaccount's updates (fills, order steps, funding payments, transfers).

Trades and a subaccount's updates come from the indexer's database: one watcher polls the last
stored block, and each stream, when it advances, sends the rows of the new blocks in chain order.
A block's rows are stored with its block row in one transaction, so a stream never sends part of
a block. The book comes from the node (indexer/api/book.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import anyio
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from sqlalchemy import ColumnElement, Engine
from starlette.concurrency import run_in_threadpool

from indexer import models
from indexer.api import queries
from indexer.api.book import cancel_task
from indexer.api.errors import ApiError

if TYPE_CHECKING:
    from indexer.api.app import Context

log = logging.getLogger("perpchain.indexer.api.streams")

# WebSocket close codes for a channel refused before it starts: 4000 + the HTTP status of the same
# error on REST; the close reason is the error's code (docs/read-api.md).
CLOSE_OFFSET = 4000


class IndexedHeads:
    """The last block the indexer stored, polled by one task while any stream listens."""

    def __init__(self, engine: Engine, poll_interval_s: float) -> None:
        self.engine = engine
        self.poll_interval_s = poll_interval_s
        self.height = 0
        self._changed = asyncio.Condition()
        self._listeners = 0
        self._task: asyncio.Task[None] | None = None

    def _read(self) -> int:
        with self.engine.connect() as connection:
            return queries.indexed_head(connection)[0]

    async def current(self) -> int:
        """The head now (read, not waited for), and the watcher started."""
        self.height = max(self.height, await run_in_threadpool(self._read))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._watch())
        return self.height

    async def beyond(self, height: int) -> int:
        """Wait until the indexer has stored a block above `height`; the new head."""
        async with self._changed:
            self._listeners += 1
            try:
                await self._changed.wait_for(lambda: self.height > height)
            finally:
                self._listeners -= 1
            return self.height

    async def _watch(self) -> None:
        while True:
            try:
                height = await run_in_threadpool(self._read)
            except Exception as error:  # the database went away for a moment: keep the streams, retry
                log.warning("indexed head: %s", error)
            else:
                if height > self.height:
                    async with self._changed:
                        self.height = height
                        self._changed.notify_all()
            await asyncio.sleep(self.poll_interval_s)

    async def close(self) -> None:
        if self._task is not None:
            await cancel_task(self._task)


Feed = list[tuple[str, queries.Listing, list[ColumnElement[bool]]]]  # message type, rows, filter


def _rows_between(engine: Engine, feed: Feed, after: int, up_to: int) -> list[dict[str, Any]]:
    """Every message of the blocks (after, up_to], in chain order across the feed's tables."""
    messages: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    with engine.connect() as connection:
        for kind, listing, where in feed:
            for row in queries.in_chain_order(connection, listing, where, after, up_to):
                place = (row["height"], row.get("event_index", -1))  # funding payments: at their block
                messages.append((place, {"type": kind, "data": row}))
    messages.sort(key=lambda item: item[0])
    return [message for _place, message in messages]


async def _refuse(socket: WebSocket, error: ApiError) -> None:
    await socket.accept()
    await socket.send_json({"type": "error", "error": {"code": error.code, "message": error.message}})
    await socket.close(CLOSE_OFFSET + error.status, error.code)


async def _stream_rows(socket: WebSocket, context: Context, feed: Feed, subscribed: dict[str, Any]) -> None:
    """Send `subscribed` with the head it starts after, then every new block's messages, until the
    client leaves."""
    head = await context.heads.current()
    await socket.send_json({"type": "subscribed", **subscribed, "after_height": head})
    while True:
        new_head = await context.heads.beyond(head)
        for message in await run_in_threadpool(_rows_between, context.engine, feed, head, new_head):
            await socket.send_json(message)
        head = new_head


async def _serve(socket: WebSocket, send: Callable[[], Awaitable[None]]) -> None:
    """Run `send` until the client disconnects (what it sends is read and ignored, so a close is
    seen at once), then stop it; and stop reading when `send` ends."""

    async def sending() -> None:
        try:
            await send()
        except WebSocketDisconnect:
            pass
        group.cancel_scope.cancel()

    async def reading() -> None:
        try:
            while True:
                await socket.receive_text()
        except WebSocketDisconnect:
            pass
        group.cancel_scope.cancel()

    async with anyio.create_task_group() as group:
        group.start_soon(sending)
        group.start_soon(reading)


def add_routes(app: FastAPI, context: Context) -> None:
    @app.websocket("/v1/ws/trades/{market}")
    async def trades_channel(socket: WebSocket, market: str) -> None:
        try:
            market_id = await context.market_id(market)
        except ApiError as error:
            await _refuse(socket, error)
            return
        await socket.accept()
        feed: Feed = [("trade", queries.TRADES, [models.Trade.market_id == market_id])]
        await _serve(socket, lambda: _stream_rows(socket, context, feed, {"channel": "trades", "market_id": market_id}))

    @app.websocket("/v1/ws/subaccounts/{address}/{number}")
    async def subaccount_channel(socket: WebSocket, address: str, number: str) -> None:
        try:
            if not number.isdigit() or not 0 <= int(number) <= 127:
                raise ApiError("invalid_parameter", f"number: {number!r} is not a subaccount number 0..127")
            holder = queries.subaccount_key(address, int(number))
        except ApiError as error:
            await _refuse(socket, error)
            return
        await socket.accept()
        feed: Feed = [
            ("fill", queries.FILLS, [models.Fill.subaccount == holder]),
            ("order_update", queries.ORDER_UPDATES, [models.OrderUpdate.subaccount == holder]),
            ("funding_payment", queries.FUNDING_PAYMENTS, [models.FundingPayment.subaccount == holder]),
            ("transfer", queries.TRANSFERS, [models.Transfer.subaccount == holder]),
        ]
        await _serve(socket, lambda: _stream_rows(socket, context, feed, {"channel": "subaccount", "subaccount": holder}))

    @app.websocket("/v1/ws/book/{market}")
    async def book_channel(socket: WebSocket, market: str) -> None:
        try:
            market_id = int((await context.markets.resolve(market))["market_id"])
            feed, subscriber = await context.books.join(market_id)
        except ApiError as error:
            await _refuse(socket, error)
            return
        await socket.accept()

        async def send_book() -> None:
            while True:
                await socket.send_json(await feed.next_message(subscriber))

        try:
            await _serve(socket, send_book)
        finally:
            context.books.leave(feed, subscriber)
