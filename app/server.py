"""The ABCI 2.0 socket server: CometBFT opens four connections (consensus, mempool, query,
snapshot) and sends length-delimited Request messages; each gets its Response in order.

Requests from all connections run one at a time on the event loop, so the Application needs no
locks. Given a mempool worker (app/mempool_worker.py), the server hands it the connection that
carries the first CheckTx, socket and unanswered bytes, and serves the others itself. The worker
serves that connection with this same class. A malformed frame closes its connection with a
logged error; a crash of the Application is logged with its traceback, answered with
ResponseException, and the connection closed.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from google.protobuf.message import DecodeError, Message

from app.framing import MalformedFrame, frame, split_frames
from wire.pb import abci_pb
from wire.varint import encode_uvarint

if TYPE_CHECKING:  # types only: the mempool worker serves with this class and needs neither
    from app.application import Application
    from app.metrics import Metrics

log = logging.getLogger("perpchain.abci")

_READ_BYTES = 1 << 20
PREFETCH_REQUESTS = 128  # a read's requests are answered in chunks of this many, the next one prefetched


def _dispatch_table(app: Any) -> dict[str, Callable[[Message], Message | bytes]]:
    """Request kind -> the app's method of that name (an app serving one connection has a few), or
    its `<name>_encoded` where it has one, which answers with the response message's bytes."""
    names = [field.name for field in abci_pb.Request.DESCRIPTOR.oneofs_by_name["value"].fields]
    return {name: getattr(app, f"{name}_encoded", None) or getattr(app, name) for name in names if hasattr(app, name)}


_RESPONSE_FIELD_TAGS = {field.name: encode_uvarint(field.number << 3 | 2)
                        for field in abci_pb.Response.DESCRIPTOR.oneofs_by_name["value"].fields}
"""Response's field of each kind of answer, as the tag that starts it in the Response's bytes."""


class MempoolHandoff(Protocol):
    def take_connection(self, fd: int, received: bytes) -> None: ...


class AbciServer:
    def __init__(self, app: Application | Any, metrics: Metrics | None = None,
                 mempool_worker: MempoolHandoff | None = None,
                 before_answering: Callable[[], None] | None = None) -> None:
        """`metrics`: what the server observes of each answered request (None: nothing, as the
        mempool worker, which counts its checks itself)."""
        self._app = app
        self.metrics = metrics
        self._handlers = _dispatch_table(app)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._mempool_worker = mempool_worker
        self._before_answering = before_answering  # called before each read's requests are answered

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
        port: int = self._server.sockets[0].getsockname()[1]  # (a socket's address is typed Any)
        return port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await self._server.wait_closed()

    async def serve_socket(self, sock: socket.socket, received: bytes) -> None:
        """Serve a connection accepted elsewhere, starting with the bytes already read from it."""
        reader, writer = await asyncio.open_connection(sock=sock, limit=_READ_BYTES)
        await self._serve(reader, writer, received)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: bytes = b"") -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername") or "unix socket"
        log.info("ABCI connection opened from %s", peer)
        try:
            await self._read_loop(reader, writer, received)
        except MalformedFrame as error:
            log.error("closing ABCI connection from %s: malformed frame: %s", peer, error)
        except (ConnectionError, asyncio.IncompleteReadError):
            log.info("ABCI connection from %s dropped", peer)
        except asyncio.CancelledError:
            log.info("ABCI connection from %s closed at shutdown", peer)  # not re-raised: we own it
        finally:
            self._connections.discard(task)
            writer.close()

    async def _read_loop(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: bytes) -> None:
        buffer = bytearray(received)
        while True:
            if not buffer:
                chunk = await reader.read(_READ_BYTES)
                if not chunk:
                    return
                buffer += chunk
            requests, used, malformed = self._take_requests(buffer)
            if self._mempool_worker is not None and any(r.WhichOneof("value") == "check_tx" for r in requests):
                self._hand_over(reader, writer, buffer)
                return
            del buffer[:used]
            if not await self._answer(requests, writer):
                return
            if malformed is not None:
                raise malformed  # after answering every request that preceded it
            if buffer:  # a request not complete yet: wait for the rest
                chunk = await reader.read(_READ_BYTES)
                if not chunk:
                    return
                buffer += chunk

    def _hand_over(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, buffer: bytearray) -> None:
        """Pass the mempool connection to the worker with every byte read from it and not yet
        answered: this task's buffer, then what the transport read ahead into the stream reader
        (its buffer is private, hence the getattr; reading is paused first so nothing more
        arrives here). This process's copy of the socket closes when the connection's task ends,
        which does not end the connection: the worker holds its own copy."""
        assert self._mempool_worker is not None
        transport = writer.transport
        assert isinstance(transport, asyncio.Transport)  # a socket's: it reads too
        transport.pause_reading()
        read_ahead: bytearray = getattr(reader, "_buffer")
        received = bytes(buffer) + bytes(read_ahead)
        read_ahead.clear()
        sock = writer.get_extra_info("socket")
        self._mempool_worker.take_connection(sock.fileno(), received)
        log.info("handed the mempool connection to the mempool worker")  # again if CometBFT reconnects

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
        if self._before_answering is not None:
            self._before_answering()
        self._prefetch(requests[:PREFETCH_REQUESTS])
        answers: list[bytes] = []  # written together: a write per response costs a send() each
        for index, request in enumerate(requests):
            if index % PREFETCH_REQUESTS == 0:  # the next chunk's signatures, one chunk ahead
                self._prefetch(requests[index + PREFETCH_REQUESTS : index + 2 * PREFETCH_REQUESTS])
            if self.metrics is None:
                response = self._handle(request)
            else:
                started = time.perf_counter()
                response = self._handle(request)
                self.metrics.observe(request, response, time.perf_counter() - started)
            if isinstance(response, bytes):
                answers.append(frame(response))
                continue
            answers.append(frame(response.SerializeToString()))
            kind = response.WhichOneof("value")
            if kind == "exception":
                writer.write(b"".join(answers))
                await writer.drain()
                return False
            if kind == "flush":  # what the client waits for goes out now, not after the whole read
                writer.write(b"".join(answers))
                answers = []
        writer.write(b"".join(answers))
        await writer.drain()
        return True

    def _prefetch(self, requests: list[abci_pb.Request]) -> None:
        """Have the signatures of a chunk of CheckTx requests recovered on other cores: the node's
        waits for the chunk, the mempool worker's goes on answering the chunk before it meanwhile
        (app/sigverify.py)."""
        txs = [r.check_tx.tx for r in requests if r.WhichOneof("value") == "check_tx"]
        if len(txs) > 1 and hasattr(self._app, "prefetch_signers"):
            self._app.prefetch_signers(txs)

    def _handle(self, request: abci_pb.Request) -> abci_pb.Response | bytes:
        """The Response to `request`, or its bytes where the app encoded its answer itself."""
        kind = request.WhichOneof("value")
        assert kind is not None
        handler = self._handlers.get(kind)
        if handler is None:
            log.error("%s is not served on this connection; answering with ResponseException", kind)
            return abci_pb.Response(exception=abci_pb.ResponseException(error=f"{kind} is not served here"))
        try:
            result = handler(getattr(request, kind))
        except Exception:
            message = f"{kind} failed: {traceback.format_exc()}"
            log.critical("application error; answering with ResponseException and closing: %s", message)
            return abci_pb.Response(exception=abci_pb.ResponseException(error=message))
        if isinstance(result, bytes):
            return _RESPONSE_FIELD_TAGS[kind] + encode_uvarint(len(result)) + result
        response = abci_pb.Response()
        getattr(response, kind).CopyFrom(result)  # the field of the request's kind holds the answer
        return response
