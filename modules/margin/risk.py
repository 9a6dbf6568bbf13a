"""The risk of a subaccount: equity and its initial and maintenance requirements, cross-margined
over every market it holds a position or resting orders in.

    equity       = collateral + sum(size x price - cost), funding settled into cost first
    initial      = sum(ceil(worst_size x price x IMF / 10^6)),
                   worst_size = max(|size + resting bids|, |size - resting asks|),
                   IMF = the market's initial_margin_ppm x its open-interest tier:
                   1x below 50% of the open-interest cap, 1.5x below 80%, 2x above (at most 100%)
    maintenance  = sum(ceil(|size| x price x maintenance_margin_ppm / 10^6))

Requirements round up (owed). `price` is `margin_price_ticks`: the oracle price once the
validators report one, before that the market's genesis reference price.
"""

from __future__ import annotations

from typing import Final

from modules.funding.keeper import FundingKeeper
from modules.margin.expected_keepers import Bank, FundingIndex, Markets, Prices, Records
from modules.margin.funding_settlement import settled
from modules.margin.keeper import MarginKeeper
from modules.margin.types import Holding, Holdings, OpenOrderExposure, Position, holding_market
from modules.markets.types import Market
from modules.oracle.update import margin_price
from modules.types import SubaccountId

PPM = 1_000_000


def margin_price_ticks(market: Market, oracle: Prices) -> int:
    return margin_price(oracle, market.market_id, market.reference_price) // market.tick_size


# (open interest as parts per million of the cap from which the tier applies, IMF multiplier in %)
OPEN_INTEREST_TIERS = ((0, 100), (500_000, 150), (800_000, 200))


def effective_initial_margin_ppm(market: Market, open_interest_lots: int) -> int:
    cap_lots = max(1, market.max_open_interest // market.step_size)
    used_ppm = open_interest_lots * PPM // cap_lots
    multiplier = max(m for threshold, m in OPEN_INTEREST_TIERS if used_ppm >= threshold)
    return min(PPM, market.initial_margin_ppm * multiplier // 100)


def ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


class AccountRisk:
    """A subaccount's equity and requirements: a value, compared as its three numbers. Written
    out, not a named tuple, so the compiled build makes one in C (a placement makes several)."""

    def __init__(self, equity_micro_usdc: int, initial_micro_usdc: int, maintenance_micro_usdc: int) -> None:
        self.equity_micro_usdc: Final = equity_micro_usdc
        self.initial_micro_usdc: Final = initial_micro_usdc
        self.maintenance_micro_usdc: Final = maintenance_micro_usdc

    @property
    def free_collateral_micro_usdc(self) -> int:
        return self.equity_micro_usdc - self.initial_micro_usdc

    def _values(self) -> tuple[int, int, int]:
        return self.equity_micro_usdc, self.initial_micro_usdc, self.maintenance_micro_usdc

    def __eq__(self, other: object) -> bool:
        return self._values() == other._values() if isinstance(other, AccountRisk) else NotImplemented

    def __repr__(self) -> str:
        return "AccountRisk(equity_micro_usdc={}, initial_micro_usdc={}, maintenance_micro_usdc={})".format(
            *self._values())


class PendingChange:
    """A change not yet written, so a fill can be judged before it is applied."""

    def __init__(self, market_id: int, position: Position, collateral_delta_micro_usdc: int = 0,
                 bid_lots_delta: int = 0, ask_lots_delta: int = 0) -> None:
        self.market_id: Final = market_id
        self.position: Final = position
        self.collateral_delta_micro_usdc: Final = collateral_delta_micro_usdc
        self.bid_lots_delta: Final = bid_lots_delta
        self.ask_lots_delta: Final = ask_lots_delta


class _Term:
    """One market's share of a subaccount's equity and of its two requirements, or their sums."""

    def __init__(self, equity: int, initial: int, maintenance: int) -> None:
        self.equity: Final = equity
        self.initial: Final = initial
        self.maintenance: Final = maintenance


_NO_TERM = _Term(0, 0, 0)


class RiskView:
    """One subaccount's risk inputs, read once: its balance, its margin record, and per market its
    price, funding index and initial margin fraction. A placement judges its before, worst-case
    and (when nothing else moved) after risk from one view instead of reading the store three
    times; anything that wrote the subaccount's state needs a new view.

    The view keeps each market's share of equity and of both requirements, so a risk with a
    pending change in one market costs that market's term, whatever else the subaccount holds."""

    __slots__ = ("subaccount", "_markets", "_margin", "_oracle", "_funding", "holdings", "collateral_micro_usdc",
                 "_inputs", "_terms", "_sums")

    def __init__(self, subaccount: SubaccountId, markets: Markets, margin: Records, oracle: Prices,
                 funding: FundingIndex, holdings: Holdings, collateral_micro_usdc: int,
                 inputs: dict[int, tuple[Market, int, int, int]] | None = None) -> None:
        """A view of `holdings` and `collateral_micro_usdc` (`read_view` reads them from the store);
        `inputs`: per-market inputs already read by a view of the same block state."""
        self.subaccount = subaccount
        self._markets, self._margin, self._oracle, self._funding = markets, margin, oracle, funding
        self.holdings = holdings
        self.collateral_micro_usdc = collateral_micro_usdc
        self._inputs: dict[int, tuple[Market, int, int, int]] = {} if inputs is None else inputs
        self._terms: dict[int, _Term] | None = None
        self._sums = _NO_TERM

    def market_inputs(self, market_id: int) -> tuple[Market, int, int, int]:
        """(market, margin price in ticks, funding index, effective initial margin ppm)."""
        found = self._inputs.get(market_id)
        if found is None:
            market = self._markets.market(market_id)
            imf = effective_initial_margin_ppm(market, self._margin.open_interest_lots_x2(market_id) // 2)
            found = (market, margin_price_ticks(market, self._oracle), self._funding.index(market_id), imf)
            self._inputs[market_id] = found
        return found

    def settled_position(self, market_id: int) -> Position:
        """The position in `market_id` with its funding settled (as trades and margin see it)."""
        for holding in self.holdings:
            if holding.position.market_id == market_id:
                return settled(holding.position, self.market_inputs(market_id)[2])[0]
        return Position(self.subaccount, market_id, 0, 0)

    def risk(self, pending: PendingChange | None = None) -> AccountRisk:
        """The risk now, or as if `pending` were applied (its position is taken as settled)."""
        terms = self._market_terms()
        sums = self._sums
        equity, initial, maintenance = sums.equity, sums.initial, sums.maintenance
        collateral = self.collateral_micro_usdc
        if pending is not None:
            collateral += pending.collateral_delta_micro_usdc
            market_id = pending.market_id
            held = next((h.exposure for h in self.holdings if h.position.market_id == market_id), _NO_EXPOSURE)
            was = terms.get(market_id, _NO_TERM)
            now = self._term(market_id, pending.position, held.bid_lots + pending.bid_lots_delta,
                             held.ask_lots + pending.ask_lots_delta)
            equity += now.equity - was.equity
            initial += now.initial - was.initial
            maintenance += now.maintenance - was.maintenance
        return AccountRisk(collateral + equity, initial, maintenance)

    def moved(self, market_id: int) -> RiskView:
        """The view after the subaccount's holding in `market_id` changed and nothing else did (its
        balance, its other holdings, every market's price, index and margin fraction): the
        holdings read again and that market's term computed again; the other terms are kept."""
        return self._with_holdings(self._margin.holdings(self.subaccount), market_id)

    def with_resting(self, market_id: int, bid_lots: int, ask_lots: int) -> RiskView:
        """The view after `bid_lots` and `ask_lots` more came to rest in `market_id` and nothing
        else changed (what resting an order writes): `moved` without reading the holding again,
        and its `risk()` is `risk` of that pending change."""
        held = next((h for h in self.holdings if h.position.market_id == market_id), None)
        if held is not None:
            exposure = held.exposure
            grown = Holding(held.position, OpenOrderExposure(exposure.bid_lots + bid_lots, exposure.ask_lots + ask_lots))
            holdings = tuple(grown if h is held else h for h in self.holdings)
        else:
            grown = Holding(Position(self.subaccount, market_id, 0, 0), OpenOrderExposure(bid_lots, ask_lots))
            holdings = tuple(sorted((*self.holdings, grown), key=holding_market))
        return self._with_holdings(holdings, market_id)

    def _with_holdings(self, holdings: Holdings, market_id: int) -> RiskView:
        """This view with `holdings`, which differ from its own in `market_id` alone."""
        terms = self._market_terms()
        view = RiskView(self.subaccount, self._markets, self._margin, self._oracle, self._funding, holdings,
                        self.collateral_micro_usdc, self._inputs)
        view._terms = moved_terms = dict(terms)
        was = moved_terms.pop(market_id, _NO_TERM)
        now = _NO_TERM
        for holding in holdings:
            if holding.position.market_id == market_id:
                now = moved_terms[market_id] = self._holding_term(holding)
        sums = self._sums
        view._sums = _Term(sums.equity - was.equity + now.equity, sums.initial - was.initial + now.initial,
                           sums.maintenance - was.maintenance + now.maintenance)
        return view

    def _market_terms(self) -> dict[int, _Term]:
        """Each held market's term (funding settled), and their sums, computed on first use."""
        if self._terms is None:
            self._terms = {}
            equity = initial = maintenance = 0
            for holding in self.holdings:
                term = self._terms[holding.position.market_id] = self._holding_term(holding)
                equity, initial, maintenance = (equity + term.equity, initial + term.initial,
                                                maintenance + term.maintenance)
            self._sums = _Term(equity, initial, maintenance)
        return self._terms

    def _holding_term(self, holding: Holding) -> _Term:
        """A held market's term, its position's funding settled first."""
        market_id = holding.position.market_id
        position = settled(holding.position, self.market_inputs(market_id)[2])[0]
        return self._term(market_id, position, holding.exposure.bid_lots, holding.exposure.ask_lots)

    def _term(self, market_id: int, position: Position, bid_lots: int, ask_lots: int) -> _Term:
        """One market's share: the position's value less its cost, the initial requirement of its
        worst case with every resting order filled, the maintenance requirement of the position."""
        market, price, _, imf = self.market_inputs(market_id)
        size = position.size_lots
        worst = max(abs(size + bid_lots), abs(size - ask_lots))
        initial = ceil_div(market.notional(price, worst) * imf, PPM) if worst else 0
        maintenance = ceil_div(market.notional(price, abs(size)) * market.maintenance_margin_ppm, PPM) if size else 0
        return _Term(market.notional(price, size) - position.cost_micro_usdc, initial, maintenance)


_NO_EXPOSURE = OpenOrderExposure()


def account_risk(
    subaccount: SubaccountId,
    markets: Markets,
    bank: Bank,
    margin: MarginKeeper,
    oracle: Prices,
    pending: PendingChange | None = None,
) -> AccountRisk:
    """The subaccount's risk from its one margin record and its balance (`pending`: as if that
    change were applied)."""
    return read_view(subaccount, markets, bank, margin, oracle, FundingKeeper(margin.store)).risk(pending)


def read_view(subaccount: SubaccountId, markets: Markets, bank: Bank, margin: Records, oracle: Prices,
              funding: FundingIndex) -> RiskView:
    """The subaccount's view as the store holds it now: its margin record and its balance."""
    return RiskView(subaccount, markets, margin, oracle, funding, margin.holdings(subaccount), bank.balance(subaccount))


def meets_initial_margin(before: AccountRisk, after: AccountRisk) -> bool:
    """Equity covers the initial requirement, or the change lowers the requirement without
    lowering free collateral (closing risk is always allowed)."""
    if after.equity_micro_usdc >= after.initial_micro_usdc:
        return True
    return (after.initial_micro_usdc < before.initial_micro_usdc
            and after.free_collateral_micro_usdc >= before.free_collateral_micro_usdc)


def liquidation_price(position: Position, market: Market, risk: AccountRisk, price_ticks: int) -> int | None:
    """The price of `market` at which the subaccount's equity would meet its maintenance
    requirement, everything else unchanged; None for no position or no such price. With a =
    size*k and b = |size|*k*MMF (k: micro-USDC per lot per tick), equity and requirement move
    linearly in the price P:
        E0 + a(P - P0) = M0 + b(P - P0)   =>   P = P0 + (M0 - E0) / (a - b)
    rounded toward the current price (a warning comes early rather than late)."""
    k = market.quote_per_tick_lot
    slope = position.size_lots * k * 1_000_000 - abs(position.size_lots) * k * market.maintenance_margin_ppm
    if position.size_lots == 0 or slope == 0:
        return None
    gap = (risk.maintenance_micro_usdc - risk.equity_micro_usdc) * 1_000_000
    offset = -(-gap // slope) if position.size_lots > 0 else gap // slope
    ticks = price_ticks + offset
    return ticks * market.tick_size if ticks > 0 else None
