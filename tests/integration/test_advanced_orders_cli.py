"""`perpchain tx place --display-size | tpsl | trailing-stop | twap | cancel-twap` and `perpchain
query conditionals | twaps` against a real node (one validator, simulated prices around 65,000)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from client import save_key
from tests.harness import ROOT, LocalChain

pytestmark = pytest.mark.integration


def cli(chain: LocalChain, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "perpchain.cli", *args, "--node", chain.rpc_url], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def ok(chain: LocalChain, *args: str) -> Any:
    done = cli(chain, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_advanced_orders_from_the_command_line(chain: LocalChain, tmp_path: Path) -> None:
    alice, bob, _ = chain.keys
    files = {}
    for name, key in (("alice", alice), ("bob", bob)):
        files[name] = str(tmp_path / f"{name}.json")
        save_key(key, Path(files[name]))
    btc = ("--market", "BTC-USD")

    iceberg = ok(chain, "tx", "place", "--key", files["alice"], *btc, "--side", "sell", "--price", "65000",
                 "--size", "0.03", "--display-size", "0.01")
    assert [(e["size"], e["iceberg"]) for e in iceberg["order_placed"]] == [("100", "true")]
    assert ok(chain, "query", "book", "BTC-USD")["asks"] == [["65000000000", "100", 1]]
    taken = ok(chain, "tx", "place", "--key", files["bob"], *btc, "--side", "buy", "--price", "65000", "--size", "0.01",
               "--market-order")
    assert [e["size"] for e in taken["iceberg_refill"]] == ["100"]
    assert ok(chain, "query", "book", "BTC-USD")["asks"] == [["65000000000", "100", 1]]

    protected = ok(chain, "tx", "tpsl", "--key", files["bob"], *btc, "--take-profit", "70000", "--stop-loss", "60000")
    assert [e["kind"] for e in protected["conditional_placed"]] == ["position_stop_loss", "position_take_profit"]
    trailing = ok(chain, "tx", "trailing-stop", "--key", files["bob"], *btc, "--side", "sell", "--size", "0.01",
                  "--trail-bps", "500", "--reduce-only")
    assert trailing["conditional_placed"][0]["kind"] == "trailing_stop"
    conditionals = ok(chain, "query", "conditionals", "0x" + bob.address.hex())
    assert sorted(c["kind"] for c in conditionals) == ["position_stop_loss", "position_take_profit", "trailing_stop"]

    zero = cli(chain, "tx", "twap", "--key", files["bob"], *btc, "--side", "buy", "--size", "0.01", "--slices", "0",
               "--interval-blocks", "1")
    assert zero.returncode == 2 and "code 320 (orderbook): TwapZeroSlices" in zero.stderr
    placed = ok(chain, "tx", "twap", "--key", files["bob"], *btc, "--side", "buy", "--size", "0.01", "--slices", "2",
                "--interval-blocks", "10000")
    twap_id = placed["twap_placed"][0]["twap_id"]
    [running] = ok(chain, "query", "twaps", "0x" + bob.address.hex())
    assert (running["twap_id"], running["size"], running["slices"]) == (twap_id, "100", 2)
    cancelled = ok(chain, "tx", "cancel-twap", "--key", files["bob"], *btc, "--twap-id", twap_id)
    assert cancelled["twap_cancelled"][0]["reason"] == "by_owner"
    assert ok(chain, "query", "twaps", "0x" + bob.address.hex()) == []
