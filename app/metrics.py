"""Prometheus metrics of the app, served as text on `perpchain node --metrics HOST:PORT`.

Observed at the socket server from each request and its response, so no state code reads a
clock. CometBFT serves its own metrics beside these (instrumentation.prometheus in config.toml).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from wire.pb import abci_pb

log = logging.getLogger("perpchain.metrics")

FINALIZE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
TXS_BUCKETS = (0, 1, 10, 100, 1000, 10000)


@dataclass
class Histogram:
    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0
    observations: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.bounds)

    def observe(self, value: float) -> None:
        self.total += value
        self.observations += 1
        for index, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[index] += 1

    def lines(self, name: str) -> list[str]:
        out = [f'{name}_bucket{{le="{bound}"}} {count}' for bound, count in zip(self.bounds, self.counts)]
        out.append(f'{name}_bucket{{le="+Inf"}} {self.observations}')
        out.append(f"{name}_sum {self.total}")
        out.append(f"{name}_count {self.observations}")
        return out


@dataclass
class Metrics:
    height: int = 0
    last_block_txs: int = 0
    txs_total: int = 0
    checktx_total: int = 0
    block_txs: Histogram = field(default_factory=lambda: Histogram(TXS_BUCKETS))
    finalize_seconds: Histogram = field(default_factory=lambda: Histogram(FINALIZE_BUCKETS_S))
    checktx_rejections: dict[tuple[str, int], int] = field(default_factory=dict)

    def observe(self, request: abci_pb.Request, response: abci_pb.Response, seconds: float) -> None:
        kind = request.WhichOneof("value")
        if kind == "finalize_block":
            self.height = request.finalize_block.height
            self.last_block_txs = len(request.finalize_block.txs)
            self.txs_total += self.last_block_txs
            self.block_txs.observe(self.last_block_txs)
            self.finalize_seconds.observe(seconds)
        elif kind == "check_tx" and response.WhichOneof("value") == "check_tx":
            self.checktx_total += 1
            code = response.check_tx.code
            if code != 0:
                key = (response.check_tx.codespace, code)
                self.checktx_rejections[key] = self.checktx_rejections.get(key, 0) + 1

    def render(self) -> str:
        lines = [
            "# HELP perpchain_height Height of the last FinalizeBlock.",
            "# TYPE perpchain_height gauge",
            f"perpchain_height {self.height}",
            "# HELP perpchain_block_txs Transactions per block.",
            "# TYPE perpchain_block_txs histogram",
            *self.block_txs.lines("perpchain_block_txs"),
            "# HELP perpchain_txs_total Transactions executed in blocks.",
            "# TYPE perpchain_txs_total counter",
            f"perpchain_txs_total {self.txs_total}",
            "# HELP perpchain_finalize_block_seconds Time the app spent in FinalizeBlock.",
            "# TYPE perpchain_finalize_block_seconds histogram",
            *self.finalize_seconds.lines("perpchain_finalize_block_seconds"),
            "# HELP perpchain_checktx_total CheckTx requests answered.",
            "# TYPE perpchain_checktx_total counter",
            f"perpchain_checktx_total {self.checktx_total}",
            "# HELP perpchain_checktx_rejections_total Transactions refused at CheckTx, by ABCI code.",
            "# TYPE perpchain_checktx_rejections_total counter",
        ]
        for (codespace, code), count in sorted(self.checktx_rejections.items()):
            lines.append(f'perpchain_checktx_rejections_total{{codespace="{codespace}",code="{code}"}} {count}')
        return "\n".join(lines) + "\n"


async def serve_metrics(metrics: Metrics, address: str) -> asyncio.AbstractServer:
    """A minimal HTTP endpoint: any GET answers the text exposition format."""
    host, _, port = address.rpartition(":")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            body = metrics.render().encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host or "127.0.0.1", int(port))
    log.info("metrics on http://%s/metrics", address)
    return server
