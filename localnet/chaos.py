"""`perpchain chaos`: perturb a 4-validator localnet under load, then check nothing diverged or was lost.

A fresh localnet (temporary folder, free loopback ports, the localnet supervisor) runs a steady
stream of signed transfers and orders sent through client/ to random nodes. One node at a time
(the other three keep > 2/3 of the power), a few seconds apart, a seeded random choice of:

    kill     SIGKILL its cometbft and app together; the supervisor restarts both as after a crash
    pause    SIGSTOP both for a few seconds, then SIGCONT
    restart  graceful stop (SIGTERM, cometbft then app), a moment down, start again
    wipe     stop it, delete its app LevelDB and CometBFT data (keys and config kept), start it
             again: it restores the state from its peers' snapshots by state sync (every node
             snapshots every `snapshot_interval` heights), then block-syncs the heights since;
             before the first snapshot, or with --snapshot-interval 0, it replays the whole chain

Each perturbation waits until the node is back at the network's height before the next one.
Afterwards, on every node and every height up to a common height: the same block hash, the same
app hash in the header and from the app itself; every tx seen in a block is in that block on every
node and in each node's tx index with the same height and code (a node may miss the one block it
was indexing when it was stopped: reported apart, see INDEX_GAP_HEIGHTS); each transfer recipient's
balance equals the sum of the transfers credited to it. A node restored by state sync holds the
blocks from its snapshot's height on only: it is compared from there. Prints a line per perturbation and a JSON
summary last; exits non-zero on any divergence, lost tx or perturbation the chain did not recover
from.
docs/chaos.md describes it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import signal
import statistics
import sys
import threading
import time
from base64 import b64decode
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from client import (
    CancelAll,
    Client,
    ClientError,
    PlaceOrder,
    PrivateKey,
    QueryFailed,
    Side,
    SubaccountId,
    TimeInForce,
    Transfer,
    TxRejected,
    address_to_hex,
    load_key,
)
from client.arguments import uint_arg
from client.times import rfc3339_to_ms
from localnet.commands import wipe_node_data
from localnet.fresh import COMETBFT, fresh_localnet
from localnet.supervisor import Supervisor

KINDS = ("kill", "pause", "restart", "wipe")
VALIDATORS = 4
USDC = 1_000_000
POLL_S = 0.1


@dataclass(frozen=True)
class ChaosConfig:
    duration_s: float = 120.0  # perturbations start within this window (the first round of four always runs)
    seed: int = 1
    root: Path | None = None  # None: a temporary folder, deleted after
    block_time_ms: int = 200
    rate_txs_per_s: float = 20.0
    gap_s: tuple[float, float] = (2.0, 5.0)  # pause between one recovery and the next perturbation
    recovery_timeout_s: float = 600.0  # a wiped node replays the whole chain: this grows with its height
    senders: int = 12
    recipients: int = 8
    snapshot_interval: int = 50  # every node snapshots this often; a wiped node state-syncs (0: it replays)


@dataclass
class Perturbation:
    number: int
    kind: str
    node: int
    at_s: float  # since the perturbations' clock started
    start_height: int
    down_s: float = 0.0  # held down (pause, restart, wipe) by design
    recovery_s: float | None = None  # from the node let back (for kill: the kill) to it at the network's height
    outage_s: float | None = None  # from the perturbation to it at the network's height
    network_gap_s: float = 0.0  # longest time the other three went without a new block meanwhile
    caught_up_height: int | None = None
    first_block: int | None = None  # wipe: the first block the node holds after (> 1: restored by state sync)

    @property
    def recovered(self) -> bool:
        return self.recovery_s is not None

    def line(self) -> str:
        head = f"[chaos] {self.at_s:6.1f}s #{self.number} {self.kind:7} node{self.node} at height {self.start_height}"
        if not self.recovered:
            return f"{head}: NOT back at the network's height after the timeout (gap {self.network_gap_s:.1f}s)"
        how = ""
        if self.first_block is not None:
            how = f" by state sync from height {self.first_block - 1}," if self.first_block > 1 else " by replay,"
        return (f"{head}: down {self.down_s:.1f}s, at network height {self.caught_up_height}{how} "
                f"{self.recovery_s:.1f}s after it was let back (outage {self.outage_s:.1f}s), longest block gap "
                f"{self.network_gap_s:.1f}s")


@dataclass
class SentTx:
    kind: str  # transfer, quote, take
    credits: tuple[tuple[str, int, int], ...] = ()  # (recipient hex, subaccount, micro-USDC)
    outcome: str = "pending"  # accepted, rejected, unreachable


@dataclass
class Shared:
    """What the chaos loop, the traffic and the follower share: the node not to rely on."""

    perturbed: int | None = None


# -- load -----------------------------------------------------------------------------------------


class Traffic:
    """A steady open-loop stream of signed txs to random nodes: transfers to recipients no one else
    pays (so their balances are a checkable sum), maker re-quotes and taker IOC orders."""

    def __init__(self, urls: list[str], faucet: PrivateKey, config: ChaosConfig, shared: Shared) -> None:
        self.urls = urls
        self.faucet = faucet
        self.config = config
        self.shared = shared
        self.rng = random.Random(config.seed * 7919 + 1)
        self.senders = [PrivateKey.generate() for _ in range(config.senders)]
        self.recipients = [address_to_hex(PrivateKey.generate().address) for _ in range(config.recipients)]
        self.sent: dict[str, SentTx] = {}
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.builder = Client(urls[0], timeout_s=5.0)
        self.clients = [Client(url, timeout_s=1.5) for url in urls]
        self.thread = threading.Thread(target=self._run, name="chaos-traffic", daemon=True)
        self.market: dict[str, Any] = {}
        self.mid = 0

    def fund(self) -> None:
        """Collateral for every sender on subaccount 0 (transfers) and 1 (orders), in one tx."""
        self.market = self.builder.market("BTC-USD")
        self._refresh_mid(self.builder)
        actions = [Transfer(0, SubaccountId(key.address, number), 20_000 * USDC)
                   for key in self.senders for number in (0, 1)]
        self.builder.broadcast(self.builder.build(self.faucet, actions))

    def _refresh_mid(self, client: Client) -> None:
        tick = int(self.market["tick_size"])
        prices = [p for p in client.oracle_prices() if p["market_id"] == self.market["market_id"]]
        mid = int(prices[0]["price"]) if prices and prices[0].get("price") else int(self.market["reference_price"])
        self.mid = mid // tick * tick

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=60)
        self.builder.close()
        for client in self.clients:
            client.close()

    def _build(self, sequence: int) -> tuple[bytes, SentTx]:
        key = self.senders[sequence % len(self.senders)]
        roll = self.rng.randrange(100)
        market_id, tick = int(self.market["market_id"]), int(self.market["tick_size"])
        if roll < 60:
            credits = tuple((self.rng.choice(self.recipients), self.rng.randrange(2), self.rng.randrange(1, USDC))
                            for _ in range(self.rng.randrange(1, 4)))
            actions: list[Any] = [Transfer(0, SubaccountId(bytes.fromhex(to[2:]), number), amount)
                                  for to, number, amount in credits]
            return self.builder.build(key, actions), SentTx("transfer", credits)
        if roll < 85:
            actions = [CancelAll(1, market_id)]
            for level in range(1, 4):
                actions.append(PlaceOrder(1, market_id, Side.BUY, self.mid - level * tick * 5, 100, TimeInForce.GTC,
                                          post_only=True))
                actions.append(PlaceOrder(1, market_id, Side.SELL, self.mid + level * tick * 5, 100, TimeInForce.GTC,
                                          post_only=True))
            return self.builder.build(key, actions), SentTx("quote")
        side = Side.BUY if roll % 2 else Side.SELL
        limit = self.mid + tick * 50 if side == Side.BUY else self.mid - tick * 50
        return self.builder.build(key, [PlaceOrder(1, market_id, side, limit, 100, TimeInForce.IOC)]), SentTx("take")

    def _send(self, raw: bytes, entry: SentTx, first: int) -> None:
        """To node `first`; an unreachable one (down, paused) hands the tx to the next node."""
        for attempt in range(2):
            client = self.clients[(first + attempt) % len(self.clients)]
            try:
                client.submit(raw)
                entry.outcome = "accepted"
                return
            except TxRejected:
                entry.outcome = "rejected"
                return
            except ClientError:
                entry.outcome = "unreachable"

    def _run(self) -> None:
        interval = 1.0 / self.config.rate_txs_per_s
        started = time.monotonic()
        with ThreadPoolExecutor(16, thread_name_prefix="chaos-send") as pool:
            for sequence in range(10**9):
                if self.stop_event.is_set():
                    break
                if sequence % 200 == 199:  # follow the oracle so quotes stay near the mark
                    try:
                        self._refresh_mid(self.clients[(self._healthy_node())])
                    except ClientError:
                        pass
                raw, entry = self._build(sequence)
                with self.lock:
                    self.sent[hashlib.sha256(raw).hexdigest().upper()] = entry
                pool.submit(self._send, raw, entry, self.rng.randrange(len(self.clients)))
                delay = started + (sequence + 1) * interval - time.monotonic()
                if delay > 0:
                    self.stop_event.wait(delay)

    def _healthy_node(self) -> int:
        perturbed = self.shared.perturbed
        return next(i for i in range(len(self.urls)) if i != perturbed)

    def lookup(self, tx_hash: str) -> SentTx | None:
        with self.lock:
            return self.sent.get(tx_hash)


class Follower:
    """Reads every new block and its results from a node that is not being perturbed, recording
    each block hash and every tx of ours it carries with its height and result code."""

    def __init__(self, urls: list[str], traffic: Traffic, shared: Shared, first_height: int) -> None:
        self.clients = [Client(url, timeout_s=2.0) for url in urls]
        self.traffic = traffic
        self.shared = shared
        self.height = first_height - 1  # the last height processed
        self.block_hashes: dict[int, str] = {}
        self.included: dict[str, tuple[int, int]] = {}  # tx hash -> (height, code)
        self.until: int | None = None
        self.preferred = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="chaos-follower", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def finish(self, height: int, timeout_s: float = 120.0) -> None:
        """Process blocks up to `height`, then stop."""
        self.until = height
        if not self.done.wait(timeout_s):
            raise RuntimeError(f"the follower did not reach height {height} in {timeout_s:.0f}s (at {self.height})")
        for client in self.clients:
            client.close()

    def _node(self) -> int:
        perturbed = self.shared.perturbed
        if self.preferred == perturbed:
            self.preferred = (self.preferred + 1) % len(self.clients)
        return self.preferred

    def _run(self) -> None:
        while True:
            if self.until is not None and self.height >= self.until:
                self.done.set()
                return
            client = self.clients[self._node()]
            try:
                latest = client.height()
                if self.until is not None:
                    latest = min(latest, self.until)
                while self.height < latest:
                    self._read(client, self.height + 1)
                    self.height += 1
            except ClientError:
                self.preferred = (self.preferred + 1) % len(self.clients)
            time.sleep(POLL_S)

    def _read(self, client: Client, height: int) -> None:
        answer = client.rpc.call("block", height=str(height))
        results = client.rpc.call("block_results", height=str(height)).get("txs_results") or []
        self.block_hashes[height] = answer["block_id"]["hash"]
        for position, encoded in enumerate(answer["block"]["data"]["txs"] or []):
            tx_hash = hashlib.sha256(b64decode(encoded)).hexdigest().upper()
            if self.traffic.lookup(tx_hash) is not None:
                self.included[tx_hash] = (height, int(results[position].get("code", 0)))


# -- perturbations --------------------------------------------------------------------------------


class Heights:
    """Each node's latest height through its RPC; None when it does not answer."""

    def __init__(self, urls: list[str]) -> None:
        self.clients = [Client(url, timeout_s=1.0) for url in urls]

    def of(self, index: int) -> int | None:
        try:
            return self.clients[index].height()
        except ClientError:
            return None

    def first_block(self, index: int) -> int | None:
        """The first block the node holds (above 1 after a state sync)."""
        try:
            return earliest_block(self.clients[index])
        except ClientError:
            return None

    def network(self, without: int) -> int:
        """The highest height among the nodes other than `without` (they hold > 2/3 of the power)."""
        heights = [self.of(i) for i in range(len(self.clients)) if i != without]
        return max((h for h in heights if h is not None), default=0)

    def close(self) -> None:
        for client in self.clients:
            client.close()


class GapWatch:
    """The longest time the network went without a new block, from polls at POLL_S."""

    def __init__(self, height: int) -> None:
        self.height = height
        self.changed_at = time.monotonic()
        self.longest_s = 0.0

    def see(self, height: int) -> None:
        now = time.monotonic()
        if height > self.height:
            self.longest_s = max(self.longest_s, now - self.changed_at)
            self.height, self.changed_at = height, now

    def close(self) -> float:
        return max(self.longest_s, time.monotonic() - self.changed_at)


class Chaos:
    def __init__(self, supervisor: Supervisor, config: ChaosConfig, shared: Shared) -> None:
        self.supervisor = supervisor
        self.layout = supervisor.layout
        self.config = config
        self.shared = shared
        self.rng = random.Random(config.seed)
        self.heights = Heights([n.rpc_url for n in self.layout.nodes])
        self.done: list[Perturbation] = []

    def run(self) -> list[Perturbation]:
        """Perturbations one after another, a few seconds apart, starting while the duration lasts.
        The first round goes through every kind once (in a seeded order) and always completes, even
        past the duration, so a short run exercises them all; the rest are drawn at random."""
        started = time.monotonic()
        first_round = list(KINDS)
        self.rng.shuffle(first_round)
        while True:
            time.sleep(self.rng.uniform(*self.config.gap_s))
            if not first_round and time.monotonic() - started >= self.config.duration_s:
                break
            kind = first_round.pop(0) if first_round else self.rng.choice(KINDS)
            node = self.rng.randrange(VALIDATORS)
            perturbation = self.perturb(len(self.done) + 1, kind, node, time.monotonic() - started)
            self.done.append(perturbation)
            print(perturbation.line(), flush=True)
            if not perturbation.recovered:
                break
        self.heights.close()
        return self.done

    def _watch_others(self, node: int, gap: GapWatch, seconds: float, min_height: int = 0) -> None:
        """Poll the other nodes for `seconds` (and until they reach `min_height`), timing their blocks."""
        deadline = time.monotonic() + seconds
        give_up = time.monotonic() + self.config.recovery_timeout_s
        while time.monotonic() < give_up:
            height = self.heights.network(node)
            gap.see(height)
            if time.monotonic() >= deadline and height >= min_height:
                return
            time.sleep(POLL_S)

    def perturb(self, number: int, kind: str, node: int, at_s: float) -> Perturbation:
        start_height = self.heights.network(node)
        perturbation = Perturbation(number, kind, node, round(at_s, 1), start_height)
        gap = GapWatch(start_height)
        self.shared.perturbed = node
        began = time.monotonic()
        if kind == "kill":
            self.supervisor.signal_node(node, signal.SIGKILL)  # the supervisor restarts it, as after a crash
        elif kind == "pause":
            self.supervisor.signal_node(node, signal.SIGSTOP)
            self._watch_others(node, gap, self.rng.uniform(2.0, 6.0))
            self.supervisor.signal_node(node, signal.SIGCONT)
        elif kind == "restart":
            self.supervisor.hold(node, signal.SIGTERM)
            self._watch_others(node, gap, self.rng.uniform(1.0, 3.0))
            self.supervisor.release(node)
        elif kind == "wipe":
            self.supervisor.hold(node, signal.SIGTERM)
            stopped_at = self.heights.network(node)
            wipe_node_data(self.layout, node, COMETBFT)
            # Its signing state is reset too: let the others pass every height it may have voted on.
            self._watch_others(node, gap, self.rng.uniform(1.0, 3.0), min_height=stopped_at + 2)
            self.supervisor.release(node)
        else:
            raise ValueError(f"unknown perturbation {kind!r}")
        let_back = time.monotonic()
        perturbation.down_s = round(let_back - began, 2)
        caught_up = self._wait_caught_up(node, gap)
        if caught_up is not None:
            now = time.monotonic()
            perturbation.recovery_s = round(now - let_back, 2)
            perturbation.outage_s = round(now - began, 2)
            perturbation.caught_up_height = caught_up
            if kind == "wipe":
                perturbation.first_block = self.heights.first_block(node)
        perturbation.network_gap_s = round(gap.close(), 2)
        self.shared.perturbed = None
        return perturbation

    def _wait_caught_up(self, node: int, gap: GapWatch) -> int | None:
        """The node's height once it reaches the height the others had just before; None on timeout."""
        deadline = time.monotonic() + self.config.recovery_timeout_s
        while time.monotonic() < deadline:
            network = self.heights.network(node)
            gap.see(network)
            mine = self.heights.of(node)
            if mine is not None and network > 0 and mine >= network:
                return mine
            time.sleep(POLL_S)
        return None


# -- checks ---------------------------------------------------------------------------------------


def earliest_block(client: Client) -> int:
    return int(client.rpc.call("status")["sync_info"]["earliest_block_height"])


@dataclass
class NodeRecord:
    first: int = 1  # the first height it holds: its snapshot's height + 1 after a state sync
    block_hashes: dict[int, str] = field(default_factory=dict)
    header_app_hashes: dict[int, str] = field(default_factory=dict)  # header at h: app hash after h-1
    header_times_s: dict[int, float] = field(default_factory=dict)
    app_hashes: dict[int, str] = field(default_factory=dict)  # the app's own hash after h
    txs: dict[int, set[str]] = field(default_factory=dict)
    indexed: dict[str, tuple[int, int]] = field(default_factory=dict)  # tx index: hash -> (height, code)


def read_node(url: str, last: int) -> NodeRecord:
    """Every block header, tx hash, app hash and tx index entry of one node, from the first height
    it holds to `last`."""
    with Client(url, timeout_s=10.0) as client:
        record = NodeRecord(first=earliest_block(client))
        for height in range(record.first, last + 1):
            answer = client.rpc.call("block", height=str(height))
            record.block_hashes[height] = answer["block_id"]["hash"]
            record.header_app_hashes[height] = answer["block"]["header"]["app_hash"].upper()
            record.header_times_s[height] = rfc3339_to_ms(answer["block"]["header"]["time"]) / 1000
            record.txs[height] = {hashlib.sha256(b64decode(t)).hexdigest().upper()
                                  for t in answer["block"]["data"]["txs"] or []}
            try:
                record.app_hashes[height] = client.app_hash_at(height).upper()
            except QueryFailed:
                record.app_hashes[height] = f"missing on {url}"  # differs from every other: a divergence
        page = 1
        while True:
            found = client.rpc.call("tx_search", query=f"tx.height >= 1 AND tx.height <= {last}", page=str(page),
                                    per_page="100", order_by="asc")
            for entry in found["txs"]:
                record.indexed[entry["hash"].upper()] = (int(entry["height"]), int(entry["tx_result"].get("code", 0)))
            if page * 100 >= int(found["total_count"]):
                break
            page += 1
    return record


# CometBFT indexes a block's txs asynchronously after committing it; a node stopped meanwhile
# (SIGKILL, or SIGTERM as in a graceful restart) never indexes that block (upstream issues
# tendermint#3211, tendermint#7312; `cometbft reindex-event` repairs it). Its block and state are
# whole, so such a gap is reported apart, and only where a stop explains it: that node, killed or
# restarted within this many heights of the gap.
INDEX_GAP_HEIGHTS = 2


def divergent_heights(records: list[NodeRecord], live_block_hashes: dict[int, str], last: int) -> list[int]:
    """Heights where the nodes (or the follower's live view) disagree on the block hash, or on the
    app hash: each app's own, and the one in the next header."""
    divergent = []
    for height in range(1, last + 1):
        holding = [r for r in records if r.first <= height]
        blocks = {r.block_hashes[height] for r in holding}
        apps = {r.app_hashes[height] for r in holding}
        if height in live_block_hashes:
            blocks.add(live_block_hashes[height])
        if height < last:
            apps |= {r.header_app_hashes[height + 1] for r in records if r.first <= height + 1}
        if len(blocks) != 1 or len(apps) != 1:
            divergent.append(height)
    return divergent


def _explained(node: int, height: int, done: list[Perturbation]) -> bool:
    return any(p.node == node and p.kind in ("kill", "restart") and abs(p.start_height - height) <= INDEX_GAP_HEIGHTS
               for p in done)


def missing_txs(records: list[NodeRecord], included: dict[str, tuple[int, int]],
                done: list[Perturbation]) -> dict[str, Any]:
    """Every tx the follower saw in a block (hash -> height, code): in that block on every node, and
    in every node's tx index with the same height and result code."""
    from_blocks = 0
    from_index: dict[tuple[int, int], int] = {}  # (node, height) -> txs missing from its index
    unexplained = 0
    for tx_hash, (height, code) in included.items():
        if any(tx_hash not in r.txs[height] for r in records if r.first <= height):
            from_blocks += 1
        for node, record in enumerate(records):
            if height < record.first:  # before the snapshot it was restored from
                continue
            indexed = record.indexed.get(tx_hash)
            if indexed is None:
                from_index[(node, height)] = from_index.get((node, height), 0) + 1
                unexplained += 0 if _explained(node, height, done) else 1
            elif indexed != (height, code):
                unexplained += 1  # indexed at another height or with another code: never explained
    return {
        "lost_txs": from_blocks + unexplained,
        "missing_from_blocks": from_blocks,
        "tx_index_gaps": {"blocks": len(from_index), "txs": sum(from_index.values()), "unexplained_txs": unexplained,
                          "at_node_height": [list(k) for k in sorted(from_index)][:10]},
    }


def header_times_s(records: list[NodeRecord]) -> dict[int, float]:
    """Each height's header time from the nodes that hold it: a node restored by state sync lacks
    the heights below its snapshot, so no single node need hold them all (the headers agree where
    they overlap, or the block hashes would have diverged)."""
    times: dict[int, float] = {}
    for record in sorted(records, key=lambda r: r.first, reverse=True):
        times.update(record.header_times_s)
    return times


def _credited(follower: Follower, traffic: Traffic) -> dict[tuple[str, int], int]:
    """What each recipient subaccount must hold: the sum of its transfers in code-0 txs."""
    credited = {(to, n): 0 for to in traffic.recipients for n in (0, 1)}
    for tx_hash, (_, code) in follower.included.items():
        entry = traffic.lookup(tx_hash)
        if entry is not None and code == 0:
            for to, number, amount in entry.credits:
                credited[(to, number)] += amount
    return credited


def check(urls: list[str], last: int, follower: Follower, traffic: Traffic, done: list[Perturbation],
          first_loaded: int) -> dict[str, Any]:
    with ThreadPoolExecutor(len(urls)) as pool:
        records = list(pool.map(lambda url: read_node(url, last), urls))
    divergent = divergent_heights(records, follower.block_hashes, last)
    credited = _credited(follower, traffic)
    mismatches = 0
    for url in urls:
        with Client(url, timeout_s=10.0) as client:
            mismatches += sum(1 for (to, number), expected in credited.items()
                              if client.balance(to, number).amount_micro_usdc != expected)
    times = header_times_s(records)
    intervals = [times[h] - times[h - 1] for h in range(max(2, first_loaded + 1), last + 1)]
    transfers = [h for h, (_, code) in follower.included.items()
                 if code == 0 and (entry := traffic.lookup(h)) is not None and entry.kind == "transfer"]
    return {
        "block_interval_s": _figures(intervals),  # header times, from the load's start on
        "blocks_checked": last,
        "divergences": len(divergent),
        "divergent_heights": divergent[:10],
        **missing_txs(records, follower.included, done),
        "balance_mismatches": mismatches,
        "transfers_credited": len(transfers),
        "credited_micro_usdc": sum(credited.values()),
    }


def _settle(urls: list[str], timeout_s: float = 90.0) -> int:
    """After the load: until every mempool is empty and every node has committed two more blocks;
    returns the lowest height then (every node has every block up to it)."""
    clients = [Client(url, timeout_s=2.0) for url in urls]
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            try:
                if all(int(c.rpc.call("num_unconfirmed_txs")["n_txs"]) == 0 for c in clients):
                    break
            except ClientError:
                pass
            time.sleep(0.2)
        target = max(c.height() for c in clients) + 2
        for client in clients:
            client.wait_for_height(target, timeout_s=max(5.0, deadline - time.monotonic()))
        return min(c.height() for c in clients)
    finally:
        for client in clients:
            client.close()


def _figures(values: list[float]) -> dict[str, float]:
    return {"max": round(max(values), 2), "median": round(statistics.median(values), 2)} if values else {}


def summarize(config: ChaosConfig, done: list[Perturbation], checks: dict[str, Any], traffic: Traffic,
              follower: Follower, heights: dict[str, Any]) -> dict[str, Any]:
    by_kind = {kind: [p for p in done if p.kind == kind] for kind in KINDS}
    outcomes = [e.outcome for e in traffic.sent.values()]
    unrecovered = sum(1 for p in done if not p.recovered)
    summary: dict[str, Any] = {
        "chaos": "done",
        "seed": config.seed,
        "duration_s": config.duration_s,
        "validators": VALIDATORS,
        "block_time_ms": config.block_time_ms,
        "perturbations": {kind: len(items) for kind, items in by_kind.items()},
        "perturbations_total": len(done),
        "unrecovered": unrecovered,
        "recovery_s": {kind: _figures([p.recovery_s for p in items if p.recovery_s is not None])
                       for kind, items in by_kind.items()},
        "snapshot_interval": config.snapshot_interval,
        "wipes_state_synced": sum(1 for p in by_kind["wipe"] if (p.first_block or 1) > 1),
        "outage_s": {kind: _figures([p.outage_s for p in items if p.outage_s is not None])
                     for kind, items in by_kind.items()},
        "network_gap_s": {kind: _figures([p.network_gap_s for p in items]) for kind, items in by_kind.items()},
        "heights": heights,
        "txs": {
            "sent": len(outcomes),
            "checktx_accepted": outcomes.count("accepted"),
            "checktx_rejected": outcomes.count("rejected"),
            "unreachable": outcomes.count("unreachable"),
            "in_blocks": len(follower.included),
            "in_blocks_code_0": sum(1 for _, code in follower.included.values() if code == 0),
            # passed CheckTx, never in a block: most likely held only by a node that then lost its
            # mempool (killed, stopped, wiped) before passing it on
            "accepted_never_in_block": sum(1 for tx_hash, entry in traffic.sent.items()
                                           if entry.outcome == "accepted" and tx_hash not in follower.included),
        },
        **checks,
    }
    summary["ok"] = (summary["divergences"] == 0 and summary["lost_txs"] == 0 and summary["balance_mismatches"] == 0
                     and unrecovered == 0)
    return summary


def run_chaos(config: ChaosConfig) -> dict[str, Any]:
    if not COMETBFT.exists():
        raise FileNotFoundError(f"{COMETBFT} is missing: run `make setup`")
    shared = Shared()
    with fresh_localnet(VALIDATORS, config.block_time_ms, config.root, prefix="perpchain-chaos-",
                        snapshot_interval=config.snapshot_interval) as supervisor:
        layout = supervisor.layout
        urls = [n.rpc_url for n in layout.nodes]
        print(f"[chaos] 4 validators up at {layout.root} (ports {layout.config.port_base}..); "
              f"seed {config.seed}, {config.duration_s:.0f}s of perturbations at {config.rate_txs_per_s:.0f} tx/s",
              flush=True)
        traffic = Traffic(urls, load_key(layout.faucet_key), config, shared)
        traffic.fund()
        with Client(urls[0]) as client:
            start_height = client.height()
        follower = Follower(urls, traffic, shared, start_height)
        follower.start()
        traffic.start()
        try:
            done = Chaos(supervisor, config, shared).run()
        finally:
            traffic.stop()
        print(f"[chaos] load stopped after {len(traffic.sent)} txs; settling and checking every height", flush=True)
        last = _settle(urls)
        follower.finish(last)
        checks = check(urls, last, follower, traffic, done, start_height)
        final = []
        for url in urls:
            with Client(url, timeout_s=5.0) as client:
                final.append(client.height())
        heights = {"load_start": start_height, "checked_up_to": last, "final": final}
    return summarize(config, done, checks, traffic, follower, heights)


# -- command line ---------------------------------------------------------------------------------


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `chaos` on perpchain's subcommands."""
    chaos = commands.add_parser("chaos", help="perturb a fresh 4-validator localnet under load; check agreement")
    chaos.add_argument("--duration", type=float, default=120.0, metavar="S",
                       help="seconds during which perturbations start (%(default)s)")
    chaos.add_argument("--seed", type=uint_arg("seed"), default=1, help="chooses perturbations, nodes and waits (%(default)s)")
    chaos.add_argument("--root", help="create the localnet here and keep it (default: a temporary folder)")
    chaos.add_argument("--rate", type=float, default=20.0, help="txs per second offered (%(default)s)")
    chaos.add_argument("--block-time", type=uint_arg("block-time"), default=200, metavar="MS", help="timeout_commit (%(default)s)")
    chaos.add_argument("--snapshot-interval", type=uint_arg("snapshot-interval"), default=50, metavar="N",
                       help="every node snapshots every N heights and a wiped node state-syncs (0: it replays) (%(default)s)")
    chaos.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)  # `kill` stops the localnet as Ctrl-C does
    config = ChaosConfig(duration_s=args.duration, seed=args.seed, root=Path(args.root) if args.root else None,
                         rate_txs_per_s=args.rate, block_time_ms=args.block_time,
                         snapshot_interval=args.snapshot_interval)
    try:
        summary = run_chaos(config)
    except KeyboardInterrupt:
        print("[chaos] interrupted; the localnet is stopped, nothing was checked", file=sys.stderr)
        return 130
    gaps = summary["tx_index_gaps"]
    print(f"[chaos] heights 1..{summary['blocks_checked']} on {VALIDATORS} nodes: {summary['divergences']} divergent, "
          f"{summary['lost_txs']} txs lost, {summary['balance_mismatches']} balances off; tx index gaps after stops: "
          f"{gaps['txs']} txs in {gaps['blocks']} blocks ({gaps['unexplained_txs']} unexplained)", flush=True)
    print(json.dumps(summary), flush=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="chaos")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    namespace = parser.parse_args(["chaos", *sys.argv[1:]])
    sys.exit(namespace.func(namespace))
