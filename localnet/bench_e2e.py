"""`perpchain bench e2e`: the load generator against a fresh localnet of 1 and then 4 validators
(temporary folders, free loopback ports, everything stopped after). Figures per network size."""

from __future__ import annotations

import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from client import load_key
from localnet.commands import wait_for_blocks
from localnet.create import create_or_resume
from localnet.layout import LocalnetConfig
from localnet.load import LoadConfig, LoadGenerator
from localnet.supervisor import Supervisor

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COMETBFT = PROJECT_ROOT / "bin" / "cometbft"


def _free_block(count: int) -> int:
    for base in range(31000, 60000, 97):
        ok = True
        for port in range(base, base + count):
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free ports")


@contextmanager
def fresh_localnet(validators: int) -> Iterator[Supervisor]:
    """A new localnet in a temporary folder on free ports, running until the block ends."""
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory) / "ln"
        config = LocalnetConfig(validators=validators, block_time_ms=200, port_base=_free_block(10 * validators + 5))
        layout, _ = create_or_resume(root, config, COMETBFT)
        supervisor = Supervisor(layout, COMETBFT, PROJECT_ROOT)
        try:
            supervisor.start()
            wait_for_blocks(layout)
            yield supervisor
        finally:
            supervisor.stop()


def load_config(supervisor: Supervisor, rate: float, duration_s: float) -> LoadConfig:
    layout = supervisor.layout
    return LoadConfig(nodes=[n.rpc_url for n in layout.nodes], faucet=load_key(layout.faucet_key), rate=rate,
                      duration_s=duration_s)


def measure(validators: int, rate: float, duration_s: float) -> dict[str, Any]:
    with fresh_localnet(validators) as supervisor:
        return LoadGenerator(load_config(supervisor, rate, duration_s)).run()


def run(size: int = 0) -> dict[str, Any]:
    duration = float(size) if size > 0 else 20.0
    one = measure(1, rate=600, duration_s=duration)
    four = measure(4, rate=300, duration_s=duration)
    return {
        "bench": "e2e",
        "orders_per_s": one["orders_per_s"], "p50_ms": one["p50_ms"], "p99_ms": one["p99_ms"],
        "block_interval_ms": one["block_interval_ms"], "validators": 1,
        "four_validators": {k: four[k] for k in ("orders_per_s", "p50_ms", "p99_ms", "block_interval_ms",
                                                 "txs_per_s", "included_txs", "sent_txs", "rejections_by_code")},
        "one_validator": one,
    }
