"""`perpchain tui --localnet` (what `make run` runs): the localnet with its bridge, the market
maker and the terminal in one command.

Joins the localnet at ROOT if one is running, else creates or resumes it (new ones with the
Ethereum side: anvil, the vault and one relayer per validator) and supervises it for the session
with an indexer following node0 into ROOT/indexer/indexer.db (docs/indexer.md);
quotes every market with the faucet key (the market maker runs in this process); opens the
terminal on a trader key kept at ROOT/keys/trader.json, funded from the faucet the first time on
perpchain and, with the bridge, with TestUSDC and gas on Ethereum so it can deposit. Quitting the
terminal cancels the quotes and stops what this command started.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from bridge.localnet import LocalBridge, fund_on_ethereum
from client import Client, PrivateKey, SubaccountId, load_key, save_key
from localnet.commands import LocalnetError, running_supervisor, wait_for_blocks
from localnet.create import create_or_resume
from localnet.layout import LocalnetConfig
from localnet.market_maker import MakerConfig, MarketMaker
from localnet.supervisor import Supervisor
from tui.app import TradingApp

TRADER_USDC = 10_000
TRADER_ETHEREUM_USDC = 5_000


def trader_key(root: Path, faucet: PrivateKey, rpc_url: str) -> PrivateKey:
    """The session's trading key; funded with TRADER_USDC from the faucet while it holds nothing."""
    path = root / "keys" / "trader.json"
    if not path.exists():
        save_key(PrivateKey.generate(), path)
    key = load_key(path)
    with Client(rpc_url) as client:
        if client.balance("0x" + key.address.hex()).amount_micro_usdc == 0:
            client.transfer(faucet, SubaccountId(key.address, 0), TRADER_USDC * 1_000_000)
    return key


def run_local_session(root: Path, cometbft: Path, project_root: Path, config: LocalnetConfig = LocalnetConfig(),
                      maker_config: MakerConfig = MakerConfig(),
                      run_app: Callable[[TradingApp], object] = TradingApp.run, bridge: bool = True) -> int:
    """Returns when the terminal quits. `run_app` runs the terminal (tests run it headless)."""
    layout, _ = create_or_resume(root, config, cometbft, bridge=bridge)
    supervisor = None
    if running_supervisor(layout) is None:
        supervisor = Supervisor(layout, cometbft, project_root, indexer_db=layout.indexer_db_url)
        supervisor.start()
    stop = threading.Event()
    thread = None
    maker_log = open(layout.root / "logs" / "market-maker.log", "a")

    def log_maker_line(line: str) -> None:
        maker_log.write(line + "\n")
        maker_log.flush()

    maker_client: Client | None = None
    try:
        wait_for_blocks(layout)
        rpc_url = layout.nodes[0].rpc_url
        faucet = load_key(layout.faucet_key)
        key = trader_key(root, faucet, rpc_url)
        ethereum = LocalBridge.of(root)
        if ethereum is not None:
            fund_on_ethereum(ethereum, key.address, TRADER_ETHEREUM_USDC)
        maker_client = Client(rpc_url, timeout_s=5.0)
        maker = MarketMaker(maker_client, faucet, maker_config, emit=log_maker_line)
        thread = threading.Thread(target=maker.run, args=(stop,), name="market-maker", daemon=True)
        thread.start()
        run_app(TradingApp(rpc_url, key, eth_rpc=ethereum.eth_rpc if ethereum is not None else None))
    except LocalnetError as error:
        print(f"[localnet] {error}")
        return 1
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=30)  # the maker cancels its quotes on the way out
        if maker_client is not None:
            maker_client.close()
        maker_log.close()
        if supervisor is not None:
            print("[localnet] stopping")
            supervisor.stop()
    return 0
