"""`make bench`: run every benchmark and write all their figures into docs/bench.json with the
machine's core count and the commit, so figures can be compared over time. Each bench's entry
also records when it ran, how long it took and the machine's load average before and after it
(the machine may be shared: a figure taken under load says so)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHES = ["checktx", "orders", "engine", "triggers", "liquidation", "restart", "e2e", "tui", "anchor", "budget", "state"]


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> int:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    benches: dict[str, object] = {}
    runs: dict[str, dict[str, object]] = {}
    results: dict[str, object] = {"commit": commit, "cores": os.cpu_count(),
                                  "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "benches": benches, "runs": runs}
    failed = []
    for name in BENCHES:
        print(f"[bench] {name}", file=sys.stderr, flush=True)
        before, started = load_average(), time.monotonic()
        done = subprocess.run([sys.executable, "-m", "perpchain.cli", "bench", name], cwd=ROOT, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL)
        runs[name] = {"elapsed_s": round(time.monotonic() - started, 1),
                      "load_average_before": before, "load_average_after": load_average(), "exit_code": done.returncode}
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            failed.append(name)
            print(done.stderr[-2000:], file=sys.stderr)
            continue
        figures = json.loads(lines[-1])
        benches[name] = figures
        print(lines[-1], flush=True)
    results["failed"] = failed
    (ROOT / "docs" / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"[bench] wrote docs/bench.json{'; failed: ' + ', '.join(failed) if failed else ''}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
