"""The market maker on a real one-validator chain: N post-only levels per side on every market,
re-quotes after fills, inventory limits that hold under a one-sided taker, and the command's
clean exit on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable, Iterator

import pytest
from textual.pilot import Pilot

from client import Client, PlaceOrder, PrivateKey, Side, TimeInForce, address_to_hex, save_key
from localnet.market_maker import MakerConfig, MarketMaker, MarketParams
from tests.harness import ROOT, LocalChain, wait_until

pytestmark = pytest.mark.integration

LEVELS = 3
CONFIG = MakerConfig(levels=LEVELS, spread_bps=10, level_bps=5, size_usdc=100, max_position_usdc=300)


def own_levels(client: Client, market_id: int, owner: str) -> dict[str, list[tuple[int, int]]]:
    book = client.query(f"/book/{market_id}/l3/100")
    return {side: [(int(o["price"]), int(o["size"])) for o in book[side]
                   if f"{o['owner']}/{o['subaccount']}" == owner] for side in ("bids", "asks")}


@pytest.fixture
def running_maker(chain: LocalChain) -> Iterator[tuple[MarketMaker, list[str]]]:
    """A maker quoting from its own thread, and the log lines it has emitted so far."""
    client = Client(chain.rpc_url, timeout_s=5.0)
    lines: list[str] = []
    maker = MarketMaker(client, chain.keys[0], CONFIG, emit=lines.append)
    stop = threading.Event()
    thread = threading.Thread(target=maker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield maker, lines
    finally:
        stop.set()
        thread.join(timeout=30)
        client.close()
    assert not thread.is_alive()


def test_maker_quotes_n_levels_per_side_on_every_market_and_holds_its_inventory_limit(
        chain: LocalChain, running_maker: tuple[MarketMaker, list[str]]) -> None:
    maker, lines = running_maker
    with chain.client() as client:
        markets = {int(m["market_id"]): MarketParams.from_json(m) for m in client.markets()}
        wait_until(lambda: all(len(own_levels(client, m, maker.owner)["bids"]) == LEVELS and
                               len(own_levels(client, m, maker.owner)["asks"]) == LEVELS for m in markets),
                   30, f"{LEVELS} levels per side on every market")
        for market_id, market in markets.items():
            book = client.book(market_id, 10)
            bids, asks = [int(p) for p, _, _ in book["bids"]], [int(p) for p, _, _ in book["asks"]]
            assert len(bids) == len(asks) == LEVELS and bids[0] < asks[0], market.ticker
            assert all(o["post_only"] and o["time_in_force"] == "GTC" for o in client.orders(maker.address))
        wait_until(lambda: len(lines) >= len(markets), 10, "a log line per quoted market")
        assert all(line.startswith("[mm] h") for line in lines)

        # a one-sided taker keeps hitting the bids on BTC: the maker's long stops at its limit
        taker = chain.keys[1]
        btc = markets[1]
        limit_atoms = btc.atoms_for(CONFIG.max_position_usdc * 1_000_000, btc.reference_price)
        for _ in range(8):
            client.place(taker, PlaceOrder(0, 1, Side.SELL, btc.reference_price * 90 // 100 // btc.tick_size
                                           * btc.tick_size, 30, TimeInForce.IOC))
            position = maker_position(client, maker, 1)
            resting_bids = sum(size for _, size in own_levels(client, 1, maker.owner)["bids"])
            assert 0 <= position <= limit_atoms * 11 // 10, (position, limit_atoms)  # the fair price moves a bit
            assert position + resting_bids <= limit_atoms * 11 // 10
        wait_until(lambda: maker_position(client, maker, 1) >= limit_atoms - btc.min_order_size, 20, "the limit")
        wait_until(lambda: not own_levels(client, 1, maker.owner)["bids"], 20, "bids withdrawn at the limit")
        assert len(own_levels(client, 1, maker.owner)["asks"]) == LEVELS  # still offers, leaning lower
        assert maker.stats.rejected == 0


def maker_position(client: Client, maker: MarketMaker, market_id: int) -> int:
    answer = client.positions(maker.address, CONFIG.subaccount)
    return sum(int(p["size"]) for p in answer["positions"] if int(p["market_id"]) == market_id)


def test_mm_command_runs_until_sigterm_then_cancels_its_quotes_and_exits_zero(chain: LocalChain,
                                                                             tmp_path: Path) -> None:
    key: PrivateKey = chain.keys[2]
    key_file = tmp_path / "maker.json"
    save_key(key, key_file)
    owner = f"{address_to_hex(key.address).lower()}/0"
    log = open(tmp_path / "mm.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "localnet.market_maker", "--node", chain.rpc_url, "--key",
                                str(key_file), "--levels", "2", "--size", "100", "--markets", "ETH-USD"],
                               cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        with chain.client() as client:
            wait_until(lambda: len(own_levels(client, 2, owner)["asks"]) == 2, 30, "the command's quotes")
            assert own_levels(client, 1, owner) == {"bids": [], "asks": []}  # only the markets asked for
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
            assert client.orders(owner.split("/")[0]) == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
    output = (tmp_path / "mm.log").read_text()
    assert "ETH-USD" in output and "start" in output and "quotes cancelled" in output and "Traceback" not in output


def test_local_session_starts_the_localnet_and_bridge_quotes_deposits_withdraws_then_stops_everything(
        tmp_path: Path) -> None:
    """`make run`: localnet + anvil + relayer + market maker + taker + indexer + read API + terminal;
    the taker's trades reach the chart through the read API; the trader deposits and withdraws
    through the bridge screen, each followed until final; quitting stops everything."""
    import asyncio

    from localnet.layout import LocalnetConfig
    from perpchain.session import TRADER_ETHEREUM_USDC, run_local_session
    from tests.harness import COMETBFT, free_port_block, processes_mentioning
    from tui.app import TradingApp
    from tui.screens import BridgeScreen

    root = tmp_path / "localnet"
    seen: dict[str, object] = {}

    def headless(app: TradingApp) -> None:
        async def until(pilot: Pilot[None], predicate: Callable[[], object], what: str, timeout_s: float = 60) -> None:
            deadline = asyncio.get_running_loop().time() + timeout_s
            while not predicate():
                assert asyncio.get_running_loop().time() < deadline, f"the terminal never showed {what}"
                await pilot.pause(0.1)

        def wallet() -> str:
            return app.screen.wallet_line if isinstance(app.screen, BridgeScreen) else ""

        async def drive() -> None:
            async with app.run_test(size=(170, 50)) as pilot:
                await until(pilot, lambda: app.book is not None and app.book.bids and app.book.asks
                            and app.account is not None, "quotes and the account")
                assert app.account is not None
                collateral = seen["collateral"] = app.account.collateral
                await until(pilot, lambda: any(app.stored_candles.get(app.selected_id, {}).get("1m", {}).values()),
                            "the taker's trades in the read API's candles")
                seen["history_ok"] = app.history_ok
                await pilot.press("escape", "o", "d")  # out of the order form, then the bridge screen
                await until(pilot, lambda: "USDC ·" in wallet(), "the bridge screen with the wallet")
                seen["wallet"] = wallet()
                await pilot.press(*"25", "enter")  # deposit 25 USDC from Ethereum
                await until(pilot, lambda: app.transfers and app.transfers[0].final, "the deposit credited")
                await until(pilot, lambda: app.account is not None and app.account.collateral
                            == collateral + 25_000_000, "the credited collateral")
                await pilot.press(*"10")
                await pilot.click("#bridge-withdraw")
                await until(pilot, lambda: len(app.transfers) == 2 and app.transfers[1].final, "the withdrawal paid")
                seen["transfers"] = [(t.kind, t.amount, t.number, t.stage.split(" at block")[0], t.failed)
                                     for t in app.transfers]
                shown = lambda: str(app.screen.query_one("#bridge-transfers").render())  # noqa: E731
                await until(pilot, lambda: "✓ withdrawal #1" in shown(), "the withdrawal's line redrawn")
                seen["screen"] = shown()
                await until(pilot, lambda: f"{TRADER_ETHEREUM_USDC - 15:,}.00 USDC" in wallet(), "the wallet after both")

        asyncio.run(drive())

    config = LocalnetConfig(validators=1, block_time_ms=100, port_base=free_port_block(11))  # node0's, the API's
    code = run_local_session(root, COMETBFT, ROOT, config, MakerConfig(levels=2, size_usdc=200), headless)
    assert code == 0
    assert seen["collateral"] == 10_000_000_000 and seen["history_ok"] is True
    assert f"{TRADER_ETHEREUM_USDC:,}.00 USDC" in str(seen["wallet"])
    assert seen["transfers"] == [("deposit", 25_000_000, 1, "credited on chain", False),
                                 ("withdrawal", 10_000_000, 1, "paid on Ethereum", False)]
    assert "✓ withdrawal #1 10.00 USDC — paid on Ethereum" in str(seen["screen"])
    assert (root / "keys" / "trader.json").exists() and (root / "keys" / "taker.json").exists()
    assert "[mm] h" in (root / "logs" / "market-maker.log").read_text()
    assert processes_mentioning(str(root)) == []
