"""A CometBFT home for one validator with perpchain's app_state and trading-friendly settings.

Block timing (documented in docs/operators.md): CometBFT's defaults aim at one block a second or
slower; a trading venue on loopback wants blocks well under a second, so the commit timeout and
the propose/prevote/precommit timeouts are shortened.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genesis.builder import build_genesis, consensus_pub_key
from genesis.toml_patch import patch_toml


@dataclass(frozen=True)
class NodePorts:
    p2p: int
    rpc: int
    abci: int
    prometheus: int = 0  # CometBFT's own metrics; 0: off
    app_metrics: int = 0  # `perpchain node --metrics`; 0: off
    pprof: int = 0  # 0: off

    @classmethod
    def from_base(cls, base: int) -> "NodePorts":
        """base: p2p, +1 rpc, +2 abci, +3 CometBFT metrics, +4 app metrics."""
        return cls(p2p=base, rpc=base + 1, abci=base + 2, prometheus=base + 3, app_metrics=base + 4)


@dataclass(frozen=True)
class NodeNetwork:
    """Where a node listens and whom it dials. Loopback unless a real network says otherwise."""

    persistent_peers: tuple[str, ...] = ()  # "nodeid@host:port"
    p2p_host: str = "127.0.0.1"
    external_address: str = ""  # host:port other machines dial; empty on loopback


@dataclass(frozen=True)
class BlockTiming:
    timeout_commit_ms: int = 200
    timeout_propose_ms: int = 1000
    timeout_vote_ms: int = 200
    gossip_sleep_ms: int = 10  # CometBFT's 100 ms default adds a wait to every consensus step


def init_home(cometbft: Path, home: Path) -> None:
    """Keys, node id and a default config, through `cometbft init` itself (idempotent)."""
    subprocess.run(
        [str(cometbft), "init", "--home", str(home)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def write_genesis_for(home: Path, chain_id: str, app_state: dict[str, Any], genesis_time: str | None = None) -> None:
    """genesis.json for a one-validator network: this home's own key with power 10."""
    spec: dict[str, Any] = {
        "chain_id": chain_id,
        "vote_extensions_enable_height": 1,
        "validators": [{"name": "validator", "pub_key": consensus_pub_key(home), "power": 10}],
        "app_state": app_state,
    }
    if genesis_time is not None:
        spec["genesis_time"] = genesis_time
    (home / "config" / "genesis.json").write_text(json.dumps(build_genesis(spec), indent=2) + "\n")


def configure(
    home: Path,
    ports: NodePorts,
    timing: BlockTiming = BlockTiming(),
    moniker: str = "perpchain",
    network: NodeNetwork = NodeNetwork(),
) -> None:
    path = home / "config" / "config.toml"
    path.write_text(
        patch_toml(
            path.read_text(),
            {
                "": {
                    "moniker": moniker,
                    "proxy_app": f"tcp://127.0.0.1:{ports.abci}",
                    "log_level": "info",
                },
                "rpc": {
                    "laddr": f"tcp://127.0.0.1:{ports.rpc}",
                    "pprof_laddr": f"127.0.0.1:{ports.pprof}" if ports.pprof else "",
                    "max_body_bytes": 2_000_000,
                    "timeout_broadcast_tx_commit": "10s",
                },
                "p2p": {
                    "laddr": f"tcp://{network.p2p_host}:{ports.p2p}",
                    "external_address": network.external_address,
                    "persistent_peers": ",".join(network.persistent_peers),
                    "allow_duplicate_ip": True,
                    "addr_book_strict": network.p2p_host != "127.0.0.1",
                },
                "mempool": {"size": 50_000, "max_tx_bytes": 65_536},
                "consensus": {
                    "timeout_commit": f"{timing.timeout_commit_ms}ms",
                    "timeout_propose": f"{timing.timeout_propose_ms}ms",
                    "timeout_prevote": f"{timing.timeout_vote_ms}ms",
                    "timeout_precommit": f"{timing.timeout_vote_ms}ms",
                    "peer_gossip_sleep_duration": f"{timing.gossip_sleep_ms}ms",
                },
                "instrumentation": {
                    "prometheus": ports.prometheus != 0,
                    "prometheus_listen_addr": f"127.0.0.1:{ports.prometheus}" if ports.prometheus else ":26660",
                },
            },
        )
    )


def node_id(cometbft: Path, home: Path) -> str:
    result = subprocess.run(
        [str(cometbft), "show-node-id", "--home", str(home)], check=True, capture_output=True, text=True
    )
    return result.stdout.strip()
