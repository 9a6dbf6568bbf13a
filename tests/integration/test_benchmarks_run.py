"""Every benchmark still runs to its JSON line (small sizes; no timing is asserted, only what was measured)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.harness import ROOT, processes_mentioning

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("name", "size", "figure"), [("checktx", 600, "checktx_tx_per_s"),
                                                      ("engine", 2_000, "engine_ops_per_s"),
                                                      ("liquidation", 400, "shock_finalize_ms"),
                                                      ("triggers", 1_000, "trigger_check_ms"),
                                                      ("anchor", 5_000, "anchor_ms"),
                                                      ("state", 50_000, "commit_ms_per_10k_writes"),
                                                      ("indexer", 400, "ingest_orders_per_s")])
def test_benchmark_prints_its_figures(name: str, size: int, figure: str) -> None:
    result = subprocess.run([sys.executable, "-m", "perpchain.cli", "bench", name, "--size", str(size)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures[figure] > 0


def test_liquidation_benchmark_resolves_the_shock_with_one_or_two_deleveraging_trades_each() -> None:
    """2,000 subaccounts: the 528 longs the shock takes under maintenance are all liquidated in the
    shock block (within the default budgets), nobody is left under maintenance, and with no book and an empty fund
    each is deleveraged in one trade per counterparty (positions of 100 to 106 lots on both sides:
    at most two), not one per chunk."""
    result = subprocess.run([sys.executable, "-m", "perpchain.cli", "bench", "liquidation", "--size", "2000"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["left_under_maintenance"] == 0 and figures["shock_blocks_to_resolve"] == 1
    assert figures["liquidations"] == 528
    assert figures["liquidations"] <= figures["adl_trades"] <= 2 * figures["liquidations"]


def test_anchor_benchmark_anchors_every_funded_subaccount() -> None:
    result = subprocess.run([sys.executable, "-m", "perpchain.cli", "bench", "anchor", "--size", "4000"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert (figures["leaves"], figures["anchor_nonce"], figures["changed_addresses_per_interval"]) == (4000, 6, 3000)


def test_state_benchmark_proves_a_balance_in_a_tree_of_its_size() -> None:
    result = subprocess.run([sys.executable, "-m", "perpchain.cli", "bench", "state", "--size", "50000"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["keys"] == 50_000 and figures["writes_per_block"] == 10_000
    # 50,000 keys: the top three levels are full (16^3 = 4,096 nodes of about 12 keys each), 15
    # siblings of 32 bytes each; the paths go one to three levels further
    assert 4 <= figures["proof_levels"] <= 6 and figures["proof_bytes"] > 3 * 15 * 32
    assert figures["tree_update_ms_per_10k_writes"] < figures["commit_ms_per_10k_writes"]
    # and state sync's: a snapshot of 50,000 resting orders over 5,000 subaccounts, restored
    assert (figures["snapshot_resting_orders"], figures["snapshot_subaccounts"]) == (50_000, 5_000)
    assert figures["snapshot_chunks"] >= 1 and figures["restore_s"] > 0


def test_restart_benchmark_restarts_real_processes_holding_every_order() -> None:
    result = subprocess.run([sys.executable, "-m", "perpchain.cli", "bench", "restart", "--size", "20000"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["resting_orders"] == 20_000
    assert figures["best_bid_ask_levels"] == [5, 5]  # the book query answered from the rebuilt books
    assert figures["served_height"] > figures["stopped_at_height"] >= 3  # and the chain went on
    assert 0 < figures["app_ready_s"] <= figures["restart_s"] <= figures["first_block_s"]


def test_e2e_benchmark_loads_one_and_four_validators() -> None:
    command = [sys.executable, "-m", "perpchain.cli", "bench", "e2e", "--size", "3"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    # Nothing left: no localnet process (they run under perpchain-e2e-* folders) and no signing
    # worker (forked, so with the bench's own command line).
    assert processes_mentioning("perpchain-e2e-") == []
    assert processes_mentioning(" ".join(command[1:])) == []
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    one, four = figures["one_validator"], figures["four_validators_full"]
    assert (one["validators"], four["validators"]) == (1, 4)
    assert one["offered_rate_txs_per_s"] > four["offered_rate_txs_per_s"] > 0
    for run in (one, four):
        assert run["finalized_txs"] > 0 and run["orders_per_s"] > 0
        assert set(run["checktx_rejections_by_code"]) <= {"300"}  # only the bad txs, off tick
        assert run["block_rejections_by_code"] == {}
    assert figures["orders_per_s"] == one["orders_per_s"] and figures["four_validators"]["orders_per_s"] == four[
        "orders_per_s"]


def test_wipe_benchmark_rejoins_a_wiped_validator_by_state_sync_twice() -> None:
    result = subprocess.run([sys.executable, "-m", "perpchain.cli", "bench", "wipe", "--size", "100"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(figures["wipe_recovery_s"]) == 2 and all(s > 0 for s in figures["wipe_recovery_s"])
    for round_ in figures["rounds"]:  # restored from a snapshot, not replayed from genesis
        assert round_["restored_snapshot_height"] > 0
        assert round_["restored_snapshot_height"] % figures["snapshot_interval"] == 0
