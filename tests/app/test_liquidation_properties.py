"""Over random price paths and random accounts, long or short (hypothesis): after every block
nobody has equity below zero, collateral (insurance fund and fee pool included) minus position
costs plus the funding pool is conserved, no liquidation fills worse than its bankruptcy price,
and whoever the block liquidated is closed or back above maintenance."""

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
from tests.app.conftest import FUNDED_MICRO_USDC, AppHarness, oracle_tx_with, start_app
from wire import PrivateKey, sign_tx
from wire.codec import Action, Tx
from wire.pb import abci_pb

KEYS = [PrivateKey.from_hex(f"{i:064x}") for i in (301, 302, 303, 304)]
PRICE, TICK = 65_000_000_000, 100_000


class _Signer:
    """Signs txs for the harness's next block, each with a nonce of its own."""

    def __init__(self, h: AppHarness) -> None:
        self.h, self.count = h, 0

    def __call__(self, key: PrivateKey, *actions: Action) -> bytes:
        self.count += 1
        return sign_tx(key, Tx("perpchain-test", key.address, self.h.time_ms + self.count, actions))


# Derandomized: the same examples every run, so CI never meets a new one by chance; a wider search
# is a local run with more examples and derandomize off. Each counterexample found is kept as an
# explicit example: the first left the fund at -112 USDC (a liquidation fee took what the backstop
# needed, and the failed deleveraging dropped the only counterparty for the block).
@settings(max_examples=200, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(short=False, sizes=[100, 900, 900], fund_usdc=153, moves=[-59424, -95728, -33838, 113, -69048])
@given(
    st.booleans(),  # the three traders are short (else long) against the maker
    st.lists(st.sampled_from([100, 300, 600, 900]), min_size=3, max_size=3),  # sizes (atoms) of three traders
    st.integers(0, 300),  # insurance fund in USDC
    st.lists(st.integers(-100_000, 100_000), min_size=3, max_size=8),  # price moves per block, ppm
)
def test_no_negative_equity_conservation_and_bankruptcy_bound_over_random_price_paths(
    short: bool, sizes: list[int], fund_usdc: int, moves: list[int]
) -> None:
    traders_side, maker_side = (Side.SELL, Side.BUY) if short else (Side.BUY, Side.SELL)
    with tempfile.TemporaryDirectory() as directory:
        h = start_app(Path(directory), KEYS, oracle=True)
        _tx = _Signer(h)
        maker = KEYS[3]
        try:
            txs = [_tx(maker, Transfer(0, INSURANCE_FUND, fund_usdc * 1_000_000))] if fund_usdc else []
            for key, size in zip(KEYS[:3], sizes):
                txs.append(_tx(maker, PlaceOrder(0, 1, maker_side, PRICE, size)))
                txs.append(_tx(key, PlaceOrder(0, 1, traders_side, PRICE, size, TimeInForce.IOC)))
            h.block(txs, prices={1: PRICE})
            price = PRICE
            for move in moves:
                price = max(TICK, (price * (1_000_000 + move) // 1_000_000) // TICK * TICK)
                # a little liquidity on the side the traders' liquidations take, 50 ticks off the price
                quote = price + TICK * 50 if short else price - TICK * 50
                liquidity = [_tx(maker, PlaceOrder(0, 1, traders_side, quote, 200))]
                response = h.finalize([oracle_tx_with({1: price}), *liquidity])
                h.commit()
                _check(h, response)
        finally:
            h.app.signers.close()
            h.store.close()


def _check(h: AppHarness, response: abci_pb.ResponseFinalizeBlock) -> None:
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
    _check_liquidated_closed_or_safe(response, markets, bank, margin, oracle)
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


def _check_liquidated_closed_or_safe(response: abci_pb.ResponseFinalizeBlock, markets: MarketsKeeper, bank: BankKeeper,
                                     margin: MarginKeeper, oracle: OracleKeeper) -> None:
    """No budget binds here, so a subaccount the block liquidated ends it with no position or back
    at or above maintenance; only a later liquidation of the block trading with it may change
    that (it is then re-read and carried, docs/liquidation.md)."""
    liquidated: list[str] = []
    traded_later: set[str] = set()
    for event in response.events:
        attributes = {a.key: a.value for a in event.attributes}
        if event.type == "liquidation":
            liquidated.append(attributes["subaccount"])
        elif event.type in ("fill", "deleveraging"):
            traded_later.update(attributes[key] for key in ("maker", "counterparty") if attributes.get(key) in liquidated)
        elif event.type == "insurance_fund_takeover" and str(INSURANCE_FUND) in liquidated:
            traded_later.add(str(INSURANCE_FUND))
    for text in set(liquidated) - traded_later:
        owner = SubaccountId.from_text(text)
        risk = account_risk(owner, markets, bank, margin, oracle)
        assert not list(margin.positions(owner)) or risk.equity_micro_usdc >= risk.maintenance_micro_usdc, (owner, risk)
