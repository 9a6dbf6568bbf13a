"""Every benchmark still runs to its JSON line (small sizes; the figures are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.harness import ROOT

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("name", "size", "figure"), [("checktx", 600, "checktx_tx_per_s"),
                                                      ("engine", 2_000, "engine_ops_per_s"),
                                                      ("liquidation", 400, "shock_finalize_ms"),
                                                      ("triggers", 1_000, "trigger_check_ms"),
                                                      ("anchor", 5_000, "anchor_ms")])
def test_benchmark_prints_its_figures(name: str, size: int, figure: str) -> None:
    result = subprocess.run([sys.executable, "-m", "perpchain.cli", "bench", name, "--size", str(size)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures[figure] > 0


def test_anchor_benchmark_anchors_every_funded_subaccount() -> None:
    result = subprocess.run([sys.executable, "-m", "perpchain.cli", "bench", "anchor", "--size", "4000"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert (figures["leaves"], figures["anchor_nonce"], figures["changed_addresses_per_interval"]) == (4000, 6, 3000)
