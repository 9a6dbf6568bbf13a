"""margin's declaration (modules/module.py): its invariants, its query. Its rules run inside the other
modules' actions (clearing in orderbook's fills, free collateral in transfers and withdrawals)."""

from __future__ import annotations

from modules.margin import invariants, queries
from modules.margin.keeper import MarginKeeper
from modules.markets.keeper import MarketsKeeper
from modules.module import Invariant, Module, Query

MODULE = Module(
    "margin",
    invariants=(
        Invariant("margin/positions-sum-to-zero", lambda c: invariants.positions_sum_to_zero(MarginKeeper(c.store))),
        Invariant("margin/open-interest-counted", lambda c: invariants.open_interest_matches_positions(
            MarginKeeper(c.store), MarketsKeeper(c.store))),
        Invariant("margin/open-interest-within-caps", lambda c: invariants.open_interest_within_caps(
            MarginKeeper(c.store), MarketsKeeper(c.store))),
    ),
    queries={("positions",): Query(2, queries.positions)},
)
