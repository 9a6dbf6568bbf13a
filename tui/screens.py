"""Screens over the trading view: the key bindings help."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: tuple[tuple[str, str, str], ...] = (
    ("Anywhere", "b / s", "buy / sell: pick the side and jump to the order form"),
    ("", "[ / ]", "previous / next market (or ↑/↓ in the market list)"),
    ("", "m / o / p", "focus markets / open orders / positions"),
    ("", "i", "cycle the chart interval (5s, 15s, 1m, 5m, 15m, 1h)"),
    ("", "C", "cancel every open order of the subaccount"),
    ("", "t", "light / dark theme"),
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
