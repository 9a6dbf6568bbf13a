"""The terminal's history from the read API (client/history.py): the chart opens on the indexer's
candles, the Fills and Funding tabs show the subaccount's past; with no API answering the terminal
runs live only and says so. Headless, against a real one-validator chain; the API is the real app
over an indexer database written here, reached through Starlette's TestClient."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert
from textual.pilot import Pilot
from textual.widgets import TabbedContent

from client import Client, address_to_hex
from client.history import HistoryClient
from indexer import models
from indexer.api.app import create_app, open_read_engine
from indexer.db import open_engine, sqlite_url, upgrade
from localnet.ports import free_port
from tests.harness import LocalChain
from tests.tui.test_terminal import notices, run, until
from tui.app import TradingApp
from tui.widgets import CandleChart, FillsTable, FundingTable

pytestmark = pytest.mark.integration

BTC = 1
MINUTE_MS = 60_000
CLOSES = [64_800_000_000 + i * 20_000_000 for i in range(8)]  # eight 1m candles before the terminal starts


def write_history(url: str, owner: str) -> int:
    """An indexer database holding BTC-USD 1m candles of the last minutes, one fill and one funding
    payment of `owner`/0; returns the first candle's start."""
    engine = open_engine(url)
    upgrade(engine)
    first_ms = (int(time.time() * 1000) // MINUTE_MS - len(CLOSES)) * MINUTE_MS
    with engine.begin() as connection:
        connection.execute(insert(models.Block).values(height=1, hash="00" * 32, time_ms=first_ms, tx_count=1,
                                                       event_count=1, order_count=1))
        for index, close in enumerate(CLOSES):
            connection.execute(insert(models.Candle).values(
                market_id=BTC, interval="1m", start_ms=first_ms + index * MINUTE_MS, open=close - 10_000_000,
                high=close + 30_000_000, low=close - 30_000_000, close=close, volume=25,
                quote_volume_micro_usdc=close * 25 // 10_000, trade_count=3, last_height=1))
        connection.execute(insert(models.Fill).values(
            height=1, tx_index=0, event_index=0, time_ms=first_ms, subaccount=f"{owner}/0", role="taker",
            market_id=BTC, order_id=7, side="buy", price=64_812_300_000, size=150, fee_micro_usdc=486_092,
            realized_pnl_micro_usdc=0))
        connection.execute(insert(models.FundingPayment).values(
            subaccount=f"{owner}/0", market_id=BTC, hour=first_ms // 3_600_000, height=1, time_ms=first_ms,
            size=150, rate_ppm=125, payment_micro_usdc=121_517))
    engine.dispose()
    return first_ms


def test_chart_opens_on_the_indexers_candles_and_the_tabs_show_past_fills_and_funding(
        chain: LocalChain, tmp_path: Path) -> None:
    alice = chain.keys[0]
    owner = address_to_hex(alice.address).lower()
    url = sqlite_url(tmp_path / "indexer.db")
    first_ms = write_history(url, owner)
    node = Client(chain.rpc_url)
    api = create_app(open_read_engine(url), node)
    app = TradingApp(chain.rpc_url, alice, market="BTC-USD", api_url="http://api.test",
                     history_factory=lambda base: HistoryClient(base, http=TestClient(api, base_url=base)))

    async def scenario(app: TradingApp, pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.history_ok and app.past_fills, "the history")
        chart = app.query_one(CandleChart)
        assert chart.interval[0] == "1m"
        assert sorted(app.stored_candles[BTC]["1m"]) == [first_ms + i * MINUTE_MS for i in range(len(CLOSES))]
        assert "no trades" not in str(chart.render())  # nobody traded live: the candles drawn are the stored ones
        fills = app.query_one(FillsTable)
        assert [str(cell) for cell in fills.get_row_at(0)][1:] == [
            "BTC-USD", "BUY", "taker", "64,812.3", "0.015", "-0.48", "0.00"]
        await pilot.press("escape", "u")
        assert app.query_one("#activity", TabbedContent).active == "tab-funding"
        funding = app.query_one(FundingTable)
        assert [str(cell) for cell in funding.get_row_at(0)][1:] == ["BTC-USD", "0.015", "+0.0125%", "-0.12"]
        assert "No history" not in notices(app)

    try:
        run(app, scenario)
    finally:
        node.close()


def test_without_an_answering_api_the_terminal_runs_live_with_a_notice(chain: LocalChain) -> None:
    app = TradingApp(chain.rpc_url, chain.keys[0], market="BTC-USD", api_url=f"http://127.0.0.1:{free_port()}")

    async def scenario(app: TradingApp, pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.history_ok is False, "the no-history notice")
        assert "No history: Live only" in notices(app, "warning")
        assert app.book is not None and app.connected is True  # the live feeds go on
        assert app.query_one(FillsTable).row_count == 0

    run(app, scenario)
