"""The read API as a person runs it: `perpchain indexer` and `perpchain api` (uvicorn on 127.0.0.1)
beside a traded chain. Its markets and book are the node's, its trades the indexer's, walked page by
page; its WebSocket channels send a book snapshot then deltas numbered seq + 1, and new trades."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from client import Client
from indexer.db import open_engine, sqlite_url
from localnet.market_maker import MakerConfig
from localnet.ports import free_port
from localnet.traded import traded_chain
from tests.harness import ROOT, wait_until
from tests.indexer_recompute import stored_heights, stored_trades

pytestmark = pytest.mark.integration


def _start(arguments: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "perpchain.cli", *arguments], stdout=out,
                                stderr=subprocess.STDOUT, cwd=ROOT)


def _walk(http: httpx.Client, path: str, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        body = http.get(path, params=params).raise_for_status().json()
        items.extend(body["items"])
        if body["next_cursor"] is None:
            return items
        params["cursor"] = body["next_cursor"]


async def _channels(ws_url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Three book messages and the first trade message (after `subscribed`)."""
    async with websockets.connect(f"{ws_url}/v1/ws/book/1") as book, \
            websockets.connect(f"{ws_url}/v1/ws/trades/BTC-USD") as trades:
        book_messages = [json.loads(await asyncio.wait_for(book.recv(), 30)) for _ in range(3)]
        trade_messages = [json.loads(await asyncio.wait_for(trades.recv(), 30)) for _ in range(2)]
    return book_messages, trade_messages


def test_read_api_over_a_traded_chain_and_its_indexer(tmp_path: Path) -> None:
    db_url = sqlite_url(tmp_path / "indexer.db")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with traded_chain(tmp_path / "chain", MakerConfig(levels=3), block_time_ms=200) as traded:
        node = traded.chain.rpc_url
        indexer = _start(["indexer", "--node", node, "--db", db_url], tmp_path / "indexer.log")
        engine = open_engine(db_url)
        try:
            wait_until(lambda: stored_trades(engine), 90, "the indexer storing a trade", 0.2)
            api = _start(["api", "--db", db_url, "--node", node, "--listen", f"127.0.0.1:{port}"], tmp_path / "api.log")
            try:
                with httpx.Client(base_url=base, timeout=10) as http:
                    wait_until(lambda: http.get("/v1/status").status_code == 200, 30, "the API answering", 0.1)
                    with Client(node) as client:
                        assert http.get("/v1/markets").json()["markets"] == client.markets()
                    book = http.get("/v1/markets/BTC-USD/book", params={"depth": 5}).json()
                    assert book["market_id"] == 1 and book["bids"] and book["asks"]
                    assert http.get("/openapi.json").json()["info"]["title"] == "perpchain read API"

                    book_messages, trade_messages = asyncio.run(_channels(f"ws://127.0.0.1:{port}"))

                    indexer.send_signal(signal.SIGTERM)  # the database stops moving: pages against it are exact
                    indexer.wait(timeout=30)
                    listed = _walk(http, "/v1/markets/1/trades", limit=7)
                    status = http.get("/v1/status").json()
            finally:
                api.send_signal(signal.SIGTERM)
                api.wait(timeout=30)
        finally:
            if indexer.poll() is None:
                indexer.send_signal(signal.SIGTERM)
                indexer.wait(timeout=30)
    assert status["indexed_height"] == stored_heights(engine)[-1]
    stored = [t for t in stored_trades(engine) if t[1] == 1]  # (height, market, ...) in chain order
    assert len(stored) > 0
    assert [(t["height"], int(t["price"]), int(t["size"]), t["maker"], t["taker"]) for t in reversed(listed)] == \
        [(height, price, size, maker, taker) for height, _market, price, size, maker, taker, *_ids in stored]
    assert len({(t["height"], t["event_index"]) for t in listed}) == len(listed), "a trade twice"

    snapshot, *deltas = book_messages
    assert snapshot["type"] == "snapshot" and [d["type"] for d in deltas] == ["delta", "delta"]
    assert [d["seq"] for d in deltas] == [snapshot["seq"] + 1, snapshot["seq"] + 2]
    assert trade_messages[0]["type"] == "subscribed"
    assert trade_messages[1]["type"] == "trade" and trade_messages[1]["data"]["height"] > trade_messages[0]["after_height"]
    engine.dispose()
