"""The ABCI socket server on a real loopback socket: framing, ordering, malformed input."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Iterator

import pytest

from app.application import Application
from app.framing import frame, split_frames
from app.server import AbciServer
from app.store import CommittedStore
from wire.pb import abci_pb


async def _exchange(port: int, payload: bytes, expect: int) -> tuple[list[abci_pb.Response], bool]:
    """Send raw bytes, read `expect` responses; report whether the server then closed the socket."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    buffer = b""
    frames: list[bytes] = []
    while len(frames) < expect:
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        if not chunk:
            break
        buffer += chunk
        frames, _, _ = split_frames(buffer)
    try:
        closed = await asyncio.wait_for(reader.read(1), 2) == b""
    except asyncio.TimeoutError:
        closed = False
    writer.close()
    return [abci_pb.Response.FromString(f) for f in frames], closed


def _framed(request: abci_pb.Request) -> bytes:
    return frame(request.SerializeToString())


ServerPort = tuple[asyncio.AbstractEventLoop, int]  # the loop the server runs on, and its port


@pytest.fixture
def server_port(tmp_path: Path) -> Iterator[ServerPort]:
    loop = asyncio.new_event_loop()
    store = CommittedStore(tmp_path / "db")
    server = AbciServer(Application(store))
    loop.run_until_complete(server.start("tcp://127.0.0.1:0"))
    yield loop, server.port
    loop.run_until_complete(server.close())
    loop.close()
    store.close()


def test_pipelined_requests_are_answered_in_order(server_port: ServerPort) -> None:
    loop, port = server_port
    payload = b"".join(_framed(request) for request in [
        abci_pb.Request(echo=abci_pb.RequestEcho(message="a")), abci_pb.Request(info=abci_pb.RequestInfo()),
        abci_pb.Request(echo=abci_pb.RequestEcho(message="b")), abci_pb.Request(flush=abci_pb.RequestFlush())])
    responses, closed = loop.run_until_complete(_exchange(port, payload, 4))
    assert [r.WhichOneof("value") for r in responses] == ["echo", "info", "echo", "flush"]
    assert (responses[0].echo.message, responses[2].echo.message) == ("a", "b")
    assert responses[1].info.last_block_height == 0 and not closed


@pytest.mark.parametrize(
    ("payload", "logged"),
    [
        (b"\xff" * 11, "longer than 10 bytes"),
        (b"\x05\xff\xff\xff\xff\xff", "not an ABCI Request"),
        (frame(b"\xa8\x1f\x01"), "no known request type"),  # field 501: not a request of v0.38
    ],
    ids=["overlong length prefix", "bytes that are not protobuf", "unknown request type"],
)
def test_a_malformed_frame_closes_its_connection_with_a_logged_error(
    server_port: ServerPort, caplog: pytest.LogCaptureFixture, payload: bytes, logged: str
) -> None:
    loop, port = server_port
    good = _framed(abci_pb.Request(echo=abci_pb.RequestEcho(message="before")))
    with caplog.at_level(logging.ERROR, logger="perpchain.abci"):
        responses, closed = loop.run_until_complete(_exchange(port, good + payload, 2))
    assert [r.echo.message for r in responses] == ["before"]
    assert closed
    assert any(logged in record.getMessage() for record in caplog.records)
    # The server lives on: a new connection is served.
    after = _framed(abci_pb.Request(echo=abci_pb.RequestEcho(message="after")))
    again, _ = loop.run_until_complete(_exchange(port, after, 1))
    assert again[0].echo.message == "after"


def test_an_application_failure_is_answered_with_an_exception_and_closes(server_port: ServerPort) -> None:
    loop, port = server_port
    commit_without_block = _framed(abci_pb.Request(commit=abci_pb.RequestCommit()))
    responses, closed = loop.run_until_complete(_exchange(port, commit_without_block, 1))
    assert responses[0].WhichOneof("value") == "exception"
    assert "Commit without a finalized block" in responses[0].exception.error
    assert closed


class _EncodingApp:
    """An app that answers FinalizeBlock with the response's bytes (as Application does)."""

    answer = abci_pb.ResponseFinalizeBlock(app_hash=b"\x01" * 32, tx_results=[abci_pb.ExecTxResult(code=3, log="no")])

    def echo(self, req: abci_pb.RequestEcho) -> abci_pb.ResponseEcho:
        return abci_pb.ResponseEcho(message=req.message)

    def finalize_block(self, req: abci_pb.RequestFinalizeBlock) -> abci_pb.ResponseFinalizeBlock:
        raise AssertionError("the server takes the encoded answer")

    def finalize_block_encoded(self, req: abci_pb.RequestFinalizeBlock) -> bytes:
        if req.height == 0:
            raise RuntimeError("no height")
        return self.answer.SerializeToString()


def test_an_answer_the_app_encoded_is_sent_as_the_response_of_its_kind() -> None:
    loop = asyncio.new_event_loop()
    server = AbciServer(_EncodingApp())
    loop.run_until_complete(server.start("tcp://127.0.0.1:0"))
    try:
        payload = b"".join(_framed(request) for request in [
            abci_pb.Request(finalize_block=abci_pb.RequestFinalizeBlock(height=1)),
            abci_pb.Request(echo=abci_pb.RequestEcho(message="after")),
            abci_pb.Request(finalize_block=abci_pb.RequestFinalizeBlock(height=0))])
        responses, closed = loop.run_until_complete(_exchange(server.port, payload, 3))
    finally:
        loop.run_until_complete(server.close())
        loop.close()
    assert [r.WhichOneof("value") for r in responses] == ["finalize_block", "echo", "exception"]
    assert responses[0].finalize_block == _EncodingApp.answer and responses[1].echo.message == "after"
    assert "no height" in responses[2].exception.error and closed
