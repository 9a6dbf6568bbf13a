"""`perpchain bench NAME`: run one benchmark and print its figures as JSON on the last line."""

from __future__ import annotations

import importlib
import json
import sys

from app.native import compiled_in_use
from bench.common import BenchmarkFailed

# Each is the module bench/<name>.py, whose `run(size)` returns the figures. Imported when run:
# `tui`, `e2e` and `wipe` bring in the terminal and the localnet.
BENCHMARKS = ("checktx", "engine", "liquidation", "triggers", "restart", "e2e", "tui", "anchor", "budget", "orders",
              "state", "indexer", "wipe")


def run_benchmark(name: str, size: int) -> int:
    """`size`: the benchmark's work size (0: its default). Exit code 1 when it could not measure."""
    if name not in BENCHMARKS:
        print(f"error: unknown benchmark {name!r}; known: {', '.join(sorted(BENCHMARKS))}", file=sys.stderr)
        return 2
    try:
        figures = importlib.import_module(f"bench.{name}").run(size)
    except BenchmarkFailed as error:
        print(f"error: benchmark {name} failed: {error}", file=sys.stderr)
        return 1
    # Whether the code measured was the compiled build (app/native.py) or the sources.
    print(json.dumps({**figures, "compiled": bool(compiled_in_use())}))
    return 0
