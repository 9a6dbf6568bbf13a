"""A double-sign on a bridged localnet reaches the vault: validator 0's twin (localnet/twin.py)
signs with its consensus key, the honest validators commit the evidence, the chain jails and
slashes validator 0, and the next anchor the relayers land on anvil lowers the vault's bond of
validator 0's bridge key, and the vault's total bonded, by exactly the chain's slash. The chain
keeps making blocks throughout, and the solvency check holds before and after."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

from web3 import Web3

from client.bridge import BridgeClient
from genesis.builder import consensus_pub_key, validator_address
from tests.bridge_chain.conftest import BridgedNet, running_bridged_net, wait_for
from tests.integration.test_double_sign import first_evidence, longest_block_gap_s

EVIDENCE_TIMEOUT_S = 180.0
ANCHOR_TIMEOUT_S = 90.0  # the next anchor height (every 20 blocks), its signatures, the relayer's turn
BLOCKS_AFTER = 20
LONGEST_GAP_S = 15.0


def holds(bridge: BridgeClient) -> bool:
    """The solvency check, asked again while a block lands between its two reads."""
    return bridge.solvency().holds


def test_a_double_sign_slashed_on_the_chain_lowers_the_bond_in_the_vault(tmp_path: Path) -> None:
    with running_bridged_net(tmp_path / "localnet") as net:
        run(net)


def run(net: BridgedNet) -> None:
    address = "0x" + validator_address(base64.b64decode(consensus_pub_key(net.layout.nodes[0].home))).lower()
    bridge = net.bridge(1)
    vault = bridge.vault.functions
    with net.client(1) as client:
        before: dict[str, Any] = client.query(f"/staking/validators/{address}")
        key = Web3.to_checksum_address(before["eth_address"])
        bond = int(before["bond_micro_usdc"])
        assert vault.bondOf(key).call() == bond, "the vault holds validator 0's genesis bond"
        total_bonded = vault.totalBonded().call()
        wait_for(lambda: holds(bridge), 30, "solvency before the double-sign")

        started_height = client.height()
        started = time.monotonic()
        net.supervisor.start_twin(0)
        evidence_height, _ = first_evidence(client, started_height + 1, EVIDENCE_TIMEOUT_S)
        print(f"\n[double-sign to vault] twin started at height {started_height}; evidence in block "
              f"{evidence_height}, {time.monotonic() - started:.1f}s later")

        def jailed() -> dict[str, Any]:
            validator: dict[str, Any] = client.query(f"/staking/validators/{address}")
            return validator if validator["jailed"] else {}

        wait_for(jailed, 30, f"{address} jailed")
        validator = jailed()
        slash = int(validator["slashed_micro_usdc"])
        assert validator["tombstoned"] is True and slash > 0
        assert int(validator["bond_micro_usdc"]) == bond - slash
        debits = client.query("/staking/validators")["bond_debits"]
        assert debits == [{"eth_address": before["eth_address"], "debited_micro_usdc": str(slash)}]
        slashed_at = client.height()

        wait_for(lambda: vault.debitedOf(key).call() == slash, ANCHOR_TIMEOUT_S, "the slash anchored in the vault")
        anchored_nonce = vault.anchorNonce().call()
        record = client.query(f"/anchor/records/{anchored_nonce}")
        print(f"[double-sign to vault] slashed {slash} micro-USDC by height {slashed_at}; anchor {anchored_nonce} "
              f"(height {record['record']['height']}) landed with it: bondOf {vault.bondOf(key).call()}, "
              f"totalBonded {vault.totalBonded().call()}")
        assert vault.bondOf(key).call() == bond - slash
        assert vault.totalBonded().call() == total_bonded - slash
        assert record["bond_debits"] == [{"signer": before["eth_address"], "debited_total_micro_usdc": str(slash)}]
        wait_for(lambda: holds(bridge), 30, "solvency after the anchor")

        target = client.height() + BLOCKS_AFTER
    net_heights_reach(net, target)
    with net.client(1) as client:
        gap_s = longest_block_gap_s(client, started_height, target)
    print(f"[double-sign to vault] blocks {started_height}..{target}: longest gap {gap_s:.2f}s")
    assert gap_s < LONGEST_GAP_S


def net_heights_reach(net: BridgedNet, height: int) -> None:
    """The three honest validators all reach `height`: the chain kept making blocks."""
    for index in (1, 2, 3):
        def reached(index: int = index) -> bool:
            with net.client(index) as client:
                return client.height() >= height
        wait_for(reached, 60, f"node{index} at height {height}")
