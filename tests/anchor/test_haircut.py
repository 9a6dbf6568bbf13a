"""The haircut that keeps every anchored root solvent (modules/anchor/claimable.py): bankrupt
equity beyond the insurance fund is cut from unrealized gains pro rata, and beyond the gains
from every claim; the leaves never sum to more than the chain holds for its traders."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
from hypothesis import given

from modules.anchor.claimable import Equity, Haircut
from modules.anchor.invariants import anchor_mismatch, chain_claim_micro_usdc
from modules.anchor.keeper import AnchorKeeper
from modules.anchor.merkle import BalanceTree
from modules.anchor.msg_server import CommittedState, anchor_step, mark_written
from modules.anchor.types import AnchorParams
from modules.bank.keeper import BankKeeper
from modules.context import BlockContext
from modules.margin.keeper import MarginKeeper
from modules.margin.types import Position
from modules.markets.genesis import import_genesis as import_markets
from modules.markets.keeper import MarketsKeeper
from modules.oracle.keeper import OracleKeeper
from modules.oracle.types import OraclePrice
from modules.staking.keeper import StakingKeeper
from modules.types import INSURANCE_FUND, SubaccountId
from tests.app.conftest import TEST_MARKETS
from tests.bridge_chain.test_tally import Net
from wire.crypto import keccak256

A, B, C, D = (bytes([n]) * 20 for n in (0xA1, 0xB2, 0xC3, 0xD4))
USDC = 1_000_000
LOTS = 1_000  # at 65,000 USDC a BTC, a 20% rise moves this position by 13,000 USDC


def test_without_bankrupt_equity_nothing_is_cut() -> None:
    equities = {A: Equity(150, 100), B: Equity(40, 90)}
    assert Haircut.of(equities.values(), 0).claims(equities) == {A: 150, B: 40}


def test_the_insurance_fund_covers_a_deficit_before_any_gain_is_cut() -> None:
    equities = {A: Equity(150, 100), B: Equity(-30, 10)}
    haircut = Haircut.of(equities.values(), 30)
    assert (haircut.shortfall_micro_usdc, haircut.gains_micro_usdc) == (0, 50)
    assert haircut.claims(equities) == {A: 150, B: 0}


def test_a_shortfall_is_cut_from_unrealized_gains_pro_rata_rounded_up() -> None:
    """B is 40 under water with 10 in the fund: 30 short. A and C gained 50 and 25: they lose 20
    and 10; D, with collateral only, keeps everything."""
    equities = {A: Equity(150, 100), B: Equity(-40, 5), C: Equity(75, 50), D: Equity(60, 60)}
    haircut = Haircut.of(equities.values(), 10)
    assert (haircut.shortfall_micro_usdc, haircut.gains_micro_usdc) == (30, 75)
    assert haircut.claims(equities) == {A: 130, B: 0, C: 65, D: 60}
    assert Haircut(7, 3).after_gains(Equity(5, 3)) == 5 - 2  # ceil(2 x 7 / 3) would pass the gain: capped at it


def test_a_shortfall_beyond_every_gain_scales_every_claim() -> None:
    """B's 100 deficit, no fund, 20 of gains: the gains go, and the 80 left come off all claims."""
    equities = {A: Equity(120, 100), B: Equity(-100, 0), C: Equity(300, 300)}
    haircut = Haircut.of(equities.values(), 0)
    assert haircut.scales_every_claim
    claims = haircut.claims(equities)
    assert claims == {A: 100 * 320 // 400, B: 0, C: 300 * 320 // 400}
    assert sum(claims.values()) <= 120 - 100 + 300  # the equity that exists


equity_st = st.builds(lambda collateral, pnl: Equity(collateral + pnl, collateral),
                      st.integers(0, 10**12), st.integers(-10**12, 10**12))


@given(st.lists(equity_st, min_size=1, max_size=20), st.integers(0, 10**12))
def test_claims_never_sum_past_the_equity_that_exists_plus_the_fund(equities: list[Equity], insurance: int) -> None:
    by_address = {i.to_bytes(20, "big"): e for i, e in enumerate(equities)}
    haircut = Haircut.of(by_address.values(), insurance)
    claims = haircut.claims(by_address)
    budget = sum(e.equity_micro_usdc for e in equities) + insurance
    if haircut.shortfall_micro_usdc:
        assert sum(claims.values()) <= max(0, budget)
    for address, equity in by_address.items():
        assert 0 <= claims[address] <= max(0, equity.equity_micro_usdc)
        if haircut.shortfall_micro_usdc == 0:
            assert claims[address] == max(0, equity.equity_micro_usdc)


def _bankrupt_state(insurance_micro_usdc: int) -> Net:
    """A long 1,000 lots of BTC from B at the reference price; the oracle then rises 20%: B's
    collateral of 1,000 USDC does not cover his loss. C holds collateral only."""
    net = Net()
    store = net.store
    AnchorKeeper(store).set_params(AnchorParams(1))
    import_markets(MarketsKeeper(store), {"markets": TEST_MARKETS})
    market = MarketsKeeper(store).market(1)
    entry = market.notional(market.reference_price_ticks, LOTS)
    bank, margin = BankKeeper(store), MarginKeeper(store)
    for address, collateral in ((A, 10_000 * USDC), (B, 1_000 * USDC), (C, 5_000 * USDC)):
        bank.mint(SubaccountId(address, 0), collateral)
    bank.mint(INSURANCE_FUND, insurance_micro_usdc)
    margin.set_position(Position(SubaccountId(A, 0), 1, LOTS, entry))
    margin.set_position(Position(SubaccountId(B, 0), 1, -LOTS, -entry))
    OracleKeeper(store).set_price(OraclePrice(1, market.reference_price * 6 // 5, 1))
    mark_written(store, 1, {A, B, C})
    return net


def _anchor(net: Net) -> dict[bytes, int]:
    anchor_step(net.store, BalanceTree(keccak256), BlockContext("perpchain-test", 2, 0),
                CommittedState(1, bytes(32), 0), StakingKeeper(net.store))
    return {leaf.address: leaf.amount_micro_usdc for leaf in AnchorKeeper(net.store).leaves()}


def test_an_account_bankrupt_at_the_anchor_height_is_covered_by_the_fund_first() -> None:
    net = _bankrupt_state(insurance_micro_usdc=1_000_000 * USDC)
    market = MarketsKeeper(net.store).market(1)
    gain = market.notional(market.reference_price_ticks * 6 // 5, LOTS) - market.notional(market.reference_price_ticks, LOTS)
    leaves = _anchor(net)
    assert leaves == {A: 10_000 * USDC + gain, C: 5_000 * USDC}  # B claims nothing, A his whole gain
    record = AnchorKeeper(net.store).latest()
    assert record is not None and record.shortfall_micro_usdc == 0
    assert anchor_mismatch(net.store, keccak256) is None


def test_an_account_bankrupt_at_the_anchor_height_beyond_the_fund_is_a_haircut_on_gains() -> None:
    net = _bankrupt_state(insurance_micro_usdc=100 * USDC)
    market = MarketsKeeper(net.store).market(1)
    gain = market.notional(market.reference_price_ticks * 6 // 5, LOTS) - market.notional(market.reference_price_ticks, LOTS)
    shortfall = gain - 1_000 * USDC - 100 * USDC  # B's deficit beyond the fund
    leaves = _anchor(net)
    record = AnchorKeeper(net.store).latest()
    assert record is not None and (record.shortfall_micro_usdc, record.gains_micro_usdc) == (shortfall, gain)
    assert leaves == {A: 10_000 * USDC + gain - shortfall, C: 5_000 * USDC}
    assert record.total_claimable_micro_usdc <= chain_claim_micro_usdc(net.store)
    assert anchor_mismatch(net.store, keccak256) is None


def _market_state() -> tuple[Net, Any]:
    net = Net()
    AnchorKeeper(net.store).set_params(AnchorParams(1))
    import_markets(MarketsKeeper(net.store), {"markets": TEST_MARKETS})
    return net, MarketsKeeper(net.store).market(1)


def _anchor_at(net: Net, tree: BalanceTree, height: int) -> dict[bytes, int]:
    anchor_step(net.store, tree, BlockContext("perpchain-test", height + 1, 0), CommittedState(height, bytes(32), 0),
                StakingKeeper(net.store))
    return {leaf.address: leaf.amount_micro_usdc for leaf in AnchorKeeper(net.store).leaves()}


def test_the_insurance_funds_own_positions_count_in_what_covers_a_deficit() -> None:
    """The fund took over a short at the reference price, then the price rose 20%: its loss is
    A's gain, so the fund's 2,000 USDC cover nothing and the gain is cut to what exists."""
    net, market = _market_state()
    entry = market.notional(market.reference_price_ticks, LOTS)
    bank, margin = BankKeeper(net.store), MarginKeeper(net.store)
    bank.mint(SubaccountId(A, 0), 10_000 * USDC)
    bank.mint(SubaccountId(C, 0), 5_000 * USDC)
    bank.mint(INSURANCE_FUND, 2_000 * USDC)
    margin.set_position(Position(SubaccountId(A, 0), 1, LOTS, entry))
    margin.set_position(Position(INSURANCE_FUND, 1, -LOTS, -entry))
    OracleKeeper(net.store).set_price(OraclePrice(1, market.reference_price * 6 // 5, 1))
    mark_written(net.store, 1, {A, C})
    leaves = _anchor_at(net, BalanceTree(keccak256), 1)
    assert leaves == {A: 12_000 * USDC, C: 5_000 * USDC}  # 10,000 + 13,000 gain - 11,000 the fund lacks
    assert sum(leaves.values()) == chain_claim_micro_usdc(net.store)
    assert anchor_mismatch(net.store, keccak256) is None


def test_leaves_scaled_to_nothing_come_back_at_the_next_anchor() -> None:
    """E bought high (A realized the other side earlier), B sold at the reference price. At +20%
    B is bankrupt and nobody gains: every claim is scaled, D's 1 micro-USDC (in subaccount 3)
    to 0, out of the tree. With the price back, D's leaf returns though D wrote nothing."""
    net, market = _market_state()
    notional = market.notional(market.reference_price_ticks, LOTS)
    bank, margin, oracle = BankKeeper(net.store), MarginKeeper(net.store), OracleKeeper(net.store)
    E = bytes([0xE5]) * 20
    for subaccount, amount in ((SubaccountId(A, 0), 100_000 * USDC), (SubaccountId(B, 0), 1_000 * USDC),
                               (SubaccountId(C, 0), 5_000 * USDC), (SubaccountId(D, 3), 1),
                               (SubaccountId(E, 0), 40_000 * USDC)):
        bank.mint(subaccount, amount)
    margin.set_position(Position(SubaccountId(B, 0), 1, -LOTS, -notional))
    margin.set_position(Position(SubaccountId(E, 0), 1, LOTS, notional * 3 // 2))
    mark_written(net.store, 1, {A, B, C, D, E})
    tree = BalanceTree(keccak256)
    assert _anchor_at(net, tree, 1)[D] == 1
    oracle.set_price(OraclePrice(1, market.reference_price * 6 // 5, 2))
    scaled = _anchor_at(net, tree, 2)
    record = AnchorKeeper(net.store).latest()
    assert record is not None and record.scales_every_claim and D not in scaled
    assert sum(scaled.values()) <= chain_claim_micro_usdc(net.store)
    assert anchor_mismatch(net.store, keccak256) is None
    oracle.set_price(OraclePrice(1, market.reference_price, 3))
    restored = _anchor_at(net, tree, 3)
    assert restored[D] == 1 and restored[A] == 100_000 * USDC
    assert anchor_mismatch(net.store, keccak256) is None
