"""The indexer following a real traded chain, SIGKILLed and restarted mid-run: its trades and
candles equal a recomputation from every block's results read back from the node, no height
twice and none missing; into SQLite, and into PostgreSQL where one is installed."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import Engine

from client import Client
from client.blocks import read_block
from indexer.db import open_engine, sqlite_url
from localnet.market_maker import MakerConfig
from localnet.traded import traded_chain
from tests.harness import ROOT, wait_until
from tests.indexer_recompute import expected_candles, expected_trades, stored_candles, stored_heights, stored_trades
from tests.postgres import temporary_postgres

pytestmark = pytest.mark.integration


def _start_indexer(node_url: str, db_url: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "perpchain.cli", "indexer", "--node", node_url, "--db", db_url],
                                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)


def _stored_height(engine: Engine) -> int:
    heights = stored_heights(engine)
    return heights[-1] if heights else 0


def _killed_and_restarted(folder: Path, db_url: str) -> None:
    with traded_chain(folder / "chain", MakerConfig(levels=3), block_time_ms=200) as traded:
        url = traded.chain.rpc_url
        engine = open_engine(db_url)
        log = folder / "indexer.log"
        indexer = _start_indexer(url, db_url, log)
        try:
            wait_until(lambda: _stored_height(engine) >= 15, 90, "the indexer at height 15", 0.2)
            indexer.send_signal(signal.SIGKILL)  # mid-run: maybe mid-block
            indexer.wait()
            killed_at = _stored_height(engine)
            time.sleep(3)  # the chain moves on without it: those heights are read back on restart
            indexer = _start_indexer(url, db_url, log)
            with Client(url) as client:
                target = client.height() + 10
            wait_until(lambda: _stored_height(engine) >= target, 90, f"the indexer at height {target}", 0.2)
        finally:
            indexer.send_signal(signal.SIGTERM)
            indexer.wait(timeout=30)
        heights = stored_heights(engine)
        assert heights == list(range(1, heights[-1] + 1)), "a height missing or stored twice"
        assert heights[-1] > killed_at + 10
        with Client(url) as client:
            blocks = [read_block(client, height) for height in heights]
            size_decimals = {int(m["market_id"]): int(m["size_decimals"]) for m in client.markets()}
        trades = expected_trades(blocks)
        assert len({t[0] for t in trades if t[0] > killed_at}) > 0, "no trades after the restart: traffic stopped?"
        assert stored_trades(engine) == trades
        assert stored_candles(engine) == expected_candles(blocks, size_decimals)
        engine.dispose()


def test_indexer_killed_and_restarted_into_sqlite_misses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    _killed_and_restarted(tmp_path, sqlite_url(tmp_path / "indexer.db"))


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    with temporary_postgres(tmp_path / "postgres") as url:
        yield url


def test_indexer_killed_and_restarted_into_postgres_misses_nothing_and_repeats_nothing(tmp_path: Path,
                                                                                       postgres_url: str) -> None:
    _killed_and_restarted(tmp_path, postgres_url)
