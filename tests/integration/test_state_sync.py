"""State sync with real cometbft: on a localnet whose nodes snapshot every few heights, a wiped
validator restores the state from its peers' snapshots (not by replaying the chain), then follows
the chain with the same app hashes as the others and serves CheckTx on the restored state."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from client import SubaccountId, Transfer
from localnet.chaos import earliest_block
from localnet.commands import wipe_node_data
from localnet.statesync import snapshots_dir
from tests.harness import COMETBFT, wait_until
from tests.integration.conftest import running_net

pytestmark = pytest.mark.integration

SNAPSHOT_INTERVAL = 20
WIPED = 3


def test_a_wiped_validator_restores_by_state_sync_and_follows_with_the_same_app_hashes(tmp_path: Path) -> None:
    with running_net(tmp_path / "localnet", snapshot_interval=SNAPSHOT_INTERVAL) as net:
        net.wait_all(2 * SNAPSHOT_INTERVAL + 2)
        peers = [n for n in net.layout.nodes if n.index != WIPED]
        wait_until(lambda: all(any(snapshots_dir(n).glob("*/metadata")) for n in peers), 30, "every peer's snapshot")
        net.supervisor.hold(WIPED, signal.SIGTERM)
        stopped_at = net.height(0)
        wipe_node_data(net.layout, WIPED, COMETBFT)
        net.wait_all(stopped_at + 3, nodes=[0, 1, 2])  # past every height its reset signing state may have voted on
        net.supervisor.release(WIPED)
        network = net.height(0)
        net.wait_all(network, nodes=[WIPED], timeout_s=120)

        with net.client(WIPED) as client:
            first = earliest_block(client)
        assert first > SNAPSHOT_INTERVAL, "the node replayed the chain instead of restoring a snapshot"
        assert (first - 1) % SNAPSHOT_INTERVAL == 0
        # CheckTx on the restored node (its mempool worker's replica followed the restore), then a block.
        trader = net.traders[0]
        with net.client(WIPED) as client:
            result = client.broadcast(client.build(trader, [Transfer(0, SubaccountId(trader.address, 1), 1_000_000)]))
        assert result.height > network
        common = result.height + 2
        net.wait_all(common)
        for height in range(first - 1, common + 1):
            hashes = {net.app_hash(index, height) for index in range(4)}
            assert len(hashes) == 1, f"app hashes differ at height {height}: {hashes}"
        assert len({tuple(net.balances(index)) for index in range(4)}) == 1
