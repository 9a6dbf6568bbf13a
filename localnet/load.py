"""`perpchain load`: a load generator against a running chain, through client/ only.

Accounts are funded from a faucet key in batches and every tx is built and signed up front (so
the timed phase measures the chain, not this process's signing). Then, open-loop at `rate` txs/s
for `duration` seconds (or until `count` txs): market makers re-quote (cancel-all + post-only ladders, one batch
tx each), takers cross with IOC orders, and a share of txs is bad on purpose (off tick). Each tx
goes to one of the nodes' RPC with broadcast_tx_sync from a pool of sender threads; a watcher
reads every new block and matches the txs it carries. Latencies are wall-clock from submit to
CheckTx answer and from submit to the block being seen.

Prints a progress line per second on stderr and a JSON summary as its last stdout line.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import sys
import threading
import time
from base64 import b64decode
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from client import CancelAll, Client, ClientError, PlaceOrder, PrivateKey, Side, SubaccountId, TimeInForce, Transfer
from client.errors import TxRejected

USDC = 1_000_000


@dataclass
class LoadConfig:
    nodes: list[str]
    faucet: PrivateKey
    accounts: int = 40
    rate: float = 200.0  # txs per second, open loop
    duration_s: float = 20.0
    count: int = 0  # 0: bounded by duration only
    bad_share_ppm: int = 20_000  # 2% bad txs
    levels: int = 15  # price levels per side in a market-maker batch (a real maker batches its ladder)
    threads: int = 48  # sync broadcasts in flight: each waits for its CheckTx answer
    seed: int = 7
    fund_usdc: int = 20_000  # per load account


@dataclass
class Sent:
    submitted: float
    orders: int
    checked: float = 0.0
    included: float = 0.0
    code: int | None = None


@dataclass
class LoadStats:
    sent: dict[str, Sent] = field(default_factory=dict)
    rejections: dict[int, int] = field(default_factory=dict)
    blocks: list[tuple[int, float, int]] = field(default_factory=list)  # height, seen at, txs
    mempool: list[int] = field(default_factory=list)  # unconfirmed txs, sampled once per block
    lock: threading.Lock = field(default_factory=threading.Lock)


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class LoadGenerator:
    def __init__(self, config: LoadConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.stats = LoadStats()
        self.stop = threading.Event()
        self.keys = [PrivateKey.generate() for _ in range(config.accounts)]
        self.clients = [Client(url, timeout_s=10.0) for url in config.nodes]
        self.market: dict[str, Any] = {}
        self.prepared: list[tuple[bytes, int]] = []  # (signed tx, orders it carries), in send order

    # -- setup ----------------------------------------------------------------------------------

    def fund(self) -> None:
        client = self.clients[0]
        self.market = client.market("BTC-USD")
        for start in range(0, len(self.keys), 60):
            batch = self.keys[start : start + 60]
            client.broadcast(client.build(self.config.faucet, [
                Transfer(0, SubaccountId(k.address, 0), self.config.fund_usdc * USDC) for k in batch]))

    # -- traffic --------------------------------------------------------------------------------

    def _build(self, client: Client, sequence: int, mid: int) -> tuple[bytes, int]:
        """Tx number `sequence`, signed, and the orders it carries. Every maker quotes around the
        same `mid`, so makers never cross each other; takers cross into them."""
        market_id, tick = self.market["market_id"], int(self.market["tick_size"])
        key = self.keys[sequence % len(self.keys)]
        roll = self.rng.randrange(1_000_000)
        if roll < self.config.bad_share_ppm:  # off tick on purpose
            return client.build(key, [PlaceOrder(0, market_id, Side.BUY, mid + 1, 100)]), 1
        if roll < 600_000:  # a market maker re-quotes: cancel its book, post a ladder on both sides
            actions: list[Any] = [CancelAll(0, market_id)]
            for level in range(1, self.config.levels + 1):
                actions.append(PlaceOrder(0, market_id, Side.BUY, mid - level * tick * 5, 100, TimeInForce.GTC,
                                          post_only=True))
                actions.append(PlaceOrder(0, market_id, Side.SELL, mid + level * tick * 5, 100, TimeInForce.GTC,
                                          post_only=True))
            return client.build(key, actions), 2 * self.config.levels
        side = Side.BUY if roll % 2 else Side.SELL
        limit = mid + tick * 50 if side == Side.BUY else mid - tick * 50
        return client.build(key, [PlaceOrder(0, market_id, side, limit, 100, TimeInForce.IOC)]), 1

    def prepare(self) -> None:
        """Build and sign every tx before the clock starts: the timed phase measures the chain,
        not this process's signing (which shares the machine's cores with it)."""
        client = self.clients[0]
        tick = int(self.market["tick_size"])
        prices = [p for p in client.oracle_prices() if p["market_id"] == self.market["market_id"]]
        mid = int(prices[0]["price"] if prices and prices[0].get("price") else self.market["reference_price"])
        mid = mid // tick * tick
        total = self.config.count or int(self.config.rate * self.config.duration_s) + 1
        self.prepared = [self._build(client, sequence, mid) for sequence in range(total)]

    def _send(self, sequence: int) -> None:
        client = self.clients[sequence % len(self.clients)]
        raw, orders = self.prepared[sequence]
        tx_hash = hashlib.sha256(raw).hexdigest().upper()
        entry = Sent(time.monotonic(), orders)
        with self.stats.lock:
            self.stats.sent[tx_hash] = entry
        try:
            client.submit(raw)
            entry.checked = time.monotonic()
        except TxRejected as rejected:
            entry.checked = time.monotonic()
            entry.code = rejected.code
            with self.stats.lock:
                self.stats.rejections[rejected.code] = self.stats.rejections.get(rejected.code, 0) + 1
        except ClientError:
            entry.code = -1

    def _watch(self) -> None:
        watcher = Client(self.config.nodes[0], timeout_s=10.0)
        height = watcher.height()
        while not self.stop.is_set() or height < self._last_height_needed():
            try:
                latest = watcher.height()
            except ClientError:
                time.sleep(0.05)
                continue
            if height < latest:
                try:
                    waiting = int(watcher.rpc.call("num_unconfirmed_txs")["n_txs"])
                    with self.stats.lock:
                        self.stats.mempool.append(waiting)
                except ClientError:
                    pass
            while height < latest:
                height += 1
                block = watcher.rpc.call("block", height=str(height))["block"]
                seen = time.monotonic()
                txs = block["data"]["txs"] or []
                with self.stats.lock:
                    for encoded in txs:
                        entry = self.stats.sent.get(hashlib.sha256(b64decode(encoded)).hexdigest().upper())
                        if entry is not None and not entry.included:
                            entry.included = seen
                    self.stats.blocks.append((height, seen, len(txs)))
            time.sleep(0.02)
        watcher.close()

    def _last_height_needed(self) -> int:
        return getattr(self, "_final_height", 0)

    def run(self) -> dict[str, Any]:
        self.fund()
        self.prepare()
        watcher = threading.Thread(target=self._watch, daemon=True)
        watcher.start()
        started = time.monotonic()
        interval = 1.0 / self.config.rate
        last_report = started
        with ThreadPoolExecutor(self.config.threads) as pool:
            for sequence in itertools.count():
                now = time.monotonic()
                if now - started >= self.config.duration_s or sequence >= len(self.prepared):
                    break
                pool.submit(self._send, sequence)
                if now - last_report >= 1.0:
                    self._progress(now - started)
                    last_report = now
                target = started + (sequence + 1) * interval
                delay = target - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        sending_s = time.monotonic() - started
        self._final_height = self.clients[0].height() + 2
        self.stop.set()
        watcher.join(timeout=30)
        for client in self.clients:
            client.close()
        return self._summary(sending_s)

    def _progress(self, elapsed: float) -> None:
        with self.stats.lock:
            sent = len(self.stats.sent)
            included = sum(1 for s in self.stats.sent.values() if s.included)
        print(f"[load] {elapsed:5.1f}s sent {sent} in blocks {included} blocks {len(self.stats.blocks)}",
              file=sys.stderr)

    def _summary(self, sending_s: float) -> dict[str, Any]:
        with self.stats.lock:
            entries = list(self.stats.sent.values())
            blocks = list(self.stats.blocks)
            rejections = dict(self.stats.rejections)
        included = [e for e in entries if e.included and e.code is None]
        check_ms = [(e.checked - e.submitted) * 1000 for e in entries if e.checked]
        block_ms = [(e.included - e.submitted) * 1000 for e in included]
        window = (max(e.included for e in included) - min(e.submitted for e in included)) if included else 1.0
        intervals = [(b[1] - a[1]) * 1000 for a, b in zip(blocks, blocks[1:])]
        return {
            "validators": len(self.config.nodes),
            "sent_txs": len(entries),
            "included_txs": len(included),
            "orders_per_s": round(sum(e.orders for e in included) / max(window, 1e-9), 1),
            "txs_per_s": round(len(included) / max(window, 1e-9), 1),
            "p50_ms": round(_percentile(block_ms, 0.50), 1),
            "p90_ms": round(_percentile(block_ms, 0.90), 1),
            "p99_ms": round(_percentile(block_ms, 0.99), 1),
            "max_ms": round(max(block_ms, default=0.0), 1),
            "checktx_p50_ms": round(_percentile(check_ms, 0.50), 1),
            "checktx_p99_ms": round(_percentile(check_ms, 0.99), 1),
            "block_interval_ms": round(_percentile(intervals, 0.50), 1),
            "txs_per_block_max": max((b[2] for b in blocks), default=0),
            "txs_per_block_median": int(_percentile([float(b[2]) for b in blocks], 0.5)),
            "mempool_max_txs": max(self.stats.mempool, default=0),
            "rejections_by_code": {str(k): v for k, v in sorted(rejections.items())},
            "offered_rate_txs_per_s": self.config.rate,
            "sending_s": round(sending_s, 1),
        }


def run_load(config: LoadConfig) -> dict[str, Any]:
    summary = LoadGenerator(config).run()
    print(json.dumps(summary))
    return summary
