"""The `perpchain localnet` commands: up, down, status, reset, wipe, logs (and the detached supervisor)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from client import Client, ClientError, load_key
from localnet.create import create_or_resume
from localnet.layout import Layout, LocalnetConfig
from localnet.supervisor import ChildState, Supervisor, pid_alive, read_state
from wire.crypto import address_to_hex

log = logging.getLogger("perpchain.localnet")


class LocalnetError(Exception):
    """A localnet command cannot do what was asked; the message says why and what to do."""


@dataclass(frozen=True)
class NodeReport:
    name: str
    rpc: str
    app_alive: bool
    cometbft_alive: bool
    restarts: int
    height: int | None = None
    app_hash: str | None = None
    peers: int | None = None
    voting_power: int | None = None
    catching_up: bool | None = None
    last_block_time: str | None = None
    error: str | None = None


def running_supervisor(layout: Layout) -> int | None:
    state = read_state(layout)
    pid = state.get("pid") if state else None
    return pid if isinstance(pid, int) and pid_alive(pid) else None


def wait_for_blocks(layout: Layout, min_height: int = 2, timeout_s: float = 60.0) -> None:
    """Until every node's RPC reports `min_height` (blocks are being produced and shared)."""
    deadline = time.monotonic() + timeout_s
    pending = list(layout.nodes)
    while pending:
        node = pending[0]
        try:
            with Client(node.rpc_url, timeout_s=1.0) as client:
                if client.height() >= min_height:
                    pending.pop(0)
                    continue
        except ClientError:
            pass
        if time.monotonic() > deadline:
            raise LocalnetError(f"{node.name} did not reach height {min_height} in {timeout_s:.0f}s; "
                                f"see {node.cometbft_log} and {node.app_log}")
        time.sleep(0.2)


def describe(layout: Layout) -> str:
    faucet = address_to_hex(load_key(layout.faucet_key).address)
    lines = [f"[localnet] {len(layout.nodes)} validators producing blocks (chain {layout.config.chain_id})"]
    for node in layout.nodes:
        lines.append(f"  {node.name}  rpc {node.rpc_url}  home {node.home}")
        lines.append(f"         logs {node.app_log.name}, {node.cometbft_log.name}  "
                     f"metrics http://{node.app_metrics_address}/metrics, "
                     f"http://127.0.0.1:{node.ports.prometheus}/metrics")
    lines.append(f"  logs     {layout.root / 'logs'}")
    lines.append(f"  faucet   {faucet} ({layout.faucet_key}, {layout.config.faucet_usdc:,} USDC)")
    return "\n".join(lines)


def up(root: Path, config: LocalnetConfig, cometbft: Path, project_root: Path, detach: bool,
       bridge: bool = False) -> int:
    """`bridge`: also anvil with the vault deployed and one relayer per validator (created once)."""
    layout, created = create_or_resume(root, config, cometbft, bridge=bridge)
    if not created and config.snapshot_interval and config.snapshot_interval != layout.config.snapshot_interval:
        layout = Layout(root, replace(layout.config, snapshot_interval=config.snapshot_interval))  # a node setting
        layout.save_config()
    if not created and (layout.config.validators, layout.config.block_time_ms) != (config.validators, config.block_time_ms):
        print(f"[localnet] resuming the stored localnet at {root} ({layout.config.validators} validators, "
              f"{layout.config.block_time_ms} ms); `perpchain localnet reset` to change its settings", file=sys.stderr)
    pid = running_supervisor(layout)
    if pid is not None:
        raise LocalnetError(f"a localnet is already running at {root} (supervisor pid {pid}); "
                            "`perpchain localnet down` stops it")
    orphans = _stop_orphans(layout)
    if orphans:
        print(f"[localnet] stopped {orphans} processes left by a supervisor that died", file=sys.stderr)
    print(f"[localnet] {'created' if created else 'resuming'} {root}")
    if detach:
        return _up_detached(layout, project_root)
    return _up_foreground(layout, cometbft, project_root)


def _up_foreground(layout: Layout, cometbft: Path, project_root: Path) -> int:
    supervisor = Supervisor(layout, cometbft, project_root)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    supervisor.start()
    try:
        wait_for_blocks(layout)
        print(describe(layout))
        print("[localnet] Ctrl-C stops every node; `up` again resumes from the stored chain.")
        stop.wait()
    except LocalnetError as error:
        print(f"[localnet] {error}", file=sys.stderr)
        return 1
    finally:
        print("[localnet] stopping")
        supervisor.stop()
    return 0


def _up_detached(layout: Layout, project_root: Path) -> int:
    layout.supervisor_log.parent.mkdir(parents=True, exist_ok=True)
    with open(layout.supervisor_log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "perpchain.cli", "localnet", "supervise", "--root", str(layout.root)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=project_root, start_new_session=True,
        )
    try:
        wait_for_blocks(layout)
    except LocalnetError:
        if process.poll() is not None:
            raise LocalnetError(f"the supervisor exited ({process.returncode}); see {layout.supervisor_log}") from None
        raise
    print(describe(layout))
    print(f"[localnet] running in the background (supervisor pid {process.pid}); "
          "`perpchain localnet down` stops it")
    return 0


def supervise(root: Path, cometbft: Path, project_root: Path) -> int:
    """The detached supervisor's body: run until SIGTERM/SIGINT."""
    layout = Layout.load(root)
    if layout is None:
        raise LocalnetError(f"no localnet at {root}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    supervisor = Supervisor(layout, cometbft, project_root)
    supervisor.start()
    stop.wait()
    supervisor.stop()
    return 0


def down(root: Path, timeout_s: float = 30.0) -> int:
    layout = Layout.load(root)
    if layout is None:
        print(f"[localnet] nothing at {root}")
        return 0
    pid = running_supervisor(layout)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    leftovers = _stop_orphans(layout)
    print(f"[localnet] stopped{f' (and {leftovers} orphaned processes)' if leftovers else ''}")
    return 0


def _stop_orphans(layout: Layout) -> int:
    """Stop the processes a dead supervisor recorded (it cannot stop them any more)."""
    if running_supervisor(layout) is not None:
        return 0
    leftovers = _recorded_pids(layout)
    for pid in leftovers:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while any(pid_alive(p) for p in leftovers) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in leftovers:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    return len(leftovers)


def _recorded_pids(layout: Layout) -> list[int]:
    """The live processes supervisor.json names: every node's cometbft and app, the bridge's anvil
    and relayers, the indexer and the read API."""
    state = read_state(layout)
    if state is None:
        return []
    children: list[ChildState] = [child for node in state["nodes"] for child in (node["cometbft"], node["app"])]
    children += state.get("bridge", [])
    children += [state[service] for service in ("indexer", "api") if service in state]
    return [child["pid"] for child in children if child["pid"] is not None and pid_alive(child["pid"])]


_NEVER_STARTED: ChildState = {"pid": None, "restarts": 0, "last_exit": None}


def status(root: Path) -> list[NodeReport]:
    layout = Layout.load(root)
    if layout is None:
        raise LocalnetError(f"no localnet at {root}; `perpchain localnet up` creates one")
    state = read_state(layout)
    processes = {n["name"]: n for n in state["nodes"]} if state else {}
    reports = []
    for node in layout.nodes:
        entry = processes.get(node.name)
        app, cometbft = (entry["app"], entry["cometbft"]) if entry else (_NEVER_STARTED, _NEVER_STARTED)
        report = NodeReport(name=node.name, rpc=node.rpc_url, app_alive=pid_alive(app["pid"]),
                            cometbft_alive=pid_alive(cometbft["pid"]), restarts=app["restarts"] + cometbft["restarts"])
        try:
            with Client(node.rpc_url, timeout_s=1.0) as client:
                health = client.health()
            reports.append(replace(report, height=health.height, app_hash=health.app_hash, peers=health.peers,
                                   voting_power=health.voting_power, catching_up=health.catching_up,
                                   last_block_time=health.last_block_time))
        except ClientError as error:
            reports.append(replace(report, error=str(error)))
    return reports


def _up_or_down(alive: bool) -> str:
    return "up" if alive else "DOWN"


def print_status(reports: list[NodeReport], as_json: bool) -> None:
    if as_json:
        print(json.dumps([asdict(r) for r in reports], indent=2))
        return
    print(f"{'node':6} {'app':5} {'cmt':5} {'height':>7} {'peers':>5} {'power':>5} {'sync':5} {'restarts':>8}  "
          f"{'app hash':16}  last block")
    for r in reports:
        if r.error is not None:
            print(f"{r.name:6} {_up_or_down(r.app_alive):5} {_up_or_down(r.cometbft_alive):5} {'-':>7} {'-':>5} {'-':>5} "
                  f"{'-':5} {r.restarts:>8}  unreachable: {r.error}")
            continue
        sync = "catch" if r.catching_up else "ok"
        print(f"{r.name:6} {_up_or_down(r.app_alive):5} {_up_or_down(r.cometbft_alive):5} {r.height:>7} {r.peers:>5} "
              f"{r.voting_power:>5} {sync:5} {r.restarts:>8}  {(r.app_hash or '')[:16]:16}  {r.last_block_time}")


def reset(root: Path) -> int:
    layout = Layout.load(root)
    if layout is not None and running_supervisor(layout) is not None:
        raise LocalnetError("the localnet is running; `perpchain localnet down` first")
    if root.exists():
        shutil.rmtree(root)
    print(f"[localnet] wiped {root}")
    return 0


def wipe_node_data(layout: Layout, index: int, cometbft: Path) -> None:
    """Delete a stopped node's app LevelDB (and its snapshots) and CometBFT data (blocks, state,
    WAL, signing state), keeping config/ with its validator and node keys: what a replaced disk
    leaves."""
    node = layout.nodes[index]
    shutil.rmtree(node.data, ignore_errors=True)
    node.data.mkdir(parents=True)
    subprocess.run([str(cometbft), "unsafe-reset-all", "--home", str(node.home)], check=True, capture_output=True)


def wipe(root: Path, node_name: str, cometbft: Path) -> int:
    """`wipe NODE`, on a stopped localnet: at the next `up` the node rejoins from its peers, by
    state sync when the localnet takes snapshots (`up --state-sync`), else by replaying blocks."""
    layout = Layout.load(root)
    if layout is None:
        raise LocalnetError(f"no localnet at {root}")
    if running_supervisor(layout) is not None:
        raise LocalnetError("the localnet is running; `perpchain localnet down` first")
    node = layout.node(node_name)
    wipe_node_data(layout, node.index, cometbft)
    how = "state sync" if layout.config.snapshot_interval else "replaying the chain (no --state-sync)"
    print(f"[localnet] wiped {node.name}'s chain and state (keys kept); the next `up` rejoins it by {how}")
    return 0


def logs(root: Path, node_name: str, lines: int, follow: bool) -> int:
    layout = Layout.load(root)
    if layout is None:
        raise LocalnetError(f"no localnet at {root}")
    node = layout.node(node_name)
    paths = [str(node.app_log), str(node.cometbft_log)]
    argv = ["tail", "-n", str(lines), *(["-F"] if follow else []), *paths]
    try:
        return subprocess.call(argv)
    except KeyboardInterrupt:
        return 0
