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

from genesis.toml_patch import patch_toml

APP_VERSION = 1  # must equal what the app reports in Info


@dataclass(frozen=True)
class NodePorts:
    p2p: int
    rpc: int
    abci: int
    pprof: int = 0  # 0: off

    @classmethod
    def from_base(cls, base: int) -> "NodePorts":
        return cls(p2p=base, rpc=base + 1, abci=base + 2)


@dataclass(frozen=True)
class BlockTiming:
    timeout_commit_ms: int = 200
    timeout_propose_ms: int = 1000
    timeout_vote_ms: int = 200


def init_home(cometbft: Path, home: Path) -> None:
    """Keys, node id and a default config, through `cometbft init` itself (idempotent)."""
    subprocess.run(
        [str(cometbft), "init", "--home", str(home)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def write_genesis(home: Path, chain_id: str, app_state: dict[str, Any], genesis_time: str | None = None) -> None:
    path = home / "config" / "genesis.json"
    doc = json.loads(path.read_text())
    doc["chain_id"] = chain_id
    doc["app_state"] = app_state
    doc["consensus_params"]["version"]["app"] = str(APP_VERSION)
    if genesis_time is not None:
        doc["genesis_time"] = genesis_time
    path.write_text(json.dumps(doc, indent=2) + "\n")


def configure(home: Path, ports: NodePorts, timing: BlockTiming = BlockTiming(), moniker: str = "perpchain") -> None:
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
                    "laddr": f"tcp://127.0.0.1:{ports.p2p}",
                    "allow_duplicate_ip": True,
                    "addr_book_strict": False,
                },
                "mempool": {"size": 50_000, "max_tx_bytes": 65_536},
                "consensus": {
                    "timeout_commit": f"{timing.timeout_commit_ms}ms",
                    "timeout_propose": f"{timing.timeout_propose_ms}ms",
                    "timeout_prevote": f"{timing.timeout_vote_ms}ms",
                    "timeout_precommit": f"{timing.timeout_vote_ms}ms",
                },
                "instrumentation": {"prometheus": False},
            },
        )
    )


def node_id(cometbft: Path, home: Path) -> str:
    result = subprocess.run(
        [str(cometbft), "show-node-id", "--home", str(home)], check=True, capture_output=True, text=True
    )
    return result.stdout.strip()
