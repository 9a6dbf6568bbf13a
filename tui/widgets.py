"""The terminal's widgets. Each gets its data as attributes from the app and sends what the user
asks for up as messages; none of them talks to the node."""

from __future__ import annotations

import time
from typing import Any, ClassVar, Iterable, Sequence

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.color import Color
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Static

from client import PlaceOrder, ProvenBalance, Side
from tui.model import (
    EXPIRIES,
    INTERVALS,
    Account,
    Book,
    Candle,
    DayStats,
    MarketInfo,
    OpenOrder,
    OrderKind,
    PastFill,
    PastFunding,
    PositionRow,
    Preview,
    Ticket,
    TradeRow,
    build_preview,
    candles,
    format_compact_usd,
    format_usd,
    merge_candles,
    what_if_line,
)

# -- colours from the active theme ----------------------------------------------------------------


class Palette:
    """Rich styles derived from the app's theme, so the ladder and the chart follow light/dark."""

    def __init__(self, widget: Widget) -> None:
        theme = widget.app.current_theme
        background = Color.parse(theme.background or ("#121212" if theme.dark else "#f5f5f5"))
        self.up = Color.parse(theme.success or "#2ecc71")
        self.down = Color.parse(theme.error or "#e74c3c")
        self.accent = Color.parse(theme.accent or theme.primary)
        foreground = Color.parse(theme.foreground or ("#e0e0e0" if theme.dark else "#202020"))
        self.muted = foreground.blend(background, 0.45)
        self.up_bar = self.up.blend(background, 0.8)
        self.down_bar = self.down.blend(background, 0.8)
        self.mine = Color.parse(theme.warning or "#f1c40f")

    @staticmethod
    def style(color: Color, bold: bool = False, background: Color | None = None) -> str:
        style = color.hex
        if bold:
            style = "bold " + style
        if background is not None:
            style += f" on {background.hex}"
        return style


def short_address(owner: str) -> str:
    """0x87b52aeb…9259/0 -> 0x87b5…9259/0."""
    address, _, number = owner.partition("/")
    text = f"{address[:6]}…{address[-4:]}" if len(address) > 12 else address
    return f"{text}/{number}" if number else text


def clock(time_ms: int | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(time_ms / 1000)) if time_ms else "--:--:--"


def signed_usd(micro_usdc: int) -> str:
    return ("+" if micro_usdc > 0 else "") + format_usd(micro_usdc)


Cell = str | Text  # what the terminal's tables hold: plain or styled text


def sync_table(table: DataTable[Cell], rows: Sequence[tuple[str, Sequence[Cell]]]) -> None:
    """Show `rows` (key, cells) keeping the cursor on the same key; cells that did not change are
    not touched, so a table refreshed every block does not flicker."""
    keys = [key for key, _ in rows]
    current = [row.key.value for row in table.ordered_rows]
    if keys == current:
        columns = [column.key for column in table.ordered_columns]
        for key, cells in rows:
            old = table.get_row(key)
            for column, value, before in zip(columns, cells, old):
                if str(value) != str(before):
                    table.update_cell(key, column, value, update_width=True)
        return
    cursor_key = current[table.cursor_row] if 0 <= table.cursor_row < len(current) else None
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if cursor_key in keys:
        table.move_cursor(row=keys.index(cursor_key), animate=False)


# -- status line ----------------------------------------------------------------------------------


class StatusBar(Static):
    """Chain, node, block, link state and the trading account, on one line."""

    def show(self, *, chain_id: str, node_url: str, height: int, block_age_s: float | None, connected: bool | None,
             detail: str, account: str, blocks_per_s: float) -> None:
        text = Text()
        text.append(" perpchain ", style="bold reverse")
        text.append(f"  {chain_id or '…'}  ", style="bold")
        text.append(f"{node_url}  ")
        if connected is None:
            text.append("◌ connecting…", style="bold yellow")
        elif connected:
            text.append("● live", style="bold green")
            age = f" · {block_age_s:.1f}s ago" if block_age_s is not None else ""
            text.append(f"  block {height:,}{age} · {blocks_per_s:.1f} blk/s")
        else:
            text.append(" ✖ DISCONNECTED ", style="bold white on red")
            text.append(f"  reconnecting…  last block {height:,}  ({detail})")
        text.append(f"   {account}", style="italic")
        self.update(text)


# -- markets --------------------------------------------------------------------------------------


class MarketList(DataTable[Cell]):
    """Every market: its mark (the oracle price, or the genesis reference price before the first
    oracle update), 24h change and volume from the trades the chain keeps, and the last hourly
    funding rate (positive: longs pay)."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = False
        self.add_column("Market", key="market")
        self.add_column("Mark", key="mark")
        self.add_column("24h", key="change")
        self.add_column("Vol", key="volume")
        self.add_column("Fund/h", key="funding")

    def show(self, markets: Iterable[MarketInfo], stats: dict[int, DayStats], funding: dict[int, int] | None = None) -> None:
        funding = funding or {}
        rows: list[tuple[str, tuple[Cell, ...]]] = []
        for market in markets:
            day = stats.get(market.market_id)
            if day is None or day.change_bps is None:
                change = Text("—", style="dim")
            else:
                change = Text(f"{day.change_bps / 100:+.2f}%",
                              style="green" if day.change_bps > 0 else "red" if day.change_bps < 0 else "")
            volume = format_compact_usd(day.volume_micro_usdc) if day and day.trades else "—"
            status = "" if market.status == "active" else f" ({market.status})"
            rate = funding.get(market.market_id)
            rate_text = Text(f"{rate / 10_000:+.4f}%" if rate is not None else "—",
                             style="dim" if rate is None else "red" if rate > 0 else "green" if rate < 0 else "")
            rows.append((str(market.market_id), (Text(market.ticker + status, style="bold"),
                                                 market.format_price(market.mark_price), change, volume, rate_text)))
        sync_table(self, rows)


# -- the L2 ladder --------------------------------------------------------------------------------


class BookLadder(Widget):
    """Asks above, bids below, best prices meeting at the spread line; the bar behind each level
    is the cumulative size up to it. Levels holding one of your orders carry a marker. Click a
    level to copy its price into the order form."""

    class PricePicked(Message):
        def __init__(self, price: int) -> None:
            super().__init__()
            self.price = price

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.market: MarketInfo | None = None
        self.book: Book | None = None
        self.own_prices: frozenset[int] = frozenset()
        self.renders = 0  # how many times Textual asked for the ladder
        self.frames = 0  # how many of those drew a newly fetched book (the TUI benchmark reads it)
        self.drawn_height = 0  # the block of the book last drawn
        self._drawn: Book | None = None
        self._row_prices: dict[int, int] = {}

    def show(self, market: MarketInfo | None, book: Book | None, own_prices: frozenset[int]) -> None:
        self.market, self.book, self.own_prices = market, book, own_prices
        self.refresh()

    def render(self) -> RenderableType:
        self.renders += 1
        width, height = self.size.width, self.size.height
        market, book = self.market, self.book
        if market is None or book is None or book.market_id != market.market_id:
            return Text("loading book…", style="dim")
        if book is not self._drawn:
            self.frames += 1
            self._drawn = book
        self.drawn_height = book.height
        palette = Palette(self)
        depth = max(1, (height - 2) // 2)
        asks = list(book.asks[:depth])
        bids = list(book.bids[:depth])
        cumulative_asks, cumulative_bids, total = [], [], 0
        for level in asks:
            total += level.size
            cumulative_asks.append(total)
        total = 0
        for level in bids:
            total += level.size
            cumulative_bids.append(total)
        scale = max(cumulative_asks[-1:] + cumulative_bids[-1:] + [1])
        column = max((width - 2) // 3, 6)
        self._row_prices = {}
        text = Text(no_wrap=True, overflow="crop")
        header = f"{'Price':>{column}}{'Size ' + market.base:>{column}}{'Total':>{column}}"
        text.append(" " + header[: width - 1].ljust(width - 1) + "\n", style=palette.style(palette.muted))
        y = 1
        for _ in range(depth - len(asks)):
            text.append("\n")
            y += 1
        for index in range(len(asks) - 1, -1, -1):
            self._line(text, market, asks[index], cumulative_asks[index], scale, width, column, palette, Side.SELL)
            self._row_prices[y] = asks[index].price
            y += 1
        text.append(self._spread_line(market, book, width, palette))
        text.append("\n")
        y += 1
        for index, level in enumerate(bids):
            self._line(text, market, level, cumulative_bids[index], scale, width, column, palette, Side.BUY)
            self._row_prices[y] = level.price
            y += 1
        text.rstrip()
        return text

    def _line(self, text: Text, market: MarketInfo, level: Any, cumulative: int, scale: int, width: int, column: int,
              palette: Palette, side: Side) -> None:
        mine = level.price in self.own_prices
        body = (f"{market.format_price(level.price):>{column}}{market.format_size(level.size):>{column}}"
                f"{market.format_size(cumulative):>{column}}")
        row = (("▸" if mine else " ") + body)[:width].ljust(width)
        bar = max(1, round(width * cumulative / scale)) if cumulative else 0
        colour = palette.up if side == Side.BUY else palette.down
        background = palette.up_bar if side == Side.BUY else palette.down_bar
        line = Text(row)
        line.stylize(palette.style(colour, bold=True), 1, 1 + column)
        line.stylize(f"on {background.hex}", width - bar, width)
        if mine:
            line.stylize(palette.style(palette.mine, bold=True), 0, 1)
        text.append_text(line)
        text.append("\n")

    def _spread_line(self, market: MarketInfo, book: Book, width: int, palette: Palette) -> Text:
        if book.spread is not None and book.mid:
            bps = book.spread * 10_000 / book.mid
            middle = f" spread {market.format_price(book.spread)} ({bps:.1f} bps)  mid {market.format_price(book.mid)} "
        else:
            middle = " one-sided book " if book.bids or book.asks else " empty book "
        middle += f"· block {book.height:,} "
        return Text(middle.center(width, "─")[:width], style=palette.style(palette.accent))

    def row_of_price(self, price: int) -> int | None:
        """The content row a price is drawn on (None: not shown)."""
        return next((y for y, shown in self._row_prices.items() if shown == price), None)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        price = self._row_prices.get(offset.y) if offset is not None else None
        if price is not None:
            self.post_message(self.PricePicked(price))


# -- recent trades --------------------------------------------------------------------------------


class TradeTape(Widget):
    """The market's latest trades, newest first, coloured by the taker's side."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.market: MarketInfo | None = None
        self.trades: list[TradeRow] = []
        self.me = ""

    def show(self, market: MarketInfo | None, trades: list[TradeRow], me: str) -> None:
        self.market, self.trades, self.me = market, trades, me
        self.refresh()

    def render(self) -> RenderableType:
        market = self.market
        if market is None:
            return Text("")
        if not self.trades:
            return Text("no trades yet", style="dim")
        palette = Palette(self)
        width = self.size.width
        column = max((width - 11) // 2, 6)  # time, price, size, and 2 for the own-trade marker
        text = Text(no_wrap=True, overflow="crop")
        text.append(f"{'Time':<9}{'Price':>{column}}{'Size':>{column}}\n"[: width + 1], style=palette.style(palette.muted))
        for trade in self.trades[: max(self.size.height - 1, 1)]:
            colour = palette.up if trade.taker_side == Side.BUY else palette.down
            mine = self.me in (trade.maker.lower(), trade.taker.lower())
            text.append(f"{clock(trade.time_ms):<9}", style=palette.style(palette.muted))
            text.append(f"{market.format_price(trade.price):>{column}}", style=palette.style(colour))
            text.append(f"{market.format_size(trade.size):>{column}}")
            text.append(" ◆\n" if mine else "\n", style=palette.style(palette.mine))
        text.rstrip()
        return text


# -- candles --------------------------------------------------------------------------------------


class CandleChart(Widget):
    """OHLC candles of the market's trades at the selected interval; the dotted line is the mark."""

    interval_index: reactive[int] = reactive(1)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.market: MarketInfo | None = None
        self.trades: list[TradeRow] = []
        self.stored: dict[str, dict[int, Candle]] = {}  # the read API's candles: resolution -> start ms -> candle
        self.now_ms = 0

    @property
    def interval(self) -> tuple[str, int]:
        return INTERVALS[self.interval_index]

    def cycle_interval(self) -> str:
        self.interval_index = (self.interval_index + 1) % len(INTERVALS)
        return self.interval[0]

    def show(self, market: MarketInfo | None, trades: list[TradeRow], now_ms: int,
             stored: dict[str, dict[int, Candle]] | None = None) -> None:
        """`stored`: the market's candles from the read API, merged into the slots of their interval."""
        self.market, self.trades, self.now_ms, self.stored = market, trades, now_ms, stored or {}
        self.refresh()

    def show_interval(self, name: str) -> None:
        self.interval_index = [label for label, _ in INTERVALS].index(name)

    def render(self) -> RenderableType:
        market = self.market
        width, height = self.size.width, self.size.height
        if market is None or width < 20 or height < 4:
            return Text("")
        palette = Palette(self)
        axis = max(len(market.format_price(market.mark_price)) + 2, 10)
        slots = max((width - axis) // 2, 1)
        rows = height - 1
        now = self.now_ms or int(time.time() * 1000)
        series = candles(self.trades, self.interval[1], now, slots)
        if self.interval[0] in self.stored:
            series = merge_candles(series, self.stored[self.interval[0]], self.interval[1], now)
        shown = [c for c in series if c is not None]
        mark = market.mark_price
        if not shown:
            message = f"no trades in the last {slots} × {self.interval[0]} — mark {market.format_price(mark)}"
            blank = Text("\n" * (rows // 2))
            blank.append(message.center(width), style=palette.style(palette.muted))
            return blank
        high = max(c.high for c in shown)
        low = min(c.low for c in shown)
        if mark and low * 0.9 < mark < high * 1.1:
            high, low = max(high, mark), min(low, mark)
        if high == low:
            high, low = high + 5 * market.tick_size, max(low - 5 * market.tick_size, 0)
        span = high - low

        def row_of(price: int) -> int:
            return round((high - price) * (rows - 1) / span)

        grid: list[list[tuple[str, str]]] = [[(" ", "")] * width for _ in range(rows)]
        mark_row = row_of(mark) if low <= mark <= high else None
        if mark_row is not None:
            for x in range(0, slots * 2):
                grid[mark_row][x] = ("┈", palette.style(palette.muted))
        for index, candle in enumerate(series):
            if candle is None:
                continue
            self._draw(grid, index * 2, candle, row_of, palette)
        x0 = slots * 2 + 1

        def label_at(row: int, label: str, style: str) -> None:
            for offset, char in enumerate(label[-(axis - 1):].rjust(axis - 1)):
                grid[row][x0 + offset] = (char, style)

        for row in range(0, rows, max(rows // 5, 1)):
            if row != mark_row:
                label_at(row, market.format_price(high - span * row // max(rows - 1, 1)), palette.style(palette.muted))
        if mark_row is not None:
            label_at(mark_row, market.format_price(mark), palette.style(palette.accent, bold=True))
        text = Text(no_wrap=True, overflow="crop")
        for line in grid:
            for char, style in line[:width]:
                text.append(char, style=style)
            text.append("\n")
        text.append(self._time_axis(series, slots, width), style=palette.style(palette.muted))
        return text

    @staticmethod
    def _draw(grid: list[list[tuple[str, str]]], x: int, candle: Candle, row_of: Any, palette: Palette) -> None:
        style = palette.style(palette.up if candle.rising else palette.down)
        top, bottom = row_of(candle.high), row_of(candle.low)
        body_top, body_bottom = row_of(max(candle.open, candle.close)), row_of(min(candle.open, candle.close))
        flat = candle.volume_atoms == 0
        for row in range(top, bottom + 1):
            if body_top <= row <= body_bottom:
                grid[row][x] = ("─" if flat else "█", palette.style(palette.muted) if flat else style)
            else:
                grid[row][x] = ("│", style)

    def _time_axis(self, series: Sequence[Candle | None], slots: int, width: int) -> str:
        line = [" "] * width
        step = 12
        interval_ms = self.interval[1]
        now = self.now_ms or int(time.time() * 1000)
        start = (now // interval_ms - slots + 1) * interval_ms
        for index in range(0, slots, step // 2):
            label = time.strftime("%H:%M:%S" if interval_ms < 60_000 else "%H:%M",
                                  time.localtime((start + index * interval_ms) / 1000))
            x = index * 2
            if x + len(label) <= width:
                line[x:x + len(label)] = list(label)
        return "".join(line)


# -- order entry ----------------------------------------------------------------------------------


class Choice(Widget, can_focus=True):
    """One of a few values, cycled with ←/→ or space, or a click: keyboard-first and compact."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,h", "step(-1)", "Prev", show=False),
        Binding("right,l,space", "step(1)", "Next", show=False),
    ]

    index: reactive[int] = reactive(0)

    class Changed(Message):
        def __init__(self, choice: "Choice") -> None:
            super().__init__()
            self.choice = choice

        @property
        def control(self) -> "Choice":
            return self.choice

    def __init__(self, options: Sequence[str], *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.options = list(options)

    @property
    def value(self) -> str:
        return self.options[self.index]

    def select(self, value: str) -> None:
        self.index = self.options.index(value)

    def action_step(self, delta: int) -> None:
        if not self.disabled:
            self.index = (self.index + delta) % len(self.options)

    def watch_index(self) -> None:
        self.post_message(self.Changed(self))

    def on_click(self) -> None:
        self.action_step(1)

    def render(self) -> RenderableType:
        text = Text(no_wrap=True, overflow="crop")
        for index, option in enumerate(self.options):
            selected = index == self.index
            if index and not selected and index - 1 != self.index:
                text.append(" ")
            text.append(f" {option} " if selected else option, style="bold reverse" if selected else "dim")
        return text


class OrderForm(Vertical):
    """Side, type, time in force, price, size, reduce-only; a live preview against the book; Enter
    (in price or size) or the button sends."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.leave_form", "Leave form"),
    ]

    class Send(Message):
        def __init__(self, preview: Preview) -> None:
            super().__init__()
            self.preview = preview

    class WhatIfWanted(Message):
        """The ticket makes a new order: ask the chain what it would do (the app, in a worker)."""

        def __init__(self, order: PlaceOrder) -> None:
            super().__init__()
            self.order = order

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.market: MarketInfo | None = None
        self.book: Book | None = None
        self.subaccount = 0
        self.height = 0
        self.block_time_ms = 0
        self.preview: Preview | None = None
        self.what_if: tuple[PlaceOrder, dict[str, Any]] | None = None  # the chain's answer for an order

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label("Side", classes="form-label")
            yield Choice(["BUY", "SELL"], id="side")
        with Horizontal(classes="form-row"):
            yield Label("Type", classes="form-label")
            yield Choice([kind.value for kind in OrderKind], id="kind")
        with Horizontal(classes="form-row"):
            yield Label("TIF", classes="form-label")
            yield Choice([expiry.label for expiry in EXPIRIES], id="expiry")
        with Horizontal(classes="form-row"):
            yield Label("Price", classes="form-label")
            yield Input(placeholder="USDC per unit", id="price", restrict=r"[0-9.,]*")
        with Horizontal(classes="form-row"):
            yield Label("Trigger", classes="form-label")
            yield Input(placeholder="stop / take-profit: oracle price", id="trigger", restrict=r"[0-9.,]*")
        with Horizontal(classes="form-row"):
            yield Label("Size", classes="form-label", id="size-label")
            yield Input(placeholder="base units", id="size", restrict=r"[0-9.,]*")
        with Horizontal(classes="form-row"):
            yield Checkbox("Reduce only", id="reduce-only")
            yield Button("Place order", id="send", variant="success")
        yield Static("", id="preview")

    @property
    def side(self) -> Side:
        return Side.BUY if self.query_one("#side", Choice).value == "BUY" else Side.SELL

    def ticket(self) -> Ticket:
        kind = OrderKind(self.query_one("#kind", Choice).value)
        expiry = EXPIRIES[self.query_one("#expiry", Choice).index]
        return Ticket(self.side, kind, self.query_one("#price", Input).value, self.query_one("#size", Input).value,
                      expiry, self.query_one("#reduce-only", Checkbox).value, self.query_one("#trigger", Input).value)

    def set_context(self, market: MarketInfo | None, book: Book | None, height: int, block_time_ms: int,
                    subaccount: int) -> None:
        changed_market = market is not None and (self.market is None or self.market.market_id != market.market_id)
        self.market, self.book, self.height, self.block_time_ms = market, book, height, block_time_ms
        self.subaccount = subaccount
        if changed_market and market is not None:
            self.query_one("#size-label", Label).update(f"Size {market.base}")
            self.query_one("#price", Input).value = ""
        self.update_preview()

    def set_side(self, side: Side) -> None:
        self.query_one("#side", Choice).select("BUY" if side == Side.BUY else "SELL")

    def set_price(self, price: int) -> None:
        if self.market is not None:
            self.query_one("#price", Input).value = self.market.format_price(price).replace(",", "")

    def update_preview(self) -> None:
        if not self.is_mounted:
            return
        ticket = self.ticket()
        kind = ticket.kind
        self.query_one("#price", Input).disabled = not kind.needs_price
        self.query_one("#expiry", Choice).disabled = not kind.rests
        self.query_one("#trigger", Input).disabled = not kind.conditional
        button = self.query_one("#send", Button)
        button.label = f"{'Buy' if ticket.side == Side.BUY else 'Sell'} {self.market.base if self.market else ''}"
        button.variant = "success" if ticket.side == Side.BUY else "error"
        target = self.query_one("#preview", Static)
        if self.market is None or self.book is None:
            self.preview = None
            target.update(Text("waiting for the book…", style="dim"))
            return
        previous = self.preview.order if self.preview is not None else None
        self.preview = build_preview(self.market, self.book, ticket, self.subaccount, self.height,
                                     self.block_time_ms)
        order = self.preview.order
        if isinstance(order, PlaceOrder) and order != previous:
            self.post_message(self.WhatIfWanted(order))
        self._draw_preview()

    def show_what_if(self, order: PlaceOrder, answer: dict[str, Any]) -> None:
        """The chain's simulation of `order`, shown while the ticket still makes that order."""
        self.what_if = (order, answer)
        self._draw_preview()

    def _draw_preview(self) -> None:
        if self.preview is None or self.market is None:
            return
        text = Text(self.preview.line)
        for problem in self.preview.problems:
            text.append(f"\n⚠ {problem}", style="bold yellow")
        if self.what_if is not None and self.what_if[0] == self.preview.order:
            text.append(f"\n{what_if_line(self.market, self.what_if[1])}", style="bold")
        self.query_one("#preview", Static).update(text)

    @on(Choice.Changed)
    @on(Input.Changed)
    @on(Checkbox.Changed)
    def _changed(self, event: Message) -> None:
        self.update_preview()

    @on(Input.Submitted)
    @on(Button.Pressed, "#send")
    def _send(self, event: Message) -> None:
        event.stop()
        self.update_preview()
        if self.preview is not None and self.preview.sendable:
            self.post_message(self.Send(self.preview))
        else:
            self.app.bell()


# -- your orders and positions --------------------------------------------------------------------


class OrdersTable(DataTable[Cell]):
    """Your resting orders in every market. c / Delete cancels the highlighted one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c,delete", "cancel_order", "Cancel order"),
    ]

    class CancelRequested(Message):
        def __init__(self, order: OpenOrder) -> None:
            super().__init__()
            self.order = order

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.orders: dict[str, OpenOrder] = {}

    def on_mount(self) -> None:
        self.cursor_type = "row"
        for label, key in (("Market", "market"), ("Side", "side"), ("Price", "price"), ("Size", "size"),
                           ("TIF", "tif"), ("Flags", "flags"), ("Id", "id")):
            self.add_column(label, key=key)

    def show(self, orders: Sequence[OpenOrder], markets: dict[int, MarketInfo]) -> None:
        rows: list[tuple[str, tuple[Cell, ...]]] = []
        self.orders = {}
        for order in sorted(orders, key=lambda o: (o.market_id, o.side, -o.price if o.side == Side.BUY else o.price)):
            market = markets.get(order.market_id)
            if market is None:
                continue
            key = str(order.order_id)
            self.orders[key] = order
            side = Text("BUY" if order.side == Side.BUY else "SELL",
                        style="bold green" if order.side == Side.BUY else "bold red")
            rows.append((key, (market.ticker, side, market.format_price(order.price), market.format_size(order.size),
                               order.time_in_force, order.flags, key)))
        sync_table(self, rows)

    def highlighted(self) -> OpenOrder | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self.orders.get(str(key))

    def action_cancel_order(self) -> None:
        order = self.highlighted()
        if order is None:
            self.app.bell()
        else:
            self.post_message(self.CancelRequested(order))


class PositionsTable(DataTable[Cell]):
    """Your positions: size, entry (cost / size), mark, unrealized PnL. x closes the highlighted one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "close_position", "Close position"),
    ]

    class CloseRequested(Message):
        def __init__(self, position: PositionRow) -> None:
            super().__init__()
            self.position = position

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.positions: dict[str, PositionRow] = {}

    def on_mount(self) -> None:
        self.cursor_type = "row"
        for label, key in (("Market", "market"), ("Side", "side"), ("Size", "size"), ("Entry", "entry"),
                           ("Mark", "mark"), ("Liq.", "liquidation"), ("Notional", "notional"), ("uPnL", "pnl"),
                           ("Funding", "funding")):
            self.add_column(label, key=key)

    def show(self, positions: Sequence[PositionRow], markets: dict[int, MarketInfo]) -> None:
        rows: list[tuple[str, tuple[Cell, ...]]] = []
        self.positions = {}
        for position in positions:
            market = markets[position.market_id]
            key = str(position.market_id)
            self.positions[key] = position
            pnl_style = "green" if position.unrealized_pnl > 0 else "red" if position.unrealized_pnl < 0 else ""
            percent = position.unrealized_pnl * 100 / abs(position.cost) if position.cost else 0.0
            rows.append((key, (
                market.ticker,
                Text(position.side_word, style="bold green" if position.size > 0 else "bold red"),
                market.format_size(abs(position.size)), market.format_price(position.entry_price),
                market.format_price(position.mark_price),
                Text(market.format_price(position.liquidation_price) if position.liquidation_price else "—",
                     style="bold yellow"),
                format_usd(position.notional),
                Text(f"{signed_usd(position.unrealized_pnl)} ({percent:+.2f}%)", style=pnl_style),
                signed_usd(-position.unsettled_funding),
            )))
        sync_table(self, rows)

    def highlighted(self) -> PositionRow | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self.positions.get(str(key))

    def action_close_position(self) -> None:
        position = self.highlighted()
        if position is None:
            self.app.bell()
        else:
            self.post_message(self.CloseRequested(position))


class AccountPanel(Static):
    """Collateral, equity, margin requirements, free collateral and leverage of the subaccount."""

    def show(self, account: Account | None, owner: str, proven: ProvenBalance | None = None) -> None:
        """`proven`: the collateral proven against a signed header (--verify), shown under the node's."""
        if account is None:
            self.update(Text(f"{owner}\nloading…" if owner else "read-only: start with --key FILE to trade",
                             style="dim"))
            return
        grid = Table.grid(expand=True, padding=(0, 1))
        grid.add_column(style="dim")
        grid.add_column(justify="right")
        pnl = account.unrealized_pnl
        grid.add_row("Collateral", format_usd(account.collateral))
        if proven is not None:
            grid.add_row(f"Proven @{proven.proven.height}", Text(format_usd(proven.balance.amount_micro_usdc),
                                                                  style="green"))
        grid.add_row("Unrealized PnL", Text(signed_usd(pnl), style="green" if pnl > 0 else "red" if pnl < 0 else ""))
        grid.add_row("Equity", Text(format_usd(account.equity), style="bold"))
        grid.add_row("Initial margin", format_usd(account.initial_margin))
        grid.add_row("Maint. margin", format_usd(account.maintenance_margin))
        free_style = "bold red" if account.free_collateral < 0 else "bold"
        grid.add_row("Free collateral", Text(format_usd(account.free_collateral), style=free_style))
        usage = account.margin_usage
        grid.add_row("Leverage", f"{account.leverage:.2f}x")
        bar_width = 14
        filled = min(bar_width, round(usage * bar_width))
        colour = "green" if usage < 0.5 else "yellow" if usage < 0.8 else "red"
        bar = Text("█" * filled, style=colour)
        bar.append("░" * (bar_width - filled), style="dim")
        bar.append(f" {usage * 100:.0f}%")
        grid.add_row("Margin used", bar)
        self.update(grid)


class FillsTable(DataTable[Cell]):
    """The subaccount's past fills from the read API, newest first (the Fills tab)."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        for label, key in (("Time", "time"), ("Market", "market"), ("Side", "side"), ("Role", "role"),
                           ("Price", "price"), ("Size", "size"), ("Fee", "fee"), ("Realized", "pnl")):
            self.add_column(label, key=key)

    def show(self, fills: Sequence[PastFill], markets: dict[int, MarketInfo]) -> None:
        rows: list[tuple[str, tuple[Cell, ...]]] = []
        for index, fill in enumerate(fills):
            market = markets.get(fill.market_id)
            if market is None:
                continue
            side = Text("BUY" if fill.side == Side.BUY else "SELL", style="bold green" if fill.side == Side.BUY else "bold red")
            pnl_style = "green" if fill.realized_pnl > 0 else "red" if fill.realized_pnl < 0 else ""
            rows.append((f"{fill.height}/{index}", (
                clock(fill.time_ms), market.ticker, side, fill.role, market.format_price(fill.price),
                market.format_size(fill.size), signed_usd(-fill.fee), Text(signed_usd(fill.realized_pnl), style=pnl_style))))
        sync_table(self, rows)


class FundingTable(DataTable[Cell]):
    """The subaccount's past hourly funding payments from the read API, newest first (the Funding tab)."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        for label, key in (("Time", "time"), ("Market", "market"), ("Position", "size"), ("Rate", "rate"),
                           ("Paid", "payment")):
            self.add_column(label, key=key)

    def show(self, payments: Sequence[PastFunding], markets: dict[int, MarketInfo]) -> None:
        rows: list[tuple[str, tuple[Cell, ...]]] = []
        for payment in payments:
            market = markets.get(payment.market_id)
            if market is None:
                continue
            style = "red" if payment.payment > 0 else "green" if payment.payment < 0 else ""
            rows.append((f"{payment.market_id}/{payment.time_ms}", (
                clock(payment.time_ms), market.ticker, market.format_size(payment.size),
                f"{payment.rate_ppm / 10_000:+.4f}%", Text(signed_usd(-payment.payment), style=style))))
        sync_table(self, rows)
