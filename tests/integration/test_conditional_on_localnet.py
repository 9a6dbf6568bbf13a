"""Every kind of conditional order fires exactly once, in the documented order, on every node
alike, when scripted oracle prices cross them; the iceberg refills and TWAP children around them
produce identical events on every node, and every app hash agrees.

All four validators read their price from one file the test rewrites, so the oracle (their
stake-weighted median) follows the script exactly: 65,000 USDC, then one jump to 67,600 (+4%).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from client import (
    ConditionalKind,
    PlaceConditional,
    PlaceOrder,
    PlaceTrailingStop,
    SetPositionTpSl,
    Side,
    TimeInForce,
    load_key,
    save_key,
)
from tests.harness import ROOT
from tests.integration.conftest import running_net
from tests.integration.test_localnet import _assert_same_app_hashes, _settle

pytestmark = pytest.mark.integration

BTC, USDC = 1, 1_000_000
IOC = TimeInForce.IOC
TRIGGER = 66_950 * USDC  # the four plain kinds
KINDS = ["stop_market", "stop_limit", "take_profit_market", "take_profit_limit", "trailing_stop",
         "position_stop_loss", "position_take_profit"]


def _firing_order(triggered: list[dict[str, str]]) -> list[dict[str, str]]:
    """The documented order within one block: furthest past its trigger first (ppm of the
    trigger, rounded down), then id."""
    def key(e: dict[str, str]) -> tuple[int, int]:
        price, trigger = int(e["oracle_price"]), int(e["trigger_price"])
        return -(abs(price - trigger) * 1_000_000 // trigger), int(e["conditional_id"])
    return sorted(triggered, key=key)
COMPARED = ("conditional_triggered", "conditional_cancelled", "iceberg_refill", "twap_child", "twap_finished", "fill")


def _set_price(prices: Path, usdc: int) -> None:
    prices.write_text(json.dumps({"BTC-USD": str(usdc), "ETH-USD": "3200", "SOL-USD": "150"}))


def _block_events(client: Any, first: int, last: int) -> list[tuple[int, str, dict[str, str]]]:
    found = []
    for height in range(first, last + 1):
        results = client.rpc.call("block_results", height=str(height))
        for event in results.get("finalize_block_events") or []:
            if event["type"] in COMPARED:
                found.append((height, event["type"], {a["key"]: a["value"] for a in event["attributes"]}))
    return found


def _cli(node_url: str, *args: str) -> Any:
    done = subprocess.run([sys.executable, "-m", "perpchain.cli", *args, "--node", node_url], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_kind_triggers_once_in_order_on_every_node(tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    _set_price(prices, 65_000)
    with running_net(tmp_path / "ln", price_sources={i: f"file:{prices}" for i in range(4)}) as net:
        maker = load_key(net.layout.faucet_key)
        short_a, short_b, long_c, plain, iceberg, twap = net.traders[:6]
        twap_key = tmp_path / "twap.json"
        save_key(twap, twap_key)
        with net.client(0) as client:
            # 160 at 65,100: exactly C's 100 and the TWAP's 60, so the stops later meet the iceberg
            client.send(maker, [PlaceOrder(0, BTC, Side.SELL, 65_100 * USDC, 160),
                                PlaceOrder(0, BTC, Side.BUY, 64_900 * USDC, 200),
                                PlaceOrder(0, BTC, Side.SELL, 69_000 * USDC, 2_000),
                                PlaceOrder(0, BTC, Side.BUY, 61_000 * USDC, 2_000)])
            client.send(short_a, [PlaceOrder(0, BTC, Side.SELL, 64_900 * USDC, 100, IOC)])
            client.send(short_b, [PlaceOrder(0, BTC, Side.SELL, 64_900 * USDC, 100, IOC)])
            client.send(long_c, [PlaceOrder(0, BTC, Side.BUY, 65_100 * USDC, 100, IOC)])
            # placed against the firing order, so the order comes from the rule, not from the ids
            client.send(long_c, [SetPositionTpSl(0, BTC, 66_500 * USDC, 63_000 * USDC)])
            client.send(short_a, [SetPositionTpSl(0, BTC, 63_000 * USDC, 66_500 * USDC)])
            client.send(short_b, [PlaceTrailingStop(0, BTC, Side.BUY, 100, trail_price=1_000 * USDC,
                                                    reduce_only=True)])
            client.send(plain, [
                PlaceConditional(0, BTC, ConditionalKind.TAKE_PROFIT_LIMIT, Side.SELL, TRIGGER, 70_000 * USDC, 10),
                PlaceConditional(0, BTC, ConditionalKind.TAKE_PROFIT_MARKET, Side.SELL, TRIGGER, 60_000 * USDC, 10),
                PlaceConditional(0, BTC, ConditionalKind.STOP_LIMIT, Side.BUY, TRIGGER, 69_000 * USDC, 10),
                PlaceConditional(0, BTC, ConditionalKind.STOP_MARKET, Side.BUY, TRIGGER, 70_000 * USDC, 10)])
            # the stops that buy back will take this iceberg's slices first (68,000 is the best ask)
            client.send(iceberg, [PlaceOrder(0, BTC, Side.SELL, 68_000 * USDC, 300, display_size=100)])
            book = client.book(BTC, 5)
            assert [str(68_000 * USDC), "100", 1] in book["asks"]  # the hidden 200 is not in L2
        placed = _cli(net.layout.nodes[0].rpc_url, "tx", "twap", "--key", str(twap_key), "--market", "BTC-USD",
                      "--side", "buy", "--size", "0.006", "--slices", "3", "--interval-blocks", "2",
                      "--max-slippage-bps", "500")
        twap_id = placed["twap_placed"][0]["twap_id"]
        start = placed["height"]
        net.wait_all(start + 7)  # all three children (every 2 blocks) are out
        assert _cli(net.layout.nodes[1].rpc_url, "query", "twaps", "0x" + twap.address.hex()) == []  # finished

        with net.client(0) as client:
            before_jump = client.height()
        _set_price(prices, 67_600)
        net.wait_all(before_jump + 10)
        _settle(net, [0, 1, 2, 3])
        last = min(net.height(i) for i in range(4))

        per_node = []
        for index in range(4):
            with net.client(index) as client:
                per_node.append(_block_events(client, start, last))
        assert all(events == per_node[0] for events in per_node), "nodes disagree on the events"
        events = per_node[0]

        triggered = [(h, e) for h, kind, e in events if kind == "conditional_triggered"]
        assert sorted(e["kind"] for _, e in triggered) == sorted(KINDS)
        assert [e for _, e in triggered] == _firing_order([e for _, e in triggered])
        assert len({h for h, _ in triggered}) == 1  # one block, once
        assert len({e["conditional_id"] for _, e in triggered}) == len(KINDS)
        one_cancels_other = sorted(e["kind"] for _, kind, e in events
                                   if kind == "conditional_cancelled" and e["reason"] == "one_cancels_other")
        assert one_cancels_other == ["position_stop_loss", "position_take_profit"]  # C's SL and A's TP
        refills = [e for _, kind, e in events if kind == "iceberg_refill"]
        assert [r["size"] for r in refills] == ["100", "100"]  # two refills of the 100 shown; 300 never shown
        children = [e for _, kind, e in events if kind == "twap_child" and e["twap_id"] == twap_id]
        assert [c["slice"] for c in children] == ["1", "2", "3"]
        assert sum(int(c["filled"]) for c in children) == 60
        with net.client(2) as client:
            assert client.conditionals("0x" + short_a.address.hex()) == []
            assert client.conditionals("0x" + long_c.address.hex()) == []
            positions = client.query(f"/positions/0x{short_b.address.hex()}/0")["positions"]
            assert sum(int(p["size"]) for p in positions if p["market_id"] == BTC) == 0  # bought back by the trail
        _assert_same_app_hashes(net, [0, 1, 2, 3], 1, last)
