"""The `perpchain tui`, `perpchain mm` and `perpchain bench tui` entry points, for perpchain/cli.py
to register (it stays the one dispatcher)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from client.arguments import subaccount_number
from client.proof_arguments import add_proof_options, trust_root
from perpchain.paths import COMETBFT, DEFAULT_LOCALNET, PROJECT_ROOT


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser], default_node: str) -> None:
    """Register `tui` and `mm` on perpchain's subcommands."""
    from localnet.market_maker import add_arguments as add_maker_arguments

    tui = commands.add_parser("tui", help="the trading terminal (markets, book, orders, positions)")
    tui.add_argument("--node", default=default_node, help="RPC URL of a node (%(default)s)")
    tui.add_argument("--key", help="key file to trade with (without: read-only)")
    tui.add_argument("--subaccount", type=subaccount_number, default=0, help="subaccount number 0-127 (%(default)s)")
    tui.add_argument("--market", help="market to open on, ticker or id (default: the first)")
    tui.add_argument("--eth-rpc", help="Ethereum JSON-RPC for deposits and withdrawals (d); --localnet sets it")
    tui.add_argument("--localnet", action="store_true",
                     help="start (or join) the localnet, run the market maker, trade with a funded key (make run)")
    tui.add_argument("--no-takers", dest="takers", action="store_false",
                     help="with --localnet: no taker trading against the market maker (quotes only)")
    tui.add_argument("--api", help="the read API's URL, for history (chart, fills, funding); --localnet sets it")
    tui.add_argument("--root", default=str(DEFAULT_LOCALNET), help="the localnet's folder with --localnet")
    tui.add_argument("--verify", action="store_true",
                     help="also show the collateral proven against headers its validators signed (docs/tui.md)")
    add_proof_options(tui, flag=False)
    tui.set_defaults(func=run_tui)

    mm = commands.add_parser("mm", help="market maker: quote every market around its mark until Ctrl-C")
    add_maker_arguments(mm, default_node)
    mm.set_defaults(func=run_mm)


def run_tui(args: argparse.Namespace) -> int:
    from client import load_key
    from tui.app import TradingApp

    if not 0 <= args.subaccount <= 127:
        raise ValueError(f"--subaccount must be 0..127, got {args.subaccount}")
    # the client logs reconnects as warnings: on stderr they would scribble over the screen
    quiet = logging.getLogger("perpchain")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    if args.localnet:
        from perpchain.session import run_local_session

        return run_local_session(Path(args.root), COMETBFT, PROJECT_ROOT, takers=args.takers)
    key = load_key(Path(args.key)) if args.key else None
    TradingApp(args.node, key, args.subaccount, args.market, eth_rpc=args.eth_rpc, api_url=args.api,
               verify=trust_root(args) if args.verify else None).run()
    return 0


def run_mm(args: argparse.Namespace) -> int:
    from localnet.market_maker import run_command

    return run_command(args)
