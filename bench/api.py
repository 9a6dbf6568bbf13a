"""The read API under load: `api_p99_ms`, the 99th percentile latency of candles and fills requests
from 200 concurrent clients each asking once a second on average (goal <= 200 ms), and the same
200 clients asking back to back, for the most it serves.

Setup (not timed): a SQLite database in the indexer's schema holding a week of a busy chain
(100,000 blocks, 4 trades each in two markets, each trade's two fills spread over 500 subaccounts,
and every 1m/5m/1h/1d candle of those days), and `perpchain api` on it in a process of its own,
served by uvicorn on 127.0.0.1. No node runs: candles and fills are read from the database alone,
and the market directory answers "node unavailable" from its cache, as it does while a node is down.
Each request is 200 1m candles of a random market and window or 100 fills of a random subaccount;
every answer must be a 200 with a non-empty page. Timed, twice, for DURATION_S after WARM_UP_S, by 200
clients (each an httpx.AsyncClient with its keep-alive connection, in this process):

- paced (`api_p99_ms` = `api_paced_p99_ms`, `api_paced_p50_ms`, `api_paced_requests_per_s`): each client
  sends at exponential gaps (a seeded random.Random) averaging 1 s, so about 200 requests a second
  arrive independently of how fast they are answered (an open loop), as from many users. Latency
  runs from the time a request was scheduled, not sent: a request held back behind a slow answer
  counts its wait, so a stalled server cannot hide its queue (coordinated omission). This is the
  latency the goal is about.
- saturated (`api_saturated_p99_ms`, `api_saturated_p50_ms`, `api_requests_per_s`): each client asks
  again as soon as it is answered (a closed loop). `api_requests_per_s` is the most the server
  answers; the latency is only the queue of 200 waiting clients (about 200 / api_requests_per_s),
  shown so that the paced figures can be read against the capacity left.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, insert

from bench.common import PROJECT_ROOT, BenchmarkFailed, stop_process
from indexer import models
from indexer.db import open_engine, sqlite_url, upgrade
from localnet.ports import free_port

GOAL_P99_MS = 200
CLIENTS = 200
WARM_UP_S = 5.0  # clients made and connected, the database's pages read once: not timed
DURATION_S = 15.0
PACED_RATE_PER_S = 1.0  # each paced client's average requests a second: 200 a second offered in all
BLOCKS = 100_000
TRADES_PER_BLOCK = 4
SUBACCOUNTS = 500
MARKETS = (1, 2)
BLOCK_MS = 6_000  # a week in 100,000 blocks
START_MS = 1_700_000_000_000 // 86_400_000 * 86_400_000


def subaccount(n: int) -> str:
    return f"0x{n:040x}/0"


def fill_history(engine: Engine, blocks: int) -> None:
    """`blocks` blocks of trades, their fills and candles, written as the indexer writes them."""
    chooser = random.Random(7)
    candles: dict[tuple[int, str, int], list[int]] = {}
    with engine.begin() as connection:
        for first in range(1, blocks + 1, 5_000):
            block_rows, trade_rows, fill_rows = [], [], []
            for height in range(first, min(first + 5_000, blocks + 1)):
                time_ms = START_MS + height * BLOCK_MS
                block_rows.append({"height": height, "hash": f"{height:064x}", "time_ms": time_ms, "tx_count": 4,
                                   "event_count": TRADES_PER_BLOCK, "order_count": TRADES_PER_BLOCK})
                for event in range(TRADES_PER_BLOCK):
                    market = MARKETS[event % len(MARKETS)]
                    price = 65_000_000_000 + chooser.randrange(-500, 500) * 100_000
                    size = chooser.randrange(1, 1_000)
                    maker, taker = chooser.sample(range(SUBACCOUNTS), 2)
                    place = {"height": height, "tx_index": event, "event_index": event, "time_ms": time_ms,
                             "market_id": market, "price": price, "size": size}
                    trade_rows.append({**place, "taker_side": "buy", "maker": subaccount(maker),
                                       "taker": subaccount(taker), "maker_order_id": height * 10 + event,
                                       "taker_order_id": height * 10 + 5, "maker_fee_micro_usdc": 0,
                                       "taker_fee_micro_usdc": size, "maker_realized_pnl_micro_usdc": 0,
                                       "taker_realized_pnl_micro_usdc": 0})
                    for role, holder, side in (("maker", maker, "sell"), ("taker", taker, "buy")):
                        fill_rows.append({**place, "subaccount": subaccount(holder), "role": role,
                                          "order_id": height * 10 + event, "side": side, "fee_micro_usdc": size,
                                          "realized_pnl_micro_usdc": 0})
                    for interval, length_ms in models.CANDLE_INTERVALS_MS.items():
                        key = (market, interval, time_ms // length_ms * length_ms)
                        candle = candles.get(key)
                        if candle is None:
                            candles[key] = [price, price, price, price, size, 0, 1, height]
                        else:
                            candle[1], candle[2], candle[3] = max(candle[1], price), min(candle[2], price), price
                            candle[4] += size
                            candle[6] += 1
                            candle[7] = height
            connection.execute(insert(models.Block), block_rows)
            connection.execute(insert(models.Trade), trade_rows)
            connection.execute(insert(models.Fill), fill_rows)
        connection.execute(insert(models.Candle), [
            {"market_id": market, "interval": interval, "start_ms": start_ms, "open": o, "high": h, "low": low,
             "close": c, "volume": v, "quote_volume_micro_usdc": q, "trade_count": n, "last_height": last}
            for (market, interval, start_ms), (o, h, low, c, v, q, n, last) in candles.items()])


class ApiProcess:
    """`perpchain api` on a free loopback port; always stopped."""

    def __init__(self, db_url: str, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.command = [sys.executable, "-m", "perpchain.cli", "api", "--db", db_url, "--node",
                        f"http://127.0.0.1:{free_port()}", "--listen", f"127.0.0.1:{self.port}", "--log-level", "warning"]
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "ApiProcess":
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchmarkFailed(f"perpchain api exited with {self.process.returncode}: {self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/v1/status", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise BenchmarkFailed("perpchain api did not answer in 30s")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            stop_process(self.process)


def _request(chooser: random.Random, blocks: int) -> tuple[str, str, dict[str, Any]]:
    """One client request: candles or fills, alternately chosen at random."""
    if chooser.random() < 0.5:
        end_ms = START_MS + chooser.randrange(1, blocks) * BLOCK_MS
        params = {"resolution": "1m", "from": end_ms - 200 * 60_000, "to": end_ms, "limit": 200}
        return "candles", f"/v1/markets/{chooser.choice(MARKETS)}/candles", params
    return "fills", f"/v1/subaccounts/0x{chooser.randrange(SUBACCOUNTS):040x}/0/fills", {"limit": 100}


async def _ask(http: httpx.AsyncClient, chooser: random.Random, blocks: int) -> str:
    """One request, checked (a 200 with a non-empty page); its kind."""
    kind, path, params = _request(chooser, blocks)
    answer = await http.get(path, params=params)
    if answer.status_code != 200:
        raise BenchmarkFailed(f"{path}: {answer.status_code} {answer.text[:200]}")
    if not answer.json()["items"]:
        raise BenchmarkFailed(f"{path} {params}: an empty page")
    return kind


def _client(url: str) -> httpx.AsyncClient:
    """A client with a keep-alive connection of its own (a pool shared by hundreds of connections
    costs more CPU than the server it measures)."""
    return httpx.AsyncClient(base_url=url, timeout=30, verify=False)  # plain HTTP on loopback


async def _saturated(url: str, clients: int, warm_up_s: float, duration_s: float,
                     blocks: int) -> dict[str, list[float]]:
    """Closed loop: `clients` clients each asking again as soon as answered, connected during
    `warm_up_s`, then timed for `duration_s`; the latency of each request from its send."""
    latencies: dict[str, list[float]] = {"candles": [], "fills": []}
    started_at = time.perf_counter()
    timed_from, deadline = started_at + warm_up_s, started_at + warm_up_s + duration_s

    async def client(number: int) -> None:
        chooser = random.Random(number)
        async with _client(url) as http:
            while (sent := time.perf_counter()) < deadline:
                kind = await _ask(http, chooser, blocks)
                if sent >= timed_from:
                    latencies[kind].append((time.perf_counter() - sent) * 1000)

    await asyncio.gather(*(client(n) for n in range(clients)))
    return latencies


async def _paced(url: str, clients: int, rate_per_s: float, warm_up_s: float, duration_s: float,
                 blocks: int) -> dict[str, list[float]]:
    """Open loop: `clients` clients each scheduled to ask `rate_per_s` times a second on average,
    at exponential gaps (Poisson arrivals, not in step); the latency of each request from the time
    it was scheduled, so a request held back behind a slow answer counts the wait (no coordinated
    omission). Requests scheduled in the `duration_s` after `warm_up_s` are timed."""
    latencies: dict[str, list[float]] = {"candles": [], "fills": []}
    started_at = time.perf_counter()
    timed_from, deadline = started_at + warm_up_s, started_at + warm_up_s + duration_s

    async def client(number: int) -> None:
        chooser, gaps = random.Random(number), random.Random(1_000_000 + number)
        async with _client(url) as http:
            scheduled = started_at + gaps.expovariate(rate_per_s)
            while scheduled < deadline:
                await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
                kind = await _ask(http, chooser, blocks)
                if scheduled >= timed_from:
                    latencies[kind].append((time.perf_counter() - scheduled) * 1000)
                scheduled += gaps.expovariate(rate_per_s)

    await asyncio.gather(*(client(n) for n in range(clients)))
    return latencies


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _latency_figures(prefix: str, latencies: dict[str, list[float]]) -> dict[str, float]:
    """p99 and p50 of every request, and p99 of each kind, as `{prefix}_p99_ms` etc."""
    every = latencies["candles"] + latencies["fills"]
    if not latencies["candles"] or not latencies["fills"]:
        raise BenchmarkFailed(f"{prefix}: no request completed")
    return {f"{prefix}_p99_ms": round(percentile(every, 0.99), 1),
            f"{prefix}_p50_ms": round(percentile(every, 0.5), 1),
            f"{prefix}_candles_p99_ms": round(percentile(latencies["candles"], 0.99), 1),
            f"{prefix}_fills_p99_ms": round(percentile(latencies["fills"], 0.99), 1)}


def _count(latencies: dict[str, list[float]]) -> int:
    return len(latencies["candles"]) + len(latencies["fills"])


def measure_api(blocks: int = BLOCKS, clients: int = CLIENTS, duration_s: float = DURATION_S) -> dict[str, Any]:
    """The figures of the read API under `clients` concurrent clients, paced then saturated (the
    module's docstring)."""
    with tempfile.TemporaryDirectory(prefix="perpchain-bench-api-") as tmp:
        url = sqlite_url(Path(tmp) / "indexer.db")
        engine = open_engine(url)
        upgrade(engine)
        fill_history(engine, blocks)
        engine.dispose()
        with ApiProcess(url, Path(tmp) / "api.log") as api:
            paced = asyncio.run(_paced(api.url, clients, PACED_RATE_PER_S, WARM_UP_S, duration_s, blocks))
            saturated = asyncio.run(_saturated(api.url, clients, WARM_UP_S, duration_s, blocks))
    figures = _latency_figures("api_paced", paced)
    return {
        "api_p99_ms": figures["api_paced_p99_ms"],
        "api_goal_p99_ms": GOAL_P99_MS,
        "api_meets_goal": figures["api_paced_p99_ms"] <= GOAL_P99_MS,
        **figures,
        "api_paced_requests_per_s": round(_count(paced) / duration_s),
        **_latency_figures("api_saturated", saturated),
        "api_requests_per_s": round(_count(saturated) / duration_s),
        "api_clients": clients,
        "api_trades_stored": blocks * TRADES_PER_BLOCK,
    }
