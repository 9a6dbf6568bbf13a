"""A validator's twin: a second node signing with the same consensus key, so that validator
double-signs on purpose (tests of evidence and slashing; docs/operators.md, A validator's twin).

The twin has its own CometBFT home (a new node key, its own ports, moniker node<i>-twin), the
validator's priv_validator_key.json and the localnet's genesis, a fresh priv_validator_state.json
and its own `perpchain node` over an empty data folder. It dials every validator but its original,
block-syncs the chain from them (its app replays every block), then votes at the same heights as
the validator. Each process keeps its own last-signed state, so neither refuses to sign: where
their votes differ (each proposes its own block, the last commit it holds differing at least in
the validator's own precommit; or one prevotes nil on a timeout the other did not take), the
honest validators hold two votes by one validator for one height, round and step. Their
consensus hands the pair to the evidence pool, which makes a DuplicateVoteEvidence that a later
proposer puts in its block: the app reads it as `misbehavior` in FinalizeBlock.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from genesis.home import NodePorts, init_home
from genesis.toml_patch import patch_toml
from localnet.create import configure_node, peer_address
from localnet.layout import PORTS_PER_NODE, Layout, NodeLayout
from localnet.ports import free_port_block


@dataclass(frozen=True)
class TwinLayout(NodeLayout):
    """Validator `index`'s twin: its folders and logs are named node<index>-twin."""

    @property
    def name(self) -> str:
        return f"node{self.index}-twin"


def create_twin(layout: Layout, index: int, cometbft: Path) -> TwinLayout:
    """A new twin of validator `index` on free loopback ports, ready to start; refuses a second one."""
    original = layout.nodes[index]
    twin = TwinLayout(index, layout.root, NodePorts.from_base(free_port_block(PORTS_PER_NODE)))
    if twin.home.exists():
        raise ValueError(f"{original.name} already has a twin at {twin.home.parent}")
    init_home(cometbft, twin.home)  # a new node key and a priv_validator_state.json that signed nothing
    for name in ("priv_validator_key.json", "genesis.json"):
        shutil.copy2(original.home / "config" / name, twin.home / "config" / name)
    twin.data.mkdir(parents=True)
    configure_node(layout, twin, [peer_address(cometbft, peer) for peer in layout.nodes if peer.index != index])
    # 0 (CometBFT's default, kept explicit): a node that first looks for its own key's signatures
    # in recent blocks would find the original's and refuse to start.
    config = twin.home / "config" / "config.toml"
    config.write_text(patch_toml(config.read_text(), {"consensus": {"double_sign_check_height": 0}}))
    return twin
