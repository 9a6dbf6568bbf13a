"""`perpchain tx place|cancel|cancel-all|modify|schedule-cancel` and `perpchain query
book|orders|trades|positions|markets` against a real node."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from client import save_key
from tests.harness import ROOT, LocalChain

pytestmark = pytest.mark.integration


def cli(chain: LocalChain, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "perpchain.cli", *args, "--node", chain.rpc_url], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_trading_from_the_command_line(chain: LocalChain, tmp_path: Path) -> None:
    alice, bob, _ = chain.keys
    files = {}
    for name, key in (("alice", alice), ("bob", bob)):
        files[name] = str(tmp_path / f"{name}.json")
        save_key(key, Path(files[name]))
    markets = json.loads(cli(chain, "query", "markets").stdout)
    assert [m["ticker"] for m in markets] == ["BTC-USD", "ETH-USD", "SOL-USD"]

    placed = cli(chain, "tx", "place", "--key", files["alice"], "--market", "BTC-USD", "--side", "sell",
                 "--price", "65000", "--size", "0.01", "--client-id", "42")
    assert placed.returncode == 0, placed.stderr
    order_id = json.loads(placed.stdout)["order_placed"][0]["order_id"]

    simulated = cli(chain, "query", "whatif", "0x" + bob.address.hex(), "--market", "BTC-USD", "--side", "buy",
                    "--price", "65100", "--size", "0.004")
    assert simulated.returncode == 0, simulated.stderr
    whatif = json.loads(simulated.stdout)
    assert (whatif["filled_size"], whatif["average_price"]) == ("40", "65000000000")
    funding = json.loads(cli(chain, "query", "funding", "BTC-USD").stdout)
    assert funding["market_id"] == 1 and funding["samples_this_hour"] >= 1
    prices = json.loads(cli(chain, "query", "prices").stdout)
    assert [p["ticker"] for p in prices] == ["BTC-USD", "ETH-USD", "SOL-USD"]

    off_tick = cli(chain, "tx", "place", "--key", files["bob"], "--market", "BTC-USD", "--side", "buy",
                   "--price", "65000.05", "--size", "0.01")
    assert off_tick.returncode == 2 and "code 300 (orderbook): PriceOffTick" in off_tick.stderr

    taken = cli(chain, "tx", "place", "--key", files["bob"], "--market", "1", "--side", "buy", "--price", "65100",
                "--size", "0.004", "--market-order")
    assert taken.returncode == 0, taken.stderr
    assert json.loads(taken.stdout)["fill"][0]["size"] == "40"

    book = json.loads(cli(chain, "query", "book", "BTC-USD").stdout)
    assert book["asks"] == [["65000000000", "60", 1]]
    positions = json.loads(cli(chain, "query", "positions", "0x" + bob.address.hex()).stdout)
    assert positions["positions"][0]["size"] == "40"
    trades = json.loads(cli(chain, "query", "trades", "BTC-USD").stdout)
    assert [(t["price"], t["size"], t["taker_side"]) for t in trades] == [("65000000000", "40", "buy")]

    modified = cli(chain, "tx", "modify", "--key", files["alice"], "--market", "BTC-USD", "--order-id", order_id,
                   "--price", "65000", "--size", "0.005")
    assert json.loads(modified.stdout)["order_modified"][0]["kept_priority"] == "true"
    scheduled = cli(chain, "tx", "schedule-cancel", "--key", files["alice"], "--in-seconds", "60")
    assert scheduled.returncode == 0, scheduled.stderr
    cancelled = cli(chain, "tx", "cancel", "--key", files["alice"], "--market", "BTC-USD", "--client-id", "42")
    assert json.loads(cancelled.stdout)["order_cancelled"][0]["reason"] == "by_owner"
    again = cli(chain, "tx", "cancel", "--key", files["alice"], "--market", "BTC-USD", "--order-id", order_id)
    assert again.returncode == 2 and "OrderNotFound" in again.stderr
    assert json.loads(cli(chain, "query", "orders", "0x" + alice.address.hex()).stdout) == []
    stop = cli(chain, "tx", "conditional", "--key", files["alice"], "--market", "BTC-USD", "--kind", "stop-market",
               "--side", "buy", "--trigger", "90000", "--limit", "91000", "--size", "0.001")
    assert stop.returncode == 0, stop.stderr
    [resting] = json.loads(cli(chain, "query", "conditionals", "0x" + alice.address.hex()).stdout)
    assert (resting["kind"], resting["trigger_price"]) == ("stop_market", "90000000000")
    wrong_side = cli(chain, "tx", "conditional", "--key", files["alice"], "--market", "BTC-USD", "--kind", "stop-market",
                     "--side", "buy", "--trigger", "1000", "--limit", "91000", "--size", "0.001")
    assert wrong_side.returncode == 2 and "TriggerWrongSide" in wrong_side.stderr
    cleared = cli(chain, "tx", "cancel-all", "--key", files["alice"])
    assert json.loads(cleared.stdout)["cancelled"] == []
