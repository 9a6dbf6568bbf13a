"""Where a localnet keeps things: one folder (default .data/localnet), one sub-folder per node.

    localnet.json          the settings it was created with (validators, ports, block time)
    keys/faucet.json       the funded key printed by `up`
    keys/operator<i>.json  validator i's operator key (unjails it), encrypted; operator<i>.password beside it
                           (with a bridge: bridge/operator<i>.keystore.json, which also signs its claims)
    indexer/indexer.db     the indexer's history, served by the read API on `api_url`
    node<i>/cometbft       CometBFT home: config, keys, blocks
    node<i>/app-data       the app's LevelDB
    node<i>-twin/          the same two for validator i's twin, if a test started one (localnet/twin.py)
    logs/node<i>-app.log, logs/node<i>-cometbft.log, logs/supervisor.log
    supervisor.json        the running supervisor's pid and each process's pid and restarts
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from genesis.home import NodePorts

PORTS_PER_NODE = 10


@dataclass(frozen=True)
class LocalnetConfig:
    validators: int = 4
    block_time_ms: int = 200
    chain_id: str = "perpchain-localnet"
    port_base: int = 26600
    faucet_usdc: int = 1_000_000
    power_each: int = 10
    snapshot_interval: int = 0  # every node snapshots every this many heights; 0: none (localnet/statesync.py)
    # genesis staking params the chain starts with (docs/staking.md); each validator bonds power_each units
    staking_params: dict[str, int] = field(default_factory=dict)

    def validate(self) -> None:
        if not 1 <= self.validators <= 32:
            raise ValueError(f"--validators must be 1..32, got {self.validators}")
        if not 10 <= self.block_time_ms <= 60_000:
            raise ValueError(f"--block-time must be 10..60000 ms, got {self.block_time_ms}")
        if not 1024 <= self.port_base <= 65535 - PORTS_PER_NODE * self.validators:
            raise ValueError(f"--port-base {self.port_base} leaves no room for {self.validators} nodes")
        if self.snapshot_interval < 0:
            raise ValueError(f"--snapshot-interval must be >= 0, got {self.snapshot_interval}")


@dataclass(frozen=True)
class NodeLayout:
    index: int
    root: Path
    ports: NodePorts

    @property
    def name(self) -> str:
        return f"node{self.index}"

    @property
    def home(self) -> Path:
        return self.root / self.name / "cometbft"

    @property
    def data(self) -> Path:
        return self.root / self.name / "app-data"

    @property
    def app_log(self) -> Path:
        return self.root / "logs" / f"{self.name}-app.log"

    @property
    def cometbft_log(self) -> Path:
        return self.root / "logs" / f"{self.name}-cometbft.log"

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.rpc}"

    @property
    def abci_address(self) -> str:
        return f"tcp://127.0.0.1:{self.ports.abci}"

    @property
    def app_metrics_address(self) -> str:
        return f"127.0.0.1:{self.ports.app_metrics}"


@dataclass(frozen=True)
class Layout:
    root: Path
    config: LocalnetConfig

    @property
    def config_file(self) -> Path:
        return self.root / "localnet.json"

    @property
    def state_file(self) -> Path:
        return self.root / "supervisor.json"

    @property
    def faucet_key(self) -> Path:
        return self.root / "keys" / "faucet.json"

    def operator_key(self, index: int) -> tuple[Path, Path]:
        """(encrypted key file, password file) of validator `index`'s operator."""
        bridged = self.root / "bridge" / f"operator{index}.keystore.json"
        if bridged.exists():
            return bridged, self.root / "bridge" / f"operator{index}.password"
        return self.root / "keys" / f"operator{index}.json", self.root / "keys" / f"operator{index}.password"

    @property
    def supervisor_log(self) -> Path:
        return self.root / "logs" / "supervisor.log"

    @property
    def indexer_db_url(self) -> str:
        """The SQLite file `make run`'s indexer writes (docs/indexer.md); reset with the chain."""
        return f"sqlite:///{self.root / 'indexer' / 'indexer.db'}"

    @property
    def api_url(self) -> str:
        """Where `make run`'s read API serves the indexer's history: the first port after the nodes'."""
        return f"http://127.0.0.1:{self.config.port_base + PORTS_PER_NODE * self.config.validators}"

    @property
    def nodes(self) -> list[NodeLayout]:
        return [
            NodeLayout(i, self.root, NodePorts.from_base(self.config.port_base + PORTS_PER_NODE * i))
            for i in range(self.config.validators)
        ]

    def node(self, name: str) -> NodeLayout:
        for node in self.nodes:
            if name in (node.name, str(node.index)):
                return node
        raise ValueError(f"no node {name!r}; this localnet has {', '.join(n.name for n in self.nodes)}")

    def save_config(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(json.dumps(asdict(self.config), indent=2) + "\n")

    @classmethod
    def load(cls, root: Path) -> "Layout | None":
        path = root / "localnet.json"
        if not path.exists():
            return None
        return cls(root, LocalnetConfig(**json.loads(path.read_text())))
