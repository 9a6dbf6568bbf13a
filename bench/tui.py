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
import threading
import time
from pathlib import Path

from client import Client
from localnet.devchain import DevChain
from localnet.market_maker import MakerConfig, MarketMaker
from perpchain.screenshots import taker_flow
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
    with tempfile.TemporaryDirectory(prefix="perpchain-bench-tui-") as folder, \
            DevChain(Path(folder), accounts=3, usdc_each=1_000_000, block_time_ms=BLOCK_TIME_MS) as chain:
        maker_key, taker_key, trader_key = chain.keys
        stop = threading.Event()
        maker_client = Client(chain.rpc_url, timeout_s=3.0)
        maker = MarketMaker(maker_client, maker_key, MakerConfig(levels=10, size_usdc=2_000, max_position_usdc=40_000),
                            emit=lambda line: None)
        threads = [threading.Thread(target=maker.run, args=(stop,), daemon=True),
                   threading.Thread(target=taker_flow, args=(chain.rpc_url, taker_key, stop), daemon=True)]
        for thread in threads:
            thread.start()
        try:
            figures = asyncio.run(_measure(TradingApp(chain.rpc_url, trader_key, market="BTC-USD"), chain.rpc_url,
                                           seconds))
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=20)
            maker_client.close()
        figures["mm_requotes"] = maker.stats.requotes
    return figures
