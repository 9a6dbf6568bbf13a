"""`python -m perpchain.screenshots`: regenerate docs/screenshots/main.svg, order_entry.svg and history.svg.

Starts a fresh one-validator chain, the market maker on every market and a small taker flow so
there are trades and candles, the indexer and the read API over it, then drives a headless
terminal through Pilot: `a` switches it from subaccount 0 to subaccount 1, which holds 5,000 USDC;
a long bought at market, a bid and an offer resting (main.svg), then an IOC sell that fills and a
limit sell typed through the bids, shot once the chain's what-if for it is under the ticket
(order_entry.svg); then the Fills tab and the 1m chart from the read API (history.svg)."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import httpx
from textual.pilot import Pilot
from textual.widgets import Input

from client import Client, SubaccountId
from localnet.devchain import PROJECT_ROOT
from localnet.market_maker import MakerConfig
from localnet.ports import free_port
from localnet.traded import traded_chain
from tui.app import TradingApp
from tui.widgets import CandleChart, Choice, OrderForm

SIZE = (170, 50)
OUT = PROJECT_ROOT / "docs" / "screenshots"


async def wait_for(pilot: Pilot[None], predicate: Callable[[], object], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the terminal did not reach the expected state")
        await pilot.pause(0.1)


async def place_by_keyboard(pilot: Pilot[None], app: TradingApp, side: str, kind: str, price: str, size: str) -> None:
    app.query_one("#order-form").query_one("#kind", Choice).select(kind)
    await pilot.press("escape", side)
    if price:
        await pilot.press(*price, "tab")
    await pilot.press(*size, "enter")


async def capture(app: TradingApp, warmup_s: float) -> None:
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: app.book is not None and bool(app.book.asks) and app.market is not None)
        await pilot.press("escape", "a")  # subaccount 0 -> 1, the next one holding collateral
        await wait_for(pilot, lambda: app.subaccount == 1 and app.account is not None)
        app.query_one("#chart", CandleChart).interval_index = 0  # 5 s candles: a young chain
        app._titles()
        await pilot.pause(warmup_s)
        market = app.market
        assert market is not None and app.book is not None
        # a long position bought at market, then a bid below and an offer above the book
        await place_by_keyboard(pilot, app, "b", "market", "", "0.3")
        await wait_for(pilot, lambda: app.account is not None and bool(app.account.positions))
        best_bid, best_ask = app.book.best_bid, app.book.best_ask
        assert best_bid is not None and best_ask is not None, "the maker quotes both sides"
        bid = market.round_price(best_bid * 99 // 100, up=False)
        ask = market.round_price(best_ask * 1012 // 1000, up=True)
        await place_by_keyboard(pilot, app, "b", "limit", market.format_price(bid).replace(",", ""), "0.05")
        await place_by_keyboard(pilot, app, "s", "limit", market.format_price(ask).replace(",", ""), "0.1")
        await wait_for(pilot, lambda: len(app.orders) == 2)
        await pilot.pause(3.0)
        await pilot.press("escape", "o")
        app.clear_notifications()
        await pilot.pause(0.5)
        app.save_screenshot("main.svg", str(OUT))
        # the order form with a sell typed through the bids, its preview, and a fill notification
        form = app.query_one(OrderForm)
        await place_by_keyboard(pilot, app, "s", "market", "", "0.02")
        await wait_for(pilot, lambda: any(title.startswith("Fill") for _, title, _ in app.notices[-3:]))
        app.action_side("sell")
        form.query_one("#kind", Choice).select("limit")
        form.query_one("#size", Input).value = "0.08"
        form.query_one("#size", Input).focus()
        for _ in range(5):  # 1% through the bids; again if the maker re-quoted under the ticket meanwhile
            best_bid = app.book.best_bid
            assert best_bid is not None, "the maker quotes bids"
            price = market.round_price(best_bid * 99 // 100, up=False)
            form.query_one("#price", Input).value = market.format_price(price).replace(",", "")
            await wait_for(pilot, lambda: form.what_if is not None and form.preview is not None
                           and form.what_if[0] == form.preview.order)
            if form.preview is not None and form.preview.fill_atoms and form.what_if is not None \
                    and int(form.what_if[1].get("filled_size", 0)):
                break
            await pilot.pause(1.0)
        await pilot.pause(0.3)
        app.save_screenshot("order_entry.svg", str(OUT))
        # the subaccount's fills and the chart's 1m candles, from the read API
        await pilot.press("escape", "f")
        app.query_one("#chart", CandleChart).show_interval("1m")
        app._titles()
        await wait_for(pilot, lambda: len(app.past_fills) >= 2)
        app.clear_notifications()
        await pilot.pause(0.5)
        app.save_screenshot("history.svg", str(OUT))


@contextmanager
def indexer_and_api(folder: Path, node_url: str) -> Iterator[str]:
    """`perpchain indexer` following `node_url` into a SQLite file in `folder`, and `perpchain api`
    over it; yields the API's URL once it answers."""
    db = f"sqlite:///{folder / 'indexer.db'}"
    port = free_port()
    command = [sys.executable, "-m", "perpchain.cli"]
    log = open(folder / "history.log", "ab")
    indexer = subprocess.Popen([*command, "indexer", "--node", node_url, "--db", db], stdout=log, stderr=log)
    api: subprocess.Popen[bytes] | None = None
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while api is None or not _answers(url):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the read API at {url} never answered (log: {folder / 'history.log'})")
            if api is None and (folder / "indexer.db").exists():
                api = subprocess.Popen([*command, "api", "--node", node_url, "--db", db, "--listen",
                                        f"127.0.0.1:{port}", "--log-level", "warning"], stdout=log, stderr=log)
            time.sleep(0.3)
        yield url
    finally:
        for process in (api, indexer):
            if process is not None:
                process.terminate()
                process.wait(timeout=10)
        log.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v1/status", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perpchain.screenshots", description=__doc__.split("\n\n")[0])
    parser.add_argument("--warmup", type=float, default=40.0, help="seconds of trading before the shots")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    maker = MakerConfig(levels=8, size_usdc=3_000, max_position_usdc=60_000)
    with tempfile.TemporaryDirectory(prefix="perpchain-shots-") as folder, \
            traded_chain(Path(folder), maker, block_time_ms=200) as traded, \
            indexer_and_api(Path(folder), traded.chain.rpc_url) as api_url:
        trader_key = traded.trader_key
        with Client(traded.chain.rpc_url) as client:  # the trader's subaccount 1 holds 5,000 USDC
            client.transfer(trader_key, SubaccountId(trader_key.address, 1), 5_000 * 1_000_000)
        app = TradingApp(traded.chain.rpc_url, trader_key, subaccount=0, market="BTC-USD", api_url=api_url)
        asyncio.run(capture(app, args.warmup))
    print(f"wrote {OUT / 'main.svg'}, {OUT / 'order_entry.svg'} and {OUT / 'history.svg'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
