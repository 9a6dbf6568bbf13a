"""`perpchain node`: open the store, serve ABCI until SIGINT/SIGTERM, close the store cleanly.

CheckTx runs in the mempool worker (app/mempool_worker.py), a second process over a replica of
the store made here before the node opens its own; the node stops with an error if it exits.
State sync's snapshots (app/snapshots.py) live beside the LevelDB, in <data>/snapshots."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from app.application import Application, StateFollower
from app.long_lived import loading_long_lived
from app.mempool_worker import WorkerLink, make_replica
from app.metrics import Metrics, serve_metrics
from app.price_source import PriceSource
from app.price_source import price_source as make_price_source
from app.server import AbciServer
from app.snapshots import SnapshotStore
from app.store import DEFAULT_PROOF_VERSIONS, CommittedStore

log = logging.getLogger("perpchain.node")

# What the node serves: Application itself, or (tests only) a subclass that misbehaves on purpose.
ApplicationFactory = Callable[[CommittedStore, PriceSource, StateFollower, SnapshotStore], Application]


@dataclass(frozen=True)
class SnapshotSettings:
    """`--snapshot-interval` (0: this node takes none) and `--snapshot-keep`."""

    interval: int = 0
    keep: int = 2


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


class MempoolWorkerExited(RuntimeError):
    """The mempool worker stopped while the node served: CometBFT's mempool connection is gone."""


async def serve(data_dir: Path, abci_address: str, metrics_address: str | None = None,
                price_source: str = "none", log_level: str = "INFO",
                application: ApplicationFactory = Application, proof_versions: int | None = None,
                snapshot_settings: SnapshotSettings = SnapshotSettings()) -> None:
    """`proof_versions`: the committed heights kept readable for /store queries (None: the
    store's default, DEFAULT_PROOF_VERSIONS)."""
    worker = WorkerLink(make_replica(data_dir), log_level)
    snapshots = SnapshotStore(data_dir / "snapshots", snapshot_settings.interval, snapshot_settings.keep)
    try:
        with loading_long_lived():
            store = CommittedStore(data_dir, proof_versions=DEFAULT_PROOF_VERSIONS if proof_versions is None
                                   else proof_versions)
            app = application(store, make_price_source(price_source), worker, snapshots)
    except BaseException:
        worker.close()
        raise
    metrics = Metrics()
    server = AbciServer(app, metrics, mempool_worker=worker)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker_exited = asyncio.Event()

    def on_worker_exit() -> None:
        worker_exited.set()
        stop.set()

    worker.watch(loop, app.signers, metrics, on_worker_exit)
    last = store.last_commit()
    log.info("store %s at height %d app_hash %s", data_dir, last.height, last.app_hash.hex() or "-")
    metrics_server = None
    try:
        await server.start(abci_address)
        if metrics_address:
            metrics_server = serve_metrics(metrics, metrics_address)
        await stop.wait()
        log.info("stopping")
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        await server.close()
        worker.close()
        app.signers.close()
        snapshots.close()  # before the store: a snapshot being written reads it
        store.close()
    if worker_exited.is_set():
        raise MempoolWorkerExited("the mempool worker exited; the node stopped with it")


def run(data_dir: Path, abci_address: str, log_level: str = "INFO", metrics_address: str | None = None,
        price_source: str = "none", application: ApplicationFactory = Application,
        proof_versions: int | None = None, snapshot_settings: SnapshotSettings = SnapshotSettings()) -> int:
    configure_logging(log_level)
    make_price_source(price_source)  # a bad spec fails here, before anything listens
    try:
        asyncio.run(serve(data_dir, abci_address, metrics_address, price_source, log_level, application,
                          proof_versions, snapshot_settings))
    except Exception:
        log.critical("node stopped by an unexpected error", exc_info=True)
        return 1
    return 0
