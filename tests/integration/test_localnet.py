"""Four validators on loopback under the localnet supervisor: agreement, faults, rejoin, cleanup."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import threading
import time

import pytest

from client import ClientError, SubaccountId, Transfer, TxRejected
from tests.harness import COMETBFT, scrape_metrics, wait_until
from tests.integration.conftest import TRADER_USDC, TRADERS, Net

pytestmark = pytest.mark.integration

class Traffic:
    """Random signed transfers between the traders, spread over the nodes that are up."""

    def __init__(self, net: Net, seed: int, nodes: list[int] | None = None) -> None:
        self.net = net
        self.rng = random.Random(seed)
        self.nodes = nodes if nodes is not None else list(range(len(net.layout.nodes)))
        self.accepted: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Traffic":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        clients = {i: self.net.client(i) for i in self.nodes}
        try:
            while not self.stop.is_set():
                node = self.rng.choice(self.nodes)
                sender, receiver = self.rng.sample(self.net.traders, 2)
                actions = [Transfer(0, SubaccountId(receiver.address, self.rng.randrange(4)), self.rng.randrange(1, 10**6))
                           for _ in range(self.rng.randrange(1, 4))]
                try:
                    client = clients[node]
                    self.accepted.append(client.submit(client.build(sender, actions)))
                except ClientError:
                    time.sleep(0.05)
                time.sleep(0.005)
        finally:
            for client in clients.values():
                client.close()


def _settle(net: Net, nodes: list[int]) -> None:
    """Until every mempool is empty and all `nodes` have committed the same last blocks."""
    def empty(index: int) -> bool:
        with net.client(index) as client:
            return int(client.rpc.call("num_unconfirmed_txs")["n_txs"]) == 0
    for index in nodes:
        wait_until(lambda: empty(index), 60, f"node{index} mempool empty", 0.2)
    net.wait_all(max(net.height(i) for i in nodes) + 2, nodes=nodes)


def _assert_same_balances(net: Net, nodes: list[int]) -> None:
    _settle(net, nodes)
    balances = {index: net.balances(index) for index in nodes}
    assert all(b == balances[nodes[0]] for b in balances.values()), balances


def _assert_same_app_hashes(net: Net, nodes: list[int], first: int, last: int) -> None:
    for height in range(first, last + 1):
        hashes = {index: net.app_hash(index, height) for index in nodes}
        assert len(set(hashes.values())) == 1, f"app hashes differ at height {height}: {hashes}"


def test_four_validators_agree_on_every_app_hash_over_200_blocks_of_random_traffic(net: Net) -> None:
    with Traffic(net, seed=7) as traffic:
        start = net.height(0)
        net.wait_all(start + 200, timeout_s=240)
    assert len(traffic.accepted) > 200
    last = min(net.height(i) for i in range(4))
    _assert_same_app_hashes(net, [0, 1, 2, 3], 1, last)
    with net.client(1) as client:
        landed = [client.wait_for_tx(h) for h in traffic.accepted[-20:]]  # sent to various nodes
    assert len({r.height for r in landed}) >= 1
    _assert_same_balances(net, [0, 1, 2, 3])
    assert sum(net.balances(0)) < TRADERS * TRADER_USDC * 1_000_000  # value moved to subaccounts 1..3

    # Metrics beside CometBFT's: a refused tx shows up as a rejection with its code.
    with net.client(0) as client:
        with pytest.raises(TxRejected):
            client.transfer(net.traders[0], SubaccountId(net.traders[1].address, 0), 10**15)
    node = net.layout.nodes[0]
    app_metrics = scrape_metrics(f"http://{node.app_metrics_address}/metrics")
    assert app_metrics["perpchain_height"] >= last
    assert app_metrics["perpchain_txs_total"] >= len(landed)
    assert app_metrics["perpchain_finalize_block_seconds_count"] >= 200
    assert app_metrics['perpchain_checktx_rejections_total{code="100",codespace="bank"}'] >= 1
    cometbft_metrics = scrape_metrics(f"http://127.0.0.1:{node.ports.prometheus}/metrics")
    assert any(name.startswith("cometbft_consensus_height") for name in cometbft_metrics)


def test_one_validator_down_the_chain_goes_on_and_it_catches_up_on_restart(net: Net) -> None:
    net.supervisor.hold(3, signal.SIGKILL)
    with Traffic(net, seed=11, nodes=[0, 1, 2]):
        before = net.height(0)
        net.wait_all(before + 20, nodes=[0, 1, 2])
    net.supervisor.release(3)
    target = net.height(0)
    net.wait_all(target, nodes=[3])
    _assert_same_app_hashes(net, [0, 1, 2, 3], 1, target)
    _assert_same_balances(net, [0, 3])


def test_two_of_four_down_the_chain_halts_and_resumes_with_nothing_lost(net: Net) -> None:
    with Traffic(net, seed=13) as traffic:
        net.wait_all(net.height(0) + 10)
    with net.client(0) as client:
        for tx_hash in traffic.accepted:
            client.wait_for_tx(tx_hash)
        landed = net.balances(0)
    net.supervisor.hold(2, signal.SIGKILL)
    net.supervisor.hold(3, signal.SIGKILL)
    time.sleep(1.0)
    halted_at = net.height(0)
    time.sleep(3.0)  # sixty block times at 50 ms: a live chain would have moved on
    assert net.height(0) == halted_at and net.height(1) == halted_at
    net.supervisor.release(2)
    net.supervisor.release(3)
    net.wait_all(halted_at + 5)
    assert all(net.balances(i) == landed for i in range(4))
    _assert_same_app_hashes(net, [0, 1, 2, 3], 1, halted_at + 5)


def test_a_validator_with_wiped_data_rejoins_by_block_sync(net: Net) -> None:
    with Traffic(net, seed=17):
        net.wait_all(net.height(0) + 15)
    net.supervisor.hold(1)
    node = net.layout.nodes[1]
    shutil.rmtree(node.data)
    subprocess.run([str(COMETBFT), "unsafe-reset-all", "--home", str(node.home)], check=True, capture_output=True)
    assert not (node.home / "data" / "blockstore.db").exists()
    net.supervisor.release(1)
    target = net.height(0)
    net.wait_all(target, nodes=[1])
    _assert_same_app_hashes(net, [0, 1], 1, target)
    _assert_same_balances(net, [0, 1])


def test_the_supervisor_restarts_a_killed_app_with_its_cometbft(net: Net) -> None:
    old_pid = net.supervisor.kill(2, "app")
    wait_until(lambda: net.supervisor.validators[2].app.restarts == 1, 15, "app restart recorded")
    height = net.height(0)
    net.wait_all(height + 5)
    assert net.supervisor.validators[2].app.pid not in (None, old_pid)
    _assert_same_app_hashes(net, [0, 2], 1, height + 5)
