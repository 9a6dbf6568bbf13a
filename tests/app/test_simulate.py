"""`perpchain simulate` replays a price path on an in-process chain and reports each step."""

from __future__ import annotations

from sim.simulate import simulate


def test_a_scripted_drop_liquidates_the_leveraged_long_and_nobody_ends_below_zero() -> None:
    accounts = [
        {"collateral_usdc": "1000", "positions": [{"market": "BTC-USD", "size": "0.2"}]},  # 13x long
        {"collateral_usdc": "1000", "positions": [{"market": "BTC-USD", "size": "0.01"}]},  # 0.65x long
    ]
    path = [{"BTC-USD": "65000"}, {"BTC-USD": "61000"}, {"BTC-USD": "60500"}]
    steps = list(simulate(accounts, path, insurance_usdc=0))
    assert [s["step"] for s in steps] == [1, 2, 3]
    assert steps[0]["liquidations"] == 0
    assert sum(s["liquidations"] for s in steps) >= 1
    assert steps[1]["prices"]["BTC-USD"] == "61000000000"
    assert all(s["accounts_below_zero"] == 0 for s in steps)
