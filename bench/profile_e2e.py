"""`python -m bench.profile_e2e`: where a validator's app spends its time under load.

A fresh localnet (as `perpchain bench e2e` makes), the load generator at `--rate` (default: the
rate the bench offers that many validators) for `--seconds`, and py-spy sampling validator 0's
app process while the load is sent (100 samples/s, idle threads left out). Prints, on stderr, the share of samples per ABCI phase and the functions with
the most samples of their own, and one JSON line on stdout with the same figures. It also reads
/proc for the CPU each kind of process used while the load ran (every validator's app, every
cometbft, the load generator, and everything else on the machine), as a share of the machine's
cores, so a figure can say whether the chain was short of CPU and who had it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench.e2e import load_config, offered_rate
from client.arguments import uint_arg
from localnet.cpu import children, cpu_shares
from localnet.fresh import fresh_localnet
from localnet.load import LoadGenerator

PY_SPY = Path(sys.executable).parent / "py-spy"
# Frames that name the phase a sample belongs to, checked innermost first.
PHASES = (("check_tx", "CheckTx"), ("finalize_block", "FinalizeBlock"), ("commit", "Commit"),
          ("prepare_proposal", "PrepareProposal"), ("process_proposal", "ProcessProposal"),
          ("extend_vote", "ExtendVote"), ("verify_vote_extension", "VerifyVoteExtension"), ("query", "Query"))


def frame_name(frame: str) -> str:
    """`handle (app/server.py:88)` -> `app/server.py:handle`."""
    name, _, where = frame.partition(" (")
    path = where.split(":")[0].rstrip(")")
    for marker in ("/site-packages/", "/work/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{path}:{name}"


# Frames every sample of the node passes through on its way to a request (or a pool thread).
FRAMEWORK = ("<frozen runpy>:", "perpchain/cli.py:", "app/node.py:", "asyncio/", "app/server.py:", "threading.py:",
             "concurrent/futures/")


def phase_of(frames: list[str]) -> str:
    """The ABCI phase a sample belongs to, or what else the process was doing."""
    names = [f.partition(" (")[0].rsplit(".", 1)[-1] for f in frames]  # `Application.check_tx`
    for method, label in PHASES:
        if method in names:
            return label
    if any("sigverify.py" in f for f in frames):
        return "signature recovery (pool threads)"
    if not frames[0].startswith(("_run_module_as_main", "Thread._bootstrap", "_bootstrap")):
        # py-spy shows a suspended generator's frames without the caller that resumed it; here
        # they are nearly all store iteration (CacheStore.iterate) inside a request.
        return "generator frames, caller not sampled"
    if "select" in names[-1] or "EpollSelector" in frames[-1]:
        return "event loop waiting"
    return "other"


def summarize(collapsed: str, top: int = 25) -> dict[str, Any]:
    """Phase shares, self-time leaders and inclusive-time leaders (samples with the function
    anywhere on the stack; the server's own frames, under every request, left out) from py-spy's
    collapsed stacks (`a;b;c count`)."""
    phases: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frame_name(frames[-1])] += count
        for name in {frame_name(f) for f in frames}:
            if not name.startswith(FRAMEWORK):
                inclusive[name] += count
        phases[phase_of(frames)] += count

    def share(n: int) -> float:
        return round(100 * n / total, 1) if total else 0.0

    return {"samples": total, "phase_percent": {k: share(v) for k, v in phases.most_common()},
            "self_percent": [[name, share(n)] for name, n in own.most_common(top)],
            "inclusive_percent": [[name, share(n)] for name, n in inclusive.most_common(top)]}


def profile(validators: int, rate: float, seconds: float, keep: Path | None = None) -> dict[str, Any]:
    with fresh_localnet(validators, prefix="perpchain-e2e-") as supervisor, tempfile.TemporaryDirectory() as directory:
        pid = supervisor.validators[0].app.pid
        assert pid is not None, "validator 0's app is not running"
        output = Path(directory) / "profile.txt"
        generator = LoadGenerator(load_config(supervisor, rate, seconds))
        generator.set_up()  # funding and signing are not what is profiled
        spy = subprocess.Popen([str(PY_SPY), "record", "--pid", str(pid), "--rate", "100", "--duration",
                                str(int(seconds)), "--format", "raw", "--output", str(output), "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        apps = [v.app.pid for v in supervisor.validators if v.app.pid]
        workers = children(apps)
        groups = {"apps": apps + workers + children(workers),  # the node, its worker, the worker's recovery
                  "cometbft": [v.cometbft.pid for v in supervisor.validators if v.cometbft.pid],
                  "load_generator": [os.getpid()]}
        try:
            load, cpu, cpu_s = cpu_shares(groups, generator.measure)
            _, errors = spy.communicate(timeout=120)
        finally:
            if spy.poll() is None:
                spy.kill()
                spy.wait()
        if not output.exists():
            raise RuntimeError(f"py-spy wrote no profile: {errors.decode(errors='replace')[-500:]}")
        collapsed = output.read_text()
        if keep is not None:  # for flame graphs (e.g. speedscope reads this format) and callers
            keep.write_text(collapsed)
        summary = summarize(collapsed)
    summary["cpu_percent_of_machine"] = cpu
    # CPU time, unlike wall time, hardly depends on what else runs: what one order costs one app
    # (CheckTx, its recheck, FinalizeBlock and all) and so the most one core could finalize.
    orders = max(1, int(load.get("finalized_orders") or 0))
    per_order_us = 1e6 * cpu_s["apps"] / validators / orders
    summary["app_cpu_us_per_order"] = round(per_order_us, 1)
    summary["cometbft_cpu_us_per_order"] = round(1e6 * cpu_s["cometbft"] / validators / orders, 1)
    summary["load_generator_cpu_us_per_order"] = round(1e6 * cpu_s["load_generator"] / orders, 1)
    summary["orders_per_app_core_second"] = round(1e6 / per_order_us) if per_order_us else 0
    summary["load"] = {k: load.get(k) for k in ("offered_rate_txs_per_s", "sent_txs_per_s", "orders_per_s", "txs_per_s",
                                                "finalized_orders", "p50_ms", "p99_ms", "checktx_p50_ms",
                                                "block_interval_ms", "mempool_txs_max", "lost_txs", "unsent_txs")}
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_e2e", description=__doc__.split("\n\n")[0])
    parser.add_argument("--validators", type=uint_arg("validators", 1, 100), default=1)
    parser.add_argument("--rate", type=float, help="txs/s offered (default: what bench e2e offers)")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--keep", type=Path, help="also write py-spy's collapsed stacks to this file")
    args = parser.parse_args(argv)
    rate = args.rate if args.rate else offered_rate(args.validators)
    summary = profile(args.validators, rate, args.seconds, args.keep)
    print("CPU while the load ran, % of the machine's cores: "
          + ", ".join(f"{k} {v}" for k, v in summary["cpu_percent_of_machine"].items()), file=sys.stderr)
    print(f"CPU per finalized order: app {summary['app_cpu_us_per_order']} us (one core: at most "
          f"{summary['orders_per_app_core_second']:,} orders/s), cometbft {summary['cometbft_cpu_us_per_order']} us, "
          f"load generator {summary['load_generator_cpu_us_per_order']} us", file=sys.stderr)
    print(f"{summary['samples']} samples of validator 0's app", file=sys.stderr)
    for phase, percent in summary["phase_percent"].items():
        print(f"  {percent:5.1f}%  {phase}", file=sys.stderr)
    print("functions by samples with them on the stack:", file=sys.stderr)
    for name, percent in summary["inclusive_percent"]:
        print(f"  {percent:5.1f}%  {name}", file=sys.stderr)
    print("functions by samples of their own:", file=sys.stderr)
    for name, percent in summary["self_percent"]:
        print(f"  {percent:5.1f}%  {name}", file=sys.stderr)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
