"""`perpchain tui`: the trading terminal.

Data comes from one node through client/ only. A websocket subscription to new blocks (client
streams) wakes three feed loops, each a thread worker so the UI never waits on the network:

    book     the selected market's L2 book (and its trades when a block traded), at most
             BOOK_HZ times a second; one fetch in flight, so a slow node never piles work up
    account  the active subaccount's open orders and positions (collateral, equity, margin), at
             most 4 Hz; `a` / `A` switch the subaccount, and every panel and the order form follow;
             with `verify` (--verify) also its collateral proven against a header its validators
             signed (client/proven.py), shown beside the node's answer
    summary  every market's parameters and recent trades (24h figures, candles), every 2 s
    history  with a read API (`api_url`, docs/read-api.md): the selected market's stored candles
             (the chart's 1m, 5m and 1h slots reach back before the terminal started) and the
             subaccount's past fills and funding payments (the Fills and Funding tabs), every
             HISTORY_EVERY_S; without one, or when it stops answering, the terminal runs on live
             data alone and says so once

The loops post their answers to the app as messages. A node that stops answering turns the
status line to DISCONNECTED; the loops keep retrying and the block stream reconnects by itself.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.widgets import DataTable, Footer, Input, TabbedContent, TabPane
from textual.worker import Worker, get_current_worker

from client import (
    CancelAll,
    CancelOrder,
    ChainRejected,
    Client,
    ClientError,
    NonceSource,
    NotVerified,
    PlaceConditional,
    PlaceOrder,
    PrivateKey,
    ProvenBalance,
    Side,
    TrustRoot,
    TxRejected,
    TxResult,
    address_to_hex,
)
from client.bridge import BridgeClient
from client.history import HistoryClient, HistoryUnavailable
from client.streams import BlockEvent, block_time_ms, new_blocks
from tui.model import (
    INTERVALS,
    STORED_RESOLUTIONS,
    Account,
    Book,
    BridgeTransfer,
    Candle,
    DayStats,
    FillNotice,
    MarketInfo,
    OpenOrder,
    OrderKind,
    PastFill,
    PastFunding,
    TradeRow,
    account_from_json,
    balances_by_subaccount,
    candle_from_json,
    close_order,
    day_stats,
    deposit_stage,
    fills_for,
    format_usd,
    liquidation_notices,
    next_subaccount,
    withdrawal_stage,
)
from tui.screens import BridgeScreen, EscapeScreen, HelpScreen, SubaccountScreen, escape_text
from tui.widgets import (
    AccountPanel,
    BookLadder,
    CandleChart,
    FillsTable,
    FundingTable,
    MarketList,
    OrderForm,
    OrdersTable,
    PositionsTable,
    StatusBar,
    TradeTape,
    short_address,
)

BOOK_HZ = 12.0  # book fetches per second at most (a new block wakes the loop)
BOOK_DEPTH = 40
ACCOUNT_HZ = 4.0
SUMMARY_EVERY_S = 2.0
TRADES_SHOWN = 100
RETRY_S = 1.0
BRIDGE_POLL_S = 0.5
WHAT_IF_DEBOUNCE_S = 0.2
HISTORY_EVERY_S = 5.0
HISTORY_CANDLES = 200  # stored candles asked for per resolution: more than the chart's widest slots
PAST_ROWS = 100  # fills and funding payments in their tabs
ClientFactory = Callable[[str], Client]
HistoryFactory = Callable[[str], HistoryClient]


def default_client(url: str) -> Client:
    return Client(url, timeout_s=3.0)


def default_history(url: str) -> HistoryClient:
    return HistoryClient(url, timeout_s=3.0)


# -- what the feed threads post -------------------------------------------------------------------


class BookFetched(Message):
    def __init__(self, book: Book, trades: list[dict[str, Any]] | None, height: int) -> None:
        super().__init__()
        self.book, self.trades, self.height = book, trades, height


class AccountFetched(Message):
    def __init__(self, subaccount: int, orders: list[dict[str, Any]], positions: dict[str, Any],
                 proven: ProvenBalance | None = None) -> None:
        super().__init__()
        self.subaccount, self.orders, self.positions, self.proven = subaccount, orders, positions, proven


class SummaryFetched(Message):
    def __init__(self, chain_id: str, markets: list[dict[str, Any]], oracle: dict[int, int],
                 trades: dict[int, list[dict[str, Any]]], funding: dict[int, int] | None = None) -> None:
        super().__init__()
        self.chain_id, self.markets, self.oracle, self.trades = chain_id, markets, oracle, trades
        self.funding = funding or {}  # market id -> last hourly rate, ppm


def last_funding_rates(client: Client, market_ids: list[int]) -> dict[int, int]:
    """market id -> the latest hourly funding rate (ppm); markets without one yet are left out."""
    rates = {}
    for market_id in market_ids:
        try:
            history = client.query(f"/funding/{market_id}")["history"]
        except ChainRejected:
            continue
        if history:
            rates[market_id] = int(history[-1]["rate_ppm"])
    return rates


def oracle_prices(client: Client) -> dict[int, int]:
    """market id -> oracle price for the markets that have one (`/oracle/prices`; none on a node
    without the oracle)."""
    try:
        answer = client.query("/oracle/prices")
    except ChainRejected:
        return {}
    return {int(p["market_id"]): int(p["price"]) for p in answer.get("prices", []) if p.get("price") is not None}


class HistoryFetched(Message):
    """The read API's answers: one market's stored candles (resolution -> start ms -> candle) and,
    with a key, one subaccount's past fills and funding payments."""

    def __init__(self, market_id: int, candles: dict[str, dict[int, Candle]], subaccount: int,
                 fills: list[PastFill] | None, funding: list[PastFunding] | None) -> None:
        super().__init__()
        self.market_id, self.candles, self.subaccount = market_id, candles, subaccount
        self.fills, self.funding = fills, funding


class HistoryLost(Message):
    def __init__(self, detail: str) -> None:
        super().__init__()
        self.detail = detail


class LinkChanged(Message):
    def __init__(self, connected: bool, detail: str) -> None:
        super().__init__()
        self.connected, self.detail = connected, detail


class TradingApp(App[None]):
    """Markets, book, trades, candles, order entry, open orders, positions and the account."""

    CSS_PATH = "app.tcss"
    TITLE = "perpchain"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("b", "side('buy')", "Buy"),
        Binding("s", "side('sell')", "Sell"),
        Binding("left_square_bracket", "switch_market(-1)", "Prev mkt", key_display="["),
        Binding("right_square_bracket", "switch_market(1)", "Next mkt", key_display="]"),
        Binding("i", "cycle_interval", "Interval"),
        Binding("m", "focus_panel('markets')", "Markets", show=False),
        Binding("o", "show_tab('orders')", "Orders"),
        Binding("f", "show_tab('fills')", "Fills"),
        Binding("u", "show_tab('funding')", "Funding", show=False),
        Binding("p", "focus_panel('positions')", "Positions"),
        Binding("a", "next_subaccount", "Subaccount"),
        Binding("A", "pick_subaccount", "Pick subaccount", key_display="A", show=False),
        Binding("C", "cancel_all", "Cancel all", key_display="C"),
        Binding("d", "bridge", "Bridge"),
        Binding("t", "toggle_theme", "Theme"),
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("escape", "leave_form", "Leave form", show=False),
        Binding("e", "escape_hatch", "Escape hatch", show=False),
    ]

    def __init__(self, node_url: str, key: PrivateKey | None = None, subaccount: int = 0, market: str | None = None,
                 client_factory: ClientFactory = default_client, book_hz: float = BOOK_HZ,
                 eth_rpc: str | None = None, proof_dir: Path | None = None, verify: TrustRoot | None = None,
                 api_url: str | None = None, history_factory: HistoryFactory = default_history) -> None:
        super().__init__()
        self.api_url = api_url  # the read API for history (None: live only)
        self.history_factory = history_factory
        self.history_ok: bool | None = None  # None: not asked yet; False: live only, said once
        self.stored_candles: dict[int, dict[str, dict[int, Candle]]] = {}  # market id -> resolution -> start -> candle
        self.past_fills: list[PastFill] = []
        self.past_funding: list[PastFunding] = []
        self.verify = verify  # prove the collateral, from this trust root (None: take the node's word)
        self.unverified = ""  # the last reason a proof failed, alerted once
        self.eth_rpc = eth_rpc  # Ethereum JSON-RPC for the bridge screen (deposits need it)
        self.transfers: list[BridgeTransfer] = []
        self.proof_dir = proof_dir or Path.home() / ".perpchain" / "proofs"  # the escape hatch's saved proofs
        self.node_url = node_url
        self.key = key
        self.address = address_to_hex(key.address).lower() if key else ""
        self.subaccount = subaccount  # the active one: `a` / `A` switch it (switch_subaccount)
        self.me = f"{self.address}/{subaccount}" if key else ""
        self.initial_market = market
        self.client_factory = client_factory
        self.book_interval_s = 1.0 / book_hz
        self.nonces = NonceSource()  # one source for every submission, so nonces never repeat
        # chain data, touched on the UI thread only
        self.chain_id = ""
        self.markets: dict[int, MarketInfo] = {}
        self.market_ids: list[int] = []
        self.selected_id = 0
        self.book: Book | None = None
        self.trades: dict[int, list[TradeRow]] = {}  # the tape: latest first, refreshed with the book
        self.history: dict[int, list[TradeRow]] = {}  # up to 200 per market, for candles and 24h figures
        self.stats: dict[int, DayStats] = {}
        self.funding: dict[int, int] = {}  # market id -> last hourly funding rate, ppm
        self.orders: list[OpenOrder] = []
        self.account: Account | None = None
        self.height = 0
        self.block_time_ms = 0
        self.connected: bool | None = None
        self.link_detail = ""
        self.notices: list[tuple[str, str, str]] = []  # (severity, title, message) of every notification
        self._seen_fills: set[tuple[int, int, int, int, str]] = set()
        self._block_arrivals: deque[float] = deque(maxlen=20)
        self._last_block_at = 0.0
        # shared with the feed threads
        self.block_times: dict[int, int] = {}
        self._dirty_trades: set[int] = set()
        self._stop = threading.Event()
        self._wake_book = threading.Event()
        self._wake_account = threading.Event()
        self._wake_summary = threading.Event()
        self._wake_history = threading.Event()
        self._book_inflight = threading.Event()
        self._link_lock = threading.Lock()
        self._link_ok: bool | None = None

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield MarketList(id="markets")
                yield AccountPanel(id="account")
                yield OrderForm(id="order-form")
            with Vertical(id="center"):
                yield CandleChart(id="chart")
                yield PositionsTable(id="positions")
                with TabbedContent(id="activity"):
                    with TabPane("Open orders", id="tab-orders"):
                        yield OrdersTable(id="orders")
                    with TabPane("Fills", id="tab-fills"):
                        yield FillsTable(id="fills")
                    with TabPane("Funding", id="tab-funding"):
                        yield FundingTable(id="funding")
            with Vertical(id="right"):
                yield BookLadder(id="book")
                yield TradeTape(id="trades")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#markets").border_title = "Markets"
        self._account_titles()
        self.query_one("#order-form").border_title = "Order entry"
        self.query_one("#positions").border_title = "Positions"
        if self.api_url is not None:
            self.query_one(CandleChart).show_interval("1m")  # the finest interval the read API keeps
        self.query_one("#trades").border_title = "Trades"
        self.query_one(AccountPanel).show(None, self.me)
        self._titles()
        self._render_status()
        self.theme_changed_signal.subscribe(self, lambda _theme: self._redraw_rich())
        self.set_interval(0.5, self._render_status)
        self.watch_blocks()
        self.feed_book()
        self.feed_account()
        self.feed_summary()
        self.feed_history()
        if self.key is None:
            self.query_one(OrderForm).disabled = True

    def on_unmount(self) -> None:
        self._stop.set()
        for event in (self._wake_book, self._wake_account, self._wake_summary, self._wake_history):
            event.set()

    @property
    def market(self) -> MarketInfo | None:
        return self.markets.get(self.selected_id)

    def _account_titles(self) -> None:
        panel = self.query_one(AccountPanel)
        panel.border_title = f"Account · subaccount {self.subaccount}" if self.me else "Account"
        panel.border_subtitle = f"{short_address(self.me)} · a: switch" if self.me else "read-only"

    def _titles(self) -> None:
        market = self.market
        ticker = market.ticker if market else "…"
        chart = self.query_one(CandleChart)
        chart.border_title = f"{ticker} · {chart.interval[0]} candles"
        chart.border_subtitle = "i: interval"
        self.query_one(BookLadder).border_title = f"Order book {ticker}"
        self.query_one(TradeTape).border_title = f"Trades {ticker}"
        self.query_one(OrderForm).border_title = f"Order entry {ticker}"

    def _redraw_rich(self) -> None:
        for widget in (self.query_one(BookLadder), self.query_one(CandleChart), self.query_one(TradeTape)):
            widget.refresh()

    # -- notifications --------------------------------------------------------------------------

    def alert(self, message: str, title: str = "", severity: SeverityLevel = "information", timeout: float = 5.0) -> None:
        """Notify (any thread) and keep a record of it (tests read `notices`)."""
        self.notices.append((severity, title, message))
        self.notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def _fill_notices(self, notices: Sequence[FillNotice]) -> None:
        for fill in notices:
            if fill.key in self._seen_fills:
                continue
            self._seen_fills.add(fill.key)
            market = self.markets.get(fill.market_id)
            if market is None:
                continue
            verb = "Bought" if fill.side == Side.BUY else "Sold"
            pnl = f" · realized {format_usd(fill.realized_pnl)}" if fill.realized_pnl else ""
            self.alert(f"{verb} {market.format_size(fill.size)} {market.base} @ {market.format_price(fill.price)} "
                       f"({fill.role}, fee {format_usd(fill.fee)}){pnl}", title=f"Fill {market.ticker}")

    # -- the block stream (async, on the UI loop) -----------------------------------------------

    @work(exclusive=True, group="blocks")
    async def watch_blocks(self) -> None:
        async for block in new_blocks(self.node_url):
            self._on_block(block)

    def _on_block(self, block: BlockEvent) -> None:
        now = time.monotonic()
        self._block_arrivals.append(now)
        self._last_block_at = now
        self.block_times[block.height] = block.time_ms
        if block.height > self.height:
            self.height, self.block_time_ms = block.height, block.time_ms
        for event in block.events:
            if event.type == "oracle_price":  # the mark moves every block the validators report
                market = self.markets.get(int(event.attributes["market_id"]))
                if market is not None:
                    self.markets[market.market_id] = replace(market, oracle_price=int(event.attributes["price"]))
        traded = {int(e.attributes.get("market_id", 0)) for e in block.events if e.type == "fill"}
        self._dirty_trades.update(traded)
        if self.me:
            self._fill_notices(fills_for(self.me, block.events))
            for title, message in liquidation_notices(self.me, block.events, self.markets):
                self.alert(message, title=title, severity="error", timeout=15)
        self._wake_book.set()
        self._wake_account.set()
        if traded:
            self._wake_summary.set()

    # -- feed loops (threads) -------------------------------------------------------------------

    def _stopping(self, worker: Worker[Any]) -> bool:
        return self._stop.is_set() or worker.is_cancelled

    def _link(self, ok: bool, detail: str = "") -> None:
        """Post a link change once per change (any thread)."""
        with self._link_lock:
            if self._link_ok == ok:
                return
            self._link_ok = ok
        self.post_message(LinkChanged(ok, detail))

    @work(exclusive=True, thread=True, group="book")
    def feed_book(self) -> None:
        worker = get_current_worker()
        client = self.client_factory(self.node_url)
        last_fetch, last_trades = 0.0, 0.0
        try:
            while not self._stopping(worker):
                self._wake_book.wait(0.5)
                self._wake_book.clear()
                pause = last_fetch + self.book_interval_s - time.monotonic()
                if pause > 0 and self._stop.wait(pause):
                    break
                market_id = self.selected_id
                if not market_id:
                    continue
                last_fetch = time.monotonic()
                try:
                    height = self.height
                    if last_fetch - self._last_block_at > 1.5:  # the stream is quiet: ask
                        height = max(height, client.height())
                    answer = client.book(market_id, BOOK_DEPTH)
                    trades = None
                    if market_id in self._dirty_trades or last_fetch - last_trades > 1.0:
                        self._dirty_trades.discard(market_id)
                        trades = client.trades(market_id, TRADES_SHOWN)
                        last_trades = last_fetch
                except ChainRejected:
                    continue  # the node answered; the market may be gone: the summary will tell
                except ClientError as error:
                    self._link(False, str(error))
                    self._stop.wait(RETRY_S)
                    continue
                self._link(True)
                self._book_inflight.set()
                self.post_message(BookFetched(Book.from_json(answer, height), trades, height))
                deadline = time.monotonic() + 2.0
                while self._book_inflight.is_set() and time.monotonic() < deadline and not self._stop.is_set():
                    time.sleep(0.002)  # one book in flight: the UI applies it before the next fetch
        finally:
            client.close()

    @work(exclusive=True, thread=True, group="account")
    def feed_account(self) -> None:
        if self.key is None:
            return
        worker = get_current_worker()
        client = self.client_factory(self.node_url)
        client.trust = self.verify or client.trust
        last = 0.0
        try:
            while not self._stopping(worker):
                self._wake_account.wait(1.0)
                self._wake_account.clear()
                pause = last + 1.0 / ACCOUNT_HZ - time.monotonic()
                if pause > 0 and self._stop.wait(pause):
                    break
                last = time.monotonic()
                number = self.subaccount  # the answer is dropped if the user switched meanwhile
                try:
                    orders = client.orders(self.address, number)
                    positions = client.positions(self.address, number)
                    proven = self._prove_collateral(client, number)
                except NotVerified as error:
                    if str(error) != self.unverified:
                        self.unverified = str(error)
                        self.alert(str(error), title="Collateral not verified", severity="error", timeout=12)
                    self._stop.wait(RETRY_S)
                    continue
                except ChainRejected:
                    continue
                except ClientError as error:
                    self._link(False, str(error))
                    self._stop.wait(RETRY_S)
                    continue
                self._link(True)
                self.post_message(AccountFetched(number, orders, positions, proven))
        finally:
            client.close()

    def _prove_collateral(self, client: Client, number: int) -> ProvenBalance | None:
        return client.prove_balance(self.address, number) if self.verify is not None else None

    @work(exclusive=True, thread=True, group="summary")
    def feed_summary(self) -> None:
        worker = get_current_worker()
        client = self.client_factory(self.node_url)
        chain_id = ""
        try:
            while not self._stopping(worker):
                try:
                    chain_id = chain_id or client.chain_id()
                    markets = client.markets()
                    oracle = oracle_prices(client)
                    trades = {int(m["market_id"]): client.trades(int(m["market_id"]), 200) for m in markets}
                    funding = last_funding_rates(client, [int(m["market_id"]) for m in markets])
                    missing = sorted({int(t["height"]) for rows in trades.values() for t in rows}
                                     - set(self.block_times), reverse=True)
                    for height in missing[:100]:
                        self.block_times[height] = block_time_ms(client, height)
                except ChainRejected:
                    pass
                except ClientError as error:
                    self._link(False, str(error))
                    self._stop.wait(RETRY_S)
                    continue
                else:
                    self._link(True)
                    self.post_message(SummaryFetched(chain_id, markets, oracle, trades, funding))
                self._wake_summary.wait(SUMMARY_EVERY_S)
                self._wake_summary.clear()
                self._stop.wait(0.5)  # at most twice a second even when trades keep coming
        finally:
            client.close()

    @work(exclusive=True, thread=True, group="history")
    def feed_history(self) -> None:
        if self.api_url is None:
            self.post_message(HistoryLost("no read API given (--api URL)"))
            return
        worker = get_current_worker()
        history = self.history_factory(self.api_url)
        try:
            while not self._stopping(worker):
                market_id, number = self.selected_id, self.subaccount
                if market_id:
                    try:
                        stored = self._stored_candles(history, market_id)
                        fills = funding = None
                        if self.key is not None:
                            fills = [PastFill.from_json(f) for f in history.fills(self.address, number, PAST_ROWS)]
                            funding = [PastFunding.from_json(f) for f in history.funding(self.address, number, PAST_ROWS)]
                    except HistoryUnavailable as error:
                        self.post_message(HistoryLost(str(error)))
                    else:
                        self.post_message(HistoryFetched(market_id, stored, number, fills, funding))
                self._wake_history.wait(HISTORY_EVERY_S)
                self._wake_history.clear()
        finally:
            history.close()

    def _stored_candles(self, history: HistoryClient, market_id: int) -> dict[str, dict[int, Candle]]:
        """The market's stored candles at each resolution the chart shows (the latest HISTORY_CANDLES)."""
        now_ms = self.block_time_ms or int(time.time() * 1000)
        stored = {}
        for name, interval_ms in INTERVALS:
            if name in STORED_RESOLUTIONS:
                since = (now_ms // interval_ms - HISTORY_CANDLES) * interval_ms
                stored[name] = {c.start_ms: c for c in map(candle_from_json, history.candles(market_id, name, since))}
        return stored

    # -- applying what the feeds fetched (UI thread) --------------------------------------------

    def on_history_fetched(self, message: HistoryFetched) -> None:
        if not self._drawing():
            return
        if self.history_ok is False:
            self.alert(f"History from {self.api_url} is back", title="Read API")
        self.history_ok = True
        self.stored_candles[message.market_id] = message.candles
        if message.subaccount == self.subaccount and message.fills is not None and message.funding is not None:
            self.past_fills, self.past_funding = message.fills, message.funding
            self.query_one(FillsTable).show(self.past_fills, self.markets)
            self.query_one(FundingTable).show(self.past_funding, self.markets)
        if message.market_id == self.selected_id:
            self._show_market()

    def on_history_lost(self, message: HistoryLost) -> None:
        if not self._drawing() or self.history_ok is False:
            return
        self.history_ok = False
        self.alert(f"Live only: the chart, fills and funding show what happened since the terminal started "
                   f"({message.detail}).", title="No history", severity="warning", timeout=10)

    def _rows(self, raw: list[dict[str, Any]]) -> list[TradeRow]:
        return [TradeRow.from_json(t, self.block_times.get(int(t["height"]))) for t in raw]

    def on_book_fetched(self, message: BookFetched) -> None:
        try:
            if not self._drawing():
                return
            if message.height > self.height:
                self.height = message.height
            if message.book.market_id != self.selected_id:
                return
            self.book = message.book
            if message.trades is not None:
                self.trades[self.selected_id] = self._rows(message.trades)
            self._show_market()
        finally:
            self._book_inflight.clear()

    def on_account_fetched(self, message: AccountFetched) -> None:
        if not self._drawing() or message.subaccount != self.subaccount:
            return
        self.orders = [OpenOrder.from_json(o) for o in message.orders]
        self.account = account_from_json(message.positions, self.markets) if self.markets else None
        self.query_one(OrdersTable).show(self.orders, self.markets)
        self.query_one("#activity").border_subtitle = f"{len(self.orders)} open · c cancel · C all"
        if self.account is not None:
            self.query_one(PositionsTable).show(self.account.positions, self.markets)
            self.query_one(PositionsTable).border_subtitle = f"{len(self.account.positions)} · x close"
        self.query_one(AccountPanel).show(self.account, self.me, message.proven)

    def on_summary_fetched(self, message: SummaryFetched) -> None:
        if not self._drawing():
            return
        self.chain_id = message.chain_id
        self.markets = {m.market_id: replace(m, oracle_price=message.oracle.get(m.market_id, self._oracle_seen(m)))
                        for m in (MarketInfo.from_json(e) for e in message.markets)}
        self.market_ids = sorted(self.markets)
        now = self.block_time_ms or int(time.time() * 1000)
        for market_id, raw in message.trades.items():
            rows = self._rows(raw)
            if market_id != self.selected_id or market_id not in self.trades:
                self.trades[market_id] = rows[:TRADES_SHOWN]
            self.stats[market_id] = day_stats(self.markets[market_id], rows, now)
            self.history[market_id] = rows
        self.funding = message.funding
        table = self.query_one(MarketList)
        table.show([self.markets[m] for m in self.market_ids], self.stats, self.funding)
        if not self.selected_id and self.market_ids:
            wanted = self.initial_market
            chosen = next((m.market_id for m in self.markets.values()
                           if wanted in (str(m.market_id), m.ticker)), self.market_ids[0])
            self.select_market(chosen)
        elif self.selected_id:
            self._show_market()

    def _oracle_seen(self, market: MarketInfo) -> int | None:
        known = self.markets.get(market.market_id)
        return known.oracle_price if known is not None else None

    def on_link_changed(self, message: LinkChanged) -> None:
        if not self._drawing():
            return
        was = self.connected
        self.connected, self.link_detail = message.connected, message.detail
        self.screen.set_class(not message.connected, "offline")
        if message.connected and was is False:
            self.alert(f"Back online at block {self.height:,}", title="Node reconnected")
        elif not message.connected:
            self.alert(f"{self.node_url} is not answering ({message.detail}); retrying every {RETRY_S:.0f}s",
                       title="Node disconnected", severity="warning")
        self._render_status()

    # -- drawing --------------------------------------------------------------------------------

    def _drawing(self) -> bool:
        """False once the app is shutting down: its widgets are being removed."""
        return self.is_running and not self._stop.is_set()

    def _render_status(self) -> None:
        if not self._drawing():
            return
        arrivals = self._block_arrivals
        rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 2 and arrivals[-1] > arrivals[0] else 0.0
        age = time.monotonic() - self._last_block_at if self._last_block_at else None
        account = short_address(self.me) if self.me else "read-only"
        self.query_one(StatusBar).show(chain_id=self.chain_id, node_url=self.node_url, height=self.height,
                                       block_age_s=age, connected=self.connected, detail=self.link_detail,
                                       account=account, blocks_per_s=rate)

    def _show_market(self) -> None:
        market = self.market
        if market is None:
            return
        own = frozenset(o.price for o in self.orders if o.market_id == market.market_id)
        self.query_one(BookLadder).show(market, self.book, own)
        trades = self.trades.get(market.market_id, [])
        self.query_one(TradeTape).show(market, trades, self.me)
        history = self.history.get(market.market_id, [])
        merged = {(t.height, t.seq): t for t in history}
        merged.update({(t.height, t.seq): t for t in trades})
        self.query_one(CandleChart).show(market, list(merged.values()), self.block_time_ms,
                                         self.stored_candles.get(market.market_id))
        self.query_one(OrderForm).set_context(market, self.book, self.height, self.block_time_ms, self.subaccount)

    def select_market(self, market_id: int) -> None:
        if market_id == self.selected_id or market_id not in self.markets:
            return
        self.selected_id = market_id
        self.book = None
        self._titles()
        self._show_market()
        table = self.query_one(MarketList)
        index = self.market_ids.index(market_id)
        if table.cursor_row != index:
            table.move_cursor(row=index, animate=False)
        self._wake_book.set()
        self._wake_history.set()

    # -- user actions ---------------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#markets")
    def _market_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # a rebuilt table posts a highlight of row 0 before the cursor is put back: skip stale ones
        if event.row_key.value is not None and event.cursor_row == event.data_table.cursor_row:
            self.select_market(int(event.row_key.value))

    def on_book_ladder_price_picked(self, message: BookLadder.PricePicked) -> None:
        form = self.query_one(OrderForm)
        form.set_price(message.price)
        form.query_one("#size", Input).focus()

    def action_side(self, side: str) -> None:
        form = self.query_one(OrderForm)
        chosen = Side.BUY if side == "buy" else Side.SELL
        form.set_side(chosen)
        price = form.query_one("#price", Input)
        if not price.value and self.book is not None:  # join the best price of that side
            best = self.book.best_bid if chosen == Side.BUY else self.book.best_ask
            if best is not None:
                form.set_price(best)
        # the price's text is selected, so typing replaces it and Tab keeps it; a market order has none
        (price if not price.disabled else form.query_one("#size", Input)).focus()

    def action_switch_market(self, delta: int) -> None:
        if self.market_ids:
            index = self.market_ids.index(self.selected_id) if self.selected_id in self.market_ids else 0
            self.select_market(self.market_ids[(index + delta) % len(self.market_ids)])

    def action_cycle_interval(self) -> None:
        self.query_one(CandleChart).cycle_interval()
        self._titles()

    def action_focus_panel(self, name: str) -> None:
        self.query_one(f"#{name}").focus()

    def action_show_tab(self, name: str) -> None:
        """Open orders, Fills or Funding: show its tab and focus its table."""
        self.query_one("#activity", TabbedContent).active = f"tab-{name}"
        self.query_one(f"#{name}").focus()

    def action_leave_form(self) -> None:
        self.action_show_tab("orders")

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_bridge(self) -> None:
        if not self._can_trade():
            return
        if self.eth_rpc is None:
            self.alert("No Ethereum RPC: start the terminal with --eth-rpc URL (make run sets it) to use the bridge.",
                       title="Bridge", severity="warning")
            return
        self.push_screen(BridgeScreen(self._wallet_line, self.transfers))

    def on_bridge_screen_requested(self, message: BridgeScreen.Requested) -> None:
        transfer = BridgeTransfer(message.kind, message.amount)
        self.transfers.append(transfer)
        self._show_transfers()
        self.follow_transfer(transfer)

    def _show_transfers(self, ended: bool = False) -> None:
        """Redraw the bridge screen's transfers, if it is open; a transfer that `ended` moved the wallet too."""
        if isinstance(self.screen, BridgeScreen):
            self.screen.show_transfers()
            if ended:
                self.screen.read_wallet()

    def _bridge(self, client: Client) -> BridgeClient:
        return BridgeClient(client, self.eth_rpc)

    def _wallet_line(self) -> str:
        """The key's USDC on Ethereum and the subaccount's free collateral (blocking: the bridge
        screen's worker calls it)."""
        assert self.key is not None
        client = self.client_factory(self.node_url)
        try:
            bridge = self._bridge(client)
            on_ethereum = int(bridge.token.functions.balanceOf(bridge.web3.to_checksum_address(self.key.address)).call())
        except Exception as error:  # web3 raises its own kinds; the screen says what went wrong
            return f"Ethereum at {self.eth_rpc} is not answering ({type(error).__name__})"
        finally:
            client.close()
        free = format_usd(self.account.free_collateral) if self.account is not None else "…"
        return (f"Ethereum {short_address(self.address)}: {format_usd(on_ethereum)} USDC · perpchain "
                f"subaccount {self.subaccount}: free collateral {free} USDC")

    @work(thread=True, group="bridge")
    def follow_transfer(self, transfer: BridgeTransfer) -> None:
        """Send the deposit (approve + Vault.deposit on Ethereum) or the withdrawal (a chain tx),
        then poll each stage until final; every change redraws the screen, the end notifies."""
        assert self.key is not None
        client = self.client_factory(self.node_url)
        client.nonces = self.nonces
        bridge = self._bridge(client)
        what = f"{transfer.kind.capitalize()} of {format_usd(transfer.amount)} USDC"

        def stage() -> tuple[str, bool]:
            if transfer.kind == "deposit":
                return deposit_stage(bridge.deposit_status(transfer.number))
            paid = bridge.vault.functions.withdrawalPaid(transfer.number).call()
            return withdrawal_stage(bridge.withdrawal(transfer.number), paid)

        try:
            if transfer.kind == "deposit":
                transfer.number = bridge.deposit(self.key, transfer.amount, self.key.address, self.subaccount)
            else:
                result = bridge.withdraw(self.key, transfer.amount, self.key.address, self.subaccount)
                queued = next(e for e in result.events if e.type == "withdrawal_queued")
                transfer.number = int(queued.attributes["withdrawal_id"])
            while not self._stop.is_set():
                transfer.stage, transfer.final = stage()
                self.call_from_thread(self._show_transfers)
                if transfer.final:
                    self.alert(f"{what}: {transfer.stage}", title="Bridge")
                    break
                self._stop.wait(BRIDGE_POLL_S)
        except TxRejected as rejected:
            transfer.stage, transfer.failed = f"rejected: code {rejected.code} ({rejected.codespace}): {rejected.log}", True
            self.alert(f"{what}: code {rejected.code} ({rejected.codespace}): {rejected.log}",
                       title="Rejected by the chain", severity="error", timeout=12)
        except Exception as error:  # Ethereum reverts and lost connections: shown, not swallowed
            transfer.stage, transfer.failed = f"failed: {error}", True
            self.alert(f"{what}: {error}", title="Bridge", severity="error", timeout=12)
        finally:
            client.close()
            self._wake_account.set()
        if self._drawing():
            self.call_from_thread(self._show_transfers, True)

    def action_escape_hatch(self) -> None:
        self.push_screen(EscapeScreen(self._escape_text))

    def _escape_text(self) -> str:
        """The latest anchor and this account's proof, saved under `proof_dir` (client/anchor.py);
        blocking: the escape screen's worker calls it."""
        from client.anchor import AnchorClient, escape_summary

        if self.key is None:
            return "Read-only: start the terminal with a key to see your claim."
        client = self.client_factory(self.node_url)
        try:
            summary = escape_summary(AnchorClient(client), self.key.address, self.proof_dir)
            return escape_text(summary, format_usd(summary.claimable_micro_usdc) if summary else "0")
        except ClientError as error:
            return escape_text(None, "0", str(error))
        finally:
            client.close()

    def _read_balances(self) -> dict[int, int] | None:
        """The address's subaccounts holding collateral (`/bank/balances`), None (and a notice) if
        the node did not answer; blocking: called from workers."""
        client = self.client_factory(self.node_url)
        try:
            return balances_by_subaccount(client.query(f"/bank/balances/{self.address}"))
        except ClientError as error:
            self.alert(f"Could not read the subaccounts: {error}", title="Subaccount", severity="error")
            return None
        finally:
            client.close()

    def action_next_subaccount(self) -> None:
        if self._can_trade():
            self.switch_to_next_subaccount()

    @work(exclusive=True, thread=True, group="balances")
    def switch_to_next_subaccount(self) -> None:
        """`a`: on to the next subaccount holding collateral after the active one."""
        balances = self._read_balances()
        if balances is not None:
            self.call_from_thread(self._switch_to_next, balances)

    def _switch_to_next(self, balances: dict[int, int]) -> None:
        number = next_subaccount(balances, self.subaccount)
        if number == self.subaccount:
            self.alert(f"Subaccount {number} is the only one holding collateral: A picks any number 0-127.",
                       title="Subaccount")
        else:
            self.switch_subaccount(number, balances)

    def action_pick_subaccount(self) -> None:
        if not self._can_trade():
            return
        screen = SubaccountScreen(self.subaccount, self._read_balances)

        def picked(number: int | None) -> None:
            if number is not None:
                self.switch_subaccount(number, screen.balances)

        self.push_screen(screen, picked)

    def switch_subaccount(self, number: int, balances: dict[int, int] | None) -> None:
        """Trade on subaccount `number`: the account panel, positions, open orders, the ladder's and
        the tape's own-order marks, fill notices, order entry and the bridge all follow it. The
        notice says its collateral if `balances` (subaccount -> collateral) were read."""
        if number == self.subaccount:
            return
        self.subaccount = number
        self.me = f"{self.address}/{number}"
        self.orders, self.account = [], None
        self.query_one(OrdersTable).show([], self.markets)
        self.query_one("#activity").border_subtitle = ""
        self.past_fills, self.past_funding = [], []
        self.query_one(FillsTable).show([], self.markets)
        self.query_one(FundingTable).show([], self.markets)
        self.query_one(PositionsTable).show([], self.markets)
        self.query_one(PositionsTable).border_subtitle = ""
        self.query_one(AccountPanel).show(None, self.me)
        self._account_titles()
        self._show_market()  # the order form's subaccount, and the own-order marks
        self._render_status()
        self._wake_account.set()
        self._wake_history.set()
        collateral = ""
        if balances is not None:
            held = balances.get(number)
            collateral = f" ({format_usd(held)} USDC collateral)" if held is not None else " (no collateral)"
        self.alert(f"Trading on subaccount {number}{collateral}", title="Subaccount")

    def action_cancel_all(self) -> None:
        if self._can_trade():
            self.send_actions([CancelAll(self.subaccount, 0)], "Cancel all")

    def on_order_form_send(self, message: OrderForm.Send) -> None:
        if not self._can_trade() or message.preview.order is None:
            return
        order = message.preview.order
        market = self.markets[order.market_id]
        kind = self.query_one(OrderForm).ticket().kind
        label = "market" if kind == OrderKind.MARKET else kind.value
        price = order.limit_price if isinstance(order, PlaceConditional) else order.price
        what = (f"{'Buy' if order.side == Side.BUY else 'Sell'} {market.format_size(order.size)} {market.base} "
                f"{label} @ {market.format_price(price)}")
        self.send_actions([order], what)

    def on_order_form_what_if_wanted(self, message: OrderForm.WhatIfWanted) -> None:
        if self.key is not None:
            self.fetch_what_if(message.order)

    @work(exclusive=True, thread=True, group="whatif")
    def fetch_what_if(self, order: PlaceOrder) -> None:
        """The chain's simulation of the ticket's order (`/whatif`); a newer ticket cancels this one."""
        worker = get_current_worker()
        self._stop.wait(WHAT_IF_DEBOUNCE_S)  # typing: ask once the ticket settles
        if self._stopping(worker):
            return
        client = self.client_factory(self.node_url)
        try:
            answer = client.what_if(self.address, order)
        except ClientError:
            return  # the preview stays local; the status line shows a lost node
        finally:
            client.close()
        if not self._stopping(worker):
            self.call_from_thread(self.query_one(OrderForm).show_what_if, order, answer)

    def on_orders_table_cancel_requested(self, message: OrdersTable.CancelRequested) -> None:
        if self._can_trade():
            order = message.order
            self.send_actions([CancelOrder(self.subaccount, order.market_id, order.order_id)],
                              f"Cancel order {order.order_id}")

    def on_positions_table_close_requested(self, message: PositionsTable.CloseRequested) -> None:
        if self._can_trade():
            self.close_position(message.position.market_id, message.position.size)

    def _can_trade(self) -> bool:
        if self.key is None:
            self.alert("This terminal is read-only: start it with --key FILE to trade.", severity="warning")
            return False
        return True

    # -- transactions (threads) -----------------------------------------------------------------

    @work(thread=True, group="tx")
    def send_actions(self, actions: Sequence[Any], what: str) -> None:
        """Sign, broadcast and wait for the block; the outcome becomes a notification.

        Not exclusive: a second order must not cancel the first one's confirmation."""
        assert self.key is not None
        owner = self.me  # fills are reported for the subaccount it was sent from, even after a switch
        client = self.client_factory(self.node_url)
        client.nonces = self.nonces
        try:
            result = client.send(self.key, actions, wait=True)
        except TxRejected as rejected:
            self.alert(f"{what}: code {rejected.code} ({rejected.codespace}): {rejected.log}",
                       title="Rejected by the chain", severity="error", timeout=12)
        except ChainRejected as rejected:
            self.alert(f"{what}: {rejected}", title="Rejected", severity="error", timeout=12)
        except ClientError as error:
            self.alert(f"{what}: {error}", title="Not confirmed", severity="error", timeout=12)
        else:
            self.call_from_thread(self._confirmed, result, what, owner)
        finally:
            client.close()
            self._wake_account.set()
            self._wake_book.set()

    def _confirmed(self, result: TxResult, what: str, owner: str) -> None:
        placed = [e for e in result.events if e.type == "order_placed"]
        armed = [e for e in result.events if e.type == "conditional_placed"]
        cancelled = [e for e in result.events if e.type == "order_cancelled" and e.attributes.get("reason") == "by_owner"]
        unfilled = [e for e in result.events if e.type == "order_cancelled"
                    and e.attributes.get("reason", "").startswith("unfilled")]
        if placed:
            order_id = placed[0].attributes.get("order_id", "?")
            self.alert(f"{what} · id {order_id} · subaccount {placed[0].attributes.get('subaccount', '?')} · "
                       f"block {result.height:,}", title="Order accepted")
        elif armed:
            conditional_id = armed[0].attributes.get("conditional_id", "?")
            kind = "Take-profit" if armed[0].attributes.get("kind", "").startswith("take_profit") else "Stop"
            self.alert(f"{what} · conditional {conditional_id} · block {result.height:,}", title=f"{kind} armed")
        elif cancelled or what.startswith("Cancel"):
            self.alert(f"{len(cancelled)} order{'s' if len(cancelled) != 1 else ''} cancelled · block "
                       f"{result.height:,}", title=what)
        if owner:
            self._fill_notices(fills_for(owner, result.events))
        for event in unfilled:
            market = self.markets.get(int(event.attributes["market_id"]))
            if market is not None:
                self.alert(f"{market.format_size(int(event.attributes['size']))} {market.base} not filled: cancelled "
                           f"({event.attributes['reason'].replace('_', ' ')})", title="Remainder cancelled",
                           severity="warning")

    @work(thread=True, group="tx")
    def close_position(self, market_id: int, size: int) -> None:
        market = self.markets[market_id]
        client = self.client_factory(self.node_url)
        try:
            book = Book.from_json(client.book(market_id, BOOK_DEPTH))
        except ClientError as error:
            self.alert(f"Close {market.ticker}: {error}", title="Not sent", severity="error")
            return
        finally:
            client.close()
        order = close_order(market, book, size, self.subaccount)
        self.call_from_thread(self.send_actions, [order],
                              f"Close {market.ticker} {market.format_size(abs(size))} {market.base}")
