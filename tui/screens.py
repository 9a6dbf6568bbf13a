"""Screens over the trading view: the key bindings help, the subaccount picker, the bridge and the
escape hatch.

A screen that shows what the network says reads it in a thread worker of its own, through a
blocking function the app gives it; the worker ends with the screen, and what it read after the
screen closed is dropped."""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Sequence

from rich.table import Table
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Label, Static
from textual.worker import get_current_worker

from client.amounts import parse_decimal
from tui.model import MAX_SUBACCOUNT, BridgeTransfer, format_usd, parse_subaccount

KEYS: tuple[tuple[str, str, str], ...] = (
    ("Anywhere", "b / s", "buy / sell: pick the side and jump to the order form"),
    ("", "[ / ]", "previous / next market (or ↑/↓ in the market list)"),
    ("", "m / o / p", "focus markets / open orders / positions"),
    ("", "f / u", "your past fills / funding payments (from the read API; live only without one)"),
    ("", "i", "cycle the chart interval (5s, 15s, 1m, 5m, 15m, 1h; 1m, 5m and 1h reach back through the read API)"),
    ("", "a / A", "next subaccount holding collateral (or 0) / pick one by number, 0-127"),
    ("", "C", "cancel every open order of the subaccount"),
    ("", "d", "bridge: deposit USDC from Ethereum, withdraw to it, and follow each until final"),
    ("", "t", "light / dark theme"),
    ("", "e", "escape hatch: the latest anchor, your claimable amount, your saved proof"),
    ("", "? or F1", "this help"),
    ("", "q or Ctrl+Q", "quit"),
    ("Order form", "Tab / Shift+Tab", "next / previous field"),
    ("", "← / → or space", "change side, type or time in force"),
    ("", "Enter", "send the order (from price or size)"),
    ("", "Esc", "leave the form"),
    ("Open orders", "c or Delete", "cancel the highlighted order"),
    ("Positions", "x", "close the highlighted position (reduce-only IOC, 2% slippage bound)"),
    ("Order book", "click a level", "copy its price into the form"),
)

ORDER_TYPES = (
    ("limit", "rests on the book until filled, cancelled or expired (TIF: GTC, good for 1m / 1h / 1d, or 100 blocks)"),
    ("market", "IOC at the deepest level it needs plus 1% (the worst acceptable price)"),
    ("IOC", "fills what it can at the price or better, the rest is cancelled"),
    ("FOK", "fills entirely at the price or better, or the chain refuses it"),
    ("post-only", "rests only: the chain refuses it if it would cross"),
    ("stop", "stop-limit: rests off the book until the oracle crosses the trigger (a buy when it rises to it, a "
             "sell when it falls to it), then a limit order at the price"),
    ("take-profit", "take-profit-limit: fires when the oracle reaches the trigger in your favour, then a limit order"),
)


def _from_worker(screen: Screen[Any], update: Callable[[], None]) -> None:
    """From the screen's worker thread: run `update` on the UI thread unless the screen has closed."""
    if not get_current_worker().is_cancelled:
        screen.app.call_from_thread(lambda: update() if screen.is_attached else None)


class HelpScreen(ModalScreen[None]):
    """Every key binding and order type; Esc, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close help"),
    ]

    def compose(self) -> ComposeResult:
        keys = Table(box=None, expand=True, padding=(0, 2), show_header=True, header_style="bold")
        keys.add_column("Where", style="dim", no_wrap=True)
        keys.add_column("Key", style="bold", no_wrap=True)
        keys.add_column("Does")
        for where, key, does in KEYS:
            keys.add_row(where, key, does)
        types = Table(box=None, expand=True, padding=(0, 2), show_header=True, header_style="bold")
        types.add_column("Order type", style="bold", no_wrap=True)
        types.add_column("Behaviour")
        for name, does in ORDER_TYPES:
            types.add_row(name, does)
        with Vertical(id="help-box") as box:
            box.border_title = "perpchain terminal — help"
            box.border_subtitle = "Esc closes"
            yield Static(keys)
            yield Static(types, id="help-types")
            yield Static("Prices in USDC per unit; sizes in the base asset. The \"mark\" is the market's reference "
                         "price until the oracle lands. Fees and margin in the preview are estimates; the chain "
                         "has the last word, and a rejection shows its code and log.", id="help-note")


class SubaccountScreen(ModalScreen[int | None]):
    """Type a subaccount number (0-127) to trade on; it lists the address's subaccounts holding
    collateral once it has read them. Enter switches, Esc keeps the current one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
    ]

    def __init__(self, current: int, read: Callable[[], dict[int, int] | None]) -> None:
        """`read`: subaccount -> collateral of the address, or None if the node did not answer."""
        super().__init__()
        self.current = current
        self.balances: dict[int, int] | None = None  # as read, for the switch's notice
        self._read = read

    def compose(self) -> ComposeResult:
        with Vertical(id="subaccount-box") as box:
            box.border_title = "Switch subaccount"
            box.border_subtitle = "Enter switches · Esc closes"
            yield Static(f"Trading on subaccount {self.current}. Reading the address's balances…",
                         id="subaccount-balances")
            with Horizontal(classes="form-row"):
                yield Label("Number", classes="form-label")
                yield Input(placeholder=f"0-{MAX_SUBACCOUNT}", id="subaccount-number", restrict=r"[0-9]*",
                            max_length=3)

    def on_mount(self) -> None:
        self.query_one("#subaccount-number", Input).focus()
        self.fetch()

    @work(exclusive=True, thread=True)
    def fetch(self) -> None:
        balances = self._read()
        if balances is not None:
            _from_worker(self, lambda: self.show(balances))

    def show(self, balances: dict[int, int]) -> None:
        self.balances = balances
        held = ", ".join(f"{number} ({format_usd(amount)} USDC)" for number, amount in sorted(balances.items()))
        self.query_one("#subaccount-balances", Static).update(
            f"Trading on subaccount {self.current}. Holding collateral: {held or 'none'}.")

    @on(Input.Submitted, "#subaccount-number")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            number = parse_subaccount(event.value)
        except ValueError as error:
            self.app.notify(str(error), title="Subaccount", severity="warning")
            return
        self.dismiss(number)


class BridgeScreen(ModalScreen[None]):
    """Deposit from the key's Ethereum address into this subaccount, or withdraw free collateral to
    it; every transfer this terminal started, with its stage until final. Esc closes (transfers go
    on and notify)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
    ]

    class Requested(Message):
        def __init__(self, kind: str, amount: int) -> None:
            super().__init__()
            self.kind, self.amount = kind, amount

    def __init__(self, read_wallet: Callable[[], str], transfers: Sequence[BridgeTransfer]) -> None:
        """`read_wallet`: the line on the key's USDC on both sides; `transfers`: the app's, which
        it redraws with `show_transfers` as they move."""
        super().__init__()
        self.wallet_line = ""
        self.transfers = transfers
        self._read_wallet = read_wallet

    def compose(self) -> ComposeResult:
        with Vertical(id="bridge-box") as box:
            box.border_title = "Bridge — USDC between Ethereum and perpchain"
            box.border_subtitle = "Enter deposits · Esc closes"
            yield Static("reading balances…", id="bridge-wallet")
            with Horizontal(classes="form-row"):
                yield Label("Amount", classes="form-label")
                yield Input(placeholder="USDC", id="bridge-amount", restrict=r"[0-9.]*")
            with Horizontal(classes="form-row"):
                yield Button("Deposit", id="bridge-deposit", variant="success")
                yield Button("Withdraw", id="bridge-withdraw", variant="warning")
            yield Static("", id="bridge-transfers")

    def on_mount(self) -> None:
        self.query_one("#bridge-amount", Input).focus()
        self.show_transfers()
        self.read_wallet()

    @work(exclusive=True, thread=True)
    def read_wallet(self) -> None:
        """Again after each transfer ends: both balances moved."""
        line = self._read_wallet()
        _from_worker(self, lambda: self._show_wallet(line))

    def _show_wallet(self, line: str) -> None:
        self.wallet_line = line
        self.query_one("#bridge-wallet", Static).update(line)

    def show_transfers(self) -> None:
        lines = [t.line() for t in reversed(self.transfers)] or ["no transfers yet"]
        self.query_one("#bridge-transfers", Static).update("\n".join(lines))

    @on(Input.Submitted, "#bridge-amount")
    @on(Button.Pressed, "#bridge-deposit")
    def _deposit(self, event: Message) -> None:
        self._request("deposit", event)

    @on(Button.Pressed, "#bridge-withdraw")
    def _withdraw(self, event: Message) -> None:
        self._request("withdrawal", event)

    def _request(self, kind: str, event: Message) -> None:
        event.stop()
        amount_input = self.query_one("#bridge-amount", Input)
        try:
            amount = parse_decimal(amount_input.value.strip(), 6, "amount")
        except ValueError as error:
            self.app.notify(str(error), title="Bridge", severity="warning")
            return
        if amount <= 0:
            self.app.notify("enter an amount of USDC above zero", title="Bridge", severity="warning")
            return
        amount_input.value = ""
        self.post_message(self.Requested(kind, amount))


class EscapeScreen(ModalScreen[None]):
    """The way out if the chain stops: the latest anchor, its age, what it holds for you, and
    where your proof is saved (client/anchor.py escape_summary). Esc, q or e closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,e", "dismiss", "Close"),
    ]

    def __init__(self, read: Callable[[], str]) -> None:
        """`read`: the screen's text (escape_text), which saves the proof on the way."""
        super().__init__()
        self._read = read

    def compose(self) -> ComposeResult:
        with Vertical(id="escape-box") as box:
            box.border_title = "Escape hatch"
            box.border_subtitle = "Esc closes"
            yield Static("Asking the chain for its latest anchor…", id="escape-text")

    def on_mount(self) -> None:
        self.fetch()

    @work(exclusive=True, thread=True)
    def fetch(self) -> None:
        text = self._read()
        _from_worker(self, lambda: self.query_one("#escape-text", Static).update(text))


def escape_text(summary: "object | None", claimable_usdc: str, error: str = "") -> str:
    """The screen's words for an EscapeSummary (None: no anchor yet)."""
    if error:
        return f"Could not read the anchor: {error}"
    if summary is None:
        return "This chain has not anchored its balances yet (it needs the bridge and an anchor interval)."
    nonce, height, age_ms, path = (getattr(summary, name) for name in ("anchor_nonce", "anchor_height", "age_ms",
                                                                       "proof_path"))
    lines = [f"Latest anchor: #{nonce} of height {height}, {age_ms // 1000} s old (chain clock).",
             f"Claimable in it: {claimable_usdc} USDC."]
    if path is None:
        lines.append("Nothing to claim, so no proof to keep.")
    else:
        lines += [f"Your proof is saved in {path}.",
                  "If the chain stops: wait for the vault's freeze period, `perpchain freeze`, then "
                  f"`perpchain exit --key KEY --proof {path}` (docs/anchoring.md)."]
    return "\n".join(lines)
