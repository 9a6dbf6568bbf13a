"""`perpchain bench tui`: how often the book ladder redraws with new data, against a live chain.

A fresh one-validator chain (50 ms blocks) runs the market maker on every market and a taker
flow so the book changes every few blocks; a headless terminal (Textual's run_test) follows
BTC-USD. Over `size` seconds (default 10) it counts the ladder's redraws of a new book, the
blocks the chain made, and samples how many blocks the drawn book is behind the chain.

    tui_redraws_per_s   redraws of a newly fetched book per second (goal: >= 10)
    blocks_per_s        blocks the chain committed per second meanwhile
    lag_blocks          mean of (chain height - height of the drawn book), sampled 4x a second
    lag_blocks_max      the worst sample
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from client import Client
from localnet.market_maker import MakerConfig
from localnet.traded import traded_chain
from tui.app import TradingApp
from tui.widgets import BookLadder

DEFAULT_SECONDS = 10
BLOCK_TIME_MS = 50


async def _measure(app: TradingApp, rpc_url: str, seconds: float) -> dict[str, float]:
    async with app.run_test(size=(170, 50)) as pilot:
        ladder = app.query_one(BookLadder)
        deadline = time.monotonic() + 60
        while not (app.book is not None and app.book.bids and app.book.asks):
            if time.monotonic() > deadline:
                raise RuntimeError("the terminal never showed a two-sided book")
            await pilot.pause(0.1)
        await pilot.pause(1.0)
        with Client(rpc_url, timeout_s=3.0) as client:
            frames0, height0, start = ladder.frames, await asyncio.to_thread(client.height), time.monotonic()
            lags = []
            while time.monotonic() - start < seconds:
                await pilot.pause(0.25)
                chain_height = await asyncio.to_thread(client.height)
                lags.append(max(chain_height - ladder.drawn_height, 0))
            frames1, height1, elapsed = ladder.frames, await asyncio.to_thread(client.height), time.monotonic() - start
    return {
        "tui_redraws_per_s": round((frames1 - frames0) / elapsed, 2),
        "blocks_per_s": round((height1 - height0) / elapsed, 2),
        "lag_blocks": round(sum(lags) / len(lags), 2),
        "lag_blocks_max": max(lags),
        "seconds": round(elapsed, 1),
    }


def run(size: int = 0) -> dict[str, float]:
    """Figures of the terminal following a market-made chain for `size` seconds (0: 10)."""
    seconds = size or DEFAULT_SECONDS
    maker = MakerConfig(levels=10, size_usdc=2_000, max_position_usdc=40_000)
    with tempfile.TemporaryDirectory(prefix="perpchain-bench-tui-") as folder, \
            traded_chain(Path(folder), maker, BLOCK_TIME_MS) as traded:
        url = traded.chain.rpc_url
        figures = asyncio.run(_measure(TradingApp(url, traded.trader_key, market="BTC-USD"), url, seconds))
        figures["mm_requotes"] = traded.maker.stats.requotes
    return figures
