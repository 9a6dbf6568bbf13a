"""What the terminal shows, as plain values computed from the client's answers: markets, the book,
trades and candles, positions and the account, and the preview of an order before it is sent.

No Textual and no network here, so every rule is unit-tested on its own. Amounts stay integers
(micro-USDC, base atoms) as on chain; only display ratios (leverage, percentages) use floats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterable, Sequence

from client import ConditionalKind, PlaceConditional, PlaceOrder, Side, TimeInForce
from client.amounts import parse_decimal

MICRO = 1_000_000
PPM = 1_000_000
DAY_MS = 24 * 3600 * 1000


def _trailing_zeros(value: int, cap: int) -> int:
    zeros = 0
    while value and value % 10 == 0 and zeros < cap:
        value //= 10
        zeros += 1
    return zeros


def group_thousands(whole: int) -> str:
    return f"{whole:,}"


def format_fixed(amount: int, decimals: int, shown: int, thousands: bool = True) -> str:
    """`amount` in units of 10^-decimals, shown with `shown` decimals (truncated toward zero)."""
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**decimals)
    text = group_thousands(whole) if thousands else str(whole)
    if shown:
        digits = f"{fraction:0{decimals}d}"[:shown] if decimals else ""
        text += "." + digits.ljust(shown, "0")
    return sign + text


def format_usd(micro_usdc: int, shown: int = 2) -> str:
    return format_fixed(micro_usdc, 6, shown)


def format_compact_usd(micro_usdc: int) -> str:
    """12.3k / 4.56M: for volume columns."""
    value = abs(micro_usdc) / MICRO
    sign = "-" if micro_usdc < 0 else ""
    for threshold, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= threshold:
            return f"{sign}{value / threshold:.2f}{suffix}"
    return f"{sign}{value:.2f}"


@dataclass(frozen=True)
class MarketInfo:
    """One market's parameters as `/markets` answers them, with display rules."""

    market_id: int
    ticker: str
    size_decimals: int
    tick_size: int  # micro-USDC per unit
    step_size: int  # base atoms
    min_order_size: int
    initial_margin_ppm: int
    maintenance_margin_ppm: int
    maker_fee_ppm: int
    taker_fee_ppm: int
    status: str
    reference_price: int  # micro-USDC per unit, from genesis
    oracle_price: int | None = None  # the validators' aggregated price, once they report one

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> "MarketInfo":
        return cls(
            market_id=int(entry["market_id"]), ticker=str(entry["ticker"]), size_decimals=int(entry["size_decimals"]),
            tick_size=int(entry["tick_size"]), step_size=int(entry["step_size"]),
            min_order_size=int(entry["min_order_size"]), initial_margin_ppm=int(entry["initial_margin_ppm"]),
            maintenance_margin_ppm=int(entry["maintenance_margin_ppm"]), maker_fee_ppm=int(entry["maker_fee_ppm"]),
            taker_fee_ppm=int(entry["taker_fee_ppm"]), status=str(entry.get("status", "active")),
            reference_price=int(entry["reference_price"]),
        )

    @property
    def base(self) -> str:
        return self.ticker.split("-")[0]

    @property
    def mark_price(self) -> int:
        """The price margin uses on chain: the oracle's once it has one, else the reference price."""
        return self.oracle_price if self.oracle_price is not None else self.reference_price

    @property
    def price_decimals(self) -> int:
        """Decimals a price needs to show one tick (tick 0.1 USDC: 1)."""
        return 6 - _trailing_zeros(self.tick_size, 6)

    @property
    def size_shown_decimals(self) -> int:
        """Decimals a size needs to show one step (step 0.001 BTC: 3)."""
        return self.size_decimals - _trailing_zeros(self.step_size, self.size_decimals)

    def format_price(self, price: int) -> str:
        return format_fixed(price, 6, self.price_decimals)

    def format_size(self, size_atoms: int) -> str:
        return format_fixed(size_atoms, self.size_decimals, self.size_shown_decimals, thousands=False)

    def parse_price(self, text: str) -> int:
        return parse_decimal(text.replace(",", ""), 6, "price")

    def parse_size(self, text: str) -> int:
        return parse_decimal(text.replace(",", ""), self.size_decimals, "size")

    def notional(self, price: int, size_atoms: int) -> int:
        """micro-USDC of `size_atoms` at `price` (exact on tick and step, else floored)."""
        atoms_per_unit: int = 10**self.size_decimals  # (int ** int is typed Any: a negative power is a float)
        return price * size_atoms // atoms_per_unit

    def round_price(self, price: int, up: bool) -> int:
        ticks = -(-price // self.tick_size) if up else price // self.tick_size
        return max(ticks, 1) * self.tick_size


def fee_micro_usdc(notional: int, fee_ppm: int) -> int:
    """What a fill would pay (owed: rounds up)."""
    return -(-notional * fee_ppm // PPM)


# -- the book -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    price: int
    size: int  # base atoms
    orders: int


@dataclass(frozen=True)
class Book:
    market_id: int
    bids: tuple[Level, ...]  # best (highest) first
    asks: tuple[Level, ...]  # best (lowest) first
    height: int = 0  # the block the UI fetched it after

    @classmethod
    def from_json(cls, answer: dict[str, Any], height: int = 0) -> "Book":
        def levels(raw: Iterable[Sequence[Any]]) -> tuple[Level, ...]:
            return tuple(Level(int(p), int(s), int(n)) for p, s, n in raw)

        return cls(int(answer["market_id"]), levels(answer.get("bids", ())), levels(answer.get("asks", ())), height)

    @property
    def best_bid(self) -> int | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> int | None:
        return self.asks[0].price if self.asks else None

    @property
    def mid(self) -> int | None:
        if self.bids and self.asks:
            return (self.bids[0].price + self.asks[0].price) // 2
        return None

    @property
    def spread(self) -> int | None:
        if self.bids and self.asks:
            return self.asks[0].price - self.bids[0].price
        return None

    def opposite(self, side: Side) -> tuple[Level, ...]:
        """The levels an order of `side` would take from."""
        return self.asks if side == Side.BUY else self.bids


def crosses(side: Side, price: int, level_price: int) -> bool:
    return level_price <= price if side == Side.BUY else level_price >= price


def walk_book(book: Book, side: Side, size_atoms: int, limit_price: int | None) -> tuple[int, int, int | None]:
    """What an order of `side` for `size_atoms` up to `limit_price` (None: any) would take now:
    (filled atoms, cost numerator in micro-USDC x 10^size_decimals, worst price touched)."""
    filled, cost, worst = 0, 0, None
    for level in book.opposite(side):
        if filled >= size_atoms or (limit_price is not None and not crosses(side, limit_price, level.price)):
            break
        take = min(level.size, size_atoms - filled)
        filled += take
        cost += take * level.price
        worst = level.price
    return filled, cost, worst


def market_order_price(market: MarketInfo, book: Book, side: Side, size_atoms: int, slippage_bps: int = 100) -> int:
    """The worst acceptable price of a market order: the deepest level it would reach, plus
    `slippage_bps`, on tick; with no liquidity on that side, the mark plus 5%."""
    _, _, worst = walk_book(book, side, size_atoms, None)
    anchor, bps = (worst, slippage_bps) if worst is not None else (market.mark_price, 500)
    if side == Side.BUY:
        return market.round_price(anchor * (10_000 + bps) // 10_000, up=True)
    return market.round_price(anchor * (10_000 - bps) // 10_000, up=False)


# -- order entry ----------------------------------------------------------------------------------


class OrderKind(Enum):
    LIMIT = "limit"
    MARKET = "market"
    IOC = "IOC"
    FOK = "FOK"
    POST_ONLY = "post-only"
    STOP = "stop"  # a stop-limit: the price is the limit once the oracle crosses the trigger
    TAKE_PROFIT = "take-profit"  # a take-profit-limit

    @property
    def rests(self) -> bool:
        return self in (OrderKind.LIMIT, OrderKind.POST_ONLY)

    @property
    def conditional(self) -> bool:
        return self in (OrderKind.STOP, OrderKind.TAKE_PROFIT)

    @property
    def needs_price(self) -> bool:
        return self != OrderKind.MARKET


@dataclass(frozen=True)
class Expiry:
    """The time-in-force choices of a resting order."""

    label: str
    tif: TimeInForce
    seconds: int = 0
    blocks: int = 0


EXPIRIES = (
    Expiry("GTC", TimeInForce.GTC),
    Expiry("1m", TimeInForce.GOOD_TIL_TIME, seconds=60),
    Expiry("1h", TimeInForce.GOOD_TIL_TIME, seconds=3600),
    Expiry("1d", TimeInForce.GOOD_TIL_TIME, seconds=86_400),
    Expiry("100 blocks", TimeInForce.GOOD_TIL_BLOCK, blocks=100),
)


@dataclass(frozen=True)
class Ticket:
    """What the order form holds, as typed."""

    side: Side
    kind: OrderKind
    price_text: str
    size_text: str
    expiry: Expiry = EXPIRIES[0]
    reduce_only: bool = False
    trigger_text: str = ""


@dataclass(frozen=True)
class Preview:
    """The order the ticket makes against the current book, and what would happen to it."""

    order: PlaceOrder | PlaceConditional | None
    line: str  # what the form shows: the order, crosses or rests, fee and margin (three lines)
    problems: tuple[str, ...] = ()  # shown in warning colour; the chain has the last word
    fill_atoms: int = 0
    rest_atoms: int = 0

    @property
    def sendable(self) -> bool:
        return self.order is not None


def what_if_line(market: MarketInfo, answer: dict[str, Any]) -> str:
    """The chain's what-if answer in one line: fills, fee, position, free collateral and
    liquidation price after the order — or the code and log it would be refused with."""
    if not answer.get("accepted"):
        return f"chain: refused, code {answer.get('code')} ({answer.get('codespace')}): {answer.get('log')}"
    filled = int(answer["filled_size"])
    fill = (f"fills {market.format_size(filled)} @ {market.format_price(int(answer['average_price']))}"
            if filled and answer.get("average_price") else "no fill")
    size = int(answer["position_after"]["size"])
    position = f"{'+' if size > 0 else ''}{market.format_size(size)}" if size else "flat"
    liquidation = answer.get("liquidation_price_after")
    return (f"chain: {fill} · fee {format_usd(int(answer['fees_micro_usdc']))} · position {position} · "
            f"free {format_usd(int(answer['free_collateral_after_micro_usdc']))} · liq "
            f"{market.format_price(int(liquidation)) if liquidation else '—'}")


def build_preview(market: MarketInfo, book: Book, ticket: Ticket, subaccount: int, height: int = 0,
                  block_time_ms: int = 0) -> Preview:
    """Notional, fee estimate (taker on what crosses, maker on what rests) and crosses-or-rests.

    Local checks (tick, step, minimum) are warnings only: the order is still sendable so the
    chain's own code and log answer it."""
    side_word = "BUY" if ticket.side == Side.BUY else "SELL"
    try:
        size = market.parse_size(ticket.size_text) if ticket.size_text.strip() else 0
    except ValueError as error:
        return Preview(None, f"size: {error}")
    if size <= 0:
        return Preview(None, f"{side_word} {market.ticker}: enter a size in {market.base}")
    if ticket.kind.needs_price:
        try:
            price = market.parse_price(ticket.price_text) if ticket.price_text.strip() else 0
        except ValueError as error:
            return Preview(None, f"price: {error}")
        if price <= 0:
            return Preview(None, f"{side_word} {market.format_size(size)} {market.base}: enter a price")
    else:
        price = market_order_price(market, book, ticket.side, size)

    if ticket.kind.conditional:
        return _conditional_preview(market, ticket, subaccount, side_word, price, size)
    problems = []
    if price % market.tick_size:
        problems.append(f"price is off the {market.format_price(market.tick_size)} tick")
    if size % market.step_size:
        problems.append(f"size is off the {market.format_size(market.step_size)} step")
    if size < market.min_order_size:
        problems.append(f"size is under the minimum {market.format_size(market.min_order_size)}")

    filled, cost_x, _ = walk_book(book, ticket.side, size, price)
    rest = size - filled if ticket.kind.rests else 0
    if ticket.kind == OrderKind.POST_ONLY and filled:
        problems.append("post-only would cross: the chain refuses it")
    if ticket.kind == OrderKind.FOK and filled < size:
        problems.append(f"FOK: only {market.format_size(filled)} fillable now")
    taker_notional = cost_x // 10**market.size_decimals
    rest_notional = market.notional(price, rest)
    notional = taker_notional + rest_notional if ticket.kind.rests else market.notional(price, size)
    fee = fee_micro_usdc(taker_notional, market.taker_fee_ppm) + fee_micro_usdc(rest_notional, market.maker_fee_ppm)
    margin = fee_micro_usdc(notional, market.initial_margin_ppm)

    bound = ("≤ " if ticket.side == Side.BUY else "≥ ") if ticket.kind == OrderKind.MARKET else ""
    lines = [f"{side_word} {market.format_size(size)} {market.base} @ {bound}{market.format_price(price)} "
             f"≈ {format_usd(notional)} USDC"]
    outcome = []
    if filled:
        average = cost_x // filled
        what = "fills" if filled == size else f"fills {market.format_size(filled)}"
        outcome.append(f"crosses: {what} @ {market.format_price(average)} avg")
    if rest:
        outcome.append(f"rests {market.format_size(rest)}" if filled else "rests on the book")
    elif not filled:
        outcome.append("nothing to fill now: cancelled")
    elif filled < size:
        outcome.append(f"{market.format_size(size - filled)} cancelled")
    lines.append(", ".join(outcome))
    lines.append(f"fee ≈ {format_usd(fee)} USDC · margin ≈ {format_usd(margin)} USDC")

    order = PlaceOrder(
        subaccount=subaccount, market_id=market.market_id, side=ticket.side, price=price, size=size,
        time_in_force=_tif(ticket), reduce_only=ticket.reduce_only, post_only=ticket.kind == OrderKind.POST_ONLY,
        good_til_block=height + ticket.expiry.blocks if ticket.kind.rests and ticket.expiry.blocks else 0,
        good_til_time_ms=(block_time_ms + ticket.expiry.seconds * 1000
                          if ticket.kind.rests and ticket.expiry.seconds else 0),
    )
    return Preview(order, "\n".join(lines), tuple(problems), filled, rest)


def _conditional_preview(market: MarketInfo, ticket: Ticket, subaccount: int, side_word: str, price: int,
                         size: int) -> Preview:
    """A stop or take-profit: nothing happens now; it fires when the oracle crosses the trigger."""
    try:
        trigger = market.parse_price(ticket.trigger_text) if ticket.trigger_text.strip() else 0
    except ValueError as error:
        return Preview(None, f"trigger: {error}")
    if trigger <= 0:
        return Preview(None, f"{side_word} {market.format_size(size)} {market.base}: enter a trigger price")
    stop = ticket.kind == OrderKind.STOP
    fires_up = stop == (ticket.side == Side.BUY)
    kind = ConditionalKind.STOP_LIMIT if stop else ConditionalKind.TAKE_PROFIT_LIMIT
    problems = []
    if trigger % market.tick_size or price % market.tick_size:
        problems.append(f"a price is off the {market.format_price(market.tick_size)} tick")
    lines = [f"{side_word} {market.format_size(size)} {market.base} @ {market.format_price(price)} "
             f"when the oracle {'≥' if fires_up else '≤'} {market.format_price(trigger)}",
             f"{ticket.kind.value}: rests off the book until triggered, then a limit order",
             f"notional ≈ {format_usd(market.notional(price, size))} USDC"]
    order = PlaceConditional(subaccount, market.market_id, kind, ticket.side, trigger, price, size, ticket.reduce_only)
    return Preview(order, "\n".join(lines), tuple(problems))


def _tif(ticket: Ticket) -> TimeInForce:
    if ticket.kind in (OrderKind.MARKET, OrderKind.IOC):
        return TimeInForce.IOC
    if ticket.kind == OrderKind.FOK:
        return TimeInForce.FOK
    return ticket.expiry.tif


def close_order(market: MarketInfo, book: Book, size_atoms: int, subaccount: int) -> PlaceOrder:
    """Close a position of signed `size_atoms`: reduce-only IOC at a slippage-bounded price."""
    side = Side.SELL if size_atoms > 0 else Side.BUY
    size = abs(size_atoms)
    return PlaceOrder(subaccount, market.market_id, side, market_order_price(market, book, side, size, 200), size,
                      TimeInForce.IOC, reduce_only=True)


# -- trades, candles and 24h figures --------------------------------------------------------------


@dataclass(frozen=True)
class TradeRow:
    height: int
    seq: int
    price: int
    size: int  # base atoms
    taker_side: Side
    maker: str
    taker: str
    time_ms: int | None = None  # the block's header time, once known

    @classmethod
    def from_json(cls, entry: dict[str, Any], time_ms: int | None = None) -> "TradeRow":
        return cls(int(entry["height"]), int(entry["seq"]), int(entry["price"]), int(entry["size"]),
                   Side.BUY if entry["taker_side"] == "buy" else Side.SELL, str(entry["maker"]), str(entry["taker"]),
                   time_ms)


@dataclass(frozen=True)
class Candle:
    start_ms: int
    open: int
    high: int
    low: int
    close: int
    volume_atoms: int

    @property
    def rising(self) -> bool:
        return self.close >= self.open


INTERVALS: tuple[tuple[str, int], ...] = (
    ("5s", 5_000), ("15s", 15_000), ("1m", 60_000), ("5m", 300_000), ("15m", 900_000), ("1h", 3_600_000),
)


def candles(trades: Iterable[TradeRow], interval_ms: int, now_ms: int, count: int) -> list[Candle | None]:
    """`count` candles ending with the one holding `now_ms`, oldest first. A bucket without trades
    after the first trade repeats the previous close (flat); before it, None."""
    newest_bucket = now_ms // interval_ms
    first_bucket = newest_bucket - count + 1
    by_bucket: dict[int, list[TradeRow]] = {}
    previous_close: int | None = None
    timed = [(t.time_ms, t) for t in trades if t.time_ms is not None]
    for time_ms, trade in sorted(timed, key=lambda timed_trade: (timed_trade[1].height, timed_trade[1].seq)):
        bucket = time_ms // interval_ms
        if bucket < first_bucket:
            previous_close = trade.price
        elif bucket <= newest_bucket:
            by_bucket.setdefault(bucket, []).append(trade)
    result: list[Candle | None] = []
    for bucket in range(first_bucket, newest_bucket + 1):
        inside = by_bucket.get(bucket)
        if inside:
            prices = [t.price for t in inside]
            result.append(Candle(bucket * interval_ms, prices[0], max(prices), min(prices), prices[-1],
                                 sum(t.size for t in inside)))
            previous_close = prices[-1]
        elif previous_close is not None:
            result.append(Candle(bucket * interval_ms, previous_close, previous_close, previous_close,
                                 previous_close, 0))
        else:
            result.append(None)
    return result


STORED_RESOLUTIONS = frozenset({"1m", "5m", "1h"})  # the chart's intervals the read API keeps candles of


def candle_from_json(entry: dict[str, Any]) -> Candle:
    """A candle as the read API gives it (`/v1/markets/{market}/candles`)."""
    return Candle(int(entry["start_ms"]), int(entry["open"]), int(entry["high"]), int(entry["low"]),
                  int(entry["close"]), int(entry["volume"]))


def merge_candles(live: Sequence[Candle | None], stored: dict[int, Candle], interval_ms: int,
                  now_ms: int) -> list[Candle | None]:
    """The chart's slots (`candles(...)` of the same interval and now) from live trades and from the
    indexer's candles (start ms -> candle): in each slot the one holding more volume (the live trades
    are only the node's latest ones; the stored candles lag the newest block); a slot with neither
    repeats the previous close, or stays None before the first candle."""
    first_start = (now_ms // interval_ms - len(live) + 1) * interval_ms
    result: list[Candle | None] = []
    previous_close: int | None = None
    for index, slot in enumerate(live):
        start = first_start + index * interval_ms
        traded = [c for c in (stored.get(start), slot) if c is not None and c.volume_atoms > 0]
        chosen: Candle | None = None
        if traded:
            chosen = max(traded, key=lambda c: c.volume_atoms)
        elif previous_close is not None:
            chosen = Candle(start, previous_close, previous_close, previous_close, previous_close, 0)
        elif slot is not None:
            chosen = slot
        if chosen is not None:
            previous_close = chosen.close
        result.append(chosen)
    return result


@dataclass(frozen=True)
class PastFill:
    """One of the subaccount's fills as the read API keeps it (the fills tab)."""

    time_ms: int
    height: int
    market_id: int
    role: str
    side: Side
    price: int
    size: int
    fee: int
    realized_pnl: int

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> "PastFill":
        return cls(int(entry["time_ms"]), int(entry["height"]), int(entry["market_id"]), str(entry["role"]),
                   Side.BUY if entry["side"] == "buy" else Side.SELL, int(entry["price"]), int(entry["size"]),
                   int(entry["fee_micro_usdc"]), int(entry["realized_pnl_micro_usdc"]))


@dataclass(frozen=True)
class PastFunding:
    """One hourly funding payment of the subaccount (the funding tab); `payment` > 0: paid."""

    time_ms: int
    market_id: int
    size: int
    rate_ppm: int
    payment: int

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> "PastFunding":
        return cls(int(entry["time_ms"]), int(entry["market_id"]), int(entry["size"]), int(entry["rate_ppm"]),
                   int(entry["payment_micro_usdc"]))


@dataclass(frozen=True)
class DayStats:
    last_price: int | None
    change_bps: int | None  # last against the first trade of the window
    volume_micro_usdc: int
    trades: int


def day_stats(market: MarketInfo, trades: Iterable[TradeRow], now_ms: int) -> DayStats:
    """24h figures from the trades the chain still keeps (it keeps the latest 200 per market)."""
    ordered = sorted(trades, key=lambda t: (t.height, t.seq))
    last = ordered[-1].price if ordered else None
    window = [t for t in ordered if t.time_ms is not None and t.time_ms >= now_ms - DAY_MS]
    if not window:
        return DayStats(last, None, 0, 0)
    first = window[0].price
    change = (window[-1].price - first) * 10_000 // first
    volume = sum(market.notional(t.price, t.size) for t in window)
    return DayStats(last, change, volume, len(window))


# -- orders, positions and the account ------------------------------------------------------------


@dataclass(frozen=True)
class OpenOrder:
    order_id: int
    market_id: int
    side: Side
    price: int
    size: int
    time_in_force: str
    post_only: bool
    reduce_only: bool
    client_id: int
    good_til_block: int
    good_til_time_ms: int

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> "OpenOrder":
        return cls(int(entry["order_id"]), int(entry["market_id"]), Side.BUY if entry["side"] == "buy" else Side.SELL,
                   int(entry["price"]), int(entry["size"]), str(entry["time_in_force"]), bool(entry["post_only"]),
                   bool(entry["reduce_only"]), int(entry["client_id"]), int(entry["good_til_block"]),
                   int(entry["good_til_time_ms"]))

    @property
    def flags(self) -> str:
        return " ".join(f for f, on in (("post", self.post_only), ("reduce", self.reduce_only)) if on)


@dataclass(frozen=True)
class PositionRow:
    market_id: int
    ticker: str
    size: int  # signed base atoms, long > 0
    cost: int  # signed micro-USDC still held (docs: modules/margin/types.py)
    entry_price: int  # micro-USDC per unit: cost / size
    mark_price: int
    unrealized_pnl: int  # size x mark - cost
    notional: int  # |size| x mark
    liquidation_price: int | None = None  # where equity would meet maintenance (the chain's figure)
    unsettled_funding: int = 0  # micro-USDC owed (> 0) or due since the position last settled

    @property
    def side_word(self) -> str:
        return "LONG" if self.size > 0 else "SHORT"


@dataclass(frozen=True)
class Account:
    collateral: int
    equity: int
    initial_margin: int
    maintenance_margin: int
    free_collateral: int
    positions: tuple[PositionRow, ...] = field(default_factory=tuple)

    @property
    def unrealized_pnl(self) -> int:
        return sum(p.unrealized_pnl for p in self.positions)

    @property
    def notional(self) -> int:
        return sum(p.notional for p in self.positions)

    @property
    def leverage(self) -> float:
        return self.notional / self.equity if self.equity > 0 else 0.0

    @property
    def margin_usage(self) -> float:
        """Maintenance requirement over equity: at 1.0 the account is liquidated."""
        if self.equity <= 0:
            return 1.0 if self.maintenance_margin else 0.0
        return self.maintenance_margin / self.equity


def account_from_json(answer: dict[str, Any], markets: dict[int, MarketInfo]) -> Account:
    rows = []
    for entry in answer.get("positions", []):
        market = markets.get(int(entry["market_id"]))
        size, cost = int(entry["size"]), int(entry["cost_micro_usdc"])
        if market is None or size == 0:
            continue
        scale = 10**market.size_decimals
        mark = market.mark_price
        value = mark * size // scale if size > 0 else -(mark * -size // scale)
        liquidation = entry.get("liquidation_price")
        rows.append(PositionRow(market.market_id, market.ticker, size, cost, abs(cost) * scale // abs(size), mark,
                                value - cost, abs(value), int(liquidation) if liquidation else None,
                                int(entry.get("unsettled_funding_micro_usdc", 0))))
    return Account(int(answer["collateral_micro_usdc"]), int(answer["equity_micro_usdc"]),
                   int(answer["initial_margin_micro_usdc"]), int(answer["maintenance_margin_micro_usdc"]),
                   int(answer["free_collateral_micro_usdc"]), tuple(rows))


MAX_SUBACCOUNT = 127  # subaccount numbers are 0..127 (docs/transactions.md)


def balances_by_subaccount(answer: dict[str, Any]) -> dict[int, int]:
    """subaccount number -> collateral (micro-USDC) from `/bank/balances/<address>` (non-zero ones only)."""
    return {int(e["subaccount"]): int(e["amount_micro_usdc"]) for e in answer.get("balances", [])}


def next_subaccount(balances: dict[int, int], current: int) -> int:
    """The subaccount after `current` among those holding collateral, 0 and `current` itself, in
    number order and wrapping round (with nothing but `current`, `current`)."""
    choices = sorted({0, current, *balances})
    return choices[(choices.index(current) + 1) % len(choices)]


def parse_subaccount(text: str) -> int:
    """A subaccount number as typed: an integer from 0 to 127."""
    text = text.strip()
    if not text.isdigit() or not 0 <= int(text) <= MAX_SUBACCOUNT:
        raise ValueError(f"a subaccount is a number from 0 to {MAX_SUBACCOUNT}, got {text!r}")
    return int(text)


@dataclass(frozen=True)
class FillNotice:
    """A fill touching the user's subaccount, as a block event reports it."""

    market_id: int
    maker_order_id: int
    taker_order_id: int
    role: str  # "maker" or "taker"
    side: Side  # the user's side
    price: int
    size: int
    fee: int
    realized_pnl: int

    @property
    def key(self) -> tuple[int, int, int, int, str]:
        return (self.market_id, self.maker_order_id, self.taker_order_id, self.size, self.role)


def fills_for(subaccount: str, events: Iterable[Any]) -> list[FillNotice]:
    """The `fill` events among `events` (client TxEvent) in which `subaccount` ("0x…/N") took part."""
    notices = []
    for event in events:
        if event.type != "fill":
            continue
        a = event.attributes
        for role in ("maker", "taker"):
            if a.get(role, "").lower() != subaccount:
                continue
            taker_side = Side.BUY if a["taker_side"] == "buy" else Side.SELL
            side = taker_side if role == "taker" else (Side.SELL if taker_side == Side.BUY else Side.BUY)
            notices.append(FillNotice(int(a["market_id"]), int(a["maker_order_id"]), int(a["taker_order_id"]), role,
                                      side, int(a["price"]), int(a["size"]), int(a.get(f"{role}_fee_micro_usdc", 0)),
                                      int(a.get(f"{role}_realized_pnl_micro_usdc", 0))))
    return notices


def liquidation_notices(subaccount: str, events: Iterable[Any],
                        markets: dict[int, MarketInfo]) -> list[tuple[str, str]]:
    """(title, message) for each liquidation event of a block that concerns `subaccount` ("0x…/N"):
    its liquidation, its position closed at the bankruptcy price, or a deleveraging on either side."""
    notices = []
    for event in events:
        a = event.attributes
        mine = a.get("subaccount", "").lower() == subaccount
        market = markets.get(int(a.get("market_id", 0)))
        if event.type == "liquidation" and mine:
            notices.append(("Liquidation", f"equity {format_usd(int(a['equity_micro_usdc']))} USDC fell under the "
                                           f"maintenance requirement {format_usd(int(a['maintenance_micro_usdc']))}: "
                                           "orders cancelled, positions closing"))
        elif event.type == "liquidation_fill" and mine and market is not None:
            notices.append((f"Liquidated {market.ticker}",
                            f"{market.format_size(int(a['size']))} {market.base} closed, bankruptcy price "
                            f"{market.format_price(int(a['bankruptcy_price']))}, fee "
                            f"{format_usd(int(a['fee_micro_usdc']))} USDC"))
        elif event.type == "deleveraging" and market is not None and subaccount in (
                a.get("subaccount", "").lower(), a.get("counterparty", "").lower()):
            whose = "your position" if mine else "your profitable position, against a bankrupt account,"
            notices.append((f"Auto-deleveraging {market.ticker}",
                            f"{market.format_size(int(a['size']))} {market.base} of {whose} closed at "
                            f"{market.format_price(int(a['price']))}"))
    return notices


# -- the bridge: deposits and withdrawals until final ----------------------------------------------


@dataclass
class BridgeTransfer:
    """A deposit or withdrawal this terminal started, and where it stands. Stages, in order:
    deposit: sent on Ethereum → credited on chain (final);
    withdrawal: queued on chain → signed by validators (power) → ready → paid on Ethereum (final)."""

    kind: str  # "deposit" | "withdrawal"
    amount: int  # micro-USDC
    number: int = 0  # the deposit nonce or withdrawal id, once known
    stage: str = "sending"
    final: bool = False
    failed: bool = False

    def line(self) -> str:
        number = f" #{self.number}" if self.number else ""
        mark = "✗" if self.failed else "✓" if self.final else "…"
        return f"{mark} {self.kind}{number} {format_usd(self.amount)} USDC — {self.stage}"


def deposit_stage(status: dict[str, Any]) -> tuple[str, bool]:
    """(stage text, final) from /bridge/deposits/<nonce>."""
    if status.get("status") == "credited":
        return f"credited on chain at block {status['credited_height']}", True
    claims = status.get("claims", [])
    return (f"on Ethereum; {len(claims)} validator claim{'s' if len(claims) != 1 else ''} so far"
            if claims else "on Ethereum; waiting for confirmations and validator claims"), False


def withdrawal_stage(answer: dict[str, Any], paid: bool) -> tuple[str, bool]:
    """(stage text, final) from /bridge/withdrawals/<id> and the vault's `withdrawalPaid`."""
    if paid:
        return "paid on Ethereum", True
    signed, total = int(answer["signed_power"]), int(answer["total_power"])
    if answer["ready"]:
        return f"ready ({signed}/{total} power signed); waiting for a relayer to submit it", False
    return f"queued at block {answer['height']}; validators signed {signed}/{total} power", False
