"""The supervisor: starts each validator's app and cometbft, restarts what dies, stops all cleanly.

Rules it keeps:
- The app starts first; cometbft starts once the app's ABCI port answers. A node that holds no
  chain state-syncs from its peers' snapshots when the localnet takes them (localnet/statesync.py).
- A dead app takes its cometbft down too (CometBFT cannot run without its app and may hang in
  shutdown), then both restart; a dead cometbft alone is restarted alone.
- Restarts back off (0.5 s doubling to 8 s), and the backoff resets after 30 s of uptime.
- Children run in their own sessions, so a Ctrl-C reaches only the supervisor, which stops every
  cometbft before its app.
- Everything it runs is written to supervisor.json, so `status` and `down` work from any terminal.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NotRequired, TypedDict

from bridge.localnet import LocalBridge, anvil_argv, deploy_once, resume_clock, wait_for_anvil
from localnet import statesync
from localnet.layout import Layout, NodeLayout
from localnet.twin import TwinLayout, create_twin

log = logging.getLogger("perpchain.localnet")

FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 8.0
STABLE_AFTER_S = 30.0
STOP_GRACE_S = 5.0
TICK_S = 0.2


@dataclass
class Child:
    """One supervised process and its restart bookkeeping."""

    name: str
    argv: list[str]
    log_path: Path
    cwd: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff_s: float = FIRST_BACKOFF_S
    start_after: float = 0.0
    last_exit: int | None = None
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.alive and self.process is not None else None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.argv, stdout=self._log_file, stderr=subprocess.STDOUT, cwd=self.cwd, start_new_session=True
        )
        self.started_at = time.monotonic()
        log.info("%s started (pid %d)", self.name, self.process.pid)

    def exited(self) -> bool:
        """True once, when a started process is found dead; records its exit code."""
        if self.process is None or self.process.poll() is None:
            return False
        self.last_exit = self.process.returncode
        self.process = None
        self._close_log()
        return True

    def schedule_restart(self, now: float) -> None:
        if now - self.started_at > STABLE_AFTER_S:
            self.backoff_s = FIRST_BACKOFF_S
        self.start_after = now + self.backoff_s
        self.backoff_s = min(self.backoff_s * 2, MAX_BACKOFF_S)
        self.restarts += 1

    def stop(self, sig: int = signal.SIGTERM, grace_s: float = STOP_GRACE_S) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                self.process.send_signal(sig)
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                log.warning("%s ignored %s for %.0fs; killing it", self.name, signal.Signals(sig).name, grace_s)
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            self.last_exit = self.process.returncode
        self.process = None
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


class ChildState(TypedDict):
    """One supervised process in supervisor.json (pid None: not running)."""

    pid: int | None
    restarts: int
    last_exit: int | None


class NamedChildState(ChildState):
    name: str


class NodeState(TypedDict):
    name: str
    held: bool
    app: ChildState
    cometbft: ChildState


class SupervisorState(TypedDict):
    """supervisor.json: the supervisor's pid (None once it stopped) and every process it runs."""

    pid: int | None
    nodes: list[NodeState]
    bridge: NotRequired[list[NamedChildState]]  # anvil, then the relayers (a localnet with a bridge)
    indexer: NotRequired[ChildState]  # a supervisor started with an indexer
    api: NotRequired[ChildState]  # and the read API over its database


@dataclass
class Validator:
    layout: NodeLayout
    app: Child
    cometbft: Child
    held: bool = False  # stopped on purpose: not restarted until started again


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Supervisor:
    def __init__(self, layout: Layout, cometbft: Path, project_root: Path,
                 price_sources: dict[int, str] | None = None, node_commands: dict[int, list[str]] | None = None,
                 indexer_db: str | None = None) -> None:
        """Per validator index (tests): price_sources, default `sim:<index>`; node_commands, the
        program serving its app instead of `perpchain node`, given the same options. `indexer_db`:
        a database URL to run `perpchain indexer` into, following node0, and `perpchain api` over
        it on the layout's `api_url` (None: neither)."""
        self.layout = layout
        self.cometbft = cometbft
        self.project_root = project_root
        self.price_sources = price_sources or {}
        self.node_commands = node_commands or {}
        self.validators = [self._validator(node) for node in layout.nodes]
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # The bridge (a localnet created with bridge=True): anvil, then one relayer per validator.
        self.bridge = LocalBridge.of(layout.root)
        self.anvil: Child | None = None
        self.relayers: list[Child] = []
        self.relayers_held: set[int] = set()
        if self.bridge is not None:
            logs = layout.root / "logs"
            self.anvil = Child("anvil", anvil_argv(self.bridge), logs / "anvil.log", project_root)
            self.relayers = [Child(f"relayer{node.index}", [sys.executable, "-m", "bridge.relayer", "--config",
                                                            str(self.bridge.relayer_config(node.index))],
                                   logs / f"relayer{node.index}.log", project_root) for node in layout.nodes]
        self.indexer: Child | None = None
        self.api: Child | None = None
        if indexer_db is not None:
            self.indexer = Child("indexer", [sys.executable, "-m", "perpchain.cli", "indexer", "--node",
                                             layout.nodes[0].rpc_url, "--db", indexer_db],
                                 layout.root / "logs" / "indexer.log", project_root)
            self.api = Child("api", [sys.executable, "-m", "perpchain.cli", "api", "--node", layout.nodes[0].rpc_url,
                                     "--db", indexer_db, "--listen", layout.api_url.removeprefix("http://"),
                                     "--log-level", "warning"],
                             layout.root / "logs" / "api.log", project_root)

    def _validator(self, node: NodeLayout) -> Validator:
        """The app and cometbft of `node` (a validator, or a twin: the same program and price source)."""
        program = self.node_commands.get(node.index, [sys.executable, "-m", "perpchain.cli", "node"])
        interval = self.layout.config.snapshot_interval
        snapshots = (["--snapshot-interval", str(interval), "--snapshot-keep", str(statesync.SNAPSHOT_KEEP)]
                     if interval else [])
        app = Child(
            f"{node.name}/app",
            [*program, "--data", str(node.data), "--abci", node.abci_address, "--metrics", node.app_metrics_address,
             "--price-source", self.price_sources.get(node.index, f"sim:{node.index}"), *snapshots],
            node.app_log,
            self.project_root,
        )
        consensus = Child(f"{node.name}/cometbft", [str(self.cometbft), "node", "--home", str(node.home)],
                          node.cometbft_log, self.project_root)
        return Validator(node, app, consensus)

    # -- control ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start anvil and deploy the bridge (if any), then every validator, its relayer and the
        watch loop in a background thread."""
        if self.bridge is not None and self.anvil is not None:
            self.anvil.start()
            wait_for_anvil(self.bridge)
            if deploy_once(self.bridge):
                log.info("bridge deployed: vault %s", self.bridge.settings()["vault"])
            else:
                resume_clock(self.bridge.eth_rpc)
        with self._lock:
            for validator in self.validators:
                validator.held = False
                validator.app.start_after = 0.0
        self._thread = threading.Thread(target=self._loop, name="localnet-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the watch loop, then the read API, the indexer, every relayer, every cometbft, every app, and anvil last."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            for service in (self.api, self.indexer):
                if service is not None:
                    service.stop()
            for relayer in self.relayers:
                relayer.stop()
            for validator in self.validators:
                validator.cometbft.stop()
            for validator in self.validators:
                validator.app.stop()
            if self.anvil is not None:
                self.anvil.stop()
            self._write_state(running=False)

    def start_twin(self, index: int) -> TwinLayout:
        """Create a twin of validator `index` (localnet/twin.py: it double-signs) and run it like a
        validator from the next tick on: restarted if it dies, stopped with the rest."""
        twin = create_twin(self.layout, index, self.cometbft)
        with self._lock:
            self.validators.append(self._validator(twin))
        log.info("%s started: it signs with %s's consensus key", twin.name, self.layout.nodes[index].name)
        return twin

    def hold(self, index: int, sig: int = signal.SIGTERM) -> None:
        """Stop one validator (cometbft, then app) and keep it down until `release`."""
        with self._lock:
            validator = self.validators[index]
            validator.held = True
            validator.cometbft.stop(sig)
            validator.app.stop(sig)
            self._write_state(running=True)

    def release(self, index: int) -> None:
        with self._lock:
            validator = self.validators[index]
            validator.held = False
            validator.app.start_after = 0.0
            validator.app.backoff_s = FIRST_BACKOFF_S

    def kill(self, index: int, which: str, sig: int = signal.SIGKILL) -> int:
        """Kill one process from outside the supervisor's plan (tests, chaos); returns its pid."""
        with self._lock:
            child = getattr(self.validators[index], which)
            assert isinstance(child, Child) and child.process is not None
            pid = child.process.pid
            os.kill(pid, sig)
            return pid

    def signal_node(self, index: int, sig: int) -> list[int]:
        """Send `sig` to one validator's cometbft and app together, under the lock so the watch loop
        sees both at once (chaos: SIGKILL, SIGSTOP, SIGCONT). A killed node is restarted like any
        crash; returns the pids signalled."""
        with self._lock:
            validator = self.validators[index]
            pids = [c.process.pid for c in (validator.cometbft, validator.app) if c.alive and c.process is not None]
            for pid in pids:
                os.kill(pid, sig)
            return pids

    def hold_relayer(self, index: int, sig: int = signal.SIGTERM) -> None:
        """Stop relayer `index` and keep it down until `release_relayer`."""
        with self._lock:
            self.relayers_held.add(index)
            self.relayers[index].stop(sig)

    def release_relayer(self, index: int) -> None:
        with self._lock:
            self.relayers_held.discard(index)
            self.relayers[index].start_after = 0.0

    def kill_relayer(self, index: int, sig: int = signal.SIGKILL) -> int:
        """Kill relayer `index` from outside the plan (tests); the watch loop restarts it."""
        with self._lock:
            process = self.relayers[index].process
            assert process is not None
            os.kill(process.pid, sig)
            return process.pid

    def kill_indexer(self, sig: int = signal.SIGKILL) -> int:
        """Kill the indexer from outside the plan (tests); the watch loop restarts it."""
        with self._lock:
            assert self.indexer is not None and self.indexer.process is not None
            os.kill(self.indexer.process.pid, sig)
            return self.indexer.process.pid

    # -- the watch loop -----------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                for validator in self.validators:
                    self._tend(validator, time.monotonic())
                self._tend_services(time.monotonic())
                self._write_state(running=True)
            self._stop.wait(TICK_S)

    def _tend(self, validator: Validator, now: float) -> None:
        app, consensus = validator.app, validator.cometbft
        if validator.held:
            return
        if app.exited():
            log.error("%s exited with %s; stopping its cometbft and restarting both", app.name, app.last_exit)
            consensus.stop(grace_s=3.0)
            app.schedule_restart(now)
            consensus.start_after = app.start_after
        elif consensus.exited():
            log.error("%s exited with %s; restarting it", consensus.name, consensus.last_exit)
            consensus.schedule_restart(now)
        if not app.alive and now >= app.start_after:
            app.start()
            return
        if app.alive and not consensus.alive and now >= consensus.start_after and _port_open(validator.layout.ports.abci):
            try:
                settings = statesync.settings_for(self.layout, validator.layout)
            except statesync.PeersNotReady:
                if now - app.started_at < statesync.PEER_WAIT_S:
                    return
                log.warning("%s: no two peers serve snapshots; it replays the chain instead", validator.layout.name)
                settings = None
            statesync.configure(validator.layout, settings)
            consensus.start()

    def _tend_services(self, now: float) -> None:
        """anvil, the relayers, the indexer and the read API: restarted with backoff when they die (a
        relayer resumes from its state file, anvil from its dumped state, the indexer from its last block)."""
        children = ([self.anvil] if self.anvil is not None else []) + [
            r for i, r in enumerate(self.relayers) if i not in self.relayers_held] + [
            c for c in (self.indexer, self.api) if c is not None]
        for child in children:
            if child.exited():
                log.error("%s exited with %s; restarting it", child.name, child.last_exit)
                child.schedule_restart(now)
            if not child.alive and now >= child.start_after:
                child.start()

    def _write_state(self, running: bool) -> None:
        state: SupervisorState = {
            "pid": os.getpid() if running else None,
            "nodes": [
                {
                    "name": v.layout.name,
                    "held": v.held,
                    "app": {"pid": v.app.pid, "restarts": v.app.restarts, "last_exit": v.app.last_exit},
                    "cometbft": {"pid": v.cometbft.pid, "restarts": v.cometbft.restarts,
                                 "last_exit": v.cometbft.last_exit},
                }
                for v in self.validators
            ],
        }
        if self.anvil is not None:
            state["bridge"] = [{"name": c.name, "pid": c.pid, "restarts": c.restarts, "last_exit": c.last_exit}
                               for c in [self.anvil, *self.relayers]]
        if self.indexer is not None:
            state["indexer"] = {"pid": self.indexer.pid, "restarts": self.indexer.restarts,
                                "last_exit": self.indexer.last_exit}
        if self.api is not None:
            state["api"] = {"pid": self.api.pid, "restarts": self.api.restarts, "last_exit": self.api.last_exit}
        text = json.dumps(state, indent=2) + "\n"
        path = self.layout.state_file
        if path.exists() and path.read_text() == text:
            return
        temporary = path.with_suffix(".tmp")
        temporary.write_text(text)
        temporary.replace(path)


def read_state(layout: Layout) -> SupervisorState | None:
    """What the supervisor last wrote (`_write_state`), or None if it wrote nothing readable."""
    try:
        state: SupervisorState = json.loads(layout.state_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return state


def pid_alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); its /proc state says it is dead.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True
