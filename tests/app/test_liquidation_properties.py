"""Over random price paths and random accounts (hypothesis): after every block nobody has equity
below zero, collateral (insurance fund and fee pool included) minus position costs plus the
funding pool is conserved, and no liquidation fills worse than its bankruptcy price."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from modules.bank.keeper import BankKeeper
from modules.bank.types import Transfer
from modules.funding.keeper import FundingKeeper
from modules.margin.keeper import MarginKeeper
from modules.margin.risk import account_risk
from modules.markets.keeper import MarketsKeeper
from modules.oracle.keeper import OracleKeeper
from modules.orderbook.actions import PlaceOrder
from modules.orderbook.types import Side, TimeInForce
from modules.types import INSURANCE_FUND, SubaccountId
from tests.app.conftest import FUNDED_MICRO_USDC, oracle_tx_with, start_app
from wire import PrivateKey, sign_tx
from wire.codec import Tx

KEYS = [PrivateKey.from_hex(f"{i:064x}") for i in (301, 302, 303, 304)]
PRICE, TICK = 65_000_000_000, 100_000


def _tx(h, key, *actions):  # type: ignore[no-untyped-def]
    h.nonce += 1
    return sign_tx(key, Tx("perpchain-test", key.address, h.time_ms + h.nonce, tuple(actions)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(sizes=[100, 900, 900], fund_usdc=153, moves=[-59424, -95728, -33838, 113, -69048])
@given(
    st.lists(st.sampled_from([100, 300, 600, 900]), min_size=3, max_size=3),  # long sizes (atoms) of three traders
    st.integers(0, 300) ,  # insurance fund in USDC
    st.lists(st.integers(-100_000, 100_000), min_size=3, max_size=8),  # price moves per block, ppm
)
def test_no_negative_equity_conservation_and_bankruptcy_bound_over_random_price_paths(
    sizes: list[int], fund_usdc: int, moves: list[int]
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        h = start_app(Path(directory), KEYS, oracle=True)
        h.nonce = 0  # type: ignore[attr-defined]
        maker = KEYS[3]
        try:
            txs = [_tx(h, maker, Transfer(0, INSURANCE_FUND, fund_usdc * 1_000_000))] if fund_usdc else []
            for key, size in zip(KEYS[:3], sizes):
                txs.append(_tx(h, maker, PlaceOrder(0, 1, Side.SELL, PRICE, size)))
                txs.append(_tx(h, key, PlaceOrder(0, 1, Side.BUY, PRICE, size, TimeInForce.IOC)))
            h.block(txs, prices={1: PRICE})
            price = PRICE
            for move in moves:
                price = max(TICK, (price * (1_000_000 + move) // 1_000_000) // TICK * TICK)
                # a little liquidity around the price for liquidations to use
                liquidity = [_tx(h, maker, PlaceOrder(0, 1, Side.BUY, price - TICK * 50, 200))]
                response = h.finalize([oracle_tx_with({1: price}), *liquidity])
                h.commit()
                _check(h, response)
        finally:
            h.app.signers.close()
            h.store.close()


def _check(h, response) -> None:  # type: ignore[no-untyped-def]
    store = h.store
    markets, bank, margin, oracle = MarketsKeeper(store), BankKeeper(store), MarginKeeper(store), OracleKeeper(store)
    owners = [SubaccountId(k.address, 0) for k in KEYS] + [INSURANCE_FUND]
    for owner in owners:
        risk = account_risk(owner, markets, bank, margin, oracle)
        assert risk.equity_micro_usdc >= 0, (owner, risk)
    total = sum(b.amount_micro_usdc for b in bank.balances())
    costs = sum(p.cost_micro_usdc for p in margin.all_positions())
    assert total - costs + FundingKeeper(store).pool() == len(KEYS) * FUNDED_MICRO_USDC
    assert sum(p.size_lots for p in margin.all_positions()) == 0
    bankruptcy: dict[str, int] = {}
    for event in response.events:
        attributes = {a.key: a.value for a in event.attributes}
        if event.type == "liquidation_fill":
            bankruptcy[attributes["subaccount"]] = int(attributes["bankruptcy_price"])
    for event in response.events:
        attributes = {a.key: a.value for a in event.attributes}
        if event.type == "fill" and attributes["taker"] in bankruptcy:
            limit = bankruptcy[attributes["taker"]]
            price = int(attributes["price"])
            assert price >= limit if attributes["taker_side"] == "sell" else price <= limit
