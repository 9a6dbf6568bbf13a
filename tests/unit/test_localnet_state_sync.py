"""Which localnet node the supervisor sets up for state sync (localnet/statesync.py): only a node
with no chain, on a localnet that takes snapshots, whose peers hold one; peers that hold snapshots
but do not answer yet are waited for. (With live peers: tests/integration/test_state_sync.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from genesis.home import NodePorts
from localnet.layout import Layout, LocalnetConfig, NodeLayout
from localnet.statesync import PeersNotReady, configure, settings_for, snapshots_dir

CONFIG_TOML = """[statesync]
enable = true
rpc_servers = "a,b"
trust_height = 5
"""


def _layout(root: Path, snapshot_interval: int) -> Layout:
    # Ports nobody listens on: a peer's RPC never answers.
    return Layout(root, LocalnetConfig(validators=3, port_base=1030, snapshot_interval=snapshot_interval))


def _with_snapshot(node: NodeLayout) -> None:
    (snapshots_dir(node) / "40").mkdir(parents=True)
    (snapshots_dir(node) / "40" / "metadata").write_bytes(b"\x01")


def test_a_localnet_without_snapshots_never_state_syncs(tmp_path: Path) -> None:
    layout = _layout(tmp_path, 0)
    _with_snapshot(layout.nodes[1])
    assert settings_for(layout, layout.nodes[0]) is None


def test_a_node_holding_a_chain_block_syncs(tmp_path: Path) -> None:
    layout = _layout(tmp_path, 10)
    _with_snapshot(layout.nodes[1])
    (layout.nodes[0].home / "data" / "blockstore.db").mkdir(parents=True)
    assert settings_for(layout, layout.nodes[0]) is None


def test_a_node_whose_peers_hold_no_snapshot_block_syncs(tmp_path: Path) -> None:
    layout = _layout(tmp_path, 10)
    (snapshots_dir(layout.nodes[1]) / "40").mkdir(parents=True)  # cut short: no metadata
    assert settings_for(layout, layout.nodes[0]) is None


def test_peers_holding_snapshots_that_do_not_answer_are_waited_for(tmp_path: Path) -> None:
    layout = _layout(tmp_path, 10)
    _with_snapshot(layout.nodes[1])
    _with_snapshot(layout.nodes[2])
    with pytest.raises(PeersNotReady):
        settings_for(layout, layout.nodes[0])


def test_no_settings_turn_state_sync_off_in_config_toml(tmp_path: Path) -> None:
    node = NodeLayout(0, tmp_path, NodePorts.from_base(1030))
    config = node.home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(CONFIG_TOML)
    configure(node, None)
    assert "enable = false" in config.read_text()
    configure(node, {"enable": True, "rpc_servers": "http://127.0.0.1:1041,http://127.0.0.1:1051", "trust_height": 12})
    assert "enable = true" in config.read_text() and "trust_height = 12" in config.read_text()
