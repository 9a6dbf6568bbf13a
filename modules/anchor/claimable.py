"""What each address could take out of the vault if the chain stopped now (docs/anchoring.md):

    claimable(address) = max(0, sum over its subaccounts of equity)
    equity             = collateral + sum(size x price - cost), funding settled into cost first

at the margin price the risk check uses (modules/margin/risk.py). Withdrawals already requested
left the collateral when they were queued, so they are not in it. Module accounts (fee pool,
insurance fund) belong to no key and get no leaf.
"""

from __future__ import annotations

from typing import Iterable

from modules.bank.keeper import BankKeeper
from modules.funding.keeper import FundingKeeper
from modules.margin.funding_settlement import settled_view
from modules.margin.keeper import MarginKeeper
from modules.margin.risk import margin_price_ticks
from modules.markets.keeper import MarketsKeeper
from modules.oracle.keeper import OracleKeeper
from modules.store import KVStore
from modules.types import FEE_POOL, INSURANCE_FUND

MODULE_ADDRESSES = frozenset({FEE_POOL.address, INSURANCE_FUND.address})


class ClaimableReader:
    """Reads claimable amounts from one state, caching each market's price and funding index."""

    def __init__(self, store: KVStore) -> None:
        self._bank = BankKeeper(store)
        self._margin = MarginKeeper(store)
        self._markets = MarketsKeeper(store)
        self._oracle = OracleKeeper(store)
        self._funding = FundingKeeper(store)
        self._price_ticks: dict[int, int] = {}

    def _price(self, market_id: int) -> int:
        if market_id not in self._price_ticks:
            self._price_ticks[market_id] = margin_price_ticks(self._markets.market(market_id), self._oracle)
        return self._price_ticks[market_id]

    def claimable(self, address: bytes, holds_positions: bool = True) -> int:
        """`holds_positions` False skips the position lookup (the caller knows there is none)."""
        if address in MODULE_ADDRESSES:
            return 0
        total = sum(balance.amount_micro_usdc for balance in self._bank.balances_of(address))
        for position in self._margin.positions_of(address) if holds_positions else ():
            position = settled_view(position, self._funding)
            market = self._markets.market(position.market_id)
            total += market.notional(self._price(position.market_id), position.size_lots) - position.cost_micro_usdc
        return max(0, total)

    def amounts(self, addresses: Iterable[bytes], holders: set[bytes] | None = None) -> dict[bytes, int]:
        """`holders`: every address with a position, when known, to skip the others' lookups."""
        return {address: self.claimable(address, holders is None or address in holders) for address in addresses}

    def position_holders(self) -> set[bytes]:
        """Addresses whose equity moves with the price and funding even when nothing is written."""
        return {position.subaccount.address for position in self._margin.all_positions()}
