"""The commands a validator types: `perpchain localnet up --detach/status/down/reset`, and the
three-machine genesis steps of docs/genesis.md played on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from client import Client
from tests.harness import COMETBFT, ROOT, free_port_block, processes_mentioning, wait_until

pytestmark = pytest.mark.integration


def perpchain(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "perpchain.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout_s, stdin=subprocess.DEVNULL)


def test_detached_localnet_up_status_down_resume_and_reset(tmp_path: Path) -> None:
    root = str(tmp_path / "ln")
    base = str(free_port_block(30))
    try:
        first = perpchain("localnet", "up", "--root", root, "--validators", "3", "--port-base", base, "--detach")
        assert first.returncode == 0, first.stderr
        assert "3 validators producing blocks" in first.stdout and f"http://127.0.0.1:{int(base) + 1}" in first.stdout

        again = perpchain("localnet", "up", "--root", root, "--detach")
        assert again.returncode == 1 and "already running" in again.stderr

        status = perpchain("localnet", "status", "--root", root, "--json")
        nodes = json.loads(status.stdout)
        assert [n["name"] for n in nodes] == ["node0", "node1", "node2"]
        assert all(n["app_alive"] and n["cometbft_alive"] and n["peers"] == 2 and n["voting_power"] == 10
                   for n in nodes), nodes
        height_before = max(n["height"] for n in nodes)

        assert perpchain("localnet", "down", "--root", root).returncode == 0
        assert processes_mentioning(root) == []

        resumed = perpchain("localnet", "up", "--root", root, "--detach")
        assert resumed.returncode == 0, resumed.stderr
        assert "resuming" in resumed.stdout
        with Client(f"http://127.0.0.1:{int(base) + 1}") as client:
            assert client.height() >= height_before  # the stored chain, not a new one
            assert client.rpc.call("block", height="1")["block"]["header"]["height"] == "1"

        refused = perpchain("localnet", "reset", "--root", root)
        assert refused.returncode == 1 and "running" in refused.stderr

        # A supervisor killed outright leaves its nodes running; `down` finds and stops them.
        supervisor_pid = json.loads((Path(root) / "supervisor.json").read_text())["pid"]
        os.kill(supervisor_pid, signal.SIGKILL)
        # Each node is three processes: its app, the app's mempool worker and cometbft.
        wait_until(lambda: len(processes_mentioning(root)) == 9, 10, "supervisor gone, nine nodes' processes left")
        stopped = perpchain("localnet", "down", "--root", root)
        assert "and 6 orphaned processes" in stopped.stdout  # the recorded apps and cometbfts; workers follow their app
    finally:
        perpchain("localnet", "down", "--root", root)
    assert processes_mentioning(root) == []
    assert perpchain("localnet", "reset", "--root", root).returncode == 0
    assert not Path(root).exists()


def test_three_validators_set_up_by_hand_as_on_three_machines(tmp_path: Path) -> None:
    """docs/genesis.md's steps: init on each, build once, install on each, start."""
    names = ["alpha", "beta", "gamma"]
    base = free_port_block(30)
    ports = {name: base + 10 * i for i, name in enumerate(names)}
    printed = {}
    for name in names:
        result = perpchain("genesis", "init", "--home", str(tmp_path / name / "cometbft"), "--moniker", name)
        assert result.returncode == 0, result.stderr
        printed[name] = json.loads(result.stdout)
    spec = {"chain_id": "perpchain-three", "validators": [
        {"name": name, "pub_key": printed[name]["pub_key"], "power": 10} for name in names]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    built = perpchain("genesis", "build", "--spec", str(tmp_path / "spec.json"), "--out", str(tmp_path / "genesis.json"))
    assert built.returncode == 0, built.stderr

    bad_spec = dict(spec, validators=[*spec["validators"], spec["validators"][0]])
    (tmp_path / "bad.json").write_text(json.dumps(bad_spec))
    refused = perpchain("genesis", "build", "--spec", str(tmp_path / "bad.json"), "--out", str(tmp_path / "x.json"))
    assert refused.returncode == 1 and "validators[3].pub_key: duplicates validators[0]" in refused.stderr
    assert not (tmp_path / "x.json").exists()

    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name in names:
            peers = ",".join(f"{printed[o]['node_id']}@127.0.0.1:{ports[o]}" for o in names if o != name)
            home = tmp_path / name / "cometbft"
            installed = perpchain("genesis", "install", "--home", str(home), "--genesis", str(tmp_path / "genesis.json"),
                                  "--moniker", name, "--peers", peers, "--p2p-host", "127.0.0.1",
                                  "--port-base", str(ports[name]))
            assert installed.returncode == 0, installed.stderr
            log = open(tmp_path / f"{name}.log", "ab")
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "perpchain.cli", "node", "--data", str(tmp_path / name / "app-data"),
                 "--abci", f"tcp://127.0.0.1:{ports[name] + 2}"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
            processes.append(subprocess.Popen([str(COMETBFT), "node", "--home", str(home)], stdout=log,
                                              stderr=subprocess.STDOUT))
        clients = {name: Client(f"http://127.0.0.1:{ports[name] + 1}") for name in names}
        for name, client in clients.items():
            wait_until(lambda: client.height() >= 3, 60, f"{name} at height 3", 0.2)
            assert client.chain_id() == "perpchain-three"
        hashes = {name: client.app_hash_at(3) for name, client in clients.items()}
        assert len(set(hashes.values())) == 1, hashes
        for client in clients.values():
            client.close()
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=15)
    assert processes_mentioning(str(tmp_path)) == []


def test_foreground_localnet_stops_every_process_on_ctrl_c(tmp_path: Path) -> None:
    """`make run` runs `perpchain localnet up` in the foreground until Ctrl-C."""
    root = str(tmp_path / "ln")
    process = subprocess.Popen(
        [sys.executable, "-m", "perpchain.cli", "localnet", "up", "--root", root, "--validators", "2",
         "--port-base", str(free_port_block(20))],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "Ctrl-C stops every node" in line:
                break
        assert any("2 validators producing blocks" in line for line in lines), lines
        assert len(processes_mentioning(root)) == 7  # the supervisor, two apps, their mempool workers, two cometbfts
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
        leftovers = processes_mentioning(root)
        for pid, _ in leftovers:  # only if the supervisor failed its job; the assert below says so
            os.kill(pid, signal.SIGKILL)
    assert leftovers == []
