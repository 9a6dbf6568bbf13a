"""A 4-validator localnet with its bridge: anvil, TestUSDC + Vault, one relayer per validator."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

from bridge.localnet import LocalBridge
from client import Client, PrivateKey, load_key
from client.bridge import BridgeClient
from localnet.commands import wait_for_blocks
from localnet.create import create_or_resume
from localnet.layout import Layout, LocalnetConfig
from localnet.supervisor import Supervisor
from tests.harness import COMETBFT, ROOT, free_port_block, processes_mentioning, wait_until


@dataclass
class BridgedNet:
    layout: Layout
    supervisor: Supervisor
    bridge_files: LocalBridge
    faucet: PrivateKey

    def client(self, index: int = 0) -> Client:
        return Client(self.layout.nodes[index].rpc_url, timeout_s=5.0)

    def bridge(self, index: int = 0) -> BridgeClient:
        return BridgeClient(self.client(index), self.bridge_files.eth_rpc, self.bridge_files.settings()["vault"])

    def balance(self, address: bytes, subaccount: int = 0, index: int = 0) -> int:
        with self.client(index) as client:
            return client.balance("0x" + address.hex(), subaccount).amount_micro_usdc


@contextmanager
def running_bridged_net(root: Path) -> Iterator[BridgedNet]:
    config = LocalnetConfig(validators=4, block_time_ms=100, port_base=free_port_block(40), faucet_usdc=1_000_000)
    layout, created = create_or_resume(root, config, COMETBFT, bridge=True)
    assert created
    supervisor = Supervisor(layout, COMETBFT, ROOT)
    try:
        supervisor.start()
        wait_for_blocks(layout)
        bridge_files = LocalBridge.of(root)
        assert bridge_files is not None
        yield BridgedNet(layout, supervisor, bridge_files, load_key(layout.faucet_key))
    finally:
        supervisor.stop()
        leftovers = processes_mentioning(str(root))
        assert leftovers == [], f"processes left behind: {leftovers}"


@pytest.fixture(scope="module")
def bridged_net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgedNet]:
    with running_bridged_net(tmp_path_factory.mktemp("bridged") / "localnet") as net:
        yield net


def wait_for(predicate: Callable[[], object], timeout_s: float, what: str) -> None:
    wait_until(predicate, timeout_s, what, 0.2)
