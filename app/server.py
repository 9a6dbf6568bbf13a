"""The ABCI 2.0 socket server: CometBFT opens four connections (consensus, mempool, query,
snapshot) and sends length-delimited Request messages; each gets its Response in order.

Requests run on the event loop one at a time, except FinalizeBlock: it runs on its own thread,
and while it does, CheckTx (and Echo, Flush, Info) keep being answered on the loop from the
mempool's state (app/mempool.py), so a tx's check does not wait behind a block's execution.
Every other request waits until the block is done: they share one lock with it. Python runs one
thread at a time, so the two share a core (the interpreter switches between them every few ms);
what is gained is latency, and the signature recovery, which runs on the pool without the GIL.
A malformed frame closes its connection with a logged error; a crash of the Application is
logged with its traceback, answered with ResponseException, and the connection closed.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
import time
import traceback
from pathlib import Path
from typing import Callable

from google.protobuf.message import DecodeError

from app.application import Application
from app.framing import MalformedFrame, frame, split_frames
from app.metrics import Metrics
from wire.pb import abci_pb

log = logging.getLogger("perpchain.abci")

_READ_BYTES = 1 << 20
# Answered while a FinalizeBlock runs: they read only the mempool's state or nothing.
BESIDE_BLOCK = frozenset({"check_tx", "echo", "flush", "info"})


def _dispatch_table(app: Application) -> dict[str, Callable[[object], object]]:
    names = [field.name for field in abci_pb.Request.DESCRIPTOR.oneofs_by_name["value"].fields]
    return {name: getattr(app, name) for name in names}


class AbciServer:
    def __init__(self, app: Application, metrics: Metrics | None = None) -> None:
        self._app = app
        self.metrics = metrics or Metrics()
        self._handlers = _dispatch_table(app)
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._exclusive = asyncio.Lock()  # held by every request not in BESIDE_BLOCK
        self._block_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="finalize-block")

    async def start(self, address: str) -> None:
        """`tcp://host:port` or `unix:///path/to.sock`."""
        if address.startswith("unix://"):
            path = Path(address[len("unix://") :])
            path.unlink(missing_ok=True)
            self._server = await asyncio.start_unix_server(self._serve, path=str(path), limit=_READ_BYTES)
        elif address.startswith("tcp://"):
            host, _, port = address[len("tcp://") :].rpartition(":")
            self._server = await asyncio.start_server(self._serve, host or "127.0.0.1", int(port), limit=_READ_BYTES)
        else:
            raise ValueError(f"ABCI address must start with tcp:// or unix://, got {address!r}")
        log.info("ABCI server listening on %s", address)

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await self._server.wait_closed()
        self._block_thread.shutdown(wait=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername") or "unix socket"
        log.info("ABCI connection opened from %s", peer)
        try:
            await self._read_loop(reader, writer)
        except MalformedFrame as error:
            log.error("closing ABCI connection from %s: malformed frame: %s", peer, error)
        except (ConnectionError, asyncio.IncompleteReadError):
            log.info("ABCI connection from %s dropped", peer)
        except asyncio.CancelledError:
            log.info("ABCI connection from %s closed at shutdown", peer)  # not re-raised: we own it
        finally:
            self._connections.discard(task)
            writer.close()

    async def _read_loop(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = bytearray()
        while True:
            chunk = await reader.read(_READ_BYTES)
            if not chunk:
                return
            buffer += chunk
            requests, used, malformed = self._take_requests(buffer)
            del buffer[:used]
            if not await self._answer(requests, writer):
                return
            if malformed is not None:
                raise malformed  # after answering every request that preceded it

    @staticmethod
    def _take_requests(buffer: bytearray) -> tuple[list[abci_pb.Request], int, MalformedFrame | None]:
        """The complete requests at the head of the buffer, bytes used, and the first bad frame."""
        frames, used, malformed = split_frames(buffer)
        requests: list[abci_pb.Request] = []
        for data in frames:
            try:
                request = abci_pb.Request.FromString(data)
            except DecodeError as error:
                return requests, used, MalformedFrame(f"frame is not an ABCI Request ({error})")
            if request.WhichOneof("value") is None:
                return requests, used, MalformedFrame("ABCI Request carries no known request type")
            requests.append(request)
        return requests, used, malformed

    async def _answer(self, requests: list[abci_pb.Request], writer: asyncio.StreamWriter) -> bool:
        """Handle requests in order and send their responses; False once the connection must close."""
        if not requests:
            return True
        self._prefetch(requests)
        answers: list[bytes] = []  # written at once: a write per response costs a send() each
        for request in requests:
            started = time.perf_counter()
            response = await self._respond(request)
            self.metrics.observe(request, response, time.perf_counter() - started)
            answers.append(frame(response.SerializeToString()))
            if response.WhichOneof("value") == "exception":
                writer.write(b"".join(answers))
                await writer.drain()
                return False
        writer.write(b"".join(answers))
        await writer.drain()
        return True

    def _prefetch(self, requests: list[abci_pb.Request]) -> None:
        """Recover the signatures of a batch of CheckTx requests on every core at once."""
        txs = [r.check_tx.tx for r in requests if r.WhichOneof("value") == "check_tx"]
        if len(txs) > 1:
            self._app.prefetch_signers(txs)

    async def _respond(self, request: abci_pb.Request) -> abci_pb.Response:
        kind = request.WhichOneof("value")
        if kind in BESIDE_BLOCK:
            return self._handle(request)
        async with self._exclusive:
            if kind == "finalize_block":
                return await asyncio.get_running_loop().run_in_executor(self._block_thread, self._handle, request)
            return self._handle(request)

    def _handle(self, request: abci_pb.Request) -> abci_pb.Response:
        kind = request.WhichOneof("value")
        assert kind is not None
        try:
            result = self._handlers[kind](getattr(request, kind))
        except Exception:
            message = f"{kind} failed: {traceback.format_exc()}"
            log.critical("application error; answering with ResponseException and closing: %s", message)
            return abci_pb.Response(exception=abci_pb.ResponseException(error=message))
        return abci_pb.Response(**{kind: result})
