"""What the benchmarks share: how one fails, the markets their chains list, and `perpchain node` as a
process of its own for those measured over the real ABCI socket."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from genesis.markets import market
from localnet.ports import free_port

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COMETBFT = PROJECT_ROOT / "bin" / "cometbft"
PRICE = 65_000_000_000  # micro-USDC: every bench market's reference price
TICK = 100_000  # micro-USDC


class BenchmarkFailed(Exception):
    """The benchmark could not measure what it claims to (a rejected tx, a dead app process)."""


def bench_markets(count: int) -> list[dict[str, Any]]:
    """Markets 1..count, BTC-like (4 size decimals, tick 0.1 USDC) at PRICE, open interest uncapped."""
    return [market(m, f"M{m}-USD", 4, TICK, 10, 10, PRICE, 10**15) for m in range(1, count + 1)]


def same_price(markets: int, price: int) -> dict[int, int]:
    """One price (micro-USDC) for each of markets 1..markets, as the validators vote it."""
    return {m: price for m in range(1, markets + 1)}


class AppProcess:
    """`perpchain node` on a free loopback port, its output in a log file; always stopped."""

    def __init__(self, data: Path, log_path: Path) -> None:
        self.data = data
        self.log_path = log_path
        self.port = free_port()  # below the ephemeral range (localnet/ports.py says why)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Spawn it; returns once its ABCI port accepts connections."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "perpchain.cli", "node", "--data", str(self.data),
                 "--abci", f"tcp://127.0.0.1:{self.port}"],
                stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise BenchmarkFailed(f"app ABCI port {self.port} did not open in 30s")

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise BenchmarkFailed(f"app process exited with code {self.process.returncode}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def stop_process(process: subprocess.Popen[Any]) -> None:
    """Terminate `process` if it still runs; kill it when it does not exit within 10 s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
