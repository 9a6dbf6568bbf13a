"""The what-if query agrees with what happens when the same order is then sent, on a live chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from client import PlaceOrder, Side, TimeInForce
from tests.harness import LocalChain

pytestmark = pytest.mark.integration

BTC, PRICE = 1, 65_000_000_000


@pytest.fixture
def steady_chain(tmp_path: Path) -> Iterator[LocalChain]:
    """A chain whose validator reports a fixed BTC price, so margin figures hold from block to block."""
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"BTC-USD": "65000", "ETH-USD": "3200", "SOL-USD": "150"}))
    local = LocalChain.create(tmp_path / "chain", price_source=f"file:{prices}")
    try:
        local.start(min_height=3)
        yield local
    finally:
        local.stop()


def test_what_if_predicts_the_fill_fees_position_and_margin_of_the_real_order(steady_chain: LocalChain) -> None:
    chain = steady_chain
    alice, bob, _ = chain.keys
    bob_address = "0x" + bob.address.hex()
    with chain.client() as client:
        client.place(alice, PlaceOrder(0, BTC, Side.SELL, PRICE, 60))
        client.place(alice, PlaceOrder(0, BTC, Side.SELL, PRICE + 500_000, 60))
        order = PlaceOrder(0, BTC, Side.BUY, PRICE + 1_000_000, 100, TimeInForce.IOC)
        predicted = client.what_if(bob_address, order)
        assert predicted["accepted"] and predicted["filled_size"] == "100"
        assert client.positions(bob_address)["positions"] == []  # nothing was sent
        assert client.book(BTC)["asks"] == [[str(PRICE), "60", 1], [str(PRICE + 500_000), "60", 1]]

        result = client.place(bob, order)
        fills = [e.attributes for e in result.events if e.type == "fill"]
        assert [(f["price"], f["size"]) for f in fills] == [(p["price"], p["size"]) for p in predicted["fills"]]
        assert str(sum(int(f["taker_fee_micro_usdc"]) for f in fills)) == predicted["fees_micro_usdc"]
        after = client.positions(bob_address)
        assert after["positions"][0]["size"] == predicted["position_after"]["size"]
        assert after["positions"][0]["cost_micro_usdc"] == predicted["position_after"]["cost_micro_usdc"]
        assert after["collateral_micro_usdc"] == predicted["collateral_after_micro_usdc"]
        assert after["initial_margin_micro_usdc"] == predicted["initial_margin_after_micro_usdc"]
        assert after["positions"][0]["liquidation_price"] == predicted["liquidation_price_after"]  # None: no
        # price liquidates a 0.01 BTC long backed by bob's whole balance (the positions test pins values)

        refused = client.what_if(bob_address, PlaceOrder(0, BTC, Side.BUY, PRICE + 1, 100))
        assert (refused["accepted"], refused["code"]) == (False, 300)
