"""The trading terminal, headless (Textual's run_test and Pilot), against a real one-validator chain:
orders typed on the keyboard reach the book, fills show up as positions and notifications, the
chain's rejections are shown with their code and log, and a node that goes away and comes back
is shown and recovered from."""

from __future__ import annotations

import asyncio
import io
import time
from typing import Awaitable, Callable

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input

from client import PlaceOrder, Side, SubaccountId, TimeInForce, TrustRoot, address_to_hex
from tests.harness import LocalChain
from tui.app import TradingApp
from tui.model import what_if_line
from tui.screens import HelpScreen, SubaccountScreen
from tui.widgets import AccountPanel, BookLadder, Choice, OrdersTable, PositionsTable, StatusBar

pytestmark = pytest.mark.integration

SIZE = (170, 50)
BTC = 1


def run(app: TradingApp, scenario: Callable[[TradingApp, Pilot[None]], Awaitable[None]]) -> None:
    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.book is not None and app.connected is True, "the first book")
            await scenario(app, pilot)

    asyncio.run(main())


async def until(pilot: Pilot[None], predicate: Callable[[], object], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"the terminal never showed {what}")
        await pilot.pause(0.05)


def ladder_text(app: TradingApp) -> str:
    return str(app.query_one(BookLadder).render())


def account_panel_lines(app: TradingApp) -> list[str]:
    """The account panel's rows as drawn (label and value), trailing spaces stripped."""
    console = Console(width=44, file=io.StringIO(), record=True, color_system=None)
    console.print(app.query_one(AccountPanel).content)
    return [" ".join(line.split()) for line in console.export_text().splitlines()]


def notices(app: TradingApp, severity: str | None = None) -> str:
    return "\n".join(f"{title}: {message}" for kind, title, message in app.notices if severity in (None, kind))


async def type_order(pilot: Pilot[None], side_key: str, price: str, size: str) -> None:
    """b or s, then the price, Tab to the size, Enter: the keyboard path of a limit order."""
    await pilot.press(side_key, *list(price), "tab", *list(size), "enter")


def test_limit_order_typed_on_the_keyboard_rests_in_open_orders_and_the_ladder_then_cancels(
        chain: LocalChain) -> None:
    alice = chain.keys[0]
    app = TradingApp(chain.rpc_url, alice, market="BTC-USD")

    async def scenario(app: TradingApp, pilot: Pilot[None]) -> None:
        await type_order(pilot, "b", "64000", "0.01")
        await until(pilot, lambda: len(app.orders) == 1, "the open order")
        (order,) = app.orders
        assert (order.market_id, order.side, order.price, order.size) == (BTC, Side.BUY, 64_000_000_000, 100)
        table = app.query_one(OrdersTable)
        assert [str(cell) for cell in table.get_row_at(0)][:4] == ["BTC-USD", "BUY", "64,000.0", "0.010"]
        await until(pilot, lambda: app.book is not None and app.book.best_bid == 64_000_000_000, "the bid")
        await until(pilot, lambda: "▸    64,000.0" in ladder_text(app), "the own-order marker in the ladder")
        await until(pilot, lambda: "Order accepted" in notices(app), "the acceptance")  # the block's answer

        await pilot.press("escape", "o", "c")  # leave the form, focus open orders, cancel the highlighted
        await until(pilot, lambda: not app.orders, "the order gone from open orders")
        await until(pilot, lambda: app.book is not None and not app.book.bids, "the bid gone from the book")
        await until(pilot, lambda: "64,000.0" not in ladder_text(app), "the ladder without the bid")
        await until(pilot, lambda: "1 order cancelled" in notices(app), "the cancel's confirmation")

    run(app, scenario)


def test_crossing_order_fills_shows_the_position_the_notification_and_closes(chain: LocalChain) -> None:
    alice, bob, _ = chain.keys
    with chain.client() as client:
        client.place(bob, PlaceOrder(0, BTC, Side.SELL, 65_000_000_000, 100))
        client.place(bob, PlaceOrder(0, BTC, Side.BUY, 64_900_000_000, 100))
    app = TradingApp(chain.rpc_url, alice, market="BTC-USD")
    bob_owner = f"{address_to_hex(bob.address).lower()}/0"

    async def scenario(app: TradingApp, pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.book is not None and app.book.best_ask == 65_000_000_000, "bob's ask")
        await pilot.press("b", *"65000", "tab", *"0.004")  # the ticket, not sent yet: the chain's what-if
        with chain.client() as client:
            answer = client.what_if(address_to_hex(alice.address).lower(),
                                    PlaceOrder(0, BTC, Side.BUY, 65_000_000_000, 40))
        expected = what_if_line(app.markets[BTC], answer).split(" · free")[0]  # free collateral moves
        assert expected == "chain: fills 0.004 @ 65,000.0 · fee 0.13 · position +0.004"  # with the oracle
        await until(pilot, lambda: expected in str(app.query_one("#preview").render()), "the what-if preview")
        assert " · liq " in str(app.query_one("#preview").render())
        assert app.account is not None and not app.account.positions  # a preview sends nothing
        await pilot.press("enter")
        await until(pilot, lambda: app.account is not None and app.account.positions, "the position")
        (position,) = app.account.positions
        assert (position.ticker, position.size, position.entry_price) == ("BTC-USD", 40, 65_000_000_000)
        row = [str(cell) for cell in app.query_one(PositionsTable).get_row_at(0)]
        assert row[:4] == ["BTC-USD", "LONG", "0.004", "65,000.0"]
        await until(pilot, lambda: "Fill BTC-USD: Bought 0.004 BTC @ 65,000.0 (taker" in notices(app),
                    "the fill notification")
        await until(pilot, lambda: any(t.taker != bob_owner for t in app.trades.get(BTC, [])), "the trade")
        assert app.book is not None and app.book.asks[0].size == 60  # bob's ask, 0.006 left

        await pilot.press("escape", "p", "x")  # close: reduce-only IOC into bob's bid
        await until(pilot, lambda: app.account is not None and not app.account.positions, "the position closed")
        await until(pilot, lambda: "Sold 0.004 BTC @ 64,900.0 (taker" in notices(app), "the closing fill")

    run(app, scenario)


def test_rejected_order_shows_the_chains_code_and_log(chain: LocalChain) -> None:
    app = TradingApp(chain.rpc_url, chain.keys[0], market="BTC-USD")

    async def scenario(app: TradingApp, pilot: Pilot[None]) -> None:
        await type_order(pilot, "b", "65000.05", "0.01")
        preview = str(app.query_one("#preview").render())
        assert "off the 0.1 tick" in preview  # warned, but the chain has the last word
        await until(pilot, lambda: notices(app, "error"), "the rejection")
        rejection = notices(app, "error")
        assert "Rejected by the chain" in rejection
        assert "code 300 (orderbook): PriceOffTick" in rejection and "100000" in rejection
        assert not app.orders

    run(app, scenario)


def test_node_going_away_shows_disconnected_then_recovers_by_itself(chain: LocalChain) -> None:
    app = TradingApp(chain.rpc_url, chain.keys[0], market="BTC-USD")

    async def scenario(app: TradingApp, pilot: Pilot[None]) -> None:
        await asyncio.to_thread(chain.stop_cometbft)
        await until(pilot, lambda: app.connected is False, "the disconnected state")
        status = str(app.query_one(StatusBar).render())
        assert "DISCONNECTED" in status and "reconnecting" in status
        assert app.screen.has_class("offline")
        assert "Node disconnected" in notices(app, "warning")
        stalled_at = app.height

        await asyncio.to_thread(chain.start_cometbft)
        await until(pilot, lambda: app.connected is True, "the reconnection", timeout_s=60)
        await until(pilot, lambda: app.height > stalled_at + 2, "new blocks after the restart", timeout_s=60)
        assert "DISCONNECTED" not in str(app.query_one(StatusBar).render())
        assert not app.screen.has_class("offline")
        assert "Node reconnected" in notices(app)
        await type_order(pilot, "s", "70000", "0.01")  # and it trades again
        await until(pilot, lambda: len(app.orders) == 1, "an order placed after the restart", timeout_s=30)

    run(app, scenario)


def test_read_only_terminal_shows_the_market_and_refuses_to_trade(chain: LocalChain) -> None:
    with chain.client() as client:
        client.place(chain.keys[1], PlaceOrder(0, 2, Side.SELL, 3_300_000_000, 100, TimeInForce.GTC))
    app = TradingApp(chain.rpc_url, None, market="ETH-USD")

    async def scenario(app: TradingApp, pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.book is not None and app.book.best_ask == 3_300_000_000, "the ETH ask")
        assert "3,300.00" in ladder_text(app)
        await pilot.press("escape", "C")
        assert "read-only" in notices(app, "warning")

        ladder = app.query_one(BookLadder)  # a click on a level copies its price into the form
        row = ladder.row_of_price(3_300_000_000)
        assert row is not None
        assert await pilot.click(BookLadder, offset=(5, row + 1))  # + 1: the panel's top border
        assert app.query_one("#price", Input).value == "3300.00"

        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("t")
        assert app.theme == "textual-light"
        await pilot.press("t")
        assert app.theme == "textual-dark"

        await pilot.press("right_square_bracket")
        await until(pilot, lambda: app.selected_id == 3, "SOL-USD selected")
        assert app.query_one(BookLadder).border_title == "Order book SOL-USD"

    run(app, scenario)


# A buy stop fires when the oracle rises to its trigger, a sell take-profit too: side key, the
# limit price, Tab to the trigger, Tab to the size, Enter.
CONDITIONAL_ENTRIES = [
    ("stop", "b", "71000", "70000", "Stop armed", ("stop_limit", "buy", "70000000000", "71000000000", "100")),
    ("take-profit", "s", "71900", "72000", "Take-profit armed",
     ("take_profit_limit", "sell", "72000000000", "71900000000", "100")),
]


@pytest.mark.parametrize("kind, side_key, limit, trigger, notice, expected", CONDITIONAL_ENTRIES,
                         ids=[entry[0] for entry in CONDITIONAL_ENTRIES])
def test_a_conditional_typed_on_the_keyboard_is_armed_on_chain(chain: LocalChain, kind: str, side_key: str,
                                                               limit: str, trigger: str, notice: str,
                                                               expected: tuple[str, ...]) -> None:
    alice = chain.keys[0]
    app = TradingApp(chain.rpc_url, alice, market="BTC-USD")

    async def scenario(app: TradingApp, pilot: Pilot[None]) -> None:
        app.query_one("#order-form").query_one("#kind", Choice).select(kind)
        await pilot.press("escape", side_key, *list(limit), "tab", *list(trigger), "tab", *list("0.01"), "enter")
        await until(pilot, lambda: notice in notices(app), "the acceptance")
        with chain.client() as client:
            [resting] = client.conditionals(address_to_hex(alice.address))
        assert (resting["kind"], resting["side"], resting["trigger_price"], resting["limit_price"],
                resting["size"]) == expected
        assert not app.orders  # nothing on the book until it fires

    run(app, scenario)


def test_switching_subaccount_shows_its_account_and_orders_land_on_it(chain: LocalChain) -> None:
    alice = chain.keys[0]
    address = address_to_hex(alice.address).lower()
    with chain.client() as client:  # subaccount 3 gets 250 of alice's 1,000 USDC
        client.transfer(alice, SubaccountId(alice.address, 3), 250_000_000)
    app = TradingApp(chain.rpc_url, alice, market="BTC-USD")

    async def scenario(app: TradingApp, pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.account is not None, "subaccount 0's account")
        assert app.account is not None and app.account.equity == 750_000_000
        shown = app.active_bindings["a"].binding
        assert (shown.description, shown.show) == ("Subaccount", True)  # in the footer

        await pilot.press("escape", "a")  # the next subaccount holding collateral after 0
        await until(pilot, lambda: app.subaccount == 3 and app.account is not None, "subaccount 3's account")
        account = app.account
        assert account is not None
        assert (account.collateral, account.equity, account.free_collateral) == (250_000_000,) * 3
        lines = account_panel_lines(app)
        for row in ("Collateral 250.00", "Equity 250.00", "Free collateral 250.00", "Leverage 0.00x"):
            assert row in lines
        assert any(line.startswith("Margin used") and line.endswith(" 0%") for line in lines)
        assert app.query_one(AccountPanel).border_title == "Account · subaccount 3"
        assert str(app.query_one(StatusBar).render()).rstrip().endswith("/3")
        assert "Subaccount: Trading on subaccount 3 (250.00 USDC collateral)" in notices(app)

        await type_order(pilot, "b", "64000", "0.01")
        await until(pilot, lambda: len(app.orders) == 1, "the open order on subaccount 3")
        await until(pilot, lambda: "subaccount 3 ·" in notices(app), "the acceptance")
        with chain.client() as client:
            [order] = client.orders(address, 3)
            assert client.orders(address, 0) == []
            remaining = client.positions(address, 3)
        assert (order["subaccount"], order["side"], order["price"], order["size"]) == (3, "buy", "64000000000", "100")
        assert int(remaining["free_collateral_micro_usdc"]) < 250_000_000  # the bid holds margin there
        await until(pilot, lambda: app.account is not None and app.account.free_collateral < 250_000_000,
                    "subaccount 3's free collateral under the bid")

        await pilot.press("escape", "A")  # back to 0, by number
        assert isinstance(app.screen, SubaccountScreen)
        await until(pilot, lambda: "3 (250.00 USDC)" in str(app.screen.query_one("#subaccount-balances").render()),
                    "the subaccounts holding collateral")
        await pilot.press("0", "enter")
        await until(pilot, lambda: app.subaccount == 0 and app.account is not None, "subaccount 0 again")
        assert not isinstance(app.screen, SubaccountScreen)
        assert app.account is not None and app.account.equity == 750_000_000 and not app.orders
        assert "Equity 750.00" in account_panel_lines(app)
        assert app.query_one(OrdersTable).row_count == 0

    run(app, scenario)


def test_verifying_terminal_shows_the_collateral_proven_and_says_when_a_proof_fails(chain: LocalChain) -> None:
    alice = chain.keys[0]

    async def proven(app: TradingApp, pilot: Pilot[None]) -> None:
        await until(pilot, lambda: any(line.startswith("Proven @") for line in account_panel_lines(app)),
                    "the proven collateral")
        [line] = [line for line in account_panel_lines(app) if line.startswith("Proven @")]
        assert line.endswith(" 1,000.00") and "Collateral 1,000.00" in account_panel_lines(app)

    run(TradingApp(chain.rpc_url, alice, market="BTC-USD", verify=TrustRoot()), proven)

    async def refused(app: TradingApp, pilot: Pilot[None]) -> None:
        await until(pilot, lambda: "Collateral not verified" in notices(app, "error"), "the refusal")
        assert "the trusted hash is" in notices(app, "error")
        assert not any(line.startswith("Proven @") for line in account_panel_lines(app))

    wrong_root = TrustRoot(1, bytes(32))  # a hash this chain's first header does not have
    run(TradingApp(chain.rpc_url, alice, market="BTC-USD", verify=wrong_root), refused)
