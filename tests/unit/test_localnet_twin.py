"""A validator's twin (localnet/twin.py): the validator's consensus key and genesis in a home of its
own, dialling the other validators, free to sign at once; and the duplicate-vote evidence it causes
read from /block (client/blocks.py). (Double-signing on a live localnet: tests/integration/test_double_sign.py.)"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from client.blocks import DuplicateVote, duplicate_votes
from genesis.home import node_id
from localnet.create import create_or_resume
from localnet.layout import PORTS_PER_NODE, LocalnetConfig
from localnet.twin import create_twin
from tests.harness import COMETBFT, free_port_block


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


def test_a_twin_signs_with_its_validator_s_key_from_a_home_and_ports_of_its_own(tmp_path: Path) -> None:
    layout, _ = create_or_resume(tmp_path / "ln", LocalnetConfig(validators=3, port_base=free_port_block(30)), COMETBFT)
    original = layout.nodes[1]
    twin = create_twin(layout, 1, COMETBFT)

    assert twin.name == "node1-twin" and twin.home.parent == layout.root / "node1-twin"
    for name in ("priv_validator_key.json", "genesis.json"):
        assert _json(twin.home / "config" / name) == _json(original.home / "config" / name)
    assert node_id(COMETBFT, twin.home) not in {node_id(COMETBFT, node.home) for node in layout.nodes}
    assert _json(twin.home / "data" / "priv_validator_state.json")["height"] == "0"
    assert not any(twin.data.iterdir())
    nodes_ports = {port for node in layout.nodes for port in range(node.ports.p2p, node.ports.p2p + PORTS_PER_NODE)}
    assert {twin.ports.p2p, twin.ports.rpc, twin.ports.abci}.isdisjoint(nodes_ports)

    config = tomllib.loads((twin.home / "config" / "config.toml").read_text())
    assert config["consensus"]["double_sign_check_height"] == 0
    assert config["proxy_app"] == twin.abci_address
    peers = config["p2p"]["persistent_peers"].split(",")
    assert sorted(peers) == sorted(f"{node_id(COMETBFT, node.home)}@127.0.0.1:{node.ports.p2p}"
                                   for node in layout.nodes if node.index != 1)


def test_a_validator_has_one_twin_at_most(tmp_path: Path) -> None:
    layout, _ = create_or_resume(tmp_path / "ln", LocalnetConfig(validators=2, port_base=free_port_block(20)), COMETBFT)
    create_twin(layout, 0, COMETBFT)
    with pytest.raises(ValueError, match="already has a twin"):
        create_twin(layout, 0, COMETBFT)


def _vote(block_hash: str) -> dict[str, object]:
    return {"type": 1, "height": "31", "round": 0, "block_id": {"hash": block_hash, "parts": {"total": 0, "hash": ""}},
            "timestamp": "2026-12-07T03:23:02.472918201Z", "validator_address": "8D07FA3CB5358082EAFE0E5AA263BDDB9BBBEC13",
            "validator_index": 2, "signature": "c2ln"}


def test_duplicate_votes_are_read_from_a_block_and_other_evidence_is_left_out() -> None:
    block = {"block": {"evidence": {"evidence": [
        {"type": "tendermint/LightClientAttackEvidence", "value": {}},
        {"type": "tendermint/DuplicateVoteEvidence",
         "value": {"vote_a": _vote("229AFA10"), "vote_b": _vote(""), "TotalVotingPower": "40", "ValidatorPower": "10",
                   "Timestamp": "2026-12-07T03:23:02.4Z"}},
    ]}}}
    assert duplicate_votes(block) == [DuplicateVote("0x8d07fa3cb5358082eafe0e5aa263bddb9bbbec13", 31, 0, 1,
                                                    ("229AFA10", ""), 10, 40)]
    assert duplicate_votes({"block": {"evidence": {"evidence": []}}}) == []
