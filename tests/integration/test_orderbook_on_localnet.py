"""Crossing orders from several accounts on a 4-validator localnet: fills, positions and balances
read back on every node, and every node on the same app hash."""

from __future__ import annotations

import pytest

from client import PlaceOrder, Side, TimeInForce
from tests.integration.conftest import TRADER_USDC, Net
from tests.integration.test_localnet import _assert_same_app_hashes, _settle

pytestmark = pytest.mark.integration

BTC, PRICE, USDC = 1, 65_000_000_000, 1_000_000


def test_crossing_orders_from_several_accounts_fill_alike_on_every_node(net: Net) -> None:
    maker_a, maker_b, taker, other = net.traders[:4]
    with net.client(0) as client:
        client.place(maker_a, PlaceOrder(0, BTC, Side.SELL, PRICE, 100))
    with net.client(1) as client:
        client.place(maker_b, PlaceOrder(0, BTC, Side.SELL, PRICE + 100_000, 100))
    with net.client(2) as client:
        result = client.place(taker, PlaceOrder(0, BTC, Side.BUY, PRICE + 100_000, 150, TimeInForce.IOC))
    fills = [e.attributes for e in result.events if e.type == "fill"]
    assert [(f["maker"].split("/")[0], f["price"], f["size"]) for f in fills] == [
        ("0x" + maker_a.address.hex(), str(PRICE), "100"),
        ("0x" + maker_b.address.hex(), str(PRICE + 100_000), "50"),
    ]
    with net.client(3) as client:
        client.place(other, PlaceOrder(0, BTC, Side.BUY, PRICE - 1_000_000, 20))  # rests below
    _settle(net, [0, 1, 2, 3])

    notional_a, notional_b = 650 * USDC, 325_000_500  # 0.01 BTC at 65,000; 0.005 BTC at 65,000.1
    expected_taker_fee = (notional_a * 5 + 9_999) // 10_000 + (notional_b * 5 + 9_999) // 10_000
    for index in range(4):
        with net.client(index) as client:
            taker_view = client.positions("0x" + taker.address.hex())
            assert [(p["ticker"], p["size"]) for p in taker_view["positions"]] == [("BTC-USD", "150")]
            assert taker_view["collateral_micro_usdc"] == str(TRADER_USDC * USDC - expected_taker_fee)
            maker_view = client.positions("0x" + maker_a.address.hex())
            assert maker_view["positions"][0]["size"] == "-100"
            assert maker_view["collateral_micro_usdc"] == str(TRADER_USDC * USDC - notional_a // 10_000)
            book = client.book(BTC, 5)
            assert book == {"market_id": BTC, "bids": [[str(PRICE - 1_000_000), "20", 1]],
                            "asks": [[str(PRICE + 100_000), "50", 1]]}
            assert [(t["size"], t["taker_side"]) for t in client.trades(BTC, 5)] == [("50", "buy"), ("100", "buy")]
    last = min(net.height(i) for i in range(4))
    _assert_same_app_hashes(net, [0, 1, 2, 3], 1, last)
