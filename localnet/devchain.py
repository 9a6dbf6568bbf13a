"""A throwaway one-validator chain (our app + the real cometbft) on free loopback ports, with
funded keys: what `python -m perpchain.screenshots` and `perpchain bench tui` run against.

Same processes as `perpchain localnet up --validators 1`, without its supervisor and folders, so
a benchmark or a screenshot starts from a fresh chain and leaves nothing behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Callable

from client import Client, ClientError, PrivateKey, address_to_hex
from genesis.app_state import build_app_state
from genesis.home import BlockTiming, NodePorts, configure, init_home, write_genesis_for
from localnet.ports import free_port

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COMETBFT = PROJECT_ROOT / "bin" / "cometbft"


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class DevChain:
    root: Path
    accounts: int = 3
    usdc_each: int = 100_000
    block_time_ms: int = 100
    price_source: str = "sim:0"
    keys: list[PrivateKey] = field(default_factory=list)
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ports = NodePorts(p2p=free_port(), rpc=free_port(), abci=free_port())
        self.rpc_url = f"http://127.0.0.1:{self.ports.rpc}"

    def start(self, timeout_s: float = 60.0) -> "DevChain":
        if not COMETBFT.exists():
            raise RuntimeError(f"{COMETBFT} is missing: run `make setup`")
        home, data = self.root / "cometbft", self.root / "app-data"
        self.keys = [PrivateKey.generate() for _ in range(self.accounts)]
        init_home(COMETBFT, home)
        funds = [(address_to_hex(k.address), 0, self.usdc_each * 1_000_000) for k in self.keys]
        write_genesis_for(home, "perpchain-dev", build_app_state(funds))
        configure(home, self.ports, BlockTiming(timeout_commit_ms=self.block_time_ms))
        app_log = open(self.root / "app.log", "ab")
        self._processes.append(subprocess.Popen(
            [sys.executable, "-m", "perpchain.cli", "node", "--data", str(data), "--abci",
             f"tcp://127.0.0.1:{self.ports.abci}", "--price-source", self.price_source],
            stdout=app_log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT))
        self._wait(lambda: _port_open(self.ports.abci), timeout_s, "the app's ABCI port")
        cometbft_log = open(self.root / "cometbft.log", "ab")
        self._processes.append(subprocess.Popen([str(COMETBFT), "node", "--home", str(home)],
                                                stdout=cometbft_log, stderr=subprocess.STDOUT))
        with Client(self.rpc_url, timeout_s=2.0) as client:
            self._wait(lambda: client.height() >= 2, timeout_s, "height 2")
        return self

    def _wait(self, ready: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except (ClientError, OSError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{what} not reached in {timeout_s:.0f}s; see the logs in {self.root}")

    def stop(self) -> None:
        for process in reversed(self._processes):  # cometbft first, then the app
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self._processes.clear()

    def __enter__(self) -> "DevChain":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
