"""The liquidation step of FinalizeBlock (after oracle, expiries, txs and funding).

Which subaccounts are looked at: modules/liquidation/index.py (at most
`liquidation_evaluations_per_block` due ones, plus the block's touched ones). Of those whose equity is below
their maintenance requirement, the most urgent first (lowest equity / maintenance, then
subaccount), at most `liquidations_per_block` are liquidated and their closes move at most
`liquidation_notional_per_block_micro_usdc` of notional (at the oracle price; a chunk is cut to
what is left of it, at least one lot); the others, and any left under maintenance, are re-indexed
with deadline 0 so they come first next block (`liquidations_carried`). For each one reached:

  1. cancel its resting orders (they no longer count toward anything it can afford);
  2. for each position, most profitable first (so realized gains fund the losing closes), close
     a quarter of the original size at a time, while the subaccount stays under maintenance:
       a. an IOC reduce-only order through the book, limited to the bankruptcy price (the price
          at which closing the position would leave the subaccount's equity zero, others marked
          at the oracle, or its collateral zero, whichever comes first), so no fill is worse
          than bankruptcy; no taker fee;
       b. the liquidation fee, 0.5% of the closed notional, to the insurance fund, cut so that
          closing the chunk's unfilled lots at bankruptcy after it leaves neither equity nor
          collateral below zero;
       c. what the book did not take: the insurance fund takes it at the bankruptcy price if it
          still meets its initial requirement after; otherwise auto-deleveraging closes it against
          the opposite positions of the deleveraging queue (index.py: unrealized PnL per unit of
          entry notional times leverage as of each one's last evaluation, highest first, ties by
          subaccount), at the bankruptcy price, taking all it can of each (one trade per
          counterparty; one that cannot pay is skipped). When the book took nothing of the chunk,
          deleveraging takes the rest of the position with it: later chunks would find the same
          book and fund and deleverage too.
Every attempt runs on a branch: one that fails (a cap, a collateral check) leaves nothing and the
next backstop is tried. Last, the take-profits and stop-losses of every position the pass changed
are fitted to what is left of it. The insurance fund's own positions are checked like any subaccount's
(its liquidation goes straight to auto-deleveraging). A liquidation never fails the block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from modules.context import BlockContext, Event
from modules.errors import ChainError
from modules.funding.params import MAX_HOURLY_RATE_PPM
from modules.keepers import Branching, Keepers
from modules.liquidation.genesis import load_params
from modules.liquidation.index import LiquidationHistory, LiquidationIndex, deadline
from modules.liquidation.params import CHUNKS, HISTORY_KEPT, LIQUIDATION_FEE_PPM
from modules.margin.clearing import trade
from modules.margin.funding_settlement import settled, settled_view
from modules.margin.risk import PPM, AccountRisk, PendingChange, account_risk, ceil_div, margin_price_ticks
from modules.margin.types import Position
from modules.markets.types import Market
from modules.oracle.update import margin_price
from modules.orderbook.book import Books
from modules.orderbook.conditional_store import ConditionalBook
from modules.orderbook.conditional_store import attributes as conditional_attributes
from modules.orderbook.keeper import OrderbookKeeper
from modules.orderbook.twap import TwapBook
from modules.orderbook.twap import attributes as twap_attributes
from modules.orderbook.types import Order, Side, TimeInForce
from modules.store import KVStore
from modules.types import INSURANCE_FUND, SubaccountId

URGENCY_SCALE = 10**12  # equity / maintenance as an integer with this many steps per 1


@dataclass
class _Step:
    """One block's liquidation pass: how to branch the store, the books, the block, and the
    deleveraging rankings computed at most once per market and side (consumed from the front
    as positions close; sizes are re-read when used, so the cache stays exact)."""

    branching: Branching
    books: Books
    ctx: BlockContext
    rankings: dict[tuple[int, Side], "_Queue"] = field(default_factory=dict)
    notional_left: int = 0  # micro-USDC of closes this block may still move


def liquidation_step(branching: Branching, books: Books, ctx: BlockContext,
                     touched: list[SubaccountId], funding_ticked: bool) -> list[Event]:
    """`touched`: subaccounts whose collateral or positions this block's txs changed."""
    keepers, write = branching()
    params = load_params(keepers.store)
    index = LiquidationIndex(keepers.store)
    keeper = keepers.orderbook
    largest_move = MAX_HOURLY_RATE_PPM if funding_ticked else 0
    for market in keeper.markets.markets():
        price = margin_price(keeper.oracle, market.market_id, market.reference_price)
        before = index.last_price(market.market_id)
        if before and price != before:
            largest_move = max(largest_move, -(-abs(price - before) * PPM // before))
        if price != before:
            index.set_last_price(market.market_id, price)
    movement = index.advance(largest_move)
    step = _Step(branching, books, ctx, notional_left=params.liquidation_notional_per_block_micro_usdc)
    evaluated = params.liquidation_evaluations_per_block
    due = index.due(movement, evaluated + 1)
    more_due = len(due) > evaluated
    candidates = sorted(set(due[:evaluated]) | set(touched), key=lambda s: (s.address, s.number))
    write()
    # Who is under maintenance, most urgent first: lowest equity / maintenance, then subaccount.
    keeper = branching()[0].orderbook  # read only
    assessed = {owner: keeper.risk(owner) for owner in candidates}
    under: list[tuple[int, SubaccountId, AccountRisk]] = []
    for owner in candidates:
        risk = assessed[owner]
        # (a maintenance requirement means a position; without one, look)
        if risk.equity_micro_usdc < risk.maintenance_micro_usdc and (
                risk.maintenance_micro_usdc > 0 or keeper.margin.positions(owner)):
            urgency = risk.equity_micro_usdc * URGENCY_SCALE // max(1, risk.maintenance_micro_usdc)
            under.append((urgency, owner, risk))
    under.sort(key=lambda u: (u[0], u[1].address, u[1].number))
    # The others are re-indexed now, so deleveraging ranks them by what was just read.
    under_maintenance = {owner for _, owner, _ in under}
    keepers, write = branching()
    for owner in candidates:
        if owner not in under_maintenance:
            _reindex(keepers, owner, movement, assessed[owner])
    write()
    events: list[Event] = []
    reached = 0
    traded: set[SubaccountId] = set()  # whom this pass has traded with so far
    for _, owner, risk in under:
        if reached == params.liquidations_per_block or step.notional_left <= 0:
            break
        liquidated = _liquidate(step, owner, risk, owner not in traded)
        traded.update(s for e in liquidated for s in _subaccounts_in(e))
        events.extend(liquidated)
        reached += 1
    # Whoever a liquidation traded with (makers, the fund, deleveraged positions) has new risk too,
    # like the liquidated: they are read again; those under maintenance not reached keep theirs.
    changed = traded | ({INSURANCE_FUND} if events else set())
    keepers, write = branching()
    carried = 0
    for owner in candidates:
        if owner in changed or owner in under_maintenance:
            carried += _reindex(keepers, owner, movement, None if owner in changed else assessed[owner])
    for owner in sorted(changed - set(candidates), key=lambda s: (s.address, s.number)):
        carried += _reindex(keepers, owner, movement)
    write()
    fitted = _fit_position_tpsl(step, sorted({s for e in events for s in _subaccounts_in(e)},
                                             key=lambda s: (s.address, s.number)))
    if carried or more_due:
        fitted.append(Event("liquidations_carried", (("under_maintenance", str(carried)),
                                                     ("more", "true" if more_due else "false"))))
    return events + fitted


def _fit_position_tpsl(step: _Step, owners: list[SubaccountId]) -> list[Event]:
    """Positions a liquidation shrank or closed (the liquidated, their counterparties, the
    deleveraged) keep their resting reduce-only orders, take-profit and stop-loss within them:
    resized, or cancelled once the position is gone, so none of them opens a new one later
    (docs/orders.md)."""
    events: list[Event] = []
    keepers, write = step.branching()
    keeper = keepers.orderbook
    book = ConditionalBook(keepers.store)
    for owner in owners:
        markets = set(book.protected_markets(owner)) | {o.market_id for o in keeper.orders_of(owner) if o.reduce_only}
        for market_id in sorted(markets):
            events += keeper.shrink_reduce_only(owner, keeper.markets.market(market_id))
    write()
    return events


def _subaccounts_in(event: Event) -> list[SubaccountId]:
    found = []
    for key, value in event.attributes:
        if key in ("maker", "taker", "counterparty", "subaccount") and "/" in value and value.startswith("0x"):
            found.append(SubaccountId.from_text(value))
    if event.type == "insurance_fund_takeover":
        found.append(INSURANCE_FUND)
    return found


def _queue_entries(keepers: Keepers, owner: SubaccountId, risk: AccountRisk) -> tuple[int, list[tuple[int, bool, int]]]:
    """The subaccount's gross notional at the oracle and each position's deleveraging score
    (market, long, score)."""
    equity = max(1, risk.equity_micro_usdc)
    gross, scored = 0, []
    for position in keepers.margin.positions(owner):
        market = keepers.markets.market(position.market_id)
        price = margin_price_ticks(market, keepers.oracle)
        notional = market.notional(price, abs(position.size_lots))
        gross += notional
        position = settled_view(position, keepers.funding)
        scored.append((position.market_id, position.size_lots > 0, deleveraging_score(
            market.notional(price, position.size_lots) - position.cost_micro_usdc, position.cost_micro_usdc,
            notional, equity)))
    return gross, scored


def deleveraging_score(pnl_micro_usdc: int, cost_micro_usdc: int, notional_micro_usdc: int, equity_micro_usdc: int) -> int:
    """Unrealized PnL per unit of entry notional times leverage (notional / equity), both ppm."""
    leverage_ppm = notional_micro_usdc * PPM // max(1, equity_micro_usdc)
    return pnl_micro_usdc * PPM // max(1, abs(cost_micro_usdc)) * leverage_ppm


def _reindex(keepers: Keepers, owner: SubaccountId, movement: int, risk: AccountRisk | None = None) -> int:
    """Re-index `owner` (its deadline and its positions in the deleveraging queue); `risk`: its
    risk if known as of now. One still under maintenance gets deadline 0 (first next block): 1,
    else 0."""
    if risk is None:
        risk = keepers.orderbook.risk(owner)
    gross, entries = _queue_entries(keepers, owner, risk)
    index = LiquidationIndex(keepers.store)
    index.queue_positions(owner, entries if owner != INSURANCE_FUND else [])  # the fund is never deleveraged against
    if gross == 0:
        index.remove(owner)
        return 0
    if risk.equity_micro_usdc < risk.maintenance_micro_usdc:
        index.set_deadline(owner, 0)
        return 1
    index.set_deadline(owner, deadline(movement, risk.equity_micro_usdc - risk.maintenance_micro_usdc, gross))
    return 0


def _liquidate(step: _Step, owner: SubaccountId, risk: AccountRisk, risk_is_current: bool) -> list[Event]:
    """`risk`: as assessed at the start of the pass; `risk_is_current` when nothing has traded with
    the subaccount since."""
    branching = step.branching
    keepers, write = branching()
    keeper = keepers.orderbook
    LiquidationHistory(keepers.store).record(step.ctx.height, owner, risk.equity_micro_usdc, HISTORY_KEPT)
    events = [Event("liquidation", (("subaccount", str(owner)), ("equity_micro_usdc", str(risk.equity_micro_usdc)),
                                    ("maintenance_micro_usdc", str(risk.maintenance_micro_usdc))))]
    for order in list(keeper.orders_of(owner)):
        keeper.remove(order)
        events.append(keeper.cancel_event(keeper.markets.market(order.market_id), order, "liquidation"))
    events += _cancel_what_could_open(keepers, owner)
    write()
    assessed: AccountRisk | None = risk if risk_is_current and len(events) == 1 else None  # nothing cancelled
    for market_id, original in _closing_order(keepers, owner):
        market = keeper.markets.market(market_id)
        chunk = max(1, -(-original // CHUNKS))
        for _ in range(CHUNKS):
            keeper = branching()[0].orderbook  # read only: each chunk closes on branches of its own
            size = keeper.margin.position(owner, market_id).size_lots
            if size == 0:
                break
            current = assessed if assessed is not None else keeper.risk(owner)
            assessed = None  # the first close changes it
            if current.equity_micro_usdc >= current.maintenance_micro_usdc:
                break
            if step.notional_left <= 0:
                break  # the block's notional budget is spent: the rest carries
            price = margin_price_ticks(market, keeper.oracle)
            per_lot = max(1, market.notional(price, 1))
            position = settled_view(keeper.margin.position(owner, market_id), keeper.funding)
            bankruptcy = bankruptcy_price_ticks(current.equity_micro_usdc, keeper.bank.balance(owner), position,
                                                market, price)
            events.extend(_close_chunk(step, owner, market, size, min(abs(size), chunk), bankruptcy, per_lot))
    return events


def _cancel_what_could_open(keepers: Keepers, owner: SubaccountId) -> list[Event]:
    """A liquidated subaccount's conditionals and TWAPs that could open a position go with its
    orders (their reserved margin is what it no longer has); reduce-only ones stay and fit what is
    left of the position."""
    events: list[Event] = []
    conditionals, twaps = ConditionalBook(keepers.store), TwapBook(keepers.store)
    for conditional in conditionals.of(owner):
        if not conditional.reduce_only:
            conditionals.remove(conditional)
            events.append(Event("conditional_cancelled", (
                *conditional_attributes(conditional, keepers.markets.market(conditional.market_id)),
                ("reason", "liquidation"))))
    for twap in twaps.of(owner):
        if not twap.reduce_only:
            twaps.remove(twap)
            events.append(Event("twap_cancelled", (*twap_attributes(twap, keepers.markets.market(twap.market_id)),
                                                   ("reason", "liquidation"))))
    return events


def _closing_order(keepers: Keepers, owner: SubaccountId) -> list[tuple[int, int]]:
    """(market id, lots held), most profitable position first."""
    positions = list(keepers.margin.positions(owner))
    if len(positions) < 2:
        return [(position.market_id, abs(position.size_lots)) for position in positions]
    scored = []
    for position in positions:
        position = settled_view(position, keepers.funding)
        market = keepers.markets.market(position.market_id)
        pnl = market.notional(margin_price_ticks(market, keepers.oracle), position.size_lots) - position.cost_micro_usdc
        scored.append((-pnl, position.market_id, abs(position.size_lots)))
    return [(market_id, lots) for _, market_id, lots in sorted(scored)]


def bankruptcy_price_ticks(equity: int, collateral: int, position: Position, market: Market, price_ticks: int) -> int:
    """The price at which closing all of `position` (funding settled) would leave the subaccount's
    equity (others at the oracle) or its collateral zero, whichever comes first, rounded in its
    favour (up for a long it sells, down for a short it buys):
        equity + size*k*(P - P0) = 0      collateral + size*k*P - cost = 0
    With one position the two are one price. With others in profit, the collateral one is nearer
    the oracle: closing at the equity one would realize a loss beyond the collateral."""
    k, size, cost = market.quote_per_tick_lot, position.size_lots, position.cost_micro_usdc
    if size > 0:  # floor of equity/(s*k) -> price rounds up
        return max(1, price_ticks - equity // (size * k), ceil_div(cost - collateral, size * k))
    return max(1, min(price_ticks + equity // (-size * k), (collateral - cost) // (-size * k)))


def _close_chunk(step: _Step, owner: SubaccountId, market: Market, size: int, lots: int,
                 bankruptcy: int, per_lot: int) -> list[Event]:
    """Close `lots` of the position `size` (cut to the block's notional budget, at least one lot)
    at `bankruptcy` or better: the book, then the fund, then deleveraging. When the book took
    nothing and the fund cannot carry the chunk, deleveraging takes the rest of the position too
    (as far as the notional budget reaches): the book has nothing better than bankruptcy, the
    fund would refuse every later chunk alike, and at the bankruptcy price a partial close never
    brings the subaccount back above maintenance (its equity shrinks with its position), so later
    chunks would only deleverage again, against the same queue."""
    books = step.books
    lots = _charge(step, lots, per_lot)
    events: list[Event] = []
    side = Side.SELL if size > 0 else Side.BUY
    filled = 0
    if books[market.market_id].would_cross(side, bankruptcy):
        keepers, write = step.branching()
        checkpoint = books.checkpoint()
        try:  # a. through the book, never worse than bankruptcy
            keeper = keepers.orderbook
            order = Order(keeper.next_order_id(), market.market_id, owner, 0, side, bankruptcy, lots, False, True,
                          TimeInForce.IOC)
            summary = keeper.match(market, order, liquidation=True)
            filled = summary.filled_lots
            notional = sum(int(dict(e.attributes)["size"]) * int(dict(e.attributes)["price"])
                           for e in summary.events if e.type == "fill") // 10**market.size_decimals
            unfilled = lots - filled if side == Side.SELL else filled - lots  # signed, as the position
            fee = _liquidation_fee(keeper, owner, market, notional, unfilled, bankruptcy)
            events.extend(summary.events)
            if filled:
                events.append(Event("liquidation_fill", (("subaccount", str(owner)),
                                                         ("market_id", str(market.market_id)),
                                                         ("size", str(filled * market.step_size)),
                                                         ("bankruptcy_price", str(bankruptcy * market.tick_size)),
                                                         ("fee_micro_usdc", str(fee)))))
            books.release(checkpoint)
            write()
        except ChainError:
            books.rollback(checkpoint)
            events = []
            filled = 0
    remaining = lots - filled
    if remaining:
        rest = abs(size) - lots if filled == 0 else 0
        events.extend(_backstop(step, owner, market, side, remaining, bankruptcy,
                                lambda: _charge(step, rest, per_lot) if rest and step.notional_left > 0 else 0))
    return events


def _charge(step: _Step, lots: int, per_lot: int) -> int:
    """`lots` cut to what is left of the block's notional budget (at least one), charged to it."""
    lots = min(lots, max(1, step.notional_left // per_lot))
    step.notional_left -= lots * per_lot
    return lots


def _liquidation_fee(keeper: OrderbookKeeper, owner: SubaccountId, market: Market, notional: int,
                     unfilled_lots: int, bankruptcy: int) -> int:
    """The fee on `notional` closed through the book, cut so that closing the chunk's unfilled lots
    (signed as the position) at the bankruptcy price after it leaves neither equity nor collateral
    below zero: the fee never takes what the backstop needs."""
    if notional <= 0:
        return 0
    fee = -(-notional * LIQUIDATION_FEE_PPM // PPM)
    price = margin_price_ticks(market, keeper.oracle)
    position = settled_view(keeper.margin.position(owner, market.market_id), keeper.funding)
    _, realized = trade(market, position, -unfilled_lots, bankruptcy)
    equity_after = keeper.risk(owner).equity_micro_usdc + market.notional(bankruptcy - price, unfilled_lots)
    fee = min(fee, max(0, equity_after), max(0, keeper.bank.balance(owner) + realized))
    if fee > 0:
        keeper.bank.settle(owner, -fee)
        keeper.bank.settle(INSURANCE_FUND, fee)
    return fee


def _backstop(step: _Step, owner: SubaccountId, market: Market, side: Side, lots: int,
              bankruptcy: int, more: Callable[[], int]) -> list[Event]:
    """c. The insurance fund, then auto-deleveraging, at the bankruptcy price, of `lots`; the fund
    refusing them, deleveraging also takes `more()` lots (the rest of the position)."""
    keepers, write = step.branching()
    signed = lots if side == Side.BUY else -lots  # the liquidated side buys back (or sells) `lots`
    try:
        if owner == INSURANCE_FUND:  # the fund itself is being liquidated: no fund behind it
            raise _NoFund()
        if _fund_refuses(keepers, market, signed, bankruptcy):
            raise _NoFund()
        _trade_at(keepers, market, owner, signed, bankruptcy)
        _trade_at(keepers, market, INSURANCE_FUND, -signed, bankruptcy)
        fund = keepers.orderbook.risk(INSURANCE_FUND)
        if fund.equity_micro_usdc >= fund.initial_micro_usdc:  # it can carry what it took
            write()
            return [Event("insurance_fund_takeover", (("subaccount", str(owner)), ("market_id", str(market.market_id)),
                                                      ("size", str(lots * market.step_size)),
                                                      ("price", str(bankruptcy * market.tick_size))))]
    except (ChainError, _NoFund):
        pass
    return _deleverage(step, owner, market, side, lots + more(), bankruptcy)


def _deleverage(step: _Step, owner: SubaccountId, market: Market, side: Side, lots: int,
                bankruptcy: int) -> list[Event]:
    """Close `lots` against the deleveraging queue's opposite positions, from the front, taking
    as much of each as it holds: one trade per counterparty."""
    events: list[Event] = []
    remaining = lots
    key = (market.market_id, side)
    if key not in step.rankings:
        step.rankings[key] = _Queue(market.market_id, side == Side.BUY)
    queue = step.rankings[key]
    while remaining:
        keepers, write = step.branching()
        counterparty = queue.front(keepers.store)
        if counterparty is None:
            break
        held = keepers.margin.position(counterparty, market.market_id).size_lots
        if held == 0 or (held > 0) == (side == Side.SELL) or counterparty == owner:  # closed or flipped since
            queue.pop()
            continue
        take = min(abs(held), remaining)
        signed = take if side == Side.BUY else -take  # the liquidated side buys back (or sells) `take`
        try:
            _trade_at(keepers, market, owner, signed, bankruptcy)
        except ChainError:
            break  # the liquidated side cannot pay at this price, whoever takes it: the rest carries
        try:
            _trade_at(keepers, market, counterparty, -signed, bankruptcy)
        except ChainError:
            queue.pop()  # this counterparty cannot: the next one may
            continue
        write()
        if take == abs(held):
            queue.pop()
        remaining -= take
        events.append(Event("deleveraging", (("subaccount", str(owner)), ("counterparty", str(counterparty)),
                                             ("market_id", str(market.market_id)),
                                             ("size", str(take * market.step_size)),
                                             ("price", str(bankruptcy * market.tick_size)))))
    return events


QUEUE_PAGE = 64  # deleveraging queue entries read at a time


@dataclass
class _Queue:
    """One market side of the deleveraging queue as this block consumes it: `long` True for the
    longs (what a liquidated short buys from). Read a page at a time from where it stopped."""

    market_id: int
    long: bool
    page: list[tuple[bytes, SubaccountId]] = field(default_factory=list)
    after: bytes | None = None
    done: bool = False

    def front(self, store: KVStore) -> SubaccountId | None:
        if not self.page and not self.done:
            self.page = LiquidationIndex(store).queue_page(self.market_id, self.long, self.after, QUEUE_PAGE)
            self.done = len(self.page) < QUEUE_PAGE
            if self.page:
                self.after = self.page[-1][0]
        return self.page[0][1] if self.page else None

    def pop(self) -> None:
        self.page.pop(0)


def _fund_refuses(keepers: Keepers, market: Market, liquidated_lots: int, price_ticks: int) -> bool:
    """Whether the fund, taking the other side of `liquidated_lots` at `price_ticks`, would miss
    its initial requirement, judged without writing when that is exact: the fund's position only
    grows, so open interest (the liquidated side shrinks as much) and its collateral stay as
    they are. Otherwise False: the caller tries the transfer itself."""
    held, _ = settled(keepers.margin.position(INSURANCE_FUND, market.market_id),
                      keepers.funding.index(market.market_id))
    updated, realized = trade(market, held, -liquidated_lots, price_ticks)
    if abs(updated.size_lots) != abs(held.size_lots) + abs(liquidated_lots) or realized:
        return False
    fund = account_risk(INSURANCE_FUND, keepers.markets, keepers.bank, keepers.margin, keepers.oracle,
                        PendingChange(market.market_id, updated))
    return fund.equity_micro_usdc < fund.initial_micro_usdc


class _NoFund(Exception):
    """The insurance fund cannot back its own liquidation."""


def _trade_at(keepers: Keepers, market: Market, owner: SubaccountId, signed_lots: int, price_ticks: int) -> None:
    """One side of a transfer: `owner` trades `signed_lots` (> 0 buys) at `price_ticks`, funding
    settled first, realized PnL to its collateral (a debit beyond it is refused), no fee."""
    margin, funding = keepers.margin, keepers.funding
    position, paid = settled(margin.position(owner, market.market_id), funding.index(market.market_id))
    updated, realized = trade(market, position, signed_lots, price_ticks)
    margin.set_position(updated)
    if paid:
        funding.add_to_pool(paid)
    if realized:
        keepers.bank.settle(owner, realized)
