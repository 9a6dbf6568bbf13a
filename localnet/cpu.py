"""CPU time of processes while something runs, from /proc: what each kind of process (apps,
cometbft, the load generator) spends, so a figure can be put per unit of work."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")


def cpu_seconds(pid: int) -> float:
    """User + system CPU a live process has used (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pids: list[int]) -> list[int]:
    """The live child processes of `pids` (a node's mempool worker), from /proc/PID/task/*/children."""
    found = []
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                found += [int(child) for child in (task / "children").read_text().split()]
            except OSError:  # the task ended meanwhile
                continue
    return found


def machine_busy_seconds() -> float:
    """CPU time all cores spent on anything but idle and I/O wait since boot (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def cpu_shares(groups: dict[str, list[int]], run: Callable[[], T]) -> tuple[T, dict[str, float], dict[str, float]]:
    """Call `run()`; meanwhile each group's CPU and the rest of the machine's, in % of all cores,
    and each group's CPU seconds."""
    def sample() -> tuple[dict[str, float], float, float]:
        return ({name: sum(cpu_seconds(p) for p in pids) for name, pids in groups.items()}, machine_busy_seconds(),
                time.monotonic())

    before, busy_before, started = sample()
    result = run()
    after, busy_after, ended = sample()
    capacity = (ended - started) * (os.cpu_count() or 1)
    shares = {name: round(100 * (after[name] - before[name]) / capacity, 1) for name in groups}
    ours = sum(after[name] - before[name] for name in groups)
    shares["everything_else"] = round(100 * max(0.0, busy_after - busy_before - ours) / capacity, 1)
    shares["idle"] = round(100 - 100 * (busy_after - busy_before) / capacity, 1)
    return result, shares, {name: after[name] - before[name] for name in groups}
