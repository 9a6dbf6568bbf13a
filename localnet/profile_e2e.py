"""`python -m localnet.profile_e2e`: where a validator's app spends its time under load.

A fresh localnet (as `perpchain bench e2e` makes), the load generator at `--rate` for
`--seconds`, and py-spy sampling validator 0's app process meanwhile (100 samples/s, idle
threads left out). Prints, on stderr, the share of samples per ABCI phase and the functions with
the most samples of their own, and one JSON line on stdout with the same figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from localnet.bench_e2e import fresh_localnet, load_config
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


def summarize(collapsed: str, top: int = 25) -> dict[str, Any]:
    """Phase shares and self-time leaders from py-spy's collapsed stacks (`a;b;c count`)."""
    phases: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frame_name(frames[-1])] += count
        names = [f.partition(" (")[0].rsplit(".", 1)[-1] for f in frames]  # `Application.check_tx`
        phase = next((label for method, label in PHASES if method in names), "other")
        phases[phase] += count
    share = lambda n: round(100 * n / total, 1) if total else 0.0  # noqa: E731
    return {"samples": total, "phase_percent": {k: share(v) for k, v in phases.most_common()},
            "self_percent": [[name, share(n)] for name, n in own.most_common(top)]}


def profile(validators: int, rate: float, seconds: float, keep: Path | None = None) -> dict[str, Any]:
    with fresh_localnet(validators) as supervisor, tempfile.TemporaryDirectory() as directory:
        pid = supervisor.validators[0].app.pid
        assert pid is not None, "validator 0's app is not running"
        output = Path(directory) / "profile.txt"
        spy = subprocess.Popen([str(PY_SPY), "record", "--pid", str(pid), "--rate", "100", "--duration",
                                str(int(seconds) + 5), "--format", "raw", "--output", str(output), "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        load: dict[str, Any] = {}
        runner = threading.Thread(target=lambda: load.update(LoadGenerator(load_config(supervisor, rate,
                                                                                       seconds)).run()))
        runner.start()
        runner.join()
        _, errors = spy.communicate(timeout=120)
        if not output.exists():
            raise RuntimeError(f"py-spy wrote no profile: {errors.decode(errors='replace')[-500:]}")
        collapsed = output.read_text()
        if keep is not None:  # for flame graphs (e.g. speedscope reads this format) and callers
            keep.write_text(collapsed)
        summary = summarize(collapsed)
    summary["load"] = {k: load.get(k) for k in ("orders_per_s", "txs_per_s", "p50_ms", "p99_ms",
                                                "block_interval_ms")}
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localnet.profile_e2e", description=__doc__.split("\n\n")[0])
    parser.add_argument("--validators", type=int, default=1)
    parser.add_argument("--rate", type=float, default=600.0, help="txs/s offered (%(default)s)")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--keep", type=Path, help="also write py-spy's collapsed stacks to this file")
    args = parser.parse_args(argv)
    summary = profile(args.validators, args.rate, args.seconds, args.keep)
    print(f"{summary['samples']} samples of validator 0's app", file=sys.stderr)
    for phase, percent in summary["phase_percent"].items():
        print(f"  {percent:5.1f}%  {phase}", file=sys.stderr)
    print("functions by samples of their own:", file=sys.stderr)
    for name, percent in summary["self_percent"]:
        print(f"  {percent:5.1f}%  {name}", file=sys.stderr)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
