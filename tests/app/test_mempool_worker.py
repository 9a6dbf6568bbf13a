"""The mempool worker as `perpchain node` runs it: a second process that takes over the mempool
connection, follows every Commit, answers CheckTx while the node is busy with a block, and takes
the node down with it when it dies. Real sockets on 127.0.0.1, a real child process, LevelDB."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import plyvel
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from app.application import Application, StateFollower
from app.framing import frame, split_frames
from app.mempool_worker import DataInUse, WorkerLink, _message, make_replica
from app.metrics import Metrics
from app.server import AbciServer
from app.store import CommittedStore
from localnet.cpu import children
from localnet.ports import free_port
from modules.bank.types import Transfer
from modules.types import SubaccountId
from tests.app.conftest import BLOCK_INTERVAL_MS, CHAIN_ID, GENESIS_TIME_MS, start_app
from tests.harness import wait_until
from wire import PrivateKey
from wire.codec import Tx, sign_tx
from wire.pb import abci_pb


class _HoldableApp(Application):
    """FinalizeBlock that, while `hold` is set, does not start until the test releases it: what a
    long block looks like to everything else in the node."""

    def __init__(self, store: CommittedStore, follower: StateFollower) -> None:
        super().__init__(store, follower=follower)
        self.hold = threading.Event()
        self.release = threading.Event()
        self.started = threading.Event()

    def finalize_block_encoded(self, req: abci_pb.RequestFinalizeBlock) -> bytes:  # what the server calls
        self.started.set()
        if self.hold.is_set() and not self.release.wait(10):
            raise RuntimeError("the test never released the block")
        return super().finalize_block_encoded(req)


class _Node:
    """What app/node.py assembles (replica, worker, application, server), on a thread's loop."""

    def __init__(self, data: Path) -> None:
        self.worker = WorkerLink(make_replica(data))
        self.store = CommittedStore(data)
        self.app = _HoldableApp(self.store, self.worker)
        self.metrics = Metrics()
        self.server = AbciServer(self.app, self.metrics, mempool_worker=self.worker)
        self.worker_exited = threading.Event()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.server.start("tcp://127.0.0.1:0"))
            self.worker.watch(self.loop, self.app.signers, self.metrics, self.worker_exited.set)
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name="node-loop", daemon=True)
        self.thread.start()
        assert ready.wait(10)

    def connect(self) -> "_Connection":
        return _Connection(socket.create_connection(("127.0.0.1", self.server.port), timeout=10))

    def close(self) -> None:
        self.app.release.set()
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.worker.close()
        self.app.signers.close()
        self.store.close()


class _Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def send(self, request: abci_pb.Request) -> None:
        self.sock.sendall(frame(request.SerializeToString()))

    def receive(self, timeout_s: float = 10) -> abci_pb.Response:
        self.sock.settimeout(timeout_s)
        while True:
            frames, used, _ = split_frames(self.buffer)
            if frames:
                del self.buffer[:len(frame(frames[0]))]
                return abci_pb.Response.FromString(frames[0])
            chunk = self.sock.recv(65536)
            assert chunk, "the node closed the connection"
            self.buffer += chunk

    def check(self, tx: bytes, kind: abci_pb.CheckTxType = abci_pb.NEW) -> abci_pb.ResponseCheckTx:
        self.send(abci_pb.Request(check_tx=abci_pb.RequestCheckTx(tx=tx, type=kind)))
        return self.receive().check_tx


KEYS = [PrivateKey.from_hex(f"{i:064x}") for i in (101, 102)]


def _transfer(nonce: int) -> bytes:
    action = Transfer(from_subaccount=0, to=SubaccountId(KEYS[1].address, 0), amount_micro_usdc=1)
    return sign_tx(KEYS[0], Tx(CHAIN_ID, KEYS[0].address, nonce, (action,)))


def _finalize(height: int, txs: list[bytes]) -> abci_pb.RequestFinalizeBlock:
    stamp = Timestamp()
    stamp.FromMilliseconds(GENESIS_TIME_MS + height * BLOCK_INTERVAL_MS)
    return abci_pb.RequestFinalizeBlock(height=height, txs=txs, time=stamp)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[_Node]:
    harness = start_app(tmp_path / "db", KEYS)  # genesis funds both keys; height 1 committed
    harness.app.signers.close()
    harness.store.close()
    running = _Node(tmp_path / "db")
    try:
        yield running
    finally:
        running.close()


def test_the_worker_checks_on_the_committed_state_and_follows_each_commit(node: _Node) -> None:
    mempool, consensus = node.connect(), node.connect()
    nonce = GENESIS_TIME_MS + 2 * BLOCK_INTERVAL_MS
    first = _transfer(nonce)
    assert node.worker.process.poll() is None
    assert mempool.check(first).code == 0  # the replica holds genesis: the sender is funded
    consensus.send(abci_pb.Request(finalize_block=_finalize(2, [first])))
    assert [r.code for r in consensus.receive().finalize_block.tx_results] == [0]
    consensus.send(abci_pb.Request(commit=abci_pb.RequestCommit()))
    assert consensus.receive().WhichOneof("value") == "commit"
    rechecked = mempool.check(first, abci_pb.RECHECK)  # after the Commit, as CometBFT rechecks
    assert (rechecked.codespace, rechecked.code) == ("auth", 6)  # NonceAlreadyUsed: the worker saw block 2
    assert mempool.check(_transfer(nonce + 1)).code == 0
    mempool.send(abci_pb.Request(flush=abci_pb.RequestFlush()))
    assert mempool.receive().WhichOneof("value") == "flush"
    registry = node.metrics.registry
    deadline = time.monotonic() + 10  # the worker's report reaches the node's metrics
    while registry.get_sample_value("perpchain_checktx_total") != 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert registry.get_sample_value("perpchain_checktx_total") == 3
    [rejections] = node.metrics.checktx_rejections.collect()
    assert [(s.labels, s.value) for s in rejections.samples] == [({"codespace": "auth", "code": "6"}, 1)]


def test_check_tx_is_answered_while_the_node_is_inside_a_block(node: _Node) -> None:
    mempool, consensus, query = node.connect(), node.connect(), node.connect()
    nonce = GENESIS_TIME_MS + 2 * BLOCK_INTERVAL_MS
    assert mempool.check(_transfer(nonce)).code == 0  # the connection is the worker's from here
    node.app.hold.set()
    consensus.send(abci_pb.Request(finalize_block=_finalize(2, [])))
    assert node.app.started.wait(10)
    answered = mempool.check(_transfer(nonce + 1))  # the node's loop is stuck in the block
    assert answered.code == 0 and not node.app.release.is_set()
    query.send(abci_pb.Request(info=abci_pb.RequestInfo()))
    with pytest.raises(socket.timeout):
        query.receive(timeout_s=0.3)  # the node itself answers nothing until the block ends
    node.app.release.set()
    assert consensus.receive().WhichOneof("value") == "finalize_block"
    assert query.receive().WhichOneof("value") == "info"


def test_the_node_hears_its_worker_die_and_the_mempool_connection_ends(node: _Node) -> None:
    mempool = node.connect()
    assert mempool.check(_transfer(GENESIS_TIME_MS + 2 * BLOCK_INTERVAL_MS)).code == 0
    node.worker.process.kill()
    assert node.worker_exited.wait(10)
    with pytest.raises((ConnectionError, AssertionError, socket.timeout)):
        mempool.check(_transfer(GENESIS_TIME_MS + 2 * BLOCK_INTERVAL_MS + 1), abci_pb.NEW)


def test_perpchain_node_exits_with_an_error_when_its_worker_is_killed(tmp_path: Path) -> None:
    data = _committed_db(tmp_path / "db")
    node = subprocess.Popen([sys.executable, "-m", "perpchain.cli", "node", "--data", str(data),
                             "--abci", f"tcp://127.0.0.1:{free_port()}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        workers = wait_until(lambda: children([node.pid]), 30, "the node's mempool worker")
        assert node.poll() is None
        os.kill(workers[0], signal.SIGKILL)
        assert node.wait(30) == 1
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
    assert list(tmp_path.glob("db.mempool-*")) == []  # the node removed its replica on the way out


def test_a_new_mempool_connection_after_a_reconnect_goes_to_the_worker_too(node: _Node) -> None:
    nonce = GENESIS_TIME_MS + 2 * BLOCK_INTERVAL_MS
    first = node.connect()
    assert first.check(_transfer(nonce)).code == 0
    first.sock.close()  # CometBFT restarted while the node ran on
    second, consensus = node.connect(), node.connect()
    assert second.check(_transfer(nonce + 1)).code == 0  # the node reads it, and hands the connection over
    node.app.hold.set()
    consensus.send(abci_pb.Request(finalize_block=_finalize(2, [])))
    assert node.app.started.wait(10)
    assert second.check(_transfer(nonce + 2)).code == 0  # answered while the node is inside the block
    node.app.release.set()
    assert consensus.receive().WhichOneof("value") == "finalize_block"


def test_a_commit_the_worker_cannot_apply_stops_it_and_the_node(node: _Node) -> None:
    mempool = node.connect()
    assert mempool.check(_transfer(GENESIS_TIME_MS + 2 * BLOCK_INTERVAL_MS)).code == 0
    node.worker._commands.sendall(_message("commit", ("not", "a", "commit")))  # what no node sends
    assert node.worker_exited.wait(10)
    assert node.worker.process.wait(10) == 1


def _committed_db(path: Path) -> Path:
    """A store at height 1 whose state is in table files as well as in the log."""
    harness = start_app(path, KEYS)
    harness.app.signers.close()
    harness.store.close()
    db = plyvel.DB(str(path))
    db.compact_range()
    db.close()
    return path


def test_a_replica_links_the_tables_copies_the_rest_and_replaces_what_no_node_uses(tmp_path: Path) -> None:
    data = _committed_db(tmp_path / "db")
    node = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "perpchain", "node"])
    try:
        # Until it has exec'd, the child still shows pytest's command line, which is no node's.
        wait_until(lambda: b"perpchain\x00node" in Path(f"/proc/{node.pid}/cmdline").read_bytes(), 10, "the stand-in node to start")
        kept = tmp_path / f"db.mempool-{node.pid}"  # a running node's: in use
        reused = tmp_path / "db.mempool-1"  # pid 1 runs, but it is no node: left by a crash
        own = tmp_path / f"db.mempool-{os.getpid()}"  # this very pid, reused after a crash
        gone = tmp_path / f"db.mempool-{2**22 + 1}"  # above the kernel's largest pid
        for path in (kept, reused, own, gone):
            path.mkdir()
        replica = make_replica(data)
        assert kept.exists() and not reused.exists() and not gone.exists()
        assert replica == own and replica.is_dir()
    finally:
        node.kill()
        node.wait()
    assert {p.name for p in replica.iterdir()} == {p.name for p in data.iterdir()} - {"LOCK"}
    tables = [p for p in replica.iterdir() if p.suffix in (".ldb", ".sst")]
    assert tables and all(t.stat().st_ino == (data / t.name).stat().st_ino for t in tables)
    copy = CommittedStore(replica)
    try:
        assert copy.last_commit().height == 1
    finally:
        copy.close()


def test_a_replica_of_data_on_another_filesystem_is_copied(tmp_path: Path) -> None:
    elsewhere = Path("/dev/shm")
    if not elsewhere.is_dir() or elsewhere.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on another filesystem than the test's folder")
    real = Path(tempfile.mkdtemp(dir=elsewhere))
    try:
        _committed_db(real / "db")
        (tmp_path / "db").symlink_to(real / "db")  # --data on another disk than its parent folder
        replica = make_replica(tmp_path / "db")
        copy = CommittedStore(replica)
        try:
            assert copy.last_commit().height == 1
        finally:
            copy.close()
    finally:
        shutil.rmtree(real)


def test_a_replica_of_data_another_process_holds_open_is_refused(tmp_path: Path) -> None:
    data = _committed_db(tmp_path / "db")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import plyvel, sys, time; db = plyvel.DB(sys.argv[1]); print('open', flush=True); time.sleep(60)"),
        str(data)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(DataInUse):
            make_replica(data)
        assert list(tmp_path.glob("db.mempool-*")) == []  # refused before anything was copied
    finally:
        holder.kill()
        holder.wait()
