"""What each address could take out of the vault if the chain stopped now (docs/anchoring.md):

    equity(address)    = sum over its subaccounts of collateral + sum(size x price - cost),
                         funding settled into cost first, at the margin price of the risk check
    gain(address)      = the part of a positive equity that is unrealized profit:
                         max(0, min(equity - collateral, equity))
    claimable(address) = max(0, equity) - haircut(address)

The haircut keeps every anchor solvent (the leaves never sum to more than the chain holds for
its traders): an address with negative equity (bankrupt) claims nothing, and its deficit is
money the winners' unrealized gains were counting on. The insurance fund's equity (its balance
and the positions it took over) covers it first, less any deposit credited without backing;
what it cannot cover (the shortfall) is cut from unrealized gains pro rata, rounded up, and if
the gains are not enough, every claim is scaled down pro rata after that, rounded down.

Withdrawals already requested left the collateral when they were queued, so they are not in it.
Module accounts (fee pool, insurance fund) belong to no key and get no leaf.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from modules.bank.keeper import BankKeeper
from modules.bridge.keeper import BridgeKeeper
from modules.funding.keeper import FundingKeeper
from modules.margin.funding_settlement import settled_view
from modules.margin.keeper import MarginKeeper
from modules.margin.risk import margin_price_ticks
from modules.markets.keeper import MarketsKeeper
from modules.oracle.keeper import OracleKeeper
from modules.store import KVStore
from modules.types import FEE_POOL, INSURANCE_FUND

MODULE_ADDRESSES = frozenset({FEE_POOL.address, INSURANCE_FUND.address})


@dataclass(frozen=True)
class Equity:
    """An address's equity summed over its subaccounts, and its collateral."""

    equity_micro_usdc: int
    collateral_micro_usdc: int

    @property
    def gain_micro_usdc(self) -> int:
        """Unrealized profit inside a positive equity: what a haircut may cut first."""
        return max(0, min(self.equity_micro_usdc - self.collateral_micro_usdc, self.equity_micro_usdc))

    @property
    def deficit_micro_usdc(self) -> int:
        return max(0, -self.equity_micro_usdc)


@dataclass(frozen=True)
class Haircut:
    """The shortfall an anchor's leaves absorb, and the unrealized gains it is cut from."""

    shortfall_micro_usdc: int  # bankrupt equity beyond the insurance fund
    gains_micro_usdc: int  # the sum of every address's gain

    @classmethod
    def of(cls, equities: Iterable[Equity], cover_micro_usdc: int) -> "Haircut":
        """`equities` must include every address that can be bankrupt or gain: every position
        holder (an address without a position has equity = collateral >= 0 and no gain).
        `cover_micro_usdc`: what absorbs a deficit first (ClaimableReader.cover_micro_usdc)."""
        deficit = gains = 0
        for equity in equities:
            deficit += equity.deficit_micro_usdc
            gains += equity.gain_micro_usdc
        return cls(max(0, deficit - cover_micro_usdc), gains)

    @property
    def scales_every_claim(self) -> bool:
        return self.shortfall_micro_usdc > self.gains_micro_usdc

    def after_gains(self, equity: Equity) -> int:
        """The claim once the gains carried their share of the shortfall (all of it when they
        do not cover it): max(0, equity) - ceil(gain x shortfall / gains)."""
        claim = max(0, equity.equity_micro_usdc)
        gain = equity.gain_micro_usdc
        if self.shortfall_micro_usdc == 0 or gain == 0:
            return claim
        if self.scales_every_claim:
            return claim - gain
        return claim - -(-gain * self.shortfall_micro_usdc // self.gains_micro_usdc)

    def claims(self, equities: Mapping[bytes, Equity]) -> dict[bytes, int]:
        """Every claim. When the gains do not cover the shortfall, `equities` must hold every
        address with a positive equity: the rest of the shortfall is taken from all their claims,
        each scaled by (total - rest) / total, rounded down."""
        claims = {address: self.after_gains(equity) for address, equity in equities.items()}
        if not self.scales_every_claim:
            return claims
        total = sum(claims.values())
        kept = max(0, total - (self.shortfall_micro_usdc - self.gains_micro_usdc))
        return {address: claim * kept // total for address, claim in claims.items()} if total else claims


class ClaimableReader:
    """Reads equities from one state, caching each market's price and funding index."""

    def __init__(self, store: KVStore) -> None:
        self._bank = BankKeeper(store)
        self._bridge = BridgeKeeper(store)
        self._margin = MarginKeeper(store)
        self._markets = MarketsKeeper(store)
        self._oracle = OracleKeeper(store)
        self._funding = FundingKeeper(store)
        self._price_ticks: dict[int, int] = {}

    def _price(self, market_id: int) -> int:
        if market_id not in self._price_ticks:
            self._price_ticks[market_id] = margin_price_ticks(self._markets.market(market_id), self._oracle)
        return self._price_ticks[market_id]

    def equity(self, address: bytes, holds_positions: bool = True) -> Equity:
        """`holds_positions` False skips the position lookup (the caller knows there is none).
        Module accounts claim nothing."""
        return Equity(0, 0) if address in MODULE_ADDRESSES else self._equity(address, holds_positions)

    def _equity(self, address: bytes, holds_positions: bool) -> Equity:
        collateral = sum(balance.amount_micro_usdc for balance in self._bank.balances_of(address))
        equity = collateral
        for position in self._margin.positions_of(address) if holds_positions else ():
            position = settled_view(position, self._funding)
            market = self._markets.market(position.market_id)
            equity += market.notional(self._price(position.market_id), position.size_lots) - position.cost_micro_usdc
        return Equity(equity, collateral)

    def equities(self, addresses: Iterable[bytes], holders: set[bytes] | None = None) -> dict[bytes, Equity]:
        """`holders`: every address with a position, when known, to skip the others' lookups."""
        return {address: self.equity(address, holders is None or address in holders) for address in addresses}

    def cover_micro_usdc(self) -> int:
        """What covers bankrupt equity before any claim is cut: the insurance fund's equity (its
        balance and the positions it took over, at the same prices), less any deposit the bridge
        credited without backing (its shortfall, modules/bridge). Negative when the fund itself
        is under water: that adds to the shortfall."""
        return self._equity(INSURANCE_FUND.address, True).equity_micro_usdc - self._bridge.shortfall()

    def addresses_with_balances(self) -> set[bytes]:
        """Every address holding collateral: when every claim is scaled, every one is recomputed."""
        return {balance.subaccount.address for balance in self._bank.balances()} - MODULE_ADDRESSES

    def position_holders(self) -> set[bytes]:
        """Addresses whose equity moves with the price and funding even when nothing is written."""
        return {position.subaccount.address for position in self._margin.all_positions()}
