"""Real processes for integration tests: our ABCI app and the real `cometbft`, on free loopback ports.

Every process is started here and stopped by `LocalChain.stop()` (fixtures call it), so a test
leaves nothing running behind it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families

from client import Client, PrivateKey, address_to_hex
from genesis.app_state import build_app_state
from genesis.home import BlockTiming, NodePorts, configure, init_home, write_genesis_for
from localnet.ports import free_port
from localnet.ports import free_port_block as free_port_block  # re-exported: the integration conftests import it from here

ROOT = Path(__file__).resolve().parent.parent
COMETBFT = ROOT / "bin" / "cometbft"
SIMULATED_PRICES = "sim:0"  # a deterministic simulated feed around each market's reference price (seed 0)
T = TypeVar("T")


def run_perpchain(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """`perpchain ARGS` as a user runs it (a fresh process, no stdin); its exit status is the caller's to check."""
    return subprocess.run([sys.executable, "-m", "perpchain.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout_s, stdin=subprocess.DEVNULL)


class TamperingTransport(httpx.BaseTransport):
    """A node that lies: the real node's JSON-RPC answers, edited in flight by `edit(call, result)`
    (`call` the request: its method and params). For a Client's `transport`."""

    def __init__(self, edit: Callable[[dict[str, Any], dict[str, Any]], None]) -> None:
        self.edit = edit
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        body = json.loads(response.read())
        if "result" in body:
            self.edit(json.loads(request.content), body["result"])
        return httpx.Response(response.status_code, json=body)

    def close(self) -> None:
        self.inner.close()


def scrape_metrics(url: str) -> dict[str, float]:
    """A Prometheus endpoint's samples, keyed `name` or `name{label="value",...}` (labels sorted)."""
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(url, timeout=5).text):
        for sample in family.samples:
            labels = ",".join(f'{key}="{value}"' for key, value in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def wait_until(predicate: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.05) -> T:
    """The predicate's first truthy result, polled every `interval_s` (its exceptions count as not yet)."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # the thing is not up yet
            last_error = exc
        time.sleep(interval_s)
    raise TimeoutError(f"{what} not reached in {timeout_s}s (last error: {last_error})")


@dataclass
class LocalChain:
    """One validator: a CometBFT home, an app data dir, and their two processes."""

    root: Path
    funded: dict[str, PrivateKey] = field(default_factory=dict)
    chain_id: str = "perpchain-test"
    timeout_commit_ms: int = 100
    price_source: str = SIMULATED_PRICES
    app_process: subprocess.Popen[bytes] | None = None
    cometbft_process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.home = self.root / "cometbft"
        self.data = self.root / "app-data"
        self.ports = NodePorts(p2p=free_port(), rpc=free_port(), abci=free_port())
        self.rpc_url = f"http://127.0.0.1:{self.ports.rpc}"

    @classmethod
    def create(cls, root: Path, accounts: int = 3, usdc_each: int = 1_000, price_source: str = SIMULATED_PRICES) -> "LocalChain":
        chain = cls(root=root, price_source=price_source)
        keys = [PrivateKey.generate() for _ in range(accounts)]
        chain.funded = {address_to_hex(k.address): k for k in keys}
        funds = [(address, 0, usdc_each * 1_000_000) for address in chain.funded]
        init_home(COMETBFT, chain.home)
        write_genesis_for(chain.home, chain.chain_id, build_app_state(funds))
        chain.configure()
        return chain

    def configure(self) -> None:
        configure(self.home, self.ports, BlockTiming(timeout_commit_ms=self.timeout_commit_ms))

    @property
    def keys(self) -> list[PrivateKey]:
        return list(self.funded.values())

    def client(self) -> Client:
        return Client(self.rpc_url)

    # -- processes ----------------------------------------------------------------------------

    def start_app(self) -> None:
        log = open(self.root / "app.log", "ab")
        self.app_process = subprocess.Popen(
            [sys.executable, "-m", "perpchain.cli", "node", "--data", str(self.data),
             "--abci", f"tcp://127.0.0.1:{self.ports.abci}", "--price-source", self.price_source],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
        )
        wait_until(lambda: _port_open(self.ports.abci), 15, "app ABCI port")

    def start_cometbft(self) -> None:
        log = open(self.root / "cometbft.log", "ab")
        self.cometbft_process = subprocess.Popen(
            [str(COMETBFT), "node", "--home", str(self.home)], stdout=log, stderr=subprocess.STDOUT
        )

    def start(self, min_height: int = 1) -> None:
        self.start_app()
        self.start_cometbft()
        self.wait_for_height(min_height)

    def wait_for_height(self, height: int, timeout_s: float = 60) -> int:
        with self.client() as client:
            return wait_until(lambda: client.height() >= height and client.height(), timeout_s, f"height {height}")

    def kill_app(self, sig: int = signal.SIGKILL) -> None:
        _stop(self.app_process, sig)
        self.app_process = None

    def stop_cometbft(self, sig: int = signal.SIGTERM) -> None:
        _stop(self.cometbft_process, sig)
        self.cometbft_process = None

    def stop(self) -> None:
        self.stop_cometbft()
        self.kill_app(signal.SIGTERM)

    def app_log(self) -> str:
        return (self.root / "app.log").read_text(errors="replace")


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _stop(process: subprocess.Popen[bytes] | None, sig: int) -> None:
    if process is None or process.poll() is not None:
        return
    os.kill(process.pid, sig)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """Live processes whose command line contains `text` (a test's temporary folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().split(") ", 1)[1][0]
        except (OSError, IndexError):
            continue
        if text in cmdline and state != "Z":
            found.append((int(entry.name), cmdline.strip()))
    return found
