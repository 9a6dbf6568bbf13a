"""`wipe` benchmark: how long a wiped validator takes to rejoin by state sync, at two heights, to
show it does not grow with the chain's height (goal <= 30 s at height >= 5,000).

A fresh 4-validator localnet with fast blocks (timeout_commit 10 ms), every node snapshotting
every 1/25 of the target height (200 heights for the default target, 5,000), runs to half the
target height and then to the target. At each, node3 is stopped, its app LevelDB and CometBFT data deleted (keys kept, as chaos's
wipe does), the others pass a few heights, and it is started again; the supervisor configures
state sync from two peers (localnet/statesync.py). Timed from that start:
  wipe_recovery_s  until the node is at the height the others had a moment before, with the
                   same app hash as node0 at every height it holds
Also reported: the snapshot height it restored (its first block - 1) and how many blocks it then
block-synced to catch up.
"""

from __future__ import annotations

import signal
import time
from typing import Any

from bench.common import COMETBFT, BenchmarkFailed
from client import Client, ClientError
from localnet.chaos import earliest_block
from localnet.commands import wipe_node_data
from localnet.fresh import fresh_localnet
from localnet.supervisor import Supervisor

VALIDATORS = 4
WIPED = 3
BLOCK_TIME_MS = 10
TARGET_HEIGHT = 5_000
SNAPSHOTS_PER_TARGET = 25
GOAL_S = 30
TIMEOUT_S = 600.0  # for the wiped node to rejoin
STALL_S = 60.0  # the run-up fails only when the chain stops making blocks this long


def _height(client: Client) -> int | None:
    try:
        return client.height()
    except ClientError:
        return None


def _wait_height(client: Client, height: int) -> None:
    """Until the node reaches `height`, however long that takes while blocks keep coming."""
    last, moved_at = 0, time.monotonic()
    while (now := _height(client) or 0) < height:
        if now > last:
            last, moved_at = now, time.monotonic()
        elif time.monotonic() - moved_at > STALL_S:
            raise BenchmarkFailed(f"no block for {STALL_S:.0f}s at height {last}, short of {height}")
        time.sleep(0.5)


def _wipe_and_rejoin(supervisor: Supervisor, clients: list[Client]) -> dict[str, Any]:
    """Wipe node WIPED, start it again, time it until it is back at the network's height."""
    reference, wiped = clients[0], clients[WIPED]
    supervisor.hold(WIPED, signal.SIGTERM)
    stopped_at = _height(reference) or 0
    wipe_node_data(supervisor.layout, WIPED, COMETBFT)
    _wait_height(reference, stopped_at + 3)  # past every height its reset signing state may have voted on
    supervisor.release(WIPED)
    started = time.monotonic()
    mine = 0
    while mine < (_height(reference) or 1):
        if time.monotonic() - started > TIMEOUT_S:
            raise BenchmarkFailed(f"node{WIPED} not back at the network's height in {TIMEOUT_S:.0f}s")
        time.sleep(0.1)
        mine = _height(wiped) or 0
    recovery_s = time.monotonic() - started
    first = earliest_block(wiped)
    if first <= 1:
        raise BenchmarkFailed(f"node{WIPED} replayed the chain instead of restoring a snapshot")
    for height in range(first - 1, mine + 1):
        if wiped.app_hash_at(height) != reference.app_hash_at(height):
            raise BenchmarkFailed(f"node{WIPED}'s app hash at height {height} differs from node0's")
    return {"wipe_recovery_s": round(recovery_s, 2), "wiped_at_height": stopped_at, "rejoined_at_height": mine,
            "restored_snapshot_height": first - 1, "blocks_synced_after": mine - (first - 1)}


def run(size: int = 0) -> dict[str, Any]:
    """`size`: the target height (default 5,000); the first wipe is at half of it."""
    target = size if size > 0 else TARGET_HEIGHT
    interval = max(50, target // SNAPSHOTS_PER_TARGET)
    rounds = []
    started = time.monotonic()
    with fresh_localnet(VALIDATORS, BLOCK_TIME_MS, prefix="perpchain-wipe-",
                        snapshot_interval=interval) as supervisor:
        clients = [Client(node.rpc_url, timeout_s=2.0) for node in supervisor.layout.nodes]
        try:
            for height in (target // 2, target):
                _wait_height(clients[0], height)
                rounds.append(_wipe_and_rejoin(supervisor, clients))
        finally:
            for client in clients:
                client.close()
    figures = [r["wipe_recovery_s"] for r in rounds]
    return {"bench": "wipe", "wipe_recovery_s": figures, "at_heights": [r["wiped_at_height"] for r in rounds],
            "goal_s": GOAL_S, "meets_goal": max(figures) <= GOAL_S, "rounds": rounds,
            "snapshot_interval": interval, "block_time_ms": BLOCK_TIME_MS,
            "elapsed_s": round(time.monotonic() - started, 1)}
