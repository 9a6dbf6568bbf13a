"""State sync on a localnet: a node that holds no chain (new, or wiped) starts from a peer's
snapshot instead of replaying every block, when the localnet takes snapshots (`perpchain
localnet up --state-sync`) and two of its peers are up and hold one.

Before the supervisor starts such a node's cometbft, its config.toml's [statesync] gets what a
real network's operator puts there by hand (docs/operators.md, State sync):
  enable          true
  rpc_servers     two peers' RPC, the light client's primary and witness
  trust_height,   a height and its block hash, read from a live peer's /commit: the root of
  trust_hash      the light client's trust (on a real network, from a source the operator trusts)
  discovery_time  5 s, CometBFT's minimum: on loopback every peer answers at once
A node that holds a chain, or whose peers hold no snapshot, gets enable = false: it block-syncs.
Peers that hold snapshots but do not answer yet (the whole localnet starting) are waited for, up
to PEER_WAIT_S after the node's app started.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from client import Client, ClientError
from genesis.toml_patch import TomlValue, patch_toml
from localnet.layout import Layout, NodeLayout

log = logging.getLogger("perpchain.localnet")

SNAPSHOT_KEEP = 3  # a snapshot outlives a restore at fast blocks (3 x the interval)
PEER_WAIT_S = 60.0
DISCOVERY_TIME = "5s"
TRUST_PERIOD = "168h0m0s"  # CometBFT's default: a week


def snapshots_dir(node: NodeLayout) -> Path:
    """Where `perpchain node` keeps its snapshots (app/node.py)."""
    return node.data / "snapshots"


def holds_chain(node: NodeLayout) -> bool:
    """Whether the node's cometbft has blocks (a wiped or new node has none)."""
    return (node.home / "data" / "blockstore.db").exists()


def holds_snapshot(node: NodeLayout) -> bool:
    directory = snapshots_dir(node)
    return directory.is_dir() and any((d / "metadata").exists() for d in directory.iterdir())


def trust_point(client: Client) -> tuple[int, str]:
    """The latest height a node has committed and its block hash, from its /commit."""
    commit: dict[str, Any] = client.rpc.call("commit")["signed_header"]
    return int(commit["header"]["height"]), str(commit["commit"]["block_id"]["hash"])


class PeersNotReady(Exception):
    """Peers hold snapshots, but fewer than two answer yet."""


def settings_for(layout: Layout, node: NodeLayout) -> dict[str, TomlValue] | None:
    """[statesync] for `node`: from two live peers holding snapshots when the localnet takes them
    and the node holds no chain; None (block sync) otherwise. PeersNotReady: ask again later."""
    if not layout.config.snapshot_interval or holds_chain(node):
        return None
    holders = [peer for peer in layout.nodes if peer.index != node.index and holds_snapshot(peer)]
    if not holders:
        return None
    servers: list[str] = []
    trust: tuple[int, str] | None = None
    for peer in holders:
        try:
            with Client(peer.rpc_url, timeout_s=1.0) as client:
                point = trust_point(client)
        except (ClientError, KeyError, ValueError):
            continue
        servers.append(peer.rpc_url)
        trust = trust or point
        if len(servers) == 2:
            break
    if trust is None or len(servers) < 2:
        raise PeersNotReady(f"{len(servers)} of the peers holding snapshots answer")
    return {"enable": True, "rpc_servers": ",".join(servers), "trust_height": trust[0], "trust_hash": trust[1],
            "trust_period": TRUST_PERIOD, "discovery_time": DISCOVERY_TIME}


def configure(node: NodeLayout, settings: dict[str, TomlValue] | None) -> None:
    """Write `settings_for`'s answer into the node's config.toml (None: state sync off)."""
    path = node.home / "config" / "config.toml"
    path.write_text(patch_toml(path.read_text(), {"statesync": settings or {"enable": False}}))
    if settings is not None:
        log.info("%s holds no chain: state sync from %s, trusting height %s", node.name, settings["rpc_servers"],
                 settings["trust_height"])
