"""Create a localnet once: a CometBFT home per validator, one genesis through genesis/, peers."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from client.keys import load_key, save_encrypted_key, save_key
from genesis.builder import build_genesis, consensus_pub_key
from genesis.home import BlockTiming, NodeNetwork, configure, init_home, node_id
from genesis.markets import LOCALNET_MARKETS
from localnet.layout import Layout, LocalnetConfig, NodeLayout
from modules.staking.params import StakingParams
from wire.crypto import PrivateKey, address_to_hex


def create_or_resume(root: Path, config: LocalnetConfig, cometbft: Path, bridge: bool = False) -> tuple[Layout, bool]:
    """The localnet at `root`: created with `config` if new, else the stored one. True if created.
    `bridge`: also an Ethereum side (anvil, vault, one relayer per validator; bridge/localnet.py)."""
    existing = Layout.load(root)
    if existing is not None:
        return existing, False
    config.validate()
    layout = Layout(root, config)
    for node in layout.nodes:
        init_home(cometbft, node.home)
        node.data.mkdir(parents=True, exist_ok=True)
    (root / "logs").mkdir(parents=True, exist_ok=True)
    if not layout.faucet_key.exists():
        save_key(PrivateKey.generate(), layout.faucet_key)
    faucet = address_to_hex(load_key(layout.faucet_key).address)

    app_state: dict[str, Any] = {
        "bank": {"balances": [
            {"address": faucet, "subaccount": 0, "amount_micro_usdc": str(config.faucet_usdc * 1_000_000)}
        ]},
        "markets": {"markets": LOCALNET_MARKETS},
    }
    bond = config.power_each * StakingParams(**config.staking_params).power_unit_micro_usdc
    if bridge:  # the vault backs the genesis balances and holds the genesis bonds: minted into it at deployment
        from bridge.localnet import anchor_section
        from bridge.localnet import create as create_bridge
        from genesis.builder import validator_address

        app_state["bridge"] = create_bridge(
            root, [node.rpc_url for node in layout.nodes],
            [validator_address(base64.b64decode(consensus_pub_key(node.home))) for node in layout.nodes],
            [config.power_each] * len(layout.nodes), [bond] * len(layout.nodes), load_key(layout.faucet_key).address,
            config.faucet_usdc, config.faucet_usdc * 1_000_000)
        app_state["anchor"] = anchor_section()
    operators = ([v["operator"] for v in app_state["bridge"]["validators"]] if bridge
                 else [_operator_key(layout, node.index) for node in layout.nodes])
    app_state["staking"] = {"params": config.staking_params}
    genesis = build_genesis({
        "chain_id": config.chain_id,
        "vote_extensions_enable_height": 1,  # oracle prices from height 2 on
        "validators": [  # bonded: each validator's bond buys power_each units
            {"name": node.name, "pub_key": consensus_pub_key(node.home), "operator": operator,
             "bond_micro_usdc": str(bond)}
            for node, operator in zip(layout.nodes, operators, strict=True)
        ],
        "app_state": app_state,
    })
    peers = {node.index: peer_address(cometbft, node) for node in layout.nodes}
    for node in layout.nodes:
        (node.home / "config" / "genesis.json").write_text(json.dumps(genesis, indent=2) + "\n")
        configure_node(layout, node, [address for index, address in peers.items() if index != node.index])
    layout.save_config()  # last: a half-created localnet is re-created, not resumed
    return layout, True


def _operator_key(layout: Layout, index: int) -> str:
    """A new operator key for validator `index` (a localnet without a bridge), encrypted under a
    random password written beside it; its address."""
    from bridge.localnet import LOCALNET_SCRYPT_N, password_file

    key_path, password_path = layout.operator_key(index)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    operator = PrivateKey.generate()
    save_encrypted_key(operator, key_path, password_file(password_path), overwrite=True, scrypt_n=LOCALNET_SCRYPT_N)
    return address_to_hex(operator.address)


def peer_address(cometbft: Path, node: NodeLayout) -> str:
    """How other nodes dial `node`: its node id @ its p2p port."""
    return f"{node_id(cometbft, node.home)}@127.0.0.1:{node.ports.p2p}"


def configure_node(layout: Layout, node: NodeLayout, persistent_peers: list[str]) -> None:
    """`node`'s config.toml: its ports, the localnet's block time, whom it dials."""
    configure(node.home, node.ports, BlockTiming(timeout_commit_ms=layout.config.block_time_ms), moniker=node.name,
              network=NodeNetwork(persistent_peers=tuple(persistent_peers)))
