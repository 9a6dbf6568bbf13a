"""`perpchain`: node, genesis, localnet, keys, tx, query, bench. Each subcommand has --help."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from client.amounts import format_usdc, parse_usdc

DEFAULT_NODE = os.environ.get("PERPCHAIN_NODE", "http://127.0.0.1:26601")  # the localnet's node0
PROJECT_ROOT = Path(__file__).resolve().parent.parent
COMETBFT = PROJECT_ROOT / "bin" / "cometbft"
DEFAULT_LOCALNET = Path(os.environ.get("PERPCHAIN_LOCALNET", PROJECT_ROOT / ".data" / "localnet"))


def _subaccount(text: str) -> tuple[str, int]:
    """`0xADDRESS` or `0xADDRESS/N`."""
    address, _, number = text.partition("/")
    return address, int(number) if number else 0


def cmd_node(args: argparse.Namespace) -> int:
    from app.node import run

    return run(Path(args.data), args.abci, args.log_level, args.metrics)


def cmd_genesis(args: argparse.Namespace) -> int:
    from genesis import cli as genesis_cli

    return genesis_cli.run(args, COMETBFT)


def cmd_localnet(args: argparse.Namespace) -> int:
    from localnet import commands
    from localnet.layout import LocalnetConfig

    root = Path(args.root)
    try:
        if args.localnet_command == "up":
            config = LocalnetConfig(validators=args.validators, block_time_ms=args.block_time,
                                    chain_id=args.chain_id, port_base=args.port_base)
            return commands.up(root, config, Path(args.cometbft), PROJECT_ROOT, args.detach)
        if args.localnet_command == "supervise":
            return commands.supervise(root, Path(args.cometbft), PROJECT_ROOT)
        if args.localnet_command == "down":
            return commands.down(root)
        if args.localnet_command == "status":
            commands.print_status(commands.status(root), args.json)
            return 0
        if args.localnet_command == "reset":
            return commands.reset(root)
        return commands.logs(root, args.node, args.lines, args.follow)
    except commands.LocalnetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def cmd_keys(args: argparse.Namespace) -> int:
    from client import PrivateKey, address_to_hex, load_key, save_key

    path = Path(args.file)
    if args.keys_command == "new":
        key = PrivateKey.generate()
        save_key(key, path)
    elif args.keys_command == "import":
        secret = sys.stdin.readline().strip() if args.hex == "-" else args.hex
        key = PrivateKey.from_hex(secret)
        save_key(key, path)
    else:
        key = load_key(path)
    print(address_to_hex(key.address))
    return 0


def cmd_tx(args: argparse.Namespace) -> int:
    from client import ChainRejected, Client, ClientError, SubaccountId, address_from_hex, load_key

    key = load_key(Path(args.key))
    address, number = _subaccount(args.to)
    try:
        with Client(args.node) as client:
            result = client.transfer(
                key,
                SubaccountId(address_from_hex(address), number),
                parse_usdc(args.amount),
                from_subaccount=args.from_subaccount,
            )
    except ChainRejected as rejected:
        print(f"rejected: {rejected}", file=sys.stderr)
        return 2
    except ClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"tx_hash": result.tx_hash, "height": result.height}))  # type: ignore[union-attr]
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from client import ChainRejected, Client, ClientError

    try:
        with Client(args.node) as client:
            if args.query_command == "balance":
                address, number = _subaccount(args.subaccount)
                balance = client.balance(address, number)
                print(json.dumps({
                    "address": balance.address,
                    "subaccount": balance.subaccount,
                    "amount_micro_usdc": str(balance.amount_micro_usdc),
                    "amount_usdc": format_usdc(balance.amount_micro_usdc),
                }))
            else:
                print(json.dumps(client.query(args.path), indent=2))
    except ChainRejected as rejected:
        print(f"rejected: {rejected}", file=sys.stderr)
        return 2
    except ClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from app.bench import run_benchmark

    return run_benchmark(args.name, args.size)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perpchain", description="perpetual futures chain on CometBFT")
    commands = parser.add_subparsers(dest="command", required=True)

    node = commands.add_parser("node", help="serve the ABCI application to a cometbft process")
    node.add_argument("--data", required=True, help="LevelDB directory of this node's state")
    node.add_argument("--abci", default="tcp://127.0.0.1:26658", help="tcp://HOST:PORT or unix:///PATH")
    node.add_argument("--log-level", default="INFO")
    node.add_argument("--metrics", metavar="HOST:PORT", help="serve Prometheus metrics here (default: off)")
    node.set_defaults(func=cmd_node)

    from genesis.cli import add_parser as add_genesis_parser

    add_genesis_parser(commands, COMETBFT).set_defaults(func=cmd_genesis)

    localnet = commands.add_parser("localnet", help="N validators on this machine: up, down, status, reset, logs")
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--root", default=str(DEFAULT_LOCALNET), help="where the localnet lives (%(default)s)")
    where.add_argument("--cometbft", default=str(COMETBFT), help=argparse.SUPPRESS)
    localnet_commands = localnet.add_subparsers(dest="localnet_command", required=True,
                                                metavar="{up,down,status,reset,logs}")
    up = localnet_commands.add_parser("up", parents=[where], help="create (once) and start the localnet; Ctrl-C stops it")
    up.add_argument("--validators", type=int, default=4)
    up.add_argument("--block-time", type=int, default=200, metavar="MS", help="CometBFT timeout_commit (ms)")
    up.add_argument("--port-base", type=int, default=26600, help="node i uses PORT_BASE+10i .. +4")
    up.add_argument("--chain-id", default="perpchain-localnet")
    up.add_argument("--detach", action="store_true", help="leave it running in the background")
    localnet_commands.add_parser("down", parents=[where], help="stop a detached localnet")
    status = localnet_commands.add_parser("status", parents=[where],
                                          help="height, app hash, peers, power, sync, liveness per node")
    status.add_argument("--json", action="store_true")
    localnet_commands.add_parser("reset", parents=[where], help="wipe the localnet's keys, chain and logs")
    logs = localnet_commands.add_parser("logs", parents=[where], help="show a node's app and cometbft logs")
    logs.add_argument("node", help="node0, node1, ... or the index")
    logs.add_argument("-n", "--lines", type=int, default=40)
    logs.add_argument("-f", "--follow", action="store_true")
    localnet_commands.add_parser("supervise", parents=[where])
    localnet.set_defaults(func=cmd_localnet)

    keys = commands.add_parser("keys", help="create, import or show a key file")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    for name, help_text in (("new", "generate a key"), ("show", "print a key's address")):
        sub = key_commands.add_parser(name, help=help_text)
        sub.add_argument("file")
    imported = key_commands.add_parser("import", help="store an existing hex private key ('-' reads stdin)")
    imported.add_argument("file")
    imported.add_argument("hex")
    keys.set_defaults(func=cmd_keys)

    tx = commands.add_parser("tx", help="sign and broadcast a transaction, wait for its block")
    tx_commands = tx.add_subparsers(dest="tx_command", required=True)
    transfer = tx_commands.add_parser("transfer", help="move USDC between subaccounts")
    transfer.add_argument("--key", required=True, help="key file of the sender")
    transfer.add_argument("--to", required=True, metavar="0xADDR[/N]")
    transfer.add_argument("--amount", required=True, help="USDC, up to 6 decimals")
    transfer.add_argument("--from-subaccount", type=int, default=0)
    transfer.add_argument("--node", default=DEFAULT_NODE)
    tx.set_defaults(func=cmd_tx)

    query = commands.add_parser("query", help="read chain state")
    query_commands = query.add_subparsers(dest="query_command", required=True)
    balance = query_commands.add_parser("balance", help="a subaccount's collateral")
    balance.add_argument("subaccount", metavar="0xADDR[/N]")
    balance.add_argument("--node", default=DEFAULT_NODE)
    raw = query_commands.add_parser("path", help="any abci_query path (docs/queries.md)")
    raw.add_argument("path")
    raw.add_argument("--node", default=DEFAULT_NODE)
    query.set_defaults(func=cmd_query)

    bench = commands.add_parser("bench", help="run a benchmark; its last line is a JSON object of figures")
    bench.add_argument("name", choices=["checktx", "engine"])
    bench.add_argument("--size", type=int, default=0, help="work size (0: the benchmark's default)")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, FileExistsError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
