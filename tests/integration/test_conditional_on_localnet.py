"""Stops and take-profits fire on every node alike when scripted oracle prices cross them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client import ConditionalKind, PlaceConditional, PlaceOrder, Side, load_key
from tests.integration.conftest import running_net
from tests.integration.test_localnet import _assert_same_app_hashes, _settle

pytestmark = pytest.mark.integration

BTC, PRICE, USDC = 1, 65_000_000_000, 1_000_000
UP = 66_950 * USDC  # +3%


def test_conditionals_trigger_once_in_order_on_every_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shocks = tmp_path / "shocks.json"
    shocks.write_text("{}")
    monkeypatch.setenv("PERPCHAIN_PRICE_SHOCKS", str(shocks))
    with running_net(tmp_path / "ln") as net:
        maker, trader = load_key(net.layout.faucet_key), net.traders[0]
        with net.client(0) as client:
            client.send(maker, [PlaceOrder(0, BTC, Side.SELL, 69_000 * USDC, 1000),
                                PlaceOrder(0, BTC, Side.BUY, 61_000 * USDC, 1000)])
            client.send(trader, [
                PlaceConditional(0, BTC, ConditionalKind.TAKE_PROFIT_LIMIT, Side.SELL, UP, 70_000 * USDC, 10),
                PlaceConditional(0, BTC, ConditionalKind.TAKE_PROFIT_MARKET, Side.SELL, UP, 60_000 * USDC, 10),
                PlaceConditional(0, BTC, ConditionalKind.STOP_LIMIT, Side.BUY, UP, 69_000 * USDC, 10),
                PlaceConditional(0, BTC, ConditionalKind.STOP_MARKET, Side.BUY, UP, 70_000 * USDC, 10)])
            start = client.height()
        shocks.write_text(json.dumps({str(start + 3): {"BTC-USD": 40_000}}))  # +4%: well past the triggers
        net.wait_all(start + 10)
        _settle(net, [0, 1, 2, 3])
        per_node = []
        for index in range(4):
            with net.client(index) as client:
                fired = []
                for height in range(start, start + 10):
                    for event in client.rpc.call("block_results", height=str(height)).get("finalize_block_events") or []:
                        if event["type"] == "conditional_triggered":
                            attributes = {a["key"]: a["value"] for a in event["attributes"]}
                            fired.append((height, attributes["kind"], attributes["conditional_id"]))
                per_node.append(fired)
        assert all(fired == per_node[0] for fired in per_node)
        assert [kind for _, kind, _ in per_node[0]] == ["stop_market", "stop_limit", "take_profit_market",
                                                       "take_profit_limit"]
        assert len({height for height, _, _ in per_node[0]}) == 1  # one block, once
        _assert_same_app_hashes(net, [0, 1, 2, 3], 1, min(net.height(i) for i in range(4)))
