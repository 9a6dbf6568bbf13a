"""The load generator drives a real chain, stops by itself and reports what it measured."""

from __future__ import annotations

import pytest

from localnet.load import LoadConfig, LoadGenerator
from tests.harness import LocalChain

pytestmark = pytest.mark.integration


def test_the_load_generator_measures_a_bounded_run(chain: LocalChain) -> None:
    faucet = chain.keys[0]
    config = LoadConfig(nodes=[chain.rpc_url], faucet=faucet, accounts=4, rate=50, duration_s=30, count=60,
                        fund_usdc=200, levels=3)
    summary = LoadGenerator(config).run()
    assert summary["sent_txs"] == 60
    assert 0 < summary["included_txs"] <= 60
    assert summary["orders_per_s"] > 0 and summary["p50_ms"] > 0
    assert summary["p50_ms"] <= summary["p99_ms"] <= summary["max_ms"]
    assert sum(summary["rejections_by_code"].values()) + summary["included_txs"] <= 60
