"""`checktx` benchmark: CheckTx throughput over the real ABCI socket.

The app runs as its own process (`perpchain node`), as under CometBFT. One connection sets up the
chain (InitChain funding K accounts, FinalizeBlock at height 1 with the current time, Commit), then
N pre-signed transfers are pipelined over it as CheckTx requests, in batches each followed by a
Flush with a few batches in flight, the way CometBFT's socket client feeds the mempool connection.
One more transfer is checked alone before the clock starts: the first CheckTx hands the connection
to the mempool worker, which may still be starting (importing, loading its books) beside the
node's own start; `handoff_ms` is that first answer's wait, and the throughput is the steady state's.
Every CheckTx must answer code 0, or the benchmark fails: rejected txs measure nothing. Signing
happens before the clock starts. Afterwards the same code paths are timed in-process (on a chain
set up alike through app/driver.py), one stage at a time, so a figure below the goal says where
the time went:
  abci_codec_us_per_tx        framing + protobuf of Request and Response
  decode_us_per_tx            ante.decode: tx hash, SignedTx protobuf, range checks
  recover_us_per_tx           EIP-712 digest + secp256k1 recovery + address, one thread (the
                              mempool worker's recovery process does this part on its own core)
  prefetch_parallel_us_per_tx SignerCache.prefetch over the thread pool (wall time)
  execute_us_per_tx           admit (signer cached) + branch + execute_tx + write
  nonce_us_per_tx             the nonce-list part of execution alone
  check_tx_warm_us_per_tx     Application.check_tx, signer cached, nothing prefetched
  inprocess_us_per_tx         the server's per-read path without the socket
  socket_overhead_us_per_tx   checktx_us_per_tx - inprocess_us_per_tx
Then, on the same node, under load: a second connection sends a FinalizeBlock of the N transfers
just checked (height 2; their signers are cached, as for txs that reached the block through the
mempool) while the first pipelines S more CheckTx, as CometBFT does when txs arrive during a block:
  checktx_under_load_tx_per_s CheckTx answered between sending the FinalizeBlock and receiving
                              its response, per second of that interval
  under_load_block_s          that interval
  under_load_first_answer_ms  from sending the FinalizeBlock to the first CheckTx answer
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from app import ante
from app.driver import Genesis, InProcessChain, timestamp
from app.framing import frame, split_frames
from app.router import check_tx, keepers_over
from app.sigverify import SignerCache
from app.store import CacheStore
from bench.common import AppProcess, BenchmarkFailed
from genesis.app_state import build_app_state
from modules.auth.keeper import AuthKeeper
from modules.bank.types import Transfer
from modules.context import BlockContext
from modules.orderbook.keeper import OrderbookKeeper
from modules.types import SubaccountId
from wire.codec import DecodedTx, Tx, sign_tx
from wire.crypto import PrivateKey, keccak256, recover_address
from wire.pb import abci_pb

CHECKTX_DEFAULT_TXS = 20_000
CHECKTX_GOAL_TX_PER_S = 15_000
CHECKTX_ACCOUNTS = 200
CHECKTX_BATCH_TXS = 500  # requests written before each Flush
CHECKTX_BATCHES_IN_FLIGHT = 3  # batches written but not yet answered up to their Flush
UNDER_LOAD_STREAM_TXS = 30_000  # CheckTx sent meanwhile: more than a block's time can answer
BREAKDOWN_TXS = 20_000  # txs the in-process stage timings run over (all of the default run: an
# account's nonce list grows with its txs, so execution costs depend on how many ran before)
CHAIN_ID = "perpchain-bench"
FUNDED_MICRO_USDC = 1_000_000_000_000
TRANSFER_MICRO_USDC = 1


def run(size: int = 0) -> dict[str, object]:
    txs_total = size if size > 0 else CHECKTX_DEFAULT_TXS
    accounts = min(CHECKTX_ACCOUNTS, txs_total)
    block_time_ms = int(time.time() * 1000)
    base_nonce = block_time_ms - 60_000  # inside (block time - 2 days, block time + 1 day)

    secrets = [_account_secret(i) for i in range(accounts)]
    started = time.perf_counter()
    txs = sign_transfers(secrets, txs_total, base_nonce)
    sign_s = time.perf_counter() - started
    addresses = _addresses(secrets)
    app_state = _app_state(addresses)
    print(f"checktx: signed {txs_total} transfers from {accounts} accounts in {sign_s:.1f}s "
          f"({len(txs[0])} bytes each)", flush=True)

    with tempfile.TemporaryDirectory(prefix="perpchain-bench-") as tmp:
        root = Path(tmp)
        node = AppProcess(root / "node-data", root / "node.log")
        try:
            node.start()
            with socket.create_connection(("127.0.0.1", node.port)) as conn:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                _set_up_chain(conn, app_state, block_time_ms)
                handoff_s = _pipeline_check_txs(conn, sign_transfers(secrets[:2], 1, base_nonce - 1))
                elapsed_s = _pipeline_check_txs(conn, txs)
                under_load = _check_txs_beside_a_block(node.port, conn, txs, secrets, base_nonce + txs_total,
                                                       block_time_ms)
            node.check_alive()
        except BenchmarkFailed as error:
            raise BenchmarkFailed(f"{error}\n--- app log tail ---\n{node.log_tail()}") from None
        finally:
            node.stop()
        tx_per_s = txs_total / elapsed_s
        print(f"checktx: {txs_total} CheckTx over the ABCI socket in {elapsed_s:.3f}s = {tx_per_s:,.0f} tx/s "
              f"(goal {CHECKTX_GOAL_TX_PER_S:,}, {os.cpu_count()} cores)", flush=True)
        breakdown = _breakdown(root, app_state, block_time_ms, txs[: min(BREAKDOWN_TXS, txs_total)])

    figures: dict[str, object] = {
        "bench": "checktx",
        "checktx_tx_per_s": round(tx_per_s, 1),
        "goal_tx_per_s": CHECKTX_GOAL_TX_PER_S,
        "meets_goal": tx_per_s >= CHECKTX_GOAL_TX_PER_S,
        "txs": txs_total,
        "accounts": accounts,
        "tx_bytes": len(txs[0]),
        "batch_txs": CHECKTX_BATCH_TXS,
        "batches_in_flight": CHECKTX_BATCHES_IN_FLIGHT,
        "elapsed_s": round(elapsed_s, 4),
        "handoff_ms": round(handoff_s * 1000, 1),
        "cores": os.cpu_count(),
        "sign_s": round(sign_s, 2),
        "checktx_us_per_tx": round(1e6 / tx_per_s, 2),
        **under_load,
        **breakdown,
    }
    # What the socket, the second process and the load generator add (noise can make it negative).
    figures["socket_overhead_us_per_tx"] = round(1e6 / tx_per_s - breakdown["inprocess_us_per_tx"], 2)
    print("checktx: where a tx's time goes (us per tx; stages timed in-process on one core, "
          "prefetch_parallel on the sigverify pool): "
          + ", ".join(f"{k}={v}" for k, v in figures.items() if k.endswith("_us_per_tx")), flush=True)
    return figures


def _account_secret(index: int) -> bytes:
    """Deterministic keys, so runs compare; any value in 1..n-1 is a valid secp256k1 key."""
    return (0xBE7C_0000 + index + 1).to_bytes(32, "big")


def _addresses(secrets: Sequence[bytes]) -> list[bytes]:
    return [PrivateKey(s).address for s in secrets]


def _app_state(addresses: Sequence[bytes]) -> dict[str, Any]:
    return build_app_state([("0x" + a.hex(), 0, FUNDED_MICRO_USDC) for a in addresses], markets=[])


def sign_transfers(secrets: Sequence[bytes], count: int, base_nonce: int) -> list[bytes]:
    """`count` distinct signed transfers: tx i is from account i % K to the next account, with
    nonce base_nonce + i, so each account's nonces rise in send order. Signed on every core."""
    workers = max(1, os.cpu_count() or 1)
    step = max(1, -(-count // (workers * 4)))
    chunks = [(list(secrets), start, min(count, start + step), base_nonce) for start in range(0, count, step)]
    if workers == 1 or count < 2_000:
        return [raw for chunk in chunks for raw in _sign_chunk(chunk)]
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    with context.Pool(workers) as pool:
        return [raw for part in pool.map(_sign_chunk, chunks) for raw in part]


def _sign_chunk(chunk: tuple[list[bytes], int, int, int]) -> list[bytes]:
    secrets, start, end, base_nonce = chunk
    keys = [PrivateKey(s) for s in secrets]
    addresses = [k.address for k in keys]
    out = []
    for i in range(start, end):
        sender = i % len(keys)
        recipient = SubaccountId(addresses[(sender + 1) % len(keys)], 0)
        action = Transfer(from_subaccount=0, to=recipient, amount_micro_usdc=TRANSFER_MICRO_USDC)
        tx = Tx(chain_id=CHAIN_ID, account=addresses[sender], nonce=base_nonce + i, actions=(action,))
        out.append(sign_tx(keys[sender], tx))
    return out


def _framed(request: abci_pb.Request) -> bytes:
    return frame(request.SerializeToString())


def _setup_requests(app_state: dict[str, Any], block_time_ms: int) -> list[abci_pb.Request]:
    """The chain's set-up over the socket: InitChain, block 1 at `block_time_ms`, Commit."""
    return [
        abci_pb.Request(init_chain=Genesis(CHAIN_ID, app_state).request()),
        abci_pb.Request(finalize_block=abci_pb.RequestFinalizeBlock(height=1, time=timestamp(block_time_ms))),
        abci_pb.Request(commit=abci_pb.RequestCommit()),
    ]


class _ResponseReader:
    """Responses off a socket, frame by frame."""

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn
        self._buffer = bytearray()
        self._frames: list[bytes] = []
        self._next = 0

    def frames(self) -> list[bytes]:
        """At least one complete response frame (blocks until there is one)."""
        while True:
            frames, used, malformed = split_frames(self._buffer)
            if malformed is not None:
                raise BenchmarkFailed(f"app sent a malformed frame: {malformed}")
            if frames:
                del self._buffer[:used]
                return frames
            chunk = self._conn.recv(1 << 20)
            if not chunk:
                raise BenchmarkFailed("app closed the ABCI connection")
            self._buffer += chunk

    def one(self) -> abci_pb.Response:
        if self._next >= len(self._frames):
            self._frames, self._next = self.frames(), 0
        response = abci_pb.Response.FromString(self._frames[self._next])
        self._next += 1
        return response


def _set_up_chain(conn: socket.socket, app_state: dict[str, Any], block_time_ms: int) -> None:
    requests = _setup_requests(app_state, block_time_ms)
    conn.sendall(b"".join(_framed(r) for r in [*requests, abci_pb.Request(flush=abci_pb.RequestFlush())]))
    reader = _ResponseReader(conn)
    for request in requests:
        response = reader.one()
        kind = request.WhichOneof("value")
        if response.WhichOneof("value") != kind:
            raise BenchmarkFailed(f"{kind} answered with {response}")
        if kind == "finalize_block" and response.finalize_block.tx_results:
            raise BenchmarkFailed("FinalizeBlock at height 1 returned tx results for no txs")
    if reader.one().WhichOneof("value") != "flush":
        raise BenchmarkFailed("setup Flush not answered")


def _check_txs_beside_a_block(port: int, mempool: socket.socket, block_txs: Sequence[bytes], secrets: Sequence[bytes],
                              base_nonce: int, block_time_ms: int) -> dict[str, object]:
    """CheckTx throughput while a FinalizeBlock executes (the module docstring's under-load figures)."""
    stream = sign_transfers(secrets, UNDER_LOAD_STREAM_TXS, base_nonce)
    block_done: list[float] = []
    answered_at: list[float] = []
    with socket.create_connection(("127.0.0.1", port)) as consensus:
        consensus.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = _ResponseReader(consensus)

        def finalize() -> None:
            response = reader.one()
            block_done.append(time.perf_counter())
            if response.WhichOneof("value") != "finalize_block":
                raise BenchmarkFailed(f"FinalizeBlock answered with {response}")

        waiter = threading.Thread(target=finalize, name="bench-block", daemon=True)
        waiter.start()
        block_sent = time.perf_counter()
        consensus.sendall(_framed(abci_pb.Request(finalize_block=abci_pb.RequestFinalizeBlock(
            height=2, txs=block_txs, time=timestamp(block_time_ms + 1_000)))))
        _pipeline_check_txs(mempool, stream, answered_at)
        waiter.join(120)
        if not block_done:
            raise BenchmarkFailed("FinalizeBlock of the under-load phase was not answered")
        consensus.sendall(_framed(abci_pb.Request(commit=abci_pb.RequestCommit())))
        if reader.one().WhichOneof("value") != "commit":
            raise BenchmarkFailed("Commit of the under-load phase not answered")
    block_s = block_done[0] - block_sent
    during = sum(1 for at in answered_at if at <= block_done[0])
    if during == len(stream):
        raise BenchmarkFailed("every CheckTx was answered before the block finished: send more to measure beside it")
    rate = during / block_s
    first_ms = (answered_at[0] - block_sent) * 1000
    print(f"checktx: {during:,} CheckTx answered during a {len(block_txs):,}-transfer FinalizeBlock of "
          f"{block_s:.3f}s = {rate:,.0f} tx/s, the first after {first_ms:,.0f} ms", flush=True)
    return {"checktx_under_load_tx_per_s": round(rate, 1), "under_load_goal_tx_per_s": CHECKTX_GOAL_TX_PER_S,
            "under_load_meets_goal": rate >= CHECKTX_GOAL_TX_PER_S, "under_load_block_s": round(block_s, 3),
            "under_load_first_answer_ms": round(first_ms, 1),
            "under_load_block_txs": len(block_txs), "under_load_checktx_during_block": during}


def _pipeline_check_txs(conn: socket.socket, txs: Sequence[bytes], answered_at: list[float] | None = None) -> float:
    """Write every CheckTx in batches (each closed by a Flush, a few batches in flight) from one
    thread, read every response in this one; seconds from the first write to the last response.
    `answered_at`, if given, receives the time each CheckTx response was read."""
    flush = _framed(abci_pb.Request(flush=abci_pb.RequestFlush()))
    batches = [
        b"".join(_framed(abci_pb.Request(check_tx=abci_pb.RequestCheckTx(tx=tx, type=abci_pb.NEW))) for tx in txs[i : i + CHECKTX_BATCH_TXS])
        + flush
        for i in range(0, len(txs), CHECKTX_BATCH_TXS)
    ]
    window = threading.Semaphore(CHECKTX_BATCHES_IN_FLIGHT)
    write_error: list[BaseException] = []

    def write_all() -> None:
        try:
            for batch in batches:
                window.acquire()
                conn.sendall(batch)
        except BaseException as error:  # reported by the reader once it stops hearing back
            write_error.append(error)

    reader = _ResponseReader(conn)
    answered = flushes = 0
    writer = threading.Thread(target=write_all, name="bench-writer", daemon=True)
    started = time.perf_counter()
    writer.start()
    try:
        while flushes < len(batches):
            for data in reader.frames():
                response = abci_pb.Response.FromString(data)
                kind = response.WhichOneof("value")
                if kind == "check_tx":
                    result = response.check_tx
                    if result.code != 0:
                        raise BenchmarkFailed(
                            f"CheckTx #{answered} rejected: code {result.code} codespace {result.codespace!r}: {result.log}")
                    answered += 1
                    if answered_at is not None:
                        answered_at.append(time.perf_counter())
                elif kind == "flush":
                    flushes += 1
                    window.release()
                elif kind == "exception":
                    raise BenchmarkFailed(f"app answered with an exception: {response.exception.error}")
                else:
                    raise BenchmarkFailed(f"unexpected {kind} response on the mempool connection")
    except OSError as error:
        raise BenchmarkFailed(f"ABCI connection failed: {error} {write_error}") from None
    elapsed = time.perf_counter() - started
    writer.join(5)
    if answered != len(txs):
        raise BenchmarkFailed(f"{answered} CheckTx answers for {len(txs)} requests")
    return elapsed


# -- in-process breakdown -------------------------------------------------------------------------


def _fresh_chain(path: Path, app_state: dict[str, Any], block_time_ms: int) -> InProcessChain:
    """A chain over its own LevelDB, set up as the node was over the socket."""
    chain = InProcessChain.start(path, Genesis(CHAIN_ID, app_state))
    chain.block(time_ms=block_time_ms)
    return chain


def _per_tx_us(count: int, run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return round((time.perf_counter() - started) / count * 1e6, 2)


def _breakdown(root: Path, app_state: dict[str, Any], block_time_ms: int, txs: Sequence[bytes]) -> dict[str, float]:
    """Each stage of the server's CheckTx path, timed alone over the same txs."""
    count = len(txs)
    figures: dict[str, float] = {"breakdown_txs": count}
    requests = [_framed(abci_pb.Request(check_tx=abci_pb.RequestCheckTx(tx=tx, type=abci_pb.NEW))) for tx in txs]
    buffer = b"".join(requests)

    # ABCI framing and protobuf of requests and responses, as the server does them.
    def abci_codec() -> None:
        frames, _, _ = split_frames(buffer)
        parsed = [abci_pb.Request.FromString(f) for f in frames]
        ok = abci_pb.ResponseCheckTx(code=0, gas_wanted=1)
        for request in parsed:
            request.WhichOneof("value")
            frame(abci_pb.Response(check_tx=ok).SerializeToString())

    figures["abci_codec_us_per_tx"] = _per_tx_us(count, abci_codec)
    figures["keccak_us_per_call"] = _per_tx_us(count, lambda: [keccak256(tx) for tx in txs])
    decoded: list[tuple[bytes, DecodedTx]] = []
    figures["decode_us_per_tx"] = _per_tx_us(count, lambda: decoded.extend(ante.decode(tx) for tx in txs))
    figures["recover_us_per_tx"] = _per_tx_us(count, lambda: [recover_address(d.digest, d.signature) for _, d in decoded])

    signers = SignerCache()
    try:
        def prefetch() -> None:
            for i in range(0, count, CHECKTX_BATCH_TXS):
                signers.prefetch(decoded[i : i + CHECKTX_BATCH_TXS])

        figures["prefetch_parallel_us_per_tx"] = _per_tx_us(count, prefetch)

        with _fresh_chain(root / "breakdown-execute", app_state, block_time_ms) as chain:
            check = CacheStore(chain.store)
            ctx = BlockContext(CHAIN_ID, 2, block_time_ms)
            branch = CacheStore(check)
            keepers = keepers_over(branch, OrderbookKeeper.load_books(branch), ctx)

            def execute() -> None:  # what check_tx does after decoding, signers already recovered
                for tx_hash, d in decoded:
                    admitted = ante.admit(tx_hash, d, CHAIN_ID, signers)
                    check_tx(keepers, admitted)
                    branch.write()

            figures["execute_us_per_tx"] = _per_tx_us(count, execute)

            nonces = CacheStore(chain.store)

            def use_nonces() -> None:  # the nonce part of execution alone
                for _, d in decoded:
                    AuthKeeper(nonces).use_nonce(d.tx.account, d.tx.nonce, ctx.time_ms)

            figures["nonce_us_per_tx"] = _per_tx_us(count, use_nonces)
    finally:
        signers.close()

    # Application.check_tx itself with every signer already recovered (decode + admit + execute).
    with _fresh_chain(root / "breakdown-checktx", app_state, block_time_ms) as chain:
        app = chain.app
        for tx_hash, d in decoded:
            app.signers.signer(tx_hash, d)
        check_requests = [abci_pb.RequestCheckTx(tx=tx, type=abci_pb.NEW) for tx in txs]
        figures["check_tx_warm_us_per_tx"] = _per_tx_us(count, lambda: [app.check_tx(r) for r in check_requests])

    # The server's whole per-read path without the socket: parse, prefetch_signers, check_tx, answer.
    with _fresh_chain(root / "breakdown-inprocess", app_state, block_time_ms) as chain:
        app = chain.app
        chunk = CHECKTX_BATCH_TXS * 2

        def serve() -> None:
            for i in range(0, count, chunk):
                frames, _, _ = split_frames(b"".join(requests[i : i + chunk]))
                parsed = [abci_pb.Request.FromString(f) for f in frames]
                app.prefetch_signers([r.check_tx.tx for r in parsed])
                for request in parsed:
                    response = abci_pb.Response(check_tx=app.check_tx(request.check_tx))
                    if response.check_tx.code != 0:
                        raise BenchmarkFailed(f"in-process CheckTx rejected: {response.check_tx.log}")
                    frame(response.SerializeToString())

        inprocess_us = _per_tx_us(count, serve)
        figures["inprocess_us_per_tx"] = inprocess_us
        figures["inprocess_tx_per_s"] = round(1e6 / inprocess_us, 1)
    return figures
