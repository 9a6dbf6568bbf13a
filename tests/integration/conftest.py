"""The 4-validator localnet fixture shared by the integration tests that need one."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from client import Client, PrivateKey, SubaccountId, Transfer, load_key, save_key
from localnet.commands import wait_for_blocks
from localnet.create import create_or_resume
from localnet.layout import Layout, LocalnetConfig
from localnet.supervisor import Supervisor
from tests.harness import COMETBFT, ROOT, free_port_block, processes_mentioning, wait_until

TRADERS = 8
TRADER_USDC = 10_000


@dataclass
class Net:
    layout: Layout
    supervisor: Supervisor
    traders: list[PrivateKey]

    @property
    def byzantine_trader(self) -> PrivateKey:
        """The trader a byzantine validator trades for (its --trader-key)."""
        return self.traders[-1]

    def client(self, index: int) -> Client:
        return Client(self.layout.nodes[index].rpc_url, timeout_s=3.0)

    def height(self, index: int) -> int:
        with self.client(index) as client:
            return client.height()

    def wait_all(self, height: int, nodes: list[int] | None = None, timeout_s: float = 90) -> None:
        for index in nodes if nodes is not None else range(len(self.layout.nodes)):
            wait_until(lambda: self.height(index) >= height, timeout_s, f"node{index} at height {height}", 0.2)

    def app_hash(self, index: int, height: int) -> str:
        with self.client(index) as client:
            return client.app_hash_at(height)

    def balances(self, index: int) -> list[int]:
        with self.client(index) as client:
            return [client.balance("0x" + k.address.hex()).amount_micro_usdc for k in self.traders]


@contextmanager
def running_net(root: Path, price_sources: dict[int, str] | None = None,
                byzantine: dict[int, str] | None = None, snapshot_interval: int = 0,
                staking_params: dict[str, int] | None = None) -> Iterator[Net]:
    """Four validators under the localnet supervisor, eight funded traders; nothing left behind.
    `byzantine`: validator index -> fault, served by tests/integration/byzantine_node.py, trading
    for the last trader (Net.byzantine_trader); `snapshot_interval`: the nodes' (0: none);
    `staking_params`: the genesis's (docs/staking.md)."""
    config = LocalnetConfig(validators=4, block_time_ms=50, port_base=free_port_block(40), faucet_usdc=1_000_000,
                            snapshot_interval=snapshot_interval, staking_params=staking_params or {})
    layout, created = create_or_resume(root, config, COMETBFT)
    assert created
    traders = [PrivateKey.generate() for _ in range(TRADERS)]
    trader_key = root / "byzantine-trader.json"
    save_key(traders[-1], trader_key)
    node_commands = {index: [sys.executable, "-m", "tests.integration.byzantine_node", "--fault", fault,
                             "--trader-key", str(trader_key)]
                     for index, fault in (byzantine or {}).items()}
    supervisor = Supervisor(layout, COMETBFT, ROOT, price_sources, node_commands)
    try:
        supervisor.start()
        wait_for_blocks(layout)
        faucet = load_key(layout.faucet_key)
        with Client(layout.nodes[0].rpc_url) as client:
            client.broadcast(client.build(faucet, [
                Transfer(0, SubaccountId(t.address, 0), TRADER_USDC * 1_000_000) for t in traders
            ]))
        yield Net(layout, supervisor, traders)
    finally:
        supervisor.stop()
        leftovers = processes_mentioning(str(root))
        assert leftovers == [], f"processes left behind: {leftovers}"


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    with running_net(tmp_path / "localnet") as running:
        yield running
