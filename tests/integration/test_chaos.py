"""`perpchain chaos`: its checker on made-up node records (it does see a divergence or a lost tx),
then a short run on a fresh 4-validator localnet: every kind of perturbation happens (a wipe
restores by state sync once the nodes hold a snapshot), the chain recovers from each, the four
nodes agree at every height, no tx is lost, nothing is left running."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from localnet.chaos import KINDS, NodeRecord, Perturbation, divergent_heights, header_times_s, missing_txs
from tests.harness import ROOT, processes_mentioning


def _agreeing_nodes(heights: int = 3) -> list[NodeRecord]:
    """Four nodes' records that agree everywhere: tx T<h> in block h, indexed with code 0."""
    records = []
    for _ in range(4):
        record = NodeRecord()
        for height in range(1, heights + 1):
            record.block_hashes[height] = f"B{height}"
            record.app_hashes[height] = f"A{height}"
            record.header_app_hashes[height] = f"A{height - 1}"
            record.txs[height] = {f"T{height}"}
            record.indexed[f"T{height}"] = (height, 0)
            record.header_times_s[height] = float(height)
        records.append(record)
    return records


def test_checker_counts_a_height_where_one_node_has_another_block_or_app_hash() -> None:
    records = _agreeing_nodes()
    assert divergent_heights(records, {1: "B1", 2: "B2"}, 3) == []
    records[2].block_hashes[2] = "other"
    records[1].app_hashes[3] = "other"
    assert divergent_heights(records, {}, 3) == [2, 3]
    assert divergent_heights(_agreeing_nodes(), {1: "live view differs"}, 3) == [1]


def test_checker_counts_a_tx_missing_from_one_block_and_allows_only_index_gaps_a_stop_explains() -> None:
    included = {"T1": (1, 0), "T2": (2, 0), "T3": (3, 0)}
    records = _agreeing_nodes()
    assert missing_txs(records, included, [])["lost_txs"] == 0
    records[3].txs[1] = set()
    assert missing_txs(records, included, [])["missing_from_blocks"] == 1

    records = _agreeing_nodes()
    del records[1].indexed["T3"]  # node1 did not index block 3
    unexplained = missing_txs(records, included, [])
    assert unexplained["lost_txs"] == 1 and unexplained["tx_index_gaps"]["at_node_height"] == [[1, 3]]
    killed_there = [Perturbation(1, "kill", 1, 0.0, start_height=2)]
    assert missing_txs(records, included, killed_there)["lost_txs"] == 0
    assert missing_txs(records, included, [Perturbation(1, "pause", 1, 0.0, start_height=3)])["lost_txs"] == 1
    assert missing_txs(records, included, [Perturbation(1, "kill", 0, 0.0, start_height=3)])["lost_txs"] == 1
    records[2].indexed["T2"] = (2, 7)  # indexed with another result code: never explained
    assert missing_txs(records, included, killed_there)["lost_txs"] == 1


def test_checker_compares_a_node_restored_by_state_sync_from_its_first_block() -> None:
    records = _agreeing_nodes()
    restored = records[3]
    restored.first = 3  # its snapshot was of height 2: blocks 1 and 2 are not on it
    for height in (1, 2):
        del restored.block_hashes[height], restored.app_hashes[height], restored.header_app_hashes[height]
        del restored.txs[height], restored.indexed[f"T{height}"]
    included = {f"T{height}": (height, 0) for height in (1, 2, 3)}
    assert divergent_heights(records, {}, 3) == []
    assert missing_txs(records, included, [])["lost_txs"] == 0
    restored.app_hashes[3] = "A3 elsewhere"
    assert divergent_heights(records, {}, 3) == [3]
    del restored.indexed["T3"]
    assert missing_txs(records, included, [])["lost_txs"] == 1


def test_block_times_come_from_every_node_when_the_first_one_was_restored_by_state_sync() -> None:
    records = _agreeing_nodes()
    restored = records[0]
    restored.first = 3
    del restored.header_times_s[1], restored.header_times_s[2]
    assert header_times_s(records) == {1: 1.0, 2: 2.0, 3: 3.0}


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_chaos_under_load_every_perturbation_recovers_and_nothing_diverges_or_is_lost(tmp_path: Path) -> None:
    root = tmp_path / "localnet"
    run = subprocess.run(
        [sys.executable, "-m", "perpchain.cli", "chaos", "--duration", "75", "--seed", "5", "--root", str(root)],
        cwd=ROOT, capture_output=True, text=True, timeout=540,
    )
    lines = run.stdout.strip().splitlines()
    assert run.returncode == 0 and lines, f"exit {run.returncode}:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    summary = json.loads(lines[-1])

    # Every kind ran (the first round goes through all four), each one on a single node, and each
    # node got back to the network's height.
    assert all(summary["perturbations"][kind] >= 1 for kind in KINDS), run.stdout
    assert summary["unrecovered"] == 0
    per_perturbation = [line for line in lines if line.startswith("[chaos]") and " #" in line]
    assert len(per_perturbation) == summary["perturbations_total"]
    assert all("NOT back" not in line for line in per_perturbation)
    assert all(summary["recovery_s"][kind]["max"] > 0 for kind in KINDS)  # a recovery time for each kind

    # Agreement at every height from 1 to the checked height, and the load really ran through it.
    assert summary["divergences"] == 0 and summary["divergent_heights"] == []
    heights = summary["heights"]
    assert summary["blocks_checked"] == heights["checked_up_to"] > heights["load_start"] + 20
    assert min(heights["final"]) >= heights["checked_up_to"]

    # Nothing lost: every tx seen in a block is in that block on all four nodes and in their tx
    # indexes (a node's index may miss the block it was indexing when it was killed or stopped,
    # CometBFT's asynchronous indexer; only such gaps are allowed), and each recipient's balance on
    # all four is the sum of the transfers credited to it.
    txs = summary["txs"]
    assert txs["in_blocks"] >= 300
    assert txs["in_blocks"] <= txs["sent"]
    assert summary["lost_txs"] == 0
    assert summary["missing_from_blocks"] == 0 and summary["tx_index_gaps"]["unexplained_txs"] == 0
    assert summary["balance_mismatches"] == 0
    assert summary["transfers_credited"] >= 100 and summary["credited_micro_usdc"] > 0
    assert summary["ok"] is True

    leftovers = processes_mentioning(str(root))
    assert leftovers == [], f"processes left behind: {leftovers}"
