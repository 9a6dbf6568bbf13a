"""`perpchain bench e2e`: the load generator against a fresh localnet of 1 and then 4 validators
(temporary folders, free loopback ports, everything stopped after). Figures per network size.

Each network is offered, open loop, 1.3 times the tx rate its orders/s goal needs with the
generator's flow, so the goal is reachable whenever the chain can keep up and a miss is the
chain's (or the machine's), not the offered load's.
"""

from __future__ import annotations

import os
from typing import Any

from client import load_key
from localnet.cpu import children, cpu_shares
from localnet.fresh import fresh_localnet
from localnet.load import LoadConfig, LoadGenerator, mean_orders_per_tx
from localnet.supervisor import Supervisor

GOALS = {1: {"orders_per_s": 10_000, "p50_ms": 600, "p99_ms": 1_500},
         4: {"orders_per_s": 3_000, "block_interval_ms": 1_000, "p99_ms": 3_000}}
HEADROOM = 1.3


def offered_rate(validators: int) -> float:
    """Txs/s that carry HEADROOM times the network's orders/s goal with the default flow."""
    per_tx = mean_orders_per_tx(LoadConfig.levels, LoadConfig.bad_share_ppm)
    return round(HEADROOM * GOALS[validators]["orders_per_s"] / per_tx / 10) * 10.0


def load_config(supervisor: Supervisor, rate: float, duration_s: float) -> LoadConfig:
    layout = supervisor.layout
    return LoadConfig(nodes=[n.rpc_url for n in layout.nodes], faucet=load_key(layout.faucet_key), rate=rate,
                      duration_s=duration_s)


def measure(validators: int, rate: float, duration_s: float) -> dict[str, Any]:
    """The load's figures, and the CPU (from /proc, while the load ran) each kind of process spent
    per finalized order: one app (the node and its mempool worker with the worker's signature
    recovery process, also shown apart), one cometbft, and the load generator (this process)."""
    with fresh_localnet(validators, prefix="perpchain-e2e-") as supervisor:
        generator = LoadGenerator(load_config(supervisor, rate, duration_s))
        generator.set_up()  # funding and signing happen before the clock
        apps = [v.app.pid for v in supervisor.validators if v.app.pid]
        workers = children(apps)
        groups = {"app": apps, "mempool_worker": workers + children(workers),  # with its recovery process
                  "cometbft": [v.cometbft.pid for v in supervisor.validators if v.cometbft.pid],
                  "loadgen": [os.getpid()]}
        measured, shares, cpu_s = cpu_shares(groups, generator.measure)
    figures: dict[str, Any] = measured
    orders = max(1, int(figures.get("finalized_orders") or 0))
    figures["app_us_per_order"] = round(1e6 * (cpu_s["app"] + cpu_s["mempool_worker"]) / validators / orders, 1)
    figures["mempool_worker_us_per_order"] = round(1e6 * cpu_s["mempool_worker"] / validators / orders, 1)
    figures["cometbft_us_per_order"] = round(1e6 * cpu_s["cometbft"] / validators / orders, 1)
    figures["loadgen_us_per_order"] = round(1e6 * cpu_s["loadgen"] / orders, 1)
    figures["cpu_percent_of_machine"] = shares
    return figures


def meets(validators: int, figures: dict[str, Any]) -> dict[str, bool]:
    return {name: figures[name] >= goal if name == "orders_per_s" else figures[name] <= goal
            for name, goal in GOALS[validators].items()}


def run(size: int = 0) -> dict[str, Any]:
    duration = float(size) if size > 0 else 20.0
    one = measure(1, rate=offered_rate(1), duration_s=duration)
    four = measure(4, rate=offered_rate(4), duration_s=duration)
    headline = ("orders_per_s", "txs_per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms", "checktx_p50_ms",
                "checktx_p99_ms", "block_interval_ms", "offered_rate_txs_per_s", "sent_txs_per_s", "lost_txs",
                "app_us_per_order", "mempool_worker_us_per_order", "cometbft_us_per_order",
                "loadgen_us_per_order")
    return {
        "bench": "e2e",
        "orders_per_s": one["orders_per_s"], "p50_ms": one["p50_ms"], "p99_ms": one["p99_ms"],
        "app_us_per_order": one["app_us_per_order"], "mempool_worker_us_per_order": one["mempool_worker_us_per_order"],
        "cometbft_us_per_order": one["cometbft_us_per_order"],
        "loadgen_us_per_order": one["loadgen_us_per_order"], "goal_app_us_per_order": 50,
        "block_interval_ms": one["block_interval_ms"], "validators": 1,
        "cores": os.cpu_count(), "duration_s": duration,
        "goals": {str(n): goal for n, goal in GOALS.items()},
        "meets_goals": {"1": meets(1, one), "4": meets(4, four)},
        "four_validators": {k: four[k] for k in headline},
        "one_validator": one,
        "four_validators_full": four,
    }
