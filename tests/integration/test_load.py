"""`perpchain load` drives a real chain (real cometbft, LevelDB, loopback), stops by itself, leaves
no process behind and reports figures that agree with each other and with its per-tx CSV."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest

from client import save_key
from localnet.load import BAD, QUOTE, TxPlan
from tests.harness import ROOT, LocalChain, processes_mentioning

pytestmark = pytest.mark.integration

SEED = 11
BAD_PPM = 100_000  # 10%, so a short run has a few
LEVELS = 3


@pytest.fixture
def funded_chain(tmp_path: Path) -> Iterator[LocalChain]:
    chain = LocalChain.create(tmp_path / "chain", accounts=1, usdc_each=100_000)
    try:
        chain.start()
        save_key(chain.keys[0], tmp_path / "faucet.json")
        yield chain
    finally:
        chain.stop()


def _load(chain: LocalChain, tmp_path: Path, *options: str) -> tuple[dict[str, Any], list[dict[str, str]], str]:
    """Run `perpchain load` as its own process; its JSON summary, its CSV rows and its stderr."""
    out = tmp_path / "load.csv"
    result = subprocess.run(
        [sys.executable, "-m", "perpchain.cli", "load", "--node", chain.rpc_url, "--faucet-key",
         str(tmp_path / "faucet.json"), "--accounts", "4", "--fund-usdc", "5000", "--levels", str(LEVELS),
         "--seed", str(SEED), "--bad-ppm", str(BAD_PPM), "--duration", "60", "--csv", str(out), *options],
        cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out, newline="") as rows:
        return json.loads(result.stdout.strip().splitlines()[-1]), list(csv.DictReader(rows)), result.stderr


def _assert_nothing_left(chain: LocalChain, tmp_path: Path) -> None:
    chain.stop()
    assert processes_mentioning(str(tmp_path)) == []


def test_open_loop_load_reports_what_each_tx_met(funded_chain: LocalChain, tmp_path: Path) -> None:
    count = 120
    summary, rows, progress = _load(funded_chain, tmp_path, "--rate", "60", "--count", str(count), "--batch", "5")
    kinds = TxPlan(SEED, BAD_PPM).kinds(count)
    bad = kinds.count(BAD)
    orders = sum(2 * LEVELS if k == QUOTE else 1 for k in kinds if k != BAD)
    assert bad > 0

    # Every bad tx (off tick) is refused at CheckTx with PriceOffTick; every other one lands with code 0.
    assert (summary["mode"], summary["sent_txs"], summary["batch_txs"]) == ("open", count, 5)
    assert (summary["offered_txs"], summary["unsent_txs"]) == (count, 0)
    assert summary["checktx_rejections_by_code"] == {"300": bad}
    assert summary["checktx_accepted_txs"] == count - bad
    assert summary["block_rejections_by_code"] == {}
    assert (summary["included_txs"], summary["finalized_txs"], summary["lost_txs"]) == (count - bad, count - bad, 0)
    assert summary["rpc_errors"] == {}
    assert summary["blocks_results_read"] == 0  # every block's code 0 shown by the next header's results hash
    assert summary["finalized_orders"] == orders
    assert summary["orders_per_s"] == pytest.approx(orders / summary["window_s"], rel=0.01)
    assert summary["txs_per_s"] == pytest.approx((count - bad) / summary["window_s"], rel=0.01)
    assert 0 < summary["p50_ms"] <= summary["p90_ms"] <= summary["p99_ms"] <= summary["max_ms"]
    assert 0 < summary["checktx_p50_ms"] <= summary["checktx_p90_ms"] <= summary["checktx_p99_ms"] \
        <= summary["checktx_max_ms"]
    assert summary["checktx_p50_ms"] < summary["p50_ms"]
    assert summary["blocks"] >= 2 and summary["block_interval_ms"] > 0
    assert 0 < summary["txs_per_block_median"] <= summary["txs_per_block_max"]
    assert 0 < summary["block_fullness_percent_max"] < 100
    assert "[load]" in progress and "in blocks" in progress

    # The CSV: one row per tx, in send order, with the code each met.
    assert [r["kind"] for r in rows] == kinds
    assert [int(r["sequence"]) for r in rows] == list(range(count))
    for row in rows:
        if row["kind"] == BAD:
            assert (row["checktx_code"], row["block_code"], row["in_block_ms"], row["height"]) == ("300", "", "", "")
        else:
            assert (row["checktx_code"], row["block_code"]) == ("0", "0")
            assert float(row["in_block_ms"]) > 0 and int(row["height"]) > 0
        assert float(row["checktx_ms"]) > 0
    in_block_ms = sorted(float(r["in_block_ms"]) for r in rows if r["in_block_ms"])
    assert in_block_ms[-1] == pytest.approx(summary["max_ms"], abs=0.1)
    submits = [float(r["submit_s"]) for r in rows]
    assert submits == sorted(submits) and submits[-1] == pytest.approx((count - 1) / 60, abs=1.0)  # open loop: on time

    _assert_nothing_left(funded_chain, tmp_path)


def test_closed_loop_keeps_at_most_its_concurrency_in_flight(funded_chain: LocalChain, tmp_path: Path) -> None:
    count, concurrency = 30, 3
    summary, rows, _ = _load(funded_chain, tmp_path, "--concurrency", str(concurrency), "--count", str(count),
                             "--read-results")
    bad = TxPlan(SEED, BAD_PPM).kinds(count).count(BAD)
    assert (summary["mode"], summary["concurrency"], summary["sent_txs"]) == ("closed", concurrency, count)
    assert summary["finalized_txs"] == count - bad and summary["checktx_rejections_by_code"] == (
        {"300": bad} if bad else {})
    assert summary["block_rejections_by_code"] == {}  # here from every block's results, read
    assert summary["blocks_results_read"] == len({r["height"] for r in rows if r["height"]})

    # A sender waits for its tx's block: never more than `concurrency` txs of the run in one block,
    # and never more than that many between submit and block (or CheckTx refusal) at any moment.
    per_block = Counter(r["height"] for r in rows if r["height"])
    assert max(per_block.values()) <= concurrency
    assert len(per_block) >= (count - bad) / concurrency
    spans = [(float(r["submit_s"]), float(r["submit_s"]) + float(r["in_block_ms"] or r["checktx_ms"]) / 1000 - 0.001)
             for r in rows]
    in_flight = max(sum(1 for start, end in spans if start <= moment < end) for moment, _ in spans)
    assert in_flight <= concurrency

    _assert_nothing_left(funded_chain, tmp_path)
