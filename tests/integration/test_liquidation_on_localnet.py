"""A scripted price shock on a 4-validator localnet liquidates the same subaccounts identically on
every node: the same events in the same block, the same app hash."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from client import PlaceOrder, Side, TimeInForce, load_key
from tests.integration.conftest import running_net
from tests.integration.test_localnet import _assert_same_app_hashes, _settle

pytestmark = pytest.mark.integration

BTC, PRICE, USDC = 1, 65_000_000_000, 1_000_000


def test_a_price_shock_liquidates_identically_on_every_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shocks = tmp_path / "shocks.json"
    shocks.write_text("{}")
    monkeypatch.setenv("PERPCHAIN_PRICE_SHOCKS", str(shocks))  # read by every validator's sim feed
    with running_net(tmp_path / "ln") as net:
        maker, longs = load_key(net.layout.faucet_key), net.traders[:3]
        with net.client(0) as client:
            for trader in longs:  # each 10,000 USDC, long 2 BTC (130,000 USDC): about 13x
                client.place(maker, PlaceOrder(0, BTC, Side.SELL, PRICE, 20_000))
                client.place(trader, PlaceOrder(0, BTC, Side.BUY, PRICE + 100 * USDC, 20_000, TimeInForce.IOC))
            start = client.height()
        shocks.write_text(json.dumps({str(start + 3): {"BTC-USD": -80_000}}))  # -8% from height start+3
        net.wait_all(start + 12)
        _settle(net, [0, 1, 2, 3])

        per_node = []
        for index in range(4):
            with net.client(index) as client:
                found = []
                for height in range(start, start + 12):
                    results = client.rpc.call("block_results", height=str(height))
                    for event in results.get("finalize_block_events") or []:
                        if event["type"] in ("liquidation", "liquidation_fill", "insurance_fund_takeover",
                                             "deleveraging"):
                            found.append((height, event["type"],
                                          tuple((a["key"], a["value"]) for a in event["attributes"])))
                per_node.append(found)
        assert per_node[0], "the shock liquidated nobody; the scenario proves nothing"
        assert all(found == per_node[0] for found in per_node)
        liquidated = {dict(attrs)["subaccount"] for _, kind, attrs in per_node[0] if kind == "liquidation"}
        assert liquidated == {f"0x{t.address.hex()}/0" for t in longs}
        _assert_same_app_hashes(net, [0, 1, 2, 3], 1, min(net.height(i) for i in range(4)))
        os.environ.pop("PERPCHAIN_PRICE_SHOCKS", None)
