"""The read API (indexer/api/) against a SQLite database filled through the indexer's models and a
fake node: pages that neither repeat nor skip, errors with their documented codes, the WebSocket
channels' messages and the book's sequence numbers."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, text
from sqlalchemy.exc import OperationalError
from starlette.websockets import WebSocketDisconnect

from client.errors import NodeUnreachable
from indexer import models
from indexer.api import schemas
from indexer.api.app import create_app, open_read_engine
from indexer.api.book import side_delta, side_levels
from indexer.db import open_engine, sqlite_url, upgrade

ALICE = "0x" + "aa" * 20
BOB = "0x" + "bb" * 20
BTC = {"market_id": 1, "ticker": "BTC-USD", "status": "active", "size_decimals": 4, "tick_size": "100000",
       "step_size": "1", "min_order_size": "1", "reference_price": "65000000000", "price_band_ppm": 100000,
       "initial_margin_ppm": 100000, "maintenance_margin_ppm": 50000, "maker_fee_ppm": 0, "taker_fee_ppm": 500,
       "max_open_interest": "1000000000"}
ETH = {**BTC, "market_id": 2, "ticker": "ETH-USD"}


class FakeNode:
    """The node's answers the API asks for; `down` makes every call fail as an unreachable node does."""

    def __init__(self) -> None:
        self.chain_height = 10
        self.books: dict[int, dict[str, Any]] = {1: {"market_id": 1, "bids": [["64900000000", "5", 1]],
                                                      "asks": [["65100000000", "7", 2]]}}
        self.down = False
        self.lock = threading.Lock()

    def _check(self) -> None:
        if self.down:
            raise NodeUnreachable("connection refused")

    def markets(self) -> list[dict[str, Any]]:
        self._check()
        return [BTC, ETH]

    def book(self, market_id: int, depth: int = 20) -> dict[str, Any]:
        self._check()
        with self.lock:
            book = self.books.get(market_id, {"market_id": market_id, "bids": [], "asks": []})
            return {"market_id": market_id, "bids": book["bids"][:depth], "asks": book["asks"][:depth]}

    def height(self) -> int:
        self._check()
        return self.chain_height

    def set_book(self, market_id: int, bids: list[list[Any]], asks: list[list[Any]], height: int) -> None:
        with self.lock:
            self.books[market_id] = {"market_id": market_id, "bids": bids, "asks": asks}
            self.chain_height = height


class History:
    """Writes blocks and their rows the way the indexer stores them: a block's rows with its block row."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def block(self, height: int, trades: int = 0, market_id: int = 1, rows: dict[Any, list[dict[str, Any]]] | None = None
              ) -> None:
        """Block `height` with `trades` trades between ALICE (maker) and BOB (taker), their fills, and `rows`."""
        time_ms = 1_700_000_000_000 + height * 1000
        with self.engine.begin() as connection:
            connection.execute(insert(models.Block).values(height=height, hash="00" * 32, time_ms=time_ms, tx_count=1,
                                                           event_count=trades, order_count=0))
            for event_index in range(trades):
                place = {"height": height, "tx_index": 0, "event_index": event_index, "time_ms": time_ms}
                price = 65_000_000_000 + height * 100_000 + event_index
                connection.execute(insert(models.Trade).values(
                    **place, market_id=market_id, price=price, size=10 + event_index, taker_side="buy",
                    maker=f"{ALICE}/0", taker=f"{BOB}/0", maker_order_id=height * 100 + event_index,
                    taker_order_id=height * 100 + 50, maker_fee_micro_usdc=0, taker_fee_micro_usdc=5,
                    maker_realized_pnl_micro_usdc=0, taker_realized_pnl_micro_usdc=0))
                for role, holder, side in (("maker", ALICE, "sell"), ("taker", BOB, "buy")):
                    connection.execute(insert(models.Fill).values(
                        **place, subaccount=f"{holder}/0", role=role, market_id=market_id,
                        order_id=height * 100 + event_index, side=side, price=price, size=10 + event_index,
                        fee_micro_usdc=5, realized_pnl_micro_usdc=0))
            for table, values in (rows or {}).items():
                for value in values:
                    connection.execute(insert(table).values(height=height, time_ms=time_ms, **value))


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[str, History]]:
    url = sqlite_url(tmp_path / "indexer.db")
    writer = open_engine(url)
    upgrade(writer)
    yield url, History(writer)
    writer.dispose()


@pytest.fixture
def node() -> FakeNode:
    return FakeNode()


@pytest.fixture
def api(database: tuple[str, History], node: FakeNode) -> Iterator[TestClient]:
    url, _history = database
    with TestClient(create_app(open_read_engine(url), node, poll_interval_s=0.01)) as client:
        yield client


def walk(api: TestClient, path: str, limit: int, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list, page after page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        answer = api.get(path, params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert len(body["items"]) <= limit
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def error_code(answer: Any) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["code"]


# -- markets and books -------------------------------------------------------------------------------

def test_markets_come_from_the_node_by_id_or_ticker(api: TestClient) -> None:
    assert [m["ticker"] for m in api.get("/v1/markets").json()["markets"]] == ["BTC-USD", "ETH-USD"]
    assert api.get("/v1/markets/eth-usd").json()["market_id"] == 2
    assert api.get("/v1/markets/1").json() == BTC
    assert error_code(api.get("/v1/markets/DOGE-USD")) == (404, "unknown_market")


def test_book_snapshot_is_the_nodes_book_with_its_height(api: TestClient) -> None:
    book = api.get("/v1/markets/BTC-USD/book", params={"depth": 5}).json()
    assert book == {"market_id": 1, "height": 10, "bids": [["64900000000", "5", 1]], "asks": [["65100000000", "7", 2]]}
    assert error_code(api.get("/v1/markets/1/book", params={"depth": 1001})) == (400, "invalid_parameter")


def test_node_down_is_503_but_history_by_market_id_stays_readable(api: TestClient, node: FakeNode,
                                                                   database: tuple[str, History]) -> None:
    database[1].block(1, trades=2)
    node.down = True
    assert error_code(api.get("/v1/markets")) == (503, "node_unavailable")
    assert error_code(api.get("/v1/markets/BTC-USD/trades")) == (503, "node_unavailable")
    assert len(api.get("/v1/markets/1/trades").json()["items"]) == 2


# -- pagination ----------------------------------------------------------------------------------------

def test_trades_pages_neither_repeat_nor_skip_while_new_blocks_arrive(api: TestClient,
                                                                      database: tuple[str, History]) -> None:
    history = database[1]
    for height in range(1, 11):
        history.block(height, trades=height % 4 + 1)
    history.block(11, trades=3, market_id=2)
    expected = [(t["height"], t["event_index"]) for t in walk(api, "/v1/markets/1/trades", limit=1000)]
    assert expected == sorted(expected, reverse=True) and len(expected) == sum(h % 4 + 1 for h in range(1, 11))

    first = api.get("/v1/markets/1/trades", params={"limit": 4}).json()
    history.block(12, trades=2)  # newer trades arrive between two pages: the next pages are unaffected
    rest = walk(api, "/v1/markets/1/trades", limit=3, cursor=first["next_cursor"])
    paged = [(t["height"], t["event_index"]) for t in first["items"] + rest]
    assert paged == expected


def test_fills_of_one_trade_on_both_sides_of_one_subaccount_are_both_listed(api: TestClient,
                                                                            database: tuple[str, History]) -> None:
    history = database[1]
    history.block(1, trades=3)
    with history.engine.begin() as connection:  # a self-trade: ALICE/0 is maker and taker of event 3
        for role, side in (("maker", "sell"), ("taker", "buy")):
            connection.execute(insert(models.Fill).values(
                height=1, tx_index=0, event_index=3, time_ms=0, subaccount=f"{ALICE}/0", role=role, market_id=1,
                order_id=7, side=side, price=1, size=1, fee_micro_usdc=0, realized_pnl_micro_usdc=0))
    fills = walk(api, f"/v1/subaccounts/{ALICE}/0/fills", limit=1)
    assert [(f["event_index"], f["role"]) for f in fills] == [(3, "taker"), (3, "maker"), (2, "maker"), (1, "maker"),
                                                              (0, "maker")]
    assert fills[0]["price"] == "1" and fills[0]["subaccount"] == f"{ALICE}/0"
    assert walk(api, f"/v1/subaccounts/{ALICE.upper().replace('0X', '0x')}/0/fills", limit=10) == fills
    assert walk(api, f"/v1/subaccounts/{ALICE}/1/fills", limit=10) == []


def test_candles_in_a_time_range_oldest_first(api: TestClient, database: tuple[str, History]) -> None:
    history = database[1]
    history.block(1)
    with history.engine.begin() as connection:
        for resolution, step in (("1m", 60_000), ("1h", 3_600_000)):
            for n in range(10):
                connection.execute(insert(models.Candle).values(
                    market_id=1, interval=resolution, start_ms=n * step, open=100 + n, high=110 + n, low=90 + n,
                    close=105 + n, volume=n, quote_volume_micro_usdc=n * 100, trade_count=n, last_height=1))
    candles = walk(api, "/v1/markets/BTC-USD/candles", limit=3, resolution="1m", **{"from": 120_000, "to": 480_000})
    assert [c["start_ms"] for c in candles] == [120_000, 180_000, 240_000, 300_000, 360_000, 420_000]
    assert candles[0] == {"market_id": 1, "resolution": "1m", "start_ms": 120_000, "open": "102", "high": "112",
                          "low": "92", "close": "107", "volume": "2", "quote_volume_micro_usdc": "200",
                          "trade_count": 2, "last_height": 1}
    assert len(walk(api, "/v1/markets/1/candles", limit=1000, resolution="1h")) == 10


def test_orders_funding_and_transfers_of_a_subaccount(api: TestClient, database: tuple[str, History]) -> None:
    history = database[1]
    holder = f"{ALICE}/3"
    order = {"market_id": 1, "subaccount": holder, "client_id": 1, "side": "buy", "price": 5, "size": 10,
             "filled_size": 0, "time_in_force": "GTC", "iceberg": False, "reason": None, "placed_height": 1,
             "placed_time_ms": 0, "updated_height": 1}
    history.block(1, rows={
        models.Transfer: [{"tx_index": 0, "event_index": 0, "kind": "deposit", "subaccount": holder,
                           "amount_micro_usdc": 1_000_000, "counterparty": None, "reference": "nonce 1"}],
        models.OrderUpdate: [{"tx_index": 1, "event_index": 1, "order_id": n, "subaccount": holder, "market_id": 1,
                              "status": "open", "size": 10, "filled_size": 0, "price": 5, "reason": None}
                             for n in (1, 2)],
    })
    with history.engine.begin() as connection:
        connection.execute(insert(models.Order).values(order_id=1, status="cancelled", **order))
        connection.execute(insert(models.Order).values(order_id=2, status="open", **order))
    history.block(2, rows={models.FundingPayment: [{"subaccount": holder, "market_id": m, "hour": 7, "size": -10,
                                                    "rate_ppm": 12, "payment_micro_usdc": -3} for m in (1, 2)]})
    base = f"/v1/subaccounts/{ALICE}/3"
    assert [o["order_id"] for o in walk(api, f"{base}/orders", limit=1)] == ["2", "1"]
    assert [o["order_id"] for o in walk(api, f"{base}/orders", limit=5, status="open")] == ["2"]
    assert [u["order_id"] for u in walk(api, f"{base}/order-updates", limit=1)] == ["2", "1"]
    assert [u["order_id"] for u in walk(api, f"{base}/order-updates", limit=5, order_id=1)] == ["1"]
    assert [(p["market_id"], p["payment_micro_usdc"]) for p in walk(api, f"{base}/funding", limit=1)] == [(2, "-3"), (1, "-3")]
    assert [(t["kind"], t["amount_micro_usdc"]) for t in walk(api, f"{base}/transfers", limit=1)] == [("deposit", "1000000")]
    assert error_code(api.get(f"{base}/orders", params={"status": "gone"})) == (400, "invalid_parameter")


# -- errors ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path, params, expected", [
    ("/v1/markets/1/trades", {"limit": 0}, (400, "invalid_parameter")),
    ("/v1/markets/1/trades", {"limit": 1001}, (400, "invalid_parameter")),
    ("/v1/markets/1/trades", {"limit": "ten"}, (400, "invalid_parameter")),
    ("/v1/markets/1/trades", {"cursor": "not-a-cursor"}, (400, "invalid_cursor")),
    ("/v1/markets/1/trades", {"cursor": "WzEsMV0"}, (400, "invalid_cursor")),  # a candles cursor: [1, 1]
    ("/v1/markets/1/candles", {}, (400, "invalid_parameter")),  # no resolution
    ("/v1/markets/1/candles", {"resolution": "2m"}, (400, "invalid_parameter")),
    ("/v1/markets/1/candles", {"resolution": "1m", "from": 10, "to": 5}, (400, "invalid_parameter")),
    ("/v1/markets/9/candles", {"resolution": "1m"}, (404, "unknown_market")),
    ("/v1/subaccounts/0x1234/0/fills", {}, (400, "invalid_parameter")),
    (f"/v1/subaccounts/{ALICE}/128/fills", {}, (400, "invalid_parameter")),
    (f"/v1/subaccounts/{ALICE}/-1/transfers", {}, (400, "invalid_parameter")),
    ("/v1/nothing", {}, (404, "not_found")),
])
def test_errors_carry_their_documented_code(api: TestClient, path: str, params: dict[str, Any],
                                            expected: tuple[int, str]) -> None:
    answer = api.get(path, params=params)
    assert error_code(answer) == expected
    assert answer.json()["error"]["message"]


def test_a_write_is_refused_by_the_apis_connection(database: tuple[str, History]) -> None:
    engine = open_read_engine(database[0])
    with pytest.raises(OperationalError, match="readonly|read-only|query_only"):
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM blocks"))


def test_openapi_document_and_docs_page(api: TestClient) -> None:
    document = api.get("/openapi.json").json()
    assert {"/v1/markets", "/v1/markets/{market}/candles", "/v1/subaccounts/{address}/{number}/fills",
            "/v1/subaccounts/{address}/{number}/transfers"} <= set(document["paths"])
    trades = document["paths"]["/v1/markets/{market}/trades"]["get"]
    assert {"200", "400", "404"} <= set(trades["responses"])
    assert "swagger" in api.get("/docs").text.lower()


# -- WebSocket channels ---------------------------------------------------------------------------------

def test_trades_channel_sends_each_new_blocks_trades_in_chain_order(api: TestClient,
                                                                    database: tuple[str, History]) -> None:
    history = database[1]
    history.block(1, trades=2)
    with api.websocket_connect("/v1/ws/trades/BTC-USD") as socket:
        assert socket.receive_json() == {"type": "subscribed", "channel": "trades", "market_id": 1, "after_height": 1}
        history.block(2, trades=1, market_id=2)  # another market's: not sent
        history.block(3, trades=3)
        received = [socket.receive_json() for _ in range(3)]
    assert [(m["type"], m["data"]["height"], m["data"]["event_index"]) for m in received] == [
        ("trade", 3, 0), ("trade", 3, 1), ("trade", 3, 2)]
    assert received[0]["data"]["price"] == str(65_000_000_000 + 3 * 100_000)


def test_subaccount_channel_interleaves_its_tables_in_chain_order(api: TestClient,
                                                                  database: tuple[str, History]) -> None:
    history = database[1]
    with api.websocket_connect(f"/v1/ws/subaccounts/{BOB}/0") as socket:
        assert socket.receive_json()["after_height"] == 0
        history.block(1, trades=1, rows={models.Transfer: [
            {"tx_index": 0, "event_index": 5, "kind": "withdrawal", "subaccount": f"{BOB}/0",
             "amount_micro_usdc": 7, "counterparty": None, "reference": None}]})
        received = [socket.receive_json() for _ in range(2)]
    assert [(m["type"], m["data"]["event_index"]) for m in received] == [("fill", 0), ("transfer", 5)]
    assert received[0]["data"]["role"] == "taker"


def test_book_channel_snapshot_then_deltas_numbered_seq_plus_one(api: TestClient, node: FakeNode) -> None:
    with api.websocket_connect("/v1/ws/book/BTC-USD") as socket:
        snapshot = socket.receive_json()
        assert snapshot["type"] == "snapshot" and snapshot["seq"] == 1 and snapshot["depth"] == 100
        book = {"bids": side_levels(snapshot["bids"]), "asks": side_levels(snapshot["asks"])}
        node.set_book(1, [["64900000000", "9", 2], ["64800000000", "1", 1]], [], height=11)
        first = socket.receive_json()
        node.set_book(1, [["64800000000", "1", 1]], [["65000000000", "3", 1]], height=12)
        second = socket.receive_json()
    assert (first["type"], first["seq"], first["height"]) == ("delta", 2, 11)
    assert first["asks"] == [["65100000000", "0", 0]]  # the level left: size "0"
    assert second["seq"] == first["seq"] + 1
    for delta in (first, second):  # applying the deltas to the snapshot rebuilds the node's book
        for side in ("bids", "asks"):
            for price, size, orders in delta[side]:
                if size == "0":
                    book[side].pop(price)
                else:
                    book[side][price] = (price, size, orders)
    assert book == {"bids": side_levels([["64800000000", "1", 1]]), "asks": side_levels([["65000000000", "3", 1]])}


def test_side_delta_lists_changed_and_removed_levels_by_price() -> None:
    before = side_levels([["3", "1", 1], ["2", "1", 1], ["1", "4", 2]])
    after = side_levels([["3", "1", 1], ["1", "5", 3], ["0", "2", 1]])
    assert side_delta(before, after) == [("0", "2", 1), ("1", "5", 3), ("2", "0", 0)]
    assert side_delta(after, after) == []


@pytest.mark.parametrize("path, close_code, code", [
    ("/v1/ws/trades/DOGE-USD", 4404, "unknown_market"),
    ("/v1/ws/book/DOGE-USD", 4404, "unknown_market"),
    ("/v1/ws/subaccounts/0x12/0", 4400, "invalid_parameter"),
    (f"/v1/ws/subaccounts/{ALICE}/200", 4400, "invalid_parameter"),
])
def test_a_channel_refused_says_why_and_closes_with_4000_plus_status(api: TestClient, path: str, close_code: int,
                                                                     code: str) -> None:
    with api.websocket_connect(path) as socket:
        assert socket.receive_json()["error"]["code"] == code
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
    assert closed.value.code == close_code and closed.value.reason == code


def test_every_list_answer_is_the_model_its_openapi_document_declares(api: TestClient,
                                                                       database: tuple[str, History]) -> None:
    """The lists are written as JSON without FastAPI validating them: this checks they match."""
    history = database[1]
    holder = f"{ALICE}/0"
    history.block(1, trades=2, rows={
        models.Transfer: [{"tx_index": 0, "event_index": 9, "kind": "deposit", "subaccount": holder,
                           "amount_micro_usdc": 1, "counterparty": None, "reference": None}],
        models.OrderUpdate: [{"tx_index": 0, "event_index": 8, "order_id": 1, "subaccount": holder, "market_id": 1,
                              "status": "open", "size": 1, "filled_size": 0, "price": 5, "reason": None}],
        models.FundingPayment: [{"subaccount": holder, "market_id": 1, "hour": 1, "size": 1, "rate_ppm": 1,
                                 "payment_micro_usdc": 1}]})
    with history.engine.begin() as connection:
        connection.execute(insert(models.Order).values(
            order_id=1, market_id=1, subaccount=holder, client_id=1, side="buy", price=5, size=1, filled_size=0,
            time_in_force="GTC", iceberg=False, status="open", reason=None, placed_height=1, placed_time_ms=0,
            updated_height=1))
        connection.execute(insert(models.Candle).values(
            market_id=1, interval="1m", start_ms=0, open=1, high=1, low=1, close=1, volume=1, quote_volume_micro_usdc=1,
            trade_count=1, last_height=1))
    lists = {"/v1/markets/1/trades": schemas.Trade, f"/v1/subaccounts/{ALICE}/0/fills": schemas.Fill,
             f"/v1/subaccounts/{ALICE}/0/orders": schemas.Order,
             f"/v1/subaccounts/{ALICE}/0/order-updates": schemas.OrderUpdate,
             f"/v1/subaccounts/{ALICE}/0/funding": schemas.FundingPayment,
             f"/v1/subaccounts/{ALICE}/0/transfers": schemas.Transfer}
    for path, model in lists.items():
        body = api.get(path, params={"limit": 1}).json()
        assert body["items"], path
        schemas.Page[model].model_validate(body, strict=True)  # type: ignore[valid-type]
    candles = api.get("/v1/markets/1/candles", params={"resolution": "1m"}).json()
    schemas.Page[schemas.Candle].model_validate(candles, strict=True)
