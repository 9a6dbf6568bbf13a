"""`restart` benchmark: a validator holding N resting orders (default 1,000,000) is started again,
its app and cometbft as real processes on loopback, and timed until it serves (goal ≤ 5 s).

Setup (not timed):
  1. A one-validator chain (a cometbft home and `perpchain node` over LevelDB) with 10 markets
     makes a few blocks and is stopped, cometbft first.
  2. N resting orders (5,000 owners, 10 markets, both sides) are written into its LevelDB through
     the order book's keeper, in batches at the height it stopped at, with that height's app hash
     kept, so cometbft's handshake finds the app exactly where its own state is and replays
     nothing. (A fixture, not a chain history: the orders are in no block. The state tree takes
     them in, so the next block's app hash is the root over them, as any block's is.)
Timed, from the moment `perpchain node` is spawned:
  app_ready_s    until the app's ABCI port accepts connections: the Python start, LevelDB open
                 and every book rebuilt from the store happen before it listens
  restart_s      until cometbft, started as soon as the app listens, answers an abci_query of a
                 market's book through its RPC with the rebuilt resting orders in it
  first_block_s  until the restarted chain has committed a new block
Then, in this process: inprocess_restart_s, opening LevelDB and constructing the Application
alone (app/driver.py's `InProcessChain.open`; the figure this benchmark reported before it ran
the real processes).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from app.driver import InProcessChain
from app.router import keepers_over
from app.store import CacheStore, CommittedStore
from bench.common import COMETBFT, PRICE, TICK, AppProcess, BenchmarkFailed, bench_markets
from genesis.app_state import build_app_state
from genesis.home import BlockTiming, NodePorts, configure, init_home, write_genesis_for
from localnet.ports import free_port
from modules.context import BlockContext
from modules.orderbook.keeper import OrderbookKeeper
from modules.orderbook.types import Order, Side
from modules.types import SubaccountId

MARKETS = 10
OWNERS = 5_000  # 200 resting orders each at 1,000,000, under the 256 per subaccount cap
WRITE_CHUNK = 200_000
GOAL_S = 5


class _CometProcess:
    """`cometbft node` for one home, its output in a log file; always stopped."""

    def __init__(self, home: Path, log_path: Path) -> None:
        self.home, self.log_path = home, log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([str(COMETBFT), "node", "--home", str(self.home)], stdout=log,
                                            stderr=subprocess.STDOUT)

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace").splitlines()[-15:]
            raise BenchmarkFailed(f"cometbft exited with code {self.process.returncode}:\n" + "\n".join(tail))

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def _until(check: Any, timeout_s: float, what: str, processes: list[Any]) -> Any:
    """Poll `check()` every 10 ms until it returns something true; the processes must stay up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for process in processes:
            process.check_alive()
        try:
            result = check()
        except Exception:  # not serving yet
            result = None
        if result:
            return result
        time.sleep(0.01)
    raise BenchmarkFailed(f"{what} not reached in {timeout_s}s")


def _write_orders(data: Path, count: int) -> int:
    """`count` resting orders at the store's current height and app hash (see the module doc),
    rested through the order book's keeper; returns that height."""
    store = CommittedStore(data)
    try:
        last = store.last_commit()
        books = OrderbookKeeper.load_books(store)
        ctx = BlockContext("perpchain-restart", last.height, last.block_time_ms)
        mid = PRICE // TICK
        owners = [SubaccountId(hashlib.sha256(i.to_bytes(4, "big")).digest()[:20], 0) for i in range(OWNERS)]
        for start in range(0, count, WRITE_CHUNK):
            cache = CacheStore(store)
            keeper = keepers_over(cache, books, ctx).orderbook
            for i in range(start, min(count, start + WRITE_CHUNK)):
                market_id = 1 + i % MARKETS
                side = Side.BUY if (i // MARKETS) % 2 else Side.SELL  # both sides in every market
                price = mid - 1 - (i // 20) % 5_000 if side == Side.BUY else mid + 1 + (i // 20) % 5_000
                keeper.rest(Order(keeper.next_order_id(), market_id, owners[i % OWNERS], 0, side, price, 10))
            store.commit(cache.writes, last, store.tree().update(cache.writes))
        return last.height
    finally:
        store.close()


def _book_served(client: Any, market_id: int) -> dict[str, Any] | None:
    book = client.query(f"/book/{market_id}/5")
    return book if book["bids"] and book["asks"] else None


def run(size: int = 0) -> dict[str, Any]:
    from client import Client  # the bench reads the node as any user would, through its RPC

    count = size if size > 0 else 1_000_000
    with tempfile.TemporaryDirectory(prefix="perpchain-restart-") as directory:
        root = Path(directory)
        home, data = root / "cometbft", root / "app-data"
        app = AppProcess(data, root / "app.log")
        ports = NodePorts(p2p=free_port(), rpc=free_port(), abci=app.port)
        init_home(COMETBFT, home)
        write_genesis_for(home, "perpchain-restart", build_app_state([], bench_markets(MARKETS)))
        configure(home, ports, BlockTiming(timeout_commit_ms=100))
        comet = _CometProcess(home, root / "cometbft.log")
        client = Client(f"http://127.0.0.1:{ports.rpc}", timeout_s=5.0)
        try:
            # Setup: a few blocks, then stop and add the orders.
            app.start()
            comet.start()
            _until(lambda: client.height() >= 3, 60, "height 3", [app, comet])
            comet.stop()
            app.stop()
            setup_started = time.perf_counter()
            stopped_at = _write_orders(data, count)
            write_s = time.perf_counter() - setup_started

            # Timed: the restart.
            started = time.perf_counter()
            app.start()  # returns once the ABCI port accepts
            app_ready_s = time.perf_counter() - started
            comet.start()
            book = _until(lambda: _book_served(client, 1), 60, "a book query answered", [app, comet])
            restart_s = time.perf_counter() - started
            _until(lambda: client.height() > stopped_at, 60, "a new block", [app, comet])
            first_block_s = time.perf_counter() - started
            served_height = client.height()
        except BenchmarkFailed as error:
            raise BenchmarkFailed(f"{error}\n--- app log tail ---\n{app.log_tail()}") from None
        finally:
            client.close()
            comet.stop()
            app.stop()

        reopened_at = time.perf_counter()
        with InProcessChain.open(data) as restarted:
            inprocess_restart_s = time.perf_counter() - reopened_at
            resting = restarted.app.books.order_count()
    if resting != count:
        raise BenchmarkFailed(f"{resting} resting orders after the restart, {count} written")
    return {"bench": "restart", "resting_orders": resting, "restart_s": round(restart_s, 2), "goal_s": GOAL_S,
            "meets_goal": restart_s <= GOAL_S, "app_ready_s": round(app_ready_s, 2),
            "first_block_s": round(first_block_s, 2), "inprocess_restart_s": round(inprocess_restart_s, 2),
            "stopped_at_height": stopped_at, "served_height": served_height,
            "best_bid_ask_levels": [len(book["bids"]), len(book["asks"])], "write_orders_s": round(write_s, 1),
            "cores": os.cpu_count()}

