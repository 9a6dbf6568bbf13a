"""Signature recovery, the single largest cost of a tx, spread over cores and done once per tx.

Results are cached by tx hash: a tx recovered for CheckTx is not recovered again for FinalizeBlock.
Recovery is a pure function, so the cache cannot change results. Two ways to recover a batch:
  a thread pool (the node): libsecp256k1 (through coincurve's cffi binding) releases the
      interpreter lock, so threads recover on every core while the caller waits for the batch;
  a RecoveryProcess (the mempool worker): a process of its own recovers the signatures sent to
      it in order while the caller goes on checking the txs before them, and each signer is
      collected when its tx is checked. Threads cannot do this: a thread that gives the
      interpreter up at every recovery waits a whole switch interval (5 ms) to get it back while
      the caller computes (docs/performance.md).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from modules.auth.errors import BadSignature
from wire.codec import DecodedTx
from wire.crypto import SIGNATURE_BYTES, recover_address
from wire.eip712 import tx_digest

log = logging.getLogger("perpchain.sigverify")

_PARALLEL_BELOW = 8  # smaller batches cost more to hand over than to recover inline
_ADDRESS_BYTES = 20
# What a RecoveryProcess is sent per signature: what the EIP-712 digest is made of and the
# signature (account, nonce, signature, chain id's length, body's length), then the chain id and
# the body: the process makes the digest too, on its own core.
_RECORD = struct.Struct(f">{_ADDRESS_BYTES}sQ{SIGNATURE_BYTES}sII")
_RESULT_BYTES = 1 + _ADDRESS_BYTES  # 0 || address, or 1 || zeros for a signature that does not recover
_NOT_RECOVERED = b"\x01" + bytes(_ADDRESS_BYTES)
RESULTS_EVERY = 32  # the recovery process answers this many at a time, so the first wait is short
STARTED = b"S"  # the recovery process's first byte
MAX_OUTSTANDING = 1024  # sent and not collected: the answers (21 bytes each) always fit the socket's buffer


class RecoveryProcess:
    """`python -m app.sigverify` over a socket pair: STARTED once it runs, then records in (_RECORD),
    fixed-size answers out, in the order sent. It runs in a session of its own (as the mempool worker does: a signal meant
    for the node is not its) and exits when its socket closes."""

    def __init__(self) -> None:
        self._sock, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.sigverify", "--fd", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), start_new_session=True,
        )
        theirs.close()
        self._answers = bytearray()
        self._started = False

    def wait_started(self) -> None:
        """Block until the process has started (imported what it needs and said so)."""
        while not self._started:
            self._read()

    def _read(self) -> None:
        chunk = self._sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError(f"the recovery process exited (code {self.process.poll()})")
        if not self._started:
            self._started, chunk = True, chunk[len(STARTED):]
        self._answers += chunk

    def send(self, txs: Sequence[DecodedTx]) -> None:
        """Txs whose signatures to recover, each of them 65 bytes and each account 20."""
        pack = _RECORD.pack
        records: list[bytes] = []
        for decoded in txs:
            tx, chain_id = decoded.tx, decoded.tx.chain_id.encode()
            records += (pack(tx.account, tx.nonce, decoded.signature, len(chain_id), len(decoded.body)),
                        chain_id, decoded.body)
        self._sock.sendall(b"".join(records))

    def receive(self) -> list[bytes | None]:
        """The next answers in order (at least one; blocks until there is one): an address, or None
        for a signature that did not recover. Raises ConnectionError if the process is gone."""
        while len(self._answers) < _RESULT_BYTES:
            self._read()
        count = len(self._answers) // _RESULT_BYTES
        answers = bytes(self._answers[: count * _RESULT_BYTES])
        del self._answers[: count * _RESULT_BYTES]
        return [answers[i + 1 : i + _RESULT_BYTES] if answers[i] == 0 else None
                for i in range(0, len(answers), _RESULT_BYTES)]

    def close(self) -> None:
        self._sock.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


class SignerCache:
    """tx hash -> signer address (or the BadSignature it raised), least recently used dropped.
    With a `recoverer`, `prefetch` only sends a batch's signatures to it, and `signer` collects
    each answer when asked for it; without one, `prefetch` recovers on a thread pool and returns."""

    def __init__(self, capacity: int = 262_144, recoverer: RecoveryProcess | None = None) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[bytes, bytes | BadSignature] = OrderedDict()
        self.recoveries = 0  # signatures actually recovered, cache hits excluded
        self._recoverer = recoverer
        self._sent: OrderedDict[bytes, DecodedTx] = OrderedDict()  # at the recoverer, in the order sent
        self._workers = max(1, min(8, os.cpu_count() or 1))
        self._pool = (None if recoverer is not None
                      else ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="sigverify"))

    def signer(self, tx_hash: bytes, decoded: DecodedTx) -> bytes:
        """The recovered signer; raises BadSignature for a signature that does not recover."""
        entry = self._entries.get(tx_hash)
        if entry is None and tx_hash in self._sent:
            entry = self._collect_until(tx_hash)
        if entry is None:
            entry = _recover(decoded)
            self.recoveries += 1
            self.remember(tx_hash, entry)
        if isinstance(entry, BadSignature):
            raise entry
        return entry

    def prefetch(self, batch: Sequence[tuple[bytes, DecodedTx]]) -> None:
        """Recover a batch's missing signers ahead of their sequential processing: in parallel, or
        (with a recoverer) sent to it, to be collected as they are asked for."""
        if self._recoverer is not None:
            unsent = {h: d for h, d in batch if h not in self._entries and h not in self._sent
                      and len(d.signature) == SIGNATURE_BYTES}  # another length fails at once, when asked
            # (every decoded tx's account is 20 bytes: decoding refuses another length)
            self._send(list(unsent.items()))
            return
        missing = [(h, d) for h, d in batch if h not in self._entries]
        if len(missing) < _PARALLEL_BELOW or self._pool is None:
            return
        # One contiguous chunk per worker: a future per signature would cost more than recovering it.
        step = -(-len(missing) // self._workers)
        chunks = [[d for _, d in missing[i : i + step]] for i in range(0, len(missing), step)]
        entries = (entry for chunk in self._pool.map(_recover_all, chunks) for entry in chunk)
        for (tx_hash, _), entry in zip(missing, entries):
            self.recoveries += 1
            self.remember(tx_hash, entry)

    def remember(self, tx_hash: bytes, entry: bytes | BadSignature) -> None:
        """Keep a signer (recovered here, or reported by the mempool worker, which recovered it)."""
        self._entries[tx_hash] = entry
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._recoverer is not None:
            self._recoverer.close()

    def _send(self, pairs: list[tuple[bytes, DecodedTx]]) -> None:
        assert self._recoverer is not None
        for start in range(0, len(pairs), MAX_OUTSTANDING):
            part = pairs[start : start + MAX_OUTSTANDING]
            while self._sent and len(self._sent) + len(part) > MAX_OUTSTANDING:
                self._collect_until(next(iter(self._sent)))
            if self._recoverer is None:  # it failed while collecting: recovered on demand from now on
                return
            try:
                self._recoverer.send([d for _, d in part])
            except OSError as error:
                self._lose_recoverer(error)
                return
            self._sent.update(part)

    def _collect_until(self, tx_hash: bytes) -> bytes | BadSignature | None:
        """Take the recoverer's answers in order up to `tx_hash`'s and return its entry (None if the
        recoverer failed: the caller recovers it itself)."""
        found: bytes | BadSignature | None = None
        while tx_hash in self._sent:
            assert self._recoverer is not None
            try:
                answers = self._recoverer.receive()
            except OSError as error:
                self._lose_recoverer(error)
                return None
            for answer in answers:
                sent_hash, decoded = self._sent.popitem(last=False)
                # A signature that did not recover is recovered here once more, for its exact error.
                entry = answer if answer is not None else _recover(decoded)
                self.recoveries += 1
                self.remember(sent_hash, entry)
                if sent_hash == tx_hash:
                    found = entry
        return found

    def _lose_recoverer(self, error: Exception) -> None:
        """The recovery process is gone: what it had not answered is recovered here, when asked."""
        log.critical("signature recovery process failed (%s); recovering in this process from now on", error)
        assert self._recoverer is not None
        self._recoverer.close()
        self._recoverer = None
        self._sent.clear()


def _recover_all(chunk: Sequence[DecodedTx]) -> list[bytes | BadSignature]:
    return [_recover(decoded) for decoded in chunk]


def _recover(decoded: DecodedTx) -> bytes | BadSignature:
    try:
        return recover_address(decoded.digest, decoded.signature)
    except BadSignature as error:
        return error


def serve_recovery(sock: socket.socket) -> None:
    """The recovery process's loop: answer every complete record in order, RESULTS_EVERY at a time,
    until the socket closes."""
    sock.sendall(STARTED)
    pending = bytearray()
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            return
        pending += chunk
        data, at, answers = bytes(pending), 0, []
        while len(data) - at >= _RECORD.size:
            account, nonce, signature, chain_id_bytes, body_bytes = _RECORD.unpack_from(data, at)
            end = at + _RECORD.size + chain_id_bytes + body_bytes
            if end > len(data):
                break
            chain_id = data[at + _RECORD.size : at + _RECORD.size + chain_id_bytes].decode()
            digest = tx_digest(chain_id, account, nonce, data[end - body_bytes : end])
            at = end
            try:
                answers.append(b"\x00" + recover_address(digest, signature))
            except BadSignature:
                answers.append(_NOT_RECOVERED)
            if len(answers) == RESULTS_EVERY:
                sock.sendall(b"".join(answers))
                answers = []
        del pending[:at]
        if answers:
            sock.sendall(b"".join(answers))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.sigverify", description="a RecoveryProcess")
    parser.add_argument("--fd", required=True, type=int)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # it lives exactly as long as its socket
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        serve_recovery(socket.socket(fileno=args.fd))
    except (ConnectionError, BrokenPipeError):
        pass  # its owner went away mid-answer
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
