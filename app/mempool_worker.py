"""The mempool worker: CheckTx in a process of its own, so it runs beside the node's blocks.

CometBFT opens a separate ABCI connection for its mempool. `perpchain node` serves the
consensus and query connections itself and, as soon as a connection carries its first CheckTx,
passes that socket (with the bytes already read from it) to this worker, which answers the
connection from then on. One Python process runs one thread at a time; two processes run on two
cores, so a tx's check no longer waits for a block's execution, nor a block for the checks.

The worker's state is its own:
  replica   a copy of the node's LevelDB made at start (its table files hard-linked, the rest
            copied, before the node opens its own), written after every Commit with the block's
            writes, which the node sends before it answers the Commit. CometBFT rechecks the
            waiting txs only after that answer, and the worker reads every command the node has
            sent before it answers a request, so no CheckTx is answered on a state older than
            the last Commit. The replica does not keep the state tree (app/tree.py): CheckTx
            reads state, never proofs, so the node sends the state's writes only, not the tree's
            (as many bytes again); the tree's records copied at start go stale and are never read.
            A state sync fills it as it fills the node: each snapshot chunk the node checked and
            wrote, then the restored height (the mempool is built again over it), or the removal
            of the chunks when the node refused the snapshot.
  mempool   app/mempool.py over the replica: the check state and its own books.
The worker's signatures are recovered by a third process (app/sigverify.py's RecoveryProcess)
while the worker checks the txs before them: one interpreter per core, as for the node and the
worker. What the worker learns the node can reuse goes back on a second channel: the signers it
recovered (so a block does not recover them again) and its CheckTx counts for the node's
metrics.

The node and the worker watch each other: the worker exits when the node's channel closes (the
node stopped or was killed), the node stops with an error when the worker's closes.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import fcntl
import logging
import os
import pickle
import shutil
import signal
import socket
import struct
import subprocess
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from app import snapshots
from app.long_lived import loading_long_lived
from app.mempool import DecodedTxs, Mempool
from app.server import AbciServer
from app.sigverify import RecoveryProcess, SignerCache
from app.store import CommitInfo, CommittedStore
from modules.auth.keeper import AuthKeeper
from wire.pb import abci_pb

if TYPE_CHECKING:  # types only: the worker starts without the node's Application and metrics
    from app.application import CommittedBlock
    from app.metrics import Metrics

log = logging.getLogger("perpchain.mempool")

_HEADER = struct.Struct(">I")
_READ_BYTES = 1 << 20
REPORT_EVERY_TXS = 1_000  # the worker reports at least this often, and at every Flush
_TABLE_SUFFIXES = (".ldb", ".sst")  # LevelDB never rewrites these in place: links are safe


class DataInUse(RuntimeError):
    """Another process holds the LevelDB at --data: a second node on the same state."""


def make_replica(data: Path) -> Path:
    """A copy of the LevelDB at `data` for this process's worker, in a sibling directory named
    after this process. Table files are hard-linked (copied where `data` is on another
    filesystem than its parent, e.g. a mount point). Copies left by nodes no longer running are
    removed, including one with this process's id (a pid reused after a crash); a running node's
    is kept. The node must not have opened `data` yet; another process that has is refused
    before anything is copied."""
    _refuse_if_locked(data)
    for stale in data.parent.glob(f"{data.name}.mempool-*"):
        owner = stale.name.rsplit("-", 1)[1]
        if not (owner.isdigit() and int(owner) != os.getpid() and _is_a_node(int(owner))):
            shutil.rmtree(stale, ignore_errors=True)
    replica = data.parent / f"{data.name}.mempool-{os.getpid()}"
    replica.mkdir(parents=True)
    if data.is_dir():
        for entry in data.iterdir():
            if entry.name == "LOCK" or not entry.is_file():
                continue
            if entry.suffix in _TABLE_SUFFIXES:
                try:
                    os.link(entry, replica / entry.name)
                    continue
                except OSError as error:
                    if error.errno != errno.EXDEV:
                        raise
            shutil.copy2(entry, replica / entry.name)
    return replica


def _refuse_if_locked(data: Path) -> None:
    """LevelDB holds an fcntl lock on LOCK while open. Probe it and let go at once: fcntl locks
    belong to the process, and closing this descriptor drops them, before the store opens."""
    lock = data / "LOCK"
    if not lock.exists():
        return
    with open(lock, "rb+") as handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise DataInUse(f"{data} is open in another process (a node already runs on it)") from None
        fcntl.lockf(handle, fcntl.LOCK_UN)


def _is_a_node(pid: int) -> bool:
    """Whether `pid` runs `perpchain node` (a pid alone may have been reused by anything)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"perpchain" in cmdline and b"node" in cmdline


def _message(kind: str, payload: Any) -> bytes:
    body = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


class _Messages:
    """Length-prefixed messages off a byte stream, with the file descriptors that came along."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.fds: list[int] = []

    def complete(self) -> list[tuple[str, Any]]:
        out = []
        while len(self.buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self.buffer)
            if len(self.buffer) < _HEADER.size + size:
                break
            out.append(pickle.loads(bytes(self.buffer[_HEADER.size:_HEADER.size + size])))
            del self.buffer[:_HEADER.size + size]
        return out

    @property
    def partial(self) -> bool:
        return bool(self.buffer)


# -- the node's side ------------------------------------------------------------------------------


def _block_payload(block: CommittedBlock) -> tuple[Any, ...]:
    info = block.info
    return block.writes, info.height, info.app_hash, info.block_time_ms, block.market_ids, block.chain_id


class WorkerLink:
    """The node's handle on its worker: spawns it, hands it the mempool connection, sends it
    every Commit and every step of a restore (the Application's StateFollower), and applies its
    reports (signers, CheckTx counts)."""

    def __init__(self, replica: Path, log_level: str = "INFO") -> None:
        self._signers: SignerCache | None = None
        self._metrics: Metrics | None = None
        commands, self._worker_commands = socket.socketpair()
        self._reports, worker_reports = socket.socketpair()
        self._commands = commands  # blocking: a Commit's writes are in the worker's socket when sendall returns
        self._reports.setblocking(False)
        self._incoming = _Messages()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.mempool_worker", "--replica", str(replica),
             "--commands-fd", str(self._worker_commands.fileno()), "--reports-fd", str(worker_reports.fileno()),
             "--log-level", log_level],
            pass_fds=(self._worker_commands.fileno(), worker_reports.fileno()),
            start_new_session=True,  # signals for the node's process group (Ctrl-C, a stop) are not its
        )
        self._worker_commands.close()
        worker_reports.close()
        self.replica = replica
        self._on_exit: Callable[[], None] | None = None

    def watch(self, loop: asyncio.AbstractEventLoop, signers: SignerCache, metrics: Metrics,
              on_exit: Callable[[], None]) -> None:
        """Read the worker's reports on `loop` into the node's signer cache and metrics; call
        `on_exit` when its channel closes."""
        self._signers, self._metrics = signers, metrics
        self._on_exit = on_exit
        loop.add_reader(self._reports.fileno(), self._read_reports, loop)

    def take_connection(self, fd: int, received: bytes) -> None:
        """Hand a mempool connection over, with the bytes read from it and not yet answered."""
        message = _message("connection", received)
        sent = socket.send_fds(self._commands, [message], [fd])  # the descriptor rides on the first byte
        if sent < len(message):
            self._commands.sendall(message[sent:])

    def committed(self, block: CommittedBlock) -> None:
        self._commands.sendall(_message("commit", _block_payload(block)))

    def restoring(self, chunk: bytes) -> None:
        self._commands.sendall(_message("restore_chunk", chunk))

    def restored(self, block: CommittedBlock) -> None:
        self._commands.sendall(_message("restored", _block_payload(block)))

    def restore_dropped(self) -> None:
        self._commands.sendall(_message("restore_dropped", None))

    def close(self) -> None:
        """Stop the worker (it exits when its command channel closes) and remove its replica."""
        self._commands.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self._reports.close()
        shutil.rmtree(self.replica, ignore_errors=True)

    def _read_reports(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            try:
                chunk = self._reports.recv(_READ_BYTES)
            except BlockingIOError:
                break
            if not chunk:
                loop.remove_reader(self._reports.fileno())
                log.critical("the mempool worker exited (code %s)", self.process.poll())
                if self._on_exit is not None:
                    self._on_exit()
                return
            self._incoming.buffer += chunk
        assert self._signers is not None and self._metrics is not None
        for kind, payload in self._incoming.complete():
            if kind == "report":
                signers, checked, rejections = payload
                for tx_hash, signer in signers:
                    self._signers.remember(tx_hash, signer)
                self._metrics.count_checks(checked, rejections)


# -- the worker's side ----------------------------------------------------------------------------


class _ReportingSigners(SignerCache):
    """A signer cache that also keeps what it recovers for the next report to the node. Its
    signatures are recovered by a process of its own, beside the checks of the txs before them."""

    def __init__(self, recoverer: RecoveryProcess) -> None:
        super().__init__(recoverer=recoverer)
        self.recovered: list[tuple[bytes, bytes]] = []

    def remember(self, tx_hash: bytes, entry: Any) -> None:
        super().remember(tx_hash, entry)
        if isinstance(entry, bytes):
            self.recovered.append((tx_hash, entry))


class _MempoolEndpoint:
    """The requests a mempool connection carries, answered from the worker's state."""

    def __init__(self, mempool: Mempool, report: Callable[[], None]) -> None:
        self.mempool = mempool  # replaced when a state sync restores the replica
        self._report = report
        self.checked = 0
        self.rejections: dict[tuple[str, int], int] = {}

    def check_tx(self, req: abci_pb.RequestCheckTx) -> abci_pb.ResponseCheckTx:
        response = self.mempool.check_tx(req)
        self.checked += 1
        if response.code != 0:
            key = (response.codespace, response.code)
            self.rejections[key] = self.rejections.get(key, 0) + 1
        if self.checked >= REPORT_EVERY_TXS:
            self._report()
        return response

    def flush(self, req: abci_pb.RequestFlush) -> abci_pb.ResponseFlush:
        self._report()
        return abci_pb.ResponseFlush()

    def echo(self, req: abci_pb.RequestEcho) -> abci_pb.ResponseEcho:
        return abci_pb.ResponseEcho(message=req.message)

    def prefetch_signers(self, raws: list[bytes]) -> None:
        self.mempool.prefetch_signers(raws)


class _Worker:
    def __init__(self, replica: Path, commands: socket.socket, reports: socket.socket) -> None:
        recoverer = RecoveryProcess()  # starts beside the loading below
        self._store = CommittedStore(replica, durable=False, keeps_tree=False, proof_versions=0)
        self._commands = commands
        self._commands.setblocking(False)
        self._incoming = _Messages()
        self._signers = _ReportingSigners(recoverer)
        self._reports_sock = reports
        self._reports: asyncio.StreamWriter | None = None
        self._endpoint = _MempoolEndpoint(self._new_mempool(), self._report)
        self._server = AbciServer(self._endpoint, before_answering=self._read_commands)
        recoverer.wait_started()
        self.stopped = asyncio.Event()
        self.failed = False

    async def run(self) -> None:
        _, self._reports = await asyncio.open_unix_connection(sock=self._reports_sock)
        loop = asyncio.get_running_loop()
        loop.add_reader(self._commands.fileno(), self._read_commands)
        await self.stopped.wait()
        await self._server.close()
        self._store.close()
        self._signers.close()

    def _read_commands(self) -> None:
        """Take every command the node has sent, completing one it is still sending."""
        while not self.stopped.is_set():
            try:
                data, fds, _, _ = socket.recv_fds(self._commands, _READ_BYTES, 16)
            except BlockingIOError:
                if not self._incoming.partial:
                    break
                self._commands.setblocking(True)  # the node is in the middle of sending it
                data, fds, _, _ = socket.recv_fds(self._commands, _READ_BYTES, 16)
                self._commands.setblocking(False)
            if not data:
                log.info("the node closed the worker's channel; stopping")
                self.stopped.set()
                return
            self._incoming.buffer += data
            self._incoming.fds += fds
            for kind, payload in self._incoming.complete():
                try:
                    self._apply(kind, payload)
                except Exception:
                    # A commit not applied leaves the replica behind the chain: nothing may be
                    # checked on it. The worker stops; the node sees its channel close and stops too.
                    log.critical("could not apply the node's %s; stopping\n%s", kind, traceback.format_exc())
                    self.failed = True
                    self.stopped.set()
                    raise

    def _new_mempool(self) -> Mempool:
        """A mempool over the replica as it is committed, its books loaded now, not at the first CheckTx."""
        mempool = Mempool(self._store, AuthKeeper(self._store).chain_id(), self._store.last_commit(), self._signers,
                          DecodedTxs())
        mempool.books
        return mempool

    def _apply(self, kind: str, payload: Any) -> None:
        if kind == "commit":
            writes, height, app_hash, block_time_ms, market_ids, chain_id = payload
            info = CommitInfo(height, app_hash, block_time_ms)
            self._store.commit(writes, info, None)
            self._endpoint.mempool.follow(writes, market_ids, info, chain_id)
        elif kind == "restore_chunk":
            snapshots.write_chunk(self._store, payload)
        elif kind == "restored":
            _, height, app_hash, block_time_ms, _, _ = payload
            self._store.commit({}, CommitInfo(height, app_hash, block_time_ms), None)
            self._endpoint.mempool = self._new_mempool()
            log.info("replica restored by state sync at height %d", height)
        elif kind == "restore_dropped":
            snapshots.erase_covered(self._store)
        elif kind == "connection":
            sock = socket.socket(fileno=self._incoming.fds.pop(0))
            asyncio.get_running_loop().create_task(self._server.serve_socket(sock, payload))
        else:
            raise ValueError(f"unknown command {kind!r} from the node")

    def _report(self) -> None:
        endpoint = self._endpoint
        if self._reports is None or not (endpoint.checked or self._signers.recovered):
            return
        self._reports.write(_message("report", (self._signers.recovered, endpoint.checked, endpoint.rejections)))
        self._signers.recovered = []
        endpoint.checked = 0
        endpoint.rejections = {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.mempool_worker", description=__doc__.splitlines()[0])
    parser.add_argument("--replica", required=True, type=Path)
    parser.add_argument("--commands-fd", required=True, type=int)
    parser.add_argument("--reports-fd", required=True, type=int)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s[worker]: %(message)s")
    # The worker lives exactly as long as the node's channel: a signal meant for the node (Ctrl-C
    # in its terminal, a stop sent to its process group) must not stop the worker first, which
    # the node would take for a crash.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    commands = socket.socket(fileno=args.commands_fd)
    reports = socket.socket(fileno=args.reports_fd)

    async def serve() -> bool:
        with loading_long_lived():  # the books, as in the node
            worker = _Worker(args.replica, commands, reports)
        log.info("mempool worker ready on %s", args.replica)
        await worker.run()
        return not worker.failed

    return 0 if asyncio.run(serve()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
