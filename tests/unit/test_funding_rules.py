"""Funding arithmetic: impact prices, premium, the hourly cap, and payments that sum to zero up
to rounding in the system's favour however lazily positions settle."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from modules.funding.rules import clamped_premium_ppm, hourly_rate_ppm, impact_price, payment_micro_usdc, premium_ppm


def test_impact_price_is_the_average_fill_price_of_the_impact_notional() -> None:
    # 1,000 USDC through 65,650 x 10 lots then 65,700: 10 lots at 65.65 USDC, 6 at 65.70 (100 micro-USDC per tick-lot)
    levels = [(656_500, 10), (657_000, 20)]
    assert impact_price(levels, 1_000_000_000, 100) == (10 * 656_500 + 6 * 657_000) // 16
    assert impact_price([(656_500, 5)], 1_000_000_000, 100) is None  # not deep enough


def test_premium_and_the_hourly_cap() -> None:
    assert premium_ppm(656_500, None, 650_000) == 10_000
    assert premium_ppm(None, 643_500, 650_000) == -10_000
    assert premium_ppm(649_000, 651_000, 650_000) == 0  # a book around the oracle pays nothing
    assert hourly_rate_ppm(10_000, 3) == 416
    assert hourly_rate_ppm(-10_000, 3) == -416  # truncated toward zero both ways
    assert hourly_rate_ppm(80_000, 1) == 1_000 and hourly_rate_ppm(-80_000, 1) == -1_000


@given(
    st.lists(st.integers(-1_000, 1_000), min_size=1, max_size=8),
    st.lists(st.integers(-10**12, 10**12), min_size=1, max_size=10),
    st.data(),
)
def test_payments_sum_to_zero_up_to_rounding_kept_by_the_system(sizes: list[int], steps: list[int],
                                                                 data: st.DataObject) -> None:
    sizes = sizes + [-sum(sizes)]  # the market's positions net to zero
    index = 0
    settled_at = [0] * len(sizes)
    paid = 0
    settlements = 0
    for step in steps:
        index += step
        for holder in range(len(sizes)):
            if data.draw(st.booleans()):  # each position settles whenever it next trades or is checked
                paid += payment_micro_usdc(sizes[holder], index, settled_at[holder])
                settled_at[holder] = index
                settlements += 1
    for holder in range(len(sizes)):
        paid += payment_micro_usdc(sizes[holder], index, settled_at[holder])
        settlements += 1
    assert 0 <= paid < settlements  # exact sum is zero; each rounding keeps under 1 micro-USDC


def test_a_premium_sample_is_clamped_to_the_margin_buffer() -> None:
    assert clamped_premium_ppm(500_000, 50_000, 30_000) == 20_000  # a bid at +50% says +2% at most
    assert clamped_premium_ppm(-500_000, 50_000, 30_000) == -20_000
    assert clamped_premium_ppm(7_000, 50_000, 30_000) == 7_000
    assert clamped_premium_ppm(5_000, 30_000, 30_000) == 1_000  # never under 0.1%
