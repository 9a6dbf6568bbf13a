"""`make bench`: run every benchmark and write all their figures into docs/bench.json with the
machine's core count and the commit, so figures can be compared over time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHES = ["checktx", "engine", "triggers", "liquidation", "restart", "e2e", "tui", "anchor"]


def main() -> int:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    results: dict[str, object] = {"commit": commit, "cores": os.cpu_count(), "benches": {}}
    failed = []
    for name in BENCHES:
        print(f"[bench] {name}", file=sys.stderr, flush=True)
        done = subprocess.run([sys.executable, "-m", "perpchain.cli", "bench", name], cwd=ROOT, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL)
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            failed.append(name)
            print(done.stderr[-2000:], file=sys.stderr)
            continue
        figures = json.loads(lines[-1])
        results["benches"][name] = figures  # type: ignore[index]
        print(lines[-1], flush=True)
    (ROOT / "docs" / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"[bench] wrote docs/bench.json{'; failed: ' + ', '.join(failed) if failed else ''}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
