"""`perpchain node`: open the store, serve ABCI until SIGINT/SIGTERM, close the store cleanly."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from pathlib import Path

from app.application import Application
from app.metrics import serve_metrics
from app.price_source import price_source as make_price_source
from app.server import AbciServer
from app.store import CommittedStore

log = logging.getLogger("perpchain.node")


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


async def serve(data_dir: Path, abci_address: str, metrics_address: str | None = None,
                price_source: str = "none", byzantine: str | None = None) -> None:
    store = CommittedStore(data_dir)
    app = Application(store, make_price_source(price_source), byzantine)
    # What start-up loaded (every resting order, the balances tree) lives as long as the node:
    # moved out of the collector's reach, a full collection no longer walks it in some block.
    gc.collect()
    gc.freeze()
    if byzantine:
        log.warning("BYZANTINE MODE %s: this validator misbehaves on purpose (tests only)", byzantine)
    server = AbciServer(app)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    last = store.last_commit()
    log.info("store %s at height %d app_hash %s", data_dir, last.height, last.app_hash.hex() or "-")
    metrics_server = None
    try:
        await server.start(abci_address)
        if metrics_address:
            metrics_server = await serve_metrics(server.metrics, metrics_address)
        await stop.wait()
        log.info("stopping")
    finally:
        if metrics_server is not None:
            metrics_server.close()
        await server.close()
        app.signers.close()
        store.close()


def run(data_dir: Path, abci_address: str, log_level: str = "INFO", metrics_address: str | None = None,
        price_source: str = "none", byzantine: str | None = None) -> int:
    configure_logging(log_level)
    make_price_source(price_source)  # a bad spec fails here, before anything listens
    try:
        asyncio.run(serve(data_dir, abci_address, metrics_address, price_source, byzantine))
    except Exception:
        log.critical("node stopped by an unexpected error", exc_info=True)
        return 1
    return 0
