"""`perpchain load`: a load generator against a running chain on this machine.

Accounts are funded from a faucet key; then txs flow in one of two modes, bounded by a duration
and optionally by a count:

- open loop (`rate`): txs are due at a fixed rate whatever the chain does, sent by a pool of
  threads, `batch` txs per JSON-RPC request (CometBFT answers a batch of broadcast_tx_sync in
  order, capped by its `rpc.max_request_batch_size`, 10 by default). Every tx is signed before
  the clock starts, so the timed phase measures the chain, not this process's signing.
- closed loop (`concurrency`): N senders, each submitting one tx and waiting until that tx is
  in a block (or refused at CheckTx) before it signs and sends its next.

The flow, fixed by `seed`: 60% market-maker re-quotes (one tx: cancel-all, then a post-only
ladder of `levels` prices on each side), takers crossing with IOC orders, and a share of bad txs
(an off-tick price, which CheckTx refuses with code 300). Makers all quote around one mid price,
so a post-only order never crosses and a good tx never fails in a block on its own.

A watcher reads every block and its results from the first node, so each tx gets: submit ->
CheckTx answer, submit -> seen in a block, its CheckTx code and its in-block code. Only txs with
code 0 in a block count as finalized orders. Prints a progress line per second on stderr and the
summary as JSON on its last stdout line; `csv_path` gets one row per tx.

Traffic goes only to loopback nodes unless `allow_remote` is set (see `require_loopback`).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import ipaddress
import json
import multiprocessing
import os
import random
import sys
import threading
import time
from base64 import b64decode, b64encode
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import urlsplit

import httpx

from client import CancelAll, Client, ClientError, PlaceOrder, PrivateKey, Side, SubaccountId, TimeInForce, Transfer
from client.times import rfc3339_to_ms

USDC = 1_000_000
QUOTE, BUY, SELL, BAD = "quote", "buy", "sell", "bad"
MAKER_SHARE_PPM = 600_000  # re-quotes among all txs; the rest (but the bad share) are takers
LADDER_STEP_TICKS = 5  # ticks between a maker's price levels
TAKER_REACH_TICKS = 50  # how far through the book a taker's IOC limit reaches
CSV_COLUMNS = ("sequence", "kind", "orders", "node", "submit_s", "checktx_ms", "in_block_ms", "checktx_code",
               "block_code", "height")


class RemoteNodeRefused(ValueError):
    """A node outside loopback without `allow_remote`: the load is meant for this machine's chain."""


def require_loopback(url: str) -> None:
    """Raise RemoteNodeRefused unless `url`'s host is 127.0.0.0/8, ::1 or `localhost` (no name is
    resolved: any other name could point anywhere)."""
    host = urlsplit(url).hostname  # lower case, without the brackets of [::1]
    if not host:
        raise RemoteNodeRefused(f"node URL {url!r} names no host (expected e.g. http://127.0.0.1:26657)")
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise RemoteNodeRefused(
            f"node URL {url!r}: {host} is not a loopback address (127.0.0.0/8, ::1, localhost). perpchain load "
            "sends its traffic only to a chain on this machine; pass --allow-remote to load another host")


@dataclass
class LoadConfig:
    nodes: list[str]
    faucet: PrivateKey
    accounts: int = 100
    rate: float = 200.0  # open loop: txs due per second
    concurrency: int = 0  # closed loop when > 0: txs in flight, each sender waits for its block
    duration_s: float = 20.0
    count: int = 0  # 0: bounded by duration only
    batch: int = 10  # txs per JSON-RPC request (open loop)
    bad_share_ppm: int = 20_000  # 2% bad txs
    levels: int = 15  # price levels per side in a market-maker re-quote (a real maker batches its ladder)
    threads: int = 32  # open loop: requests in flight, each waiting for its CheckTx answers
    seed: int = 7
    fund_usdc: int = 5_000  # per load account
    drain_s: float = 30.0  # after sending: give up waiting for accepted txs after this long without one landing
    drain_max_s: float = 120.0  # and after this long in all, so a run is bounded in time
    csv_path: Path | None = None
    allow_remote: bool = False
    read_results: bool = False  # read every block's results, not only those whose results hash shows a failure

    def __post_init__(self) -> None:
        if not self.nodes:
            raise ValueError("no node to send to")
        if not self.allow_remote:
            for url in self.nodes:
                require_loopback(url)
        if self.concurrency < 0 or (self.concurrency == 0 and self.rate <= 0):
            raise ValueError("give a positive rate (open loop) or a positive concurrency (closed loop)")
        if self.batch < 1:
            raise ValueError(f"batch must be at least 1, got {self.batch}")
        if not 1 <= 2 * self.levels + 1 <= 64:
            raise ValueError(f"levels must be 1..31 (a re-quote is one tx of at most 64 actions), got {self.levels}")

    @property
    def mode(self) -> str:
        return "closed" if self.concurrency else "open"


class TxPlan:
    """The kind of every tx in send order, drawn from one seeded generator as far as asked, so a
    seed gives the same flow and the same bad txs in every run."""

    def __init__(self, seed: int, bad_share_ppm: int) -> None:
        self._rng = random.Random(seed)
        self._bad_share_ppm = bad_share_ppm
        self._kinds: list[str] = []
        self._lock = threading.Lock()

    def kind(self, sequence: int) -> str:
        with self._lock:
            while len(self._kinds) <= sequence:
                roll = self._rng.randrange(1_000_000)
                if roll < self._bad_share_ppm:
                    self._kinds.append(BAD)
                elif roll < MAKER_SHARE_PPM:
                    self._kinds.append(QUOTE)
                else:
                    self._kinds.append(BUY if roll % 2 else SELL)
            return self._kinds[sequence]

    def kinds(self, count: int) -> list[str]:
        if count:
            self.kind(count - 1)
        return self._kinds[:count]


@dataclass(frozen=True)
class Flow:
    """What every tx of a run is built from: one market, its tick, and the mid all makers share."""

    market_id: int
    tick: int
    mid: int
    levels: int

    def orders(self, kind: str) -> int:
        return 2 * self.levels if kind == QUOTE else 1

    def actions(self, kind: str) -> list[Any]:
        if kind == BAD:  # off tick on purpose: refused at CheckTx with code 300
            return [PlaceOrder(0, self.market_id, Side.BUY, self.mid + 1, 100)]
        if kind == QUOTE:  # cancel the maker's book, post a ladder on both sides
            actions: list[Any] = [CancelAll(0, self.market_id)]
            for level in range(1, self.levels + 1):
                offset = level * self.tick * LADDER_STEP_TICKS
                actions.append(PlaceOrder(0, self.market_id, Side.BUY, self.mid - offset, 100, TimeInForce.GTC,
                                          post_only=True))
                actions.append(PlaceOrder(0, self.market_id, Side.SELL, self.mid + offset, 100, TimeInForce.GTC,
                                          post_only=True))
            return actions
        reach = self.tick * TAKER_REACH_TICKS
        if kind == BUY:
            return [PlaceOrder(0, self.market_id, Side.BUY, self.mid + reach, 100, TimeInForce.IOC)]
        return [PlaceOrder(0, self.market_id, Side.SELL, self.mid - reach, 100, TimeInForce.IOC)]


@functools.lru_cache(maxsize=4096)
def all_ok_results_hash(txs: int) -> bytes:
    """CometBFT's LastResultsHash of a block of `txs` txs that all ended with code 0, no data and
    no gas: the RFC 6962 Merkle root (leaf sha256(0x00 || leaf), node sha256(0x01 || left || right),
    split at the largest power of two below the count) of each result's deterministic protobuf
    fields, here all defaults, so every leaf is empty. No txs: sha256 of nothing."""
    if txs == 0:
        return hashlib.sha256(b"").digest()
    if txs == 1:
        return hashlib.sha256(b"\x00").digest()
    split = 1 << ((txs - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + all_ok_results_hash(split) + all_ok_results_hash(txs - split)).digest()


def mean_orders_per_tx(levels: int, bad_share_ppm: int) -> float:
    """Orders a tx of the flow carries on average: a re-quote (the maker share less the bad
    share) carries a ladder of 2 * levels, a taker one."""
    return (MAKER_SHARE_PPM - bad_share_ppm) / 1e6 * 2 * levels + (1 - MAKER_SHARE_PPM / 1e6)


def _sign_range(job: tuple[str, Flow, list[bytes], list[str], int, int]) -> list[bytes]:
    """Sign txs start.. of the plan (a worker process's share). Tx i is from account i % K with
    nonce base_nonce + i, so every account's nonces rise in send order."""
    url, flow, secrets, kinds, start, base_nonce = job
    keys = [PrivateKey(s) for s in secrets]
    client = Client(url)  # one status call for the chain id, then signing only
    try:
        return [client.build(keys[(start + i) % len(keys)], flow.actions(kind), base_nonce + start + i)
                for i, kind in enumerate(kinds)]
    finally:
        client.close()


@dataclass(slots=True)
class Sent:
    """One tx of the run and what happened to it (times are time.monotonic())."""

    sequence: int
    kind: str
    orders: int
    raw: bytes
    scheduled: float = 0.0  # open loop: when it was due
    submitted: float = 0.0
    checked: float = 0.0
    check_code: int | None = None  # None: the node never answered (see rpc_errors)
    included: float = 0.0
    height: int = 0
    block_code: int | None = None
    node: int = 0
    done: threading.Event | None = None  # closed loop: set once it is in a block


@dataclass(frozen=True)
class BlockSeen:
    height: int
    seen: float  # monotonic time the watcher first saw this height
    time_ms: int  # header time
    txs: int
    tx_bytes: int
    ours: int  # txs of this run in it


@dataclass
class _Counters:
    sent: int = 0
    accepted: int = 0
    refused: int = 0
    in_blocks: int = 0
    finalized_orders: int = 0
    height: int = 0
    mempool: int = 0


class LoadGenerator:
    def __init__(self, config: LoadConfig) -> None:
        self.config = config
        self.plan = TxPlan(config.seed, config.bad_share_ppm)
        self.keys = [PrivateKey.generate() for _ in range(config.accounts)]
        self.control = Client(config.nodes[0], timeout_s=30.0)
        self.flow: Flow | None = None
        self.entries: list[Sent] = []
        self.by_hash: dict[bytes, Sent] = {}
        self.blocks: list[BlockSeen] = []
        self.mempool: list[int] = []
        self.rpc_errors: dict[str, int] = {}
        self.unsettled: dict[int, tuple[int, list[tuple[int, Sent]]]] = {}  # height -> (txs, ours by index)
        self.results_read = 0  # blocks whose results were read: a tx failed there, or read_results
        self.counters = _Counters()
        self.lock = threading.Lock()
        self.sending_done = threading.Event()
        self.watch_stop = threading.Event()
        self.base_nonce = 0
        self.started = 0.0
        self.sending_s = 0.0
        self.max_block_bytes = 0
        self._local = threading.local()
        self._http: list[httpx.Client] = []

    # -- setup ----------------------------------------------------------------------------------

    def fund(self) -> None:
        client = self.control
        for start in range(0, len(self.keys), 60):
            batch = self.keys[start : start + 60]
            client.broadcast(client.build(self.config.faucet, [
                Transfer(0, SubaccountId(k.address, 0), self.config.fund_usdc * USDC) for k in batch]))

    def make_flow(self) -> Flow:
        client = self.control
        market = client.market("BTC-USD")
        tick = int(market["tick_size"])
        prices = [p for p in client.oracle_prices() if p["market_id"] == market["market_id"]]
        mid = int(prices[0]["price"] if prices and prices[0].get("price") else market["reference_price"])
        return Flow(int(market["market_id"]), tick, mid // tick * tick, self.config.levels)

    def prepare(self, count: int) -> None:
        """Sign txs 0..count-1 before the clock starts, on every core (signing is CPU-bound and
        the timed phase should measure the chain)."""
        assert self.flow is not None
        kinds = self.plan.kinds(count)
        secrets = [k.secret for k in self.keys]
        workers = max(1, os.cpu_count() or 1)
        step = max(1, -(-count // workers))
        jobs = [(self.config.nodes[0], self.flow, secrets, kinds[s : s + step], s, self.base_nonce)
                for s in range(0, count, step)]
        if workers == 1 or count < 2_000:
            signed = [raw for job in jobs for raw in _sign_range(job)]
        else:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                signed = [raw for part in pool.map(_sign_range, jobs) for raw in part]
        for sequence, (kind, raw) in enumerate(zip(kinds, signed)):
            self._add(Sent(sequence, kind, self.flow.orders(kind), raw))

    def _add(self, entry: Sent) -> None:
        with self.lock:
            self.entries.append(entry)
            self.by_hash[hashlib.sha256(entry.raw).digest()] = entry

    # -- sending --------------------------------------------------------------------------------

    def _client_for(self, node: int) -> httpx.Client:
        """This thread's keep-alive connection to `node`."""
        clients: dict[int, httpx.Client] | None = getattr(self._local, "clients", None)
        if clients is None:
            clients = self._local.clients = {}
        if node not in clients:
            clients[node] = httpx.Client(base_url=self.config.nodes[node], timeout=30.0)
            with self.lock:
                self._http.append(clients[node])
        return clients[node]

    def _broadcast(self, node: int, entries: Sequence[Sent]) -> None:
        """broadcast_tx_sync for each of `entries`, in one JSON-RPC request (a batch if several)."""
        body = [{"jsonrpc": "2.0", "id": e.sequence, "method": "broadcast_tx_sync",
                 "params": {"tx": b64encode(e.raw).decode()}} for e in entries]
        submitted = time.monotonic()
        for entry in entries:
            entry.submitted, entry.node = submitted, node
        with self.lock:
            self.counters.sent += len(entries)
        try:
            reply = self._client_for(node).post("/", json=body if len(body) > 1 else body[0]).json()
        except (httpx.HTTPError, ValueError) as error:
            self._rpc_error(type(error).__name__, len(entries))
            return
        answered = time.monotonic()
        answers = {a.get("id"): a for a in (reply if isinstance(reply, list) else [reply]) if isinstance(a, dict)}
        accepted = refused = 0
        for entry in entries:
            answer = answers.get(entry.sequence)
            if answer is None or "error" in answer:
                failure = (answer or {}).get("error") or {}
                self._rpc_error(f"{failure.get('message', 'no answer')} {failure.get('data', '')}".strip()[:80], 1)
                continue
            entry.checked = answered
            entry.check_code = int(answer["result"].get("code", 0))
            if entry.check_code == 0:
                accepted += 1
            else:
                refused += 1
                if entry.done is not None:
                    entry.done.set()
        with self.lock:
            self.counters.accepted += accepted
            self.counters.refused += refused

    def _rpc_error(self, message: str, count: int) -> None:
        with self.lock:
            self.rpc_errors[message] = self.rpc_errors.get(message, 0) + count

    def _open_loop(self) -> None:
        """Txs due at `rate` from the start, sent in batches of up to `batch` by the pool; a tick
        sends whatever is due, so a slow pool shows as send lag, not as a lower offered rate."""
        config = self.config
        total = len(self.entries)
        next_sequence = batches = 0
        pool = ThreadPoolExecutor(config.threads, thread_name_prefix="load-send")
        try:
            while next_sequence < total:
                elapsed = time.monotonic() - self.started
                if elapsed >= config.duration_s:
                    break
                due = min(total, int(elapsed * config.rate) + 1)  # tx i is due at i / rate
                while next_sequence < due:
                    chunk = self.entries[next_sequence : min(due, next_sequence + config.batch)]
                    for entry in chunk:
                        entry.scheduled = self.started + entry.sequence / config.rate
                    pool.submit(self._broadcast, batches % len(config.nodes), chunk)
                    next_sequence += len(chunk)
                    batches += 1
                # Wake when a full batch is due, or after 50 ms at low rates (no tx waits longer).
                full_batch_due = self.started + (next_sequence + config.batch - 1) / config.rate
                time.sleep(max(0.0, min(full_batch_due, time.monotonic() + 0.05) - time.monotonic()))
        finally:
            # The run is bounded in time: requests in flight finish, batches still queued (the
            # pool could not keep up) are never sent and show as unsent_txs.
            pool.shutdown(wait=True, cancel_futures=True)

    def _closed_loop(self) -> None:
        """`concurrency` senders; each signs a tx, submits it and waits for its block."""
        config = self.config
        assert self.flow is not None
        flow = self.flow
        sequence_lock = threading.Lock()
        signer = Client(config.nodes[0])

        def sender(index: int) -> None:
            node = index % len(config.nodes)
            while time.monotonic() - self.started < config.duration_s:
                with sequence_lock:  # sequences, and so each account's nonces, rise in send order
                    sequence = len(self.entries)
                    if config.count and sequence >= config.count:
                        return
                    kind = self.plan.kind(sequence)
                    raw = signer.build(self.keys[sequence % len(self.keys)], flow.actions(kind),
                                       self.base_nonce + sequence)
                    entry = Sent(sequence, kind, flow.orders(kind), raw, done=threading.Event())
                    self._add(entry)
                self._broadcast(node, [entry])
                if entry.check_code == 0:
                    assert entry.done is not None
                    entry.done.wait(config.drain_s)

        threads = [threading.Thread(target=sender, args=(i,), name=f"load-sender-{i}", daemon=True)
                   for i in range(config.concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        signer.close()

    # -- watching -------------------------------------------------------------------------------

    def _watch(self, from_height: int) -> None:
        watcher = Client(self.config.nodes[0], timeout_s=30.0)
        height = from_height
        try:
            while not self.watch_stop.is_set():
                try:
                    latest = watcher.height()
                    seen = time.monotonic()
                    if latest > height:
                        waiting = int(watcher.rpc.call("num_unconfirmed_txs")["n_txs"])
                        with self.lock:
                            self.mempool.append(waiting)
                            self.counters.mempool = waiting
                    while height < latest:
                        self._read_block(watcher, height + 1, seen)
                        height += 1
                except ClientError:
                    pass  # a slow or restarting node: ask again
                time.sleep(0.02)
        finally:
            watcher.close()

    def _read_block(self, watcher: Client, height: int, seen: float) -> None:
        """Note which of our txs block `height` carries; its header settles the previous block's codes."""
        block = watcher.rpc.call("block", height=str(height))["block"]
        raws = [b64decode(t) for t in block["data"]["txs"] or []]
        ours: list[tuple[int, Sent]] = []
        with self.lock:
            for index, raw in enumerate(raws):
                entry = self.by_hash.get(hashlib.sha256(raw).digest())
                if entry is None or entry.included:
                    continue
                ours.append((index, entry))
                entry.included, entry.height = seen, height
                if entry.done is not None:
                    entry.done.set()
            self.blocks.append(BlockSeen(height, seen, rfc3339_to_ms(block["header"]["time"]), len(raws),
                                         sum(len(r) for r in raws), len(ours)))
            self.counters.in_blocks += len(ours)
            self.counters.height = height
            if ours:
                self.unsettled[height] = (len(raws), ours)
        if height - 1 in self.unsettled:
            self._settle(watcher, height - 1, block["header"]["last_results_hash"])

    def _settle(self, watcher: Client, height: int, results_hash: str | None) -> None:
        """Give our txs in block `height` their in-block codes. The next header's last_results_hash
        commits to every tx's code (with its data and gas); when it equals the hash of all code 0,
        nothing failed and the block's results (megabytes of events) need not be read."""
        with self.lock:
            txs, ours = self.unsettled.pop(height)
        all_ok = (results_hash is not None and not self.config.read_results
                  and results_hash.upper() == all_ok_results_hash(txs).hex().upper())
        if all_ok:
            codes = {index: 0 for index, _ in ours}
        else:
            results = watcher.rpc.call("block_results", height=str(height)).get("txs_results") or []
            codes = {index: int(results[index].get("code", 0)) for index, _ in ours if index < len(results)}
        with self.lock:
            self.results_read += 0 if all_ok else 1
            for index, entry in ours:
                entry.block_code = codes.get(index)
                if entry.block_code == 0:
                    self.counters.finalized_orders += entry.orders

    def _drain(self) -> None:
        """Wait until every accepted tx is in a block and its code settled, `drain_s` with no new
        one, or `drain_max_s`."""
        started = last_progress = time.monotonic()
        last_count = -1
        while (time.monotonic() - last_progress < self.config.drain_s
               and time.monotonic() - started < self.config.drain_max_s):
            with self.lock:
                waiting = sum(1 for e in self.entries if e.check_code == 0 and not e.included)
                in_blocks = self.counters.in_blocks
                settled = not self.unsettled  # the block after the last one read too (its codes)
            if waiting == 0 and settled:
                return
            if in_blocks != last_count:
                last_progress, last_count = time.monotonic(), in_blocks
            time.sleep(0.1)

    # -- the run --------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        self.set_up()
        return self.measure()

    def set_up(self) -> None:
        """Everything before the clock: fund the accounts, read the market, sign (open loop)."""
        config = self.config
        self.fund()
        self.flow = self.make_flow()
        self.base_nonce = time.time_ns() // 1_000_000
        if config.mode == "open":
            self.prepare(config.count or int(config.rate * config.duration_s) + 1)
        # At the block before the latest: CometBFT's latest height can be in its block store before
        # the consensus params for it are in its state store ("could not find consensus params").
        settled = max(1, self.control.height() - 1)
        consensus = self.control.rpc.call("consensus_params", height=str(settled))["consensus_params"]
        self.max_block_bytes = int(consensus["block"]["max_bytes"])

    def measure(self) -> dict[str, Any]:
        """Send, wait for the accepted txs to land (or `drain_s` without progress), sum up."""
        config = self.config
        watcher = threading.Thread(target=self._watch, args=(self.control.height(),), name="load-watch", daemon=True)
        reporter = threading.Thread(target=self._report, name="load-progress", daemon=True)
        watcher.start()
        self.started = time.monotonic()
        reporter.start()
        try:
            self._open_loop() if config.mode == "open" else self._closed_loop()
            self.sending_s = time.monotonic() - self.started
            self._drain()
        finally:
            self.sending_done.set()
            self.watch_stop.set()
            watcher.join(timeout=60)
            reporter.join(timeout=5)
            for height in sorted(self.unsettled):  # the last blocks, whose next header was not read
                self._settle(self.control, height, None)
            for http in self._http:
                http.close()
            self.control.close()
        if config.csv_path is not None:
            write_csv(config.csv_path, self.entries, self.started)
        figures = summarize(config, self.entries, self.blocks, self.mempool, self.rpc_errors, self.sending_s,
                            self.max_block_bytes)
        figures["blocks_results_read"] = self.results_read
        return figures

    def _report(self) -> None:
        last_orders, last_time = 0, time.monotonic()
        while not self.sending_done.wait(1.0):
            now = time.monotonic()
            with self.lock:
                c = self.counters
                line = (f"[load] {now - self.started:5.1f}s sent {c.sent} accepted {c.accepted} refused {c.refused} "
                        f"in blocks {c.in_blocks} height {c.height} mempool {c.mempool} "
                        f"orders/s {(c.finalized_orders - last_orders) / (now - last_time):,.0f}")
                last_orders, last_time = c.finalized_orders, now
            print(line, file=sys.stderr, flush=True)


# -- figures --------------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which `fraction` of `values` lie (nearest rank); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _by_code(codes: Iterable[int]) -> dict[str, int]:
    return {str(code): count for code, count in sorted(Counter(codes).items())}


def _spread(prefix: str, values_ms: Sequence[float]) -> dict[str, float]:
    return {f"{prefix}p50_ms": round(percentile(values_ms, 0.50), 1),
            f"{prefix}p90_ms": round(percentile(values_ms, 0.90), 1),
            f"{prefix}p99_ms": round(percentile(values_ms, 0.99), 1),
            f"{prefix}max_ms": round(max(values_ms, default=0.0), 1)}


def summarize(config: LoadConfig, entries: Sequence[Sent], blocks: Sequence[BlockSeen], mempool: Sequence[int],
              rpc_errors: dict[str, int], sending_s: float, max_block_bytes: int) -> dict[str, Any]:
    """The run's figures. Finalized: in a block with code 0; throughput over the window from the
    first submit to the last finalized tx seen in a block; block figures over the blocks from the
    first to the last that carried a tx of the run."""
    sent = [e for e in entries if e.submitted]
    answered = [e for e in sent if e.check_code is not None]
    accepted = [e for e in answered if e.check_code == 0]
    included = [e for e in sent if e.included]
    finalized = [e for e in included if e.block_code == 0]
    first_submit = min((e.submitted for e in sent), default=0.0)
    window = max((e.included for e in finalized), default=first_submit) - first_submit
    heights = [e.height for e in included]
    load_blocks = [b for b in blocks if heights and min(heights) <= b.height <= max(heights)]
    intervals = [float(b.time_ms - a.time_ms) for a, b in zip(load_blocks, load_blocks[1:])]
    fullness = [100.0 * b.tx_bytes / max_block_bytes for b in load_blocks] if max_block_bytes else []
    lags = [(e.submitted - e.scheduled) * 1000 for e in sent if e.scheduled]
    finalized_orders = sum(e.orders for e in finalized)
    return {
        "mode": config.mode,
        "validators": len(config.nodes),
        "offered_rate_txs_per_s": config.rate if config.mode == "open" else None,
        "concurrency": config.concurrency or None,
        "batch_txs": config.batch if config.mode == "open" else 1,
        "offered_txs": sum(1 for e in entries if e.scheduled) if config.mode == "open" else len(sent),
        "unsent_txs": sum(1 for e in entries if e.scheduled and not e.submitted),
        "sent_txs": len(sent),
        "checktx_accepted_txs": len(accepted),
        "checktx_rejections_by_code": _by_code(e.check_code for e in answered if e.check_code),
        "rpc_errors": dict(sorted(rpc_errors.items())),
        "included_txs": len(included),
        "block_rejections_by_code": _by_code(e.block_code for e in included if e.block_code),
        "finalized_txs": len(finalized),
        "finalized_orders": finalized_orders,
        "lost_txs": sum(1 for e in accepted if not e.included),
        "window_s": round(window, 2),
        "orders_per_s": round(finalized_orders / window, 1) if window > 0 else 0.0,
        "txs_per_s": round(len(finalized) / window, 1) if window > 0 else 0.0,
        **_spread("", [(e.included - e.submitted) * 1000 for e in finalized]),
        **_spread("checktx_", [(e.checked - e.submitted) * 1000 for e in answered]),
        "send_lag_p99_ms": round(percentile(lags, 0.99), 1),
        "blocks": len(load_blocks),
        "block_interval_ms": round(percentile(intervals, 0.50), 1),
        "block_interval_p90_ms": round(percentile(intervals, 0.90), 1),
        "block_interval_max_ms": round(max(intervals, default=0.0), 1),
        "txs_per_block_median": int(percentile([float(b.txs) for b in load_blocks], 0.5)),
        "txs_per_block_max": max((b.txs for b in load_blocks), default=0),
        "block_fullness_percent_median": round(percentile(fullness, 0.5), 2),
        "block_fullness_percent_max": round(max(fullness, default=0.0), 2),
        "mempool_txs_median": int(percentile([float(m) for m in mempool], 0.5)),
        "mempool_txs_max": max(mempool, default=0),
        "sending_s": round(sending_s, 2),
        "sent_txs_per_s": round(len(sent) / sending_s, 1) if sending_s > 0 else 0.0,
    }


def write_csv(path: Path, entries: Sequence[Sent], started: float) -> None:
    """One row per tx: when it was submitted (s from the start), its latencies (ms, empty if it
    never got there) and codes (empty: no answer / not in a block)."""
    def ms(later: float, earlier: float) -> str:
        return f"{(later - earlier) * 1000:.1f}" if later and earlier else ""

    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for e in sorted(entries, key=lambda e: e.sequence):
            if not e.submitted:
                continue
            writer.writerow([e.sequence, e.kind, e.orders, e.node, f"{e.submitted - started:.4f}",
                             ms(e.checked, e.submitted), ms(e.included, e.submitted),
                             "" if e.check_code is None else e.check_code,
                             "" if e.block_code is None else e.block_code, e.height or ""])


def run_load(config: LoadConfig) -> dict[str, Any]:
    summary = LoadGenerator(config).run()
    print(json.dumps(summary))
    return summary
