"""`make sim`: the long simulation, 10 seeds x 2,000 blocks, one process per core, each seed's
summary as it finishes and the totals last (the figures docs/simulation.md quotes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEEDS = range(1, 11)
BLOCKS = 2_000


def run(seed: int) -> dict[str, Any]:
    """One seed's summary line, as the simulation printed it (JSON)."""
    done = subprocess.run([sys.executable, "-m", "perpchain.cli", "simulate-chain", "--seed", str(seed), "--blocks",
                           str(BLOCKS)], cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    lines = done.stdout.strip().splitlines()
    summary: dict[str, Any] = json.loads(lines[0]) if lines else {"seed": seed, "broken": "no output"}
    if done.returncode != 0:
        summary["report"] = done.stderr.strip().splitlines()[-6:]
    print(json.dumps(summary), flush=True)
    return summary


def main() -> int:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        summaries = list(pool.map(run, SEEDS))
    blocks = sum(int(s.get("blocks", 0)) for s in summaries)
    txs = sum(int(s.get("txs", 0)) for s in summaries)
    per_seed = [float(s.get("blocks_per_s", 0)) for s in summaries]
    broken = [s["seed"] for s in summaries if s.get("broken")]
    print(json.dumps({"seeds": len(summaries), "blocks": blocks, "txs": txs,
                      "ops_per_block": round(txs / blocks, 2) if blocks else 0,
                      "blocks_per_s_per_process": round(sum(per_seed) / len(per_seed), 1) if per_seed else 0,
                      "processes": os.cpu_count(), "wall_s": round(time.perf_counter() - started),
                      "seeds_broken": broken}))
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
