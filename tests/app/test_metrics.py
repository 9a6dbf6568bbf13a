"""The node's Prometheus metrics, as a scraper reads them from `perpchain node --metrics`."""

from __future__ import annotations

from typing import Iterator

import httpx
import pytest

from app.metrics import Metrics, serve_metrics
from tests.harness import scrape_metrics
from wire.pb import abci_pb


def _finalize(height: int, txs: int) -> abci_pb.Request:
    return abci_pb.Request(finalize_block=abci_pb.RequestFinalizeBlock(height=height, txs=[b"tx"] * txs))


def _check(code: int, codespace: str = "") -> tuple[abci_pb.Request, abci_pb.Response]:
    request = abci_pb.Request(check_tx=abci_pb.RequestCheckTx(tx=b"tx"))
    return request, abci_pb.Response(check_tx=abci_pb.ResponseCheckTx(code=code, codespace=codespace))


@pytest.fixture
def metrics() -> Iterator[tuple[Metrics, str]]:
    metrics = Metrics()
    server = serve_metrics(metrics, "127.0.0.1:0")
    yield metrics, f"http://127.0.0.1:{server.server_port}/metrics"
    server.shutdown()
    server.server_close()


def test_blocks_and_checks_are_served_under_the_documented_names(metrics: tuple[Metrics, str]) -> None:
    node, url = metrics
    node.observe(_finalize(6, 0), abci_pb.Response(finalize_block=abci_pb.ResponseFinalizeBlock()), 0.002)
    node.observe(_finalize(7, 3), abci_pb.Response(finalize_block=abci_pb.ResponseFinalizeBlock()), 0.02)
    node.observe(*_check(0), 0.0001)
    node.observe(*_check(100, "bank"), 0.0001)
    node.count_checks(5, {("bank", 100): 1, ("auth", 6): 2})  # a report of the mempool worker

    samples = scrape_metrics(url)
    assert samples["perpchain_height"] == 7
    assert samples["perpchain_txs_total"] == 3
    assert (samples['perpchain_block_txs_bucket{le="0.0"}'], samples['perpchain_block_txs_bucket{le="10.0"}'],
            samples['perpchain_block_txs_bucket{le="+Inf"}'], samples["perpchain_block_txs_sum"]) == (1, 2, 2, 3)
    assert (samples['perpchain_finalize_block_seconds_bucket{le="0.0025"}'],
            samples['perpchain_finalize_block_seconds_bucket{le="0.025"}'],
            samples["perpchain_finalize_block_seconds_count"]) == (1, 2, 2)
    assert samples["perpchain_checktx_total"] == 7
    assert samples['perpchain_checktx_rejections_total{code="100",codespace="bank"}'] == 2
    assert samples['perpchain_checktx_rejections_total{code="6",codespace="auth"}'] == 2
    text = httpx.get(url, timeout=5).text
    for name, kind in (("perpchain_height", "gauge"), ("perpchain_block_txs", "histogram"),
                       ("perpchain_txs_total", "counter"), ("perpchain_finalize_block_seconds", "histogram"),
                       ("perpchain_checktx_total", "counter"), ("perpchain_checktx_rejections_total", "counter")):
        assert f"# TYPE {name} {kind}" in text
    assert all(name.startswith("perpchain_") and "_created" not in name for name in samples)


def test_two_nodes_in_one_process_count_apart(metrics: tuple[Metrics, str]) -> None:
    node, url = metrics
    other = Metrics()
    other.observe(_finalize(9, 4), abci_pb.Response(finalize_block=abci_pb.ResponseFinalizeBlock()), 0.01)
    samples = scrape_metrics(url)
    assert (samples["perpchain_height"], samples["perpchain_txs_total"]) == (0, 0)
    assert other.registry.get_sample_value("perpchain_txs_total") == 4
