"""Prometheus metrics of the app, served on `perpchain node --metrics HOST:PORT` (docs/operators.md).

Observed at the socket server from each request and its response, so no state code reads a
clock. Each Metrics holds its own registry, not prometheus_client's process-wide one, so several
nodes in one process (tests) count apart. CometBFT serves its own metrics beside these
(instrumentation.prometheus in config.toml).
"""

from __future__ import annotations

import logging
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, start_http_server

from wire.pb import abci_pb

log = logging.getLogger("perpchain.metrics")

FINALIZE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
TXS_BUCKETS = (0, 1, 10, 100, 1000, 10000)

# No `<name>_created` series (a wall-clock timestamp beside each counter and histogram): the
# documented metrics are all there is. The switch is prometheus_client's, for the whole process.
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves this one unannotated


class Metrics:
    """The node's metrics, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.height = Gauge("perpchain_height", "Height of the last FinalizeBlock.", registry=self.registry)
        self.block_txs = Histogram("perpchain_block_txs", "Transactions per block.", buckets=TXS_BUCKETS,
                                   registry=self.registry)
        self.txs = Counter("perpchain_txs_total", "Transactions executed in blocks.", registry=self.registry)
        self.finalize_seconds = Histogram("perpchain_finalize_block_seconds", "Time the app spent in FinalizeBlock.",
                                          buckets=FINALIZE_BUCKETS_S, registry=self.registry)
        self.checktx = Counter("perpchain_checktx_total", "CheckTx requests answered.", registry=self.registry)
        self.checktx_rejections = Counter("perpchain_checktx_rejections_total",
                                          "Transactions refused at CheckTx, by ABCI code.", ["codespace", "code"],
                                          registry=self.registry)

    def observe(self, request: abci_pb.Request, response: abci_pb.Response | bytes, seconds: float) -> None:
        """One answered request (the response, or its bytes) and the time the app took for it."""
        kind = request.WhichOneof("value")
        if kind == "finalize_block":
            txs = len(request.finalize_block.txs)
            self.height.set(request.finalize_block.height)
            self.txs.inc(txs)
            self.block_txs.observe(txs)
            self.finalize_seconds.observe(seconds)
        elif kind == "check_tx" and isinstance(response, abci_pb.Response) and response.WhichOneof("value") == "check_tx":
            code = response.check_tx.code
            self.count_checks(1, {(response.check_tx.codespace, code): 1} if code != 0 else {})

    def count_checks(self, checked: int, rejections: dict[tuple[str, int], int]) -> None:
        """CheckTx answers, here or in the mempool worker (which reports them in batches)."""
        self.checktx.inc(checked)
        for (codespace, code), count in rejections.items():
            self.checktx_rejections.labels(codespace=codespace, code=str(code)).inc(count)


def serve_metrics(metrics: Metrics, address: str) -> WSGIServer:
    """Serve the text exposition at http://HOST:PORT/metrics from a daemon thread (prometheus_client's
    server); the caller stops it with `shutdown()` and `server_close()`."""
    host, _, port = address.rpartition(":")
    server, _thread = start_http_server(int(port), host or "127.0.0.1", registry=metrics.registry)
    log.info("metrics on http://%s:%d/metrics", host or "127.0.0.1", server.server_port)
    return server
