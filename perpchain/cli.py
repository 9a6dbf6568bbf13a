"""`perpchain`: node, genesis, localnet, keys, tx, query, api, schema, bench. Each subcommand has --help."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from client.amounts import format_usdc, parse_decimal, parse_usdc
from client.arguments import port, subaccount_number, subaccount_ref, uint_arg
from client.proof_arguments import add_proof_options, trust_root
from modules.integers import I64_MAX, U32_MAX
from perpchain import orders_cli, staking_cli
from perpchain.paths import COMETBFT, DEFAULT_LOCALNET, PROJECT_ROOT

if TYPE_CHECKING:  # imported where used: a command loads only what it needs
    from client import Client, PrivateKey

DEFAULT_NODE = os.environ.get("PERPCHAIN_NODE", "http://127.0.0.1:26601")  # the localnet's node0
DEFAULT_INDEXER_DB = f"sqlite:///{PROJECT_ROOT / '.data' / 'indexer.db'}"  # `perpchain indexer` writes it, `api` reads it


def add_node_options(parser: argparse.ArgumentParser) -> None:
    """The options of `perpchain node` (a test-only node of the integration tests takes them too)."""
    parser.add_argument("--data", required=True, help="LevelDB directory of this node's state")
    parser.add_argument("--abci", default="tcp://127.0.0.1:26658", help="tcp://HOST:PORT or unix:///PATH")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--metrics", metavar="HOST:PORT", help="serve Prometheus metrics here (default: off)")
    parser.add_argument("--price-source", default="none",
                        help="this validator's oracle prices: sim:SEED, file:PATH, http(s)://URL or none (docs/oracle.md)")
    parser.add_argument("--proof-versions", type=uint_arg("--proof-versions", 1, 100_000), metavar="N",
                        help="keep the state of the last N committed heights readable for /store queries and "
                             "proofs (default 100, app/store.py; docs/state.md)")
    parser.add_argument("--snapshot-interval", type=uint_arg("snapshot-interval"), default=0, metavar="N",
                        help="take a state sync snapshot every N heights (default 0: none; docs/operators.md)")
    parser.add_argument("--snapshot-keep", type=uint_arg("snapshot-keep", 1), default=2, metavar="K",
                        help="keep the newest K snapshots (%(default)s)")


def _add_node_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`node`: serve the app to CometBFT."""
    node = commands.add_parser("node", help="serve the ABCI application to a cometbft process")
    add_node_options(node)
    node.set_defaults(func=cmd_node)


def cmd_node(args: argparse.Namespace) -> int:
    from app.node import SnapshotSettings, run

    return run(Path(args.data), args.abci, args.log_level, args.metrics, args.price_source,
               proof_versions=args.proof_versions,  # None: the store's default
               snapshot_settings=SnapshotSettings(args.snapshot_interval, args.snapshot_keep))


def cmd_genesis(args: argparse.Namespace) -> int:
    from genesis import cli as genesis_cli

    return genesis_cli.run(args, COMETBFT)


def _add_localnet_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`localnet up|down|status|reset|logs|supervise`."""
    localnet = commands.add_parser("localnet", help="N validators on this machine: up, down, status, reset, wipe, logs")
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--root", default=str(DEFAULT_LOCALNET), help="where the localnet lives (%(default)s)")
    where.add_argument("--cometbft", default=str(COMETBFT), help=argparse.SUPPRESS)
    localnet_commands = localnet.add_subparsers(dest="localnet_command", required=True,
                                                metavar="{up,down,status,reset,wipe,logs}")
    up = localnet_commands.add_parser("up", parents=[where], help="create (once) and start the localnet; Ctrl-C stops it")
    up.add_argument("--validators", type=uint_arg("validators", 1, 100), default=4)
    up.add_argument("--block-time", type=uint_arg("block-time"), default=200, metavar="MS", help="CometBFT timeout_commit (ms)")
    up.add_argument("--port-base", type=port, default=26600, help="node i uses PORT_BASE+10i .. +4")
    up.add_argument("--chain-id", default="perpchain-localnet")
    up.add_argument("--detach", action="store_true", help="leave it running in the background")
    up.add_argument("--bridge", action="store_true",
                    help="with an Ethereum side: anvil, the vault, one relayer per validator (docs/bridge.md)")
    up.add_argument("--state-sync", action="store_true",
                    help="every node snapshots its state; a node with no chain (new, wiped) restores from its peers' "
                         "snapshots instead of replaying every block (docs/operators.md)")
    up.add_argument("--snapshot-interval", type=uint_arg("snapshot-interval", 1), default=100, metavar="N",
                    help="with --state-sync: a snapshot every N heights (%(default)s)")
    localnet_commands.add_parser("down", parents=[where], help="stop a detached localnet")
    status = localnet_commands.add_parser("status", parents=[where],
                                          help="height, app hash, peers, power, sync, liveness per node")
    status.add_argument("--json", action="store_true")
    localnet_commands.add_parser("reset", parents=[where], help="wipe the localnet's keys, chain and logs")
    wipe = localnet_commands.add_parser("wipe", parents=[where],
                                        help="on a stopped localnet, delete one node's chain and state (keys kept)")
    wipe.add_argument("node", help="node0, node1, ... or the index")
    logs = localnet_commands.add_parser("logs", parents=[where], help="show a node's app and cometbft logs")
    logs.add_argument("node", help="node0, node1, ... or the index")
    logs.add_argument("-n", "--lines", type=uint_arg("lines"), default=40)
    logs.add_argument("-f", "--follow", action="store_true")
    localnet_commands.add_parser("supervise", parents=[where])
    localnet.set_defaults(func=cmd_localnet)


def cmd_localnet(args: argparse.Namespace) -> int:
    from localnet import commands
    from localnet.layout import LocalnetConfig

    root = Path(args.root)
    try:
        if args.localnet_command == "up":
            config = LocalnetConfig(validators=args.validators, block_time_ms=args.block_time,
                                    chain_id=args.chain_id, port_base=args.port_base,
                                    snapshot_interval=args.snapshot_interval if args.state_sync else 0)
            return commands.up(root, config, Path(args.cometbft), PROJECT_ROOT, args.detach, args.bridge)
        if args.localnet_command == "supervise":
            return commands.supervise(root, Path(args.cometbft), PROJECT_ROOT)
        if args.localnet_command == "down":
            return commands.down(root)
        if args.localnet_command == "status":
            commands.print_status(commands.status(root), args.json)
            return 0
        if args.localnet_command == "reset":
            return commands.reset(root)
        if args.localnet_command == "wipe":
            return commands.wipe(root, args.node, Path(args.cometbft))
        return commands.logs(root, args.node, args.lines, args.follow)
    except commands.LocalnetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _add_keys_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`keys new|import|show|encrypt|change-password`."""
    keys = commands.add_parser("keys", help="create, import, show, encrypt or re-encrypt a key file")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    password = argparse.ArgumentParser(add_help=False)
    password.add_argument("--password-file", type=Path,
                          help="the password (default: $PERPCHAIN_KEY_PASSWORD; never on the command line)")
    new = key_commands.add_parser("new", parents=[password], help="generate a key")
    imported = key_commands.add_parser("import", parents=[password],
                                       help="store an existing hex private key ('-' reads stdin)")
    for sub in (new, imported):
        sub.add_argument("file")
        sub.add_argument("--encrypt", action="store_true",
                         help="write an encrypted keystore (Web3 Secret Storage, scrypt); required for operator keys")
    imported.add_argument("hex")
    key_commands.add_parser("show", help="print a key file's address (plaintext or encrypted)").add_argument("file")
    key_commands.add_parser("encrypt", parents=[password],
                            help="replace a plaintext key file by its encrypted keystore").add_argument("file")
    change = key_commands.add_parser("change-password", parents=[password],
                                     help="re-encrypt a keystore under a new password (same key)")
    change.add_argument("file")
    change.add_argument("--new-password-file", type=Path,
                        help="the new password (default: $PERPCHAIN_NEW_KEY_PASSWORD; never on the command line)")
    keys.set_defaults(func=cmd_keys)


def cmd_keys(args: argparse.Namespace) -> int:
    """new / import write a plaintext key file, or with --encrypt a Web3 Secret Storage keystore
    (password from --password-file or $PERPCHAIN_KEY_PASSWORD); encrypt turns a plaintext file
    into a keystore in place; change-password re-encrypts a keystore (the new password from
    --new-password-file or $PERPCHAIN_NEW_KEY_PASSWORD); show prints the address of either (no
    password needed)."""
    from client import PrivateKey, address_to_hex, save_key
    from client.keys import (
        NEW_PASSWORD_ENV,
        change_password,
        encrypt_in_place,
        key_address,
        read_password,
        save_encrypted_key,
    )

    path = Path(args.file)
    if args.keys_command == "show":
        print(address_to_hex(key_address(path)))
        return 0
    if args.keys_command == "encrypt":
        key = encrypt_in_place(path, read_password(args.password_file))
    elif args.keys_command == "change-password":
        key = change_password(path, read_password(args.password_file),
                              read_password(args.new_password_file, NEW_PASSWORD_ENV, "--new-password-file"))
    else:
        if args.keys_command == "new":
            key = PrivateKey.generate()
        else:
            secret = sys.stdin.readline().strip() if args.hex == "-" else args.hex
            key = PrivateKey.from_hex(secret)
        if args.encrypt:
            save_encrypted_key(key, path, read_password(args.password_file))
        else:
            save_key(key, path)
    print(address_to_hex(key.address))
    return 0


def _rejected_or_failed(run: Callable[[], int]) -> int:
    """Run a client call; a chain rejection prints its reason and exits 2, an answer whose proof or
    header does not check 3, other errors 1."""
    from client import ChainRejected, ClientError, NotVerified

    try:
        return run()
    except ChainRejected as rejected:
        print(f"rejected: {rejected}", file=sys.stderr)
        return 2
    except NotVerified as error:
        print(f"not verified: {error}", file=sys.stderr)
        return 3
    except ClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


OPERATOR_TX_COMMANDS = ("bridge-key", "bridge-resume", *staking_cli.OPERATOR_TX_COMMANDS)  # refused with a plaintext --key


def _add_tx_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`tx ...`: one subcommand per action, sharing the signer's options."""
    tx = commands.add_parser("tx", help="sign and broadcast a transaction, wait for its block")
    tx.set_defaults(func=cmd_tx)
    tx_commands = tx.add_subparsers(dest="tx_command", required=True)
    signer = argparse.ArgumentParser(add_help=False)
    signer.add_argument("--key", required=True, help="key file of the signer (plaintext or encrypted)")
    signer.add_argument("--password-file", help="password of an encrypted --key (default: $PERPCHAIN_KEY_PASSWORD)")
    signer.add_argument("--node", default=DEFAULT_NODE)
    in_market = argparse.ArgumentParser(add_help=False)
    in_market.add_argument("--market", required=True, help="ticker (BTC-USD) or id")
    in_market.add_argument("--subaccount", type=subaccount_number, default=0)

    transfer = tx_commands.add_parser("transfer", parents=[signer], help="move USDC between subaccounts")
    transfer.add_argument("--to", required=True, type=subaccount_ref, metavar="0xADDR[/N]")
    transfer.add_argument("--amount", required=True, help="USDC, up to 6 decimals")
    transfer.add_argument("--from-subaccount", type=subaccount_number, default=0)

    place = tx_commands.add_parser("place", parents=[signer, in_market], help="place an order")
    place.add_argument("--side", required=True, choices=["buy", "sell"])
    place.add_argument("--price", required=True, help="USDC per unit; a market order's worst price")
    place.add_argument("--size", required=True, help="in units of the base asset (0.01 BTC: 0.01)")
    place.add_argument("--tif", default="gtc", choices=["gtc", "good-til-block", "good-til-time", "ioc", "fok"])
    place.add_argument("--market-order", action="store_true", help="IOC at --price as the worst acceptable price")
    place.add_argument("--good-til-block", type=uint_arg("good-til-block"), default=0)
    place.add_argument("--good-til-time-ms", type=uint_arg("good-til-time-ms"), default=0)
    place.add_argument("--post-only", action="store_true")
    place.add_argument("--reduce-only", action="store_true")
    place.add_argument("--client-id", type=uint_arg("client-id", 0, I64_MAX), default=0)
    place.add_argument("--display-size", help="iceberg: show at most this much, refill from the rest")

    cancel = tx_commands.add_parser("cancel", parents=[signer, in_market], help="cancel one order")
    which = cancel.add_mutually_exclusive_group(required=True)
    which.add_argument("--order-id", type=uint_arg("order-id"), default=0)
    which.add_argument("--client-id", type=uint_arg("client-id", 0, I64_MAX), default=0)
    cancel_all = tx_commands.add_parser("cancel-all", parents=[signer],
                                        help="cancel a subaccount's orders in one market or all")
    cancel_all.add_argument("--market", help="ticker or id (default: every market)")
    cancel_all.add_argument("--subaccount", type=subaccount_number, default=0)
    modify = tx_commands.add_parser("modify", parents=[signer, in_market],
                                    help="cancel-replace (keeps priority if only the size shrinks)")
    modify.add_argument("--order-id", type=uint_arg("order-id"), required=True)
    modify.add_argument("--price", required=True)
    modify.add_argument("--size", required=True)
    conditional = tx_commands.add_parser("conditional", parents=[signer, in_market],
                                         help="a stop or take-profit, triggered by the oracle price")
    conditional.add_argument("--kind", required=True,
                             choices=["stop-market", "stop-limit", "take-profit-market", "take-profit-limit"])
    conditional.add_argument("--side", required=True, choices=["buy", "sell"])
    conditional.add_argument("--trigger", required=True, help="oracle price that fires it (USDC)")
    conditional.add_argument("--limit", required=True, help="the order's limit; for *-market its worst price")
    conditional.add_argument("--size", required=True)
    conditional.add_argument("--reduce-only", action="store_true")
    cancel_conditional = tx_commands.add_parser("cancel-conditional", parents=[signer, in_market],
                                                help="cancel a stop or take-profit")
    cancel_conditional.add_argument("--conditional-id", type=uint_arg("conditional-id"), required=True)
    orders_cli.add_tx_parsers(tx_commands, signer, in_market)  # trailing-stop, tpsl, twap, cancel-twap
    schedule = tx_commands.add_parser("schedule-cancel", parents=[signer],
                                      help="dead-man switch: cancel all your orders unless refreshed in time")
    when = schedule.add_mutually_exclusive_group(required=True)
    when.add_argument("--in-seconds", type=uint_arg("in-seconds", 0, U32_MAX), help="from the last block's time (at least 5)")
    when.add_argument("--clear", action="store_true")
    staking_cli.add_tx_parsers(tx_commands, signer)  # unjail, unbond, report-equivocation
    from bridge.cli import add_tx_parsers as add_bridge_tx_parsers

    add_bridge_tx_parsers(tx_commands, signer)  # `tx deposit`, `tx withdraw`


def cmd_tx(args: argparse.Namespace) -> int:
    from client import Client
    from client.keys import load_key, load_operator_key

    password_file = Path(args.password_file) if args.password_file else None
    # these are signed by a validator's operator key, which must be encrypted at rest
    load = load_operator_key if args.tx_command in OPERATOR_TX_COMMANDS else load_key
    key = load(Path(args.key), password_file)

    def run() -> int:
        with Client(args.node) as client:
            result = _tx_result(client, key, args)
        print(json.dumps(result))
        return 0

    return _rejected_or_failed(run)


def _tx_result(client: Client, key: PrivateKey, args: argparse.Namespace) -> dict[str, object]:
    from client import (
        CancelConditional,
        CancelOrder,
        ConditionalKind,
        ModifyOrder,
        PlaceConditional,
        PlaceOrder,
        Side,
        SubaccountId,
        TimeInForce,
        address_from_hex,
    )

    command = args.tx_command
    if command in ("deposit", "withdraw", "bridge-key", "bridge-resume"):
        from bridge.cli import tx_result

        return tx_result(client, key, args)
    if command in staking_cli.TX_COMMANDS:
        result = client.send(key, [staking_cli.tx_action(args)])
        return {"tx_hash": result.tx_hash, "height": result.height}
    if command == "transfer":
        address, number = args.to
        result = client.transfer(key, SubaccountId(address_from_hex(address), number), parse_usdc(args.amount),
                                 from_subaccount=args.from_subaccount)
        return {"tx_hash": result.tx_hash, "height": result.height}
    if command == "schedule-cancel":
        at = 0 if args.clear else client.status().block_time_ms + args.in_seconds * 1000
        result = client.schedule_cancel_all(key, at)
        return {"tx_hash": result.tx_hash, "height": result.height, "cancel_at_ms": at}
    if command == "cancel-all":
        market_id = client.market(args.market)["market_id"] if args.market else 0
        result = client.cancel_all(key, args.subaccount, market_id)
        return {"tx_hash": result.tx_hash, "height": result.height,
                "cancelled": [e.attributes["order_id"] for e in result.events if e.type == "order_cancelled"]}
    market = client.market(args.market)
    market_id = market["market_id"]
    if command == "conditional":
        kind = ConditionalKind[args.kind.upper().replace("-", "_")]
        result = client.send(key, [PlaceConditional(
            args.subaccount, market_id, kind, Side[args.side.upper()], parse_decimal(args.trigger, 6, "trigger"),
            parse_decimal(args.limit, 6, "limit"), parse_decimal(args.size, market["size_decimals"], "size"),
            args.reduce_only)])
    elif command == "cancel-conditional":
        result = client.send(key, [CancelConditional(args.subaccount, market_id, args.conditional_id)])
    elif command in orders_cli.TX_COMMANDS:
        result = client.send(key, orders_cli.tx_actions(args, market))
    elif command == "place":
        tif = TimeInForce[args.tif.upper().replace("-", "_")] if not args.market_order else TimeInForce.IOC
        price = parse_decimal(args.price, 6, "price")
        display = parse_decimal(args.display_size, market["size_decimals"], "display size") if args.display_size else 0
        order = PlaceOrder(args.subaccount, market_id, Side[args.side.upper()], price,
                           parse_decimal(args.size, market["size_decimals"], "size"), tif, args.good_til_block,
                           args.good_til_time_ms, args.post_only, args.reduce_only, args.client_id, display)
        result = client.place(key, order)
    elif command == "cancel":
        result = client.cancel(key, CancelOrder(args.subaccount, market_id, args.order_id, args.client_id))
    else:
        result = client.modify(key, ModifyOrder(args.subaccount, market_id, args.order_id,
                                                parse_decimal(args.price, 6, "price"),
                                                parse_decimal(args.size, market["size_decimals"], "size")))
    by_type: dict[str, list[dict[str, str]]] = {}
    for event in result.events:
        by_type.setdefault(event.type, []).append(event.attributes)
    return {"tx_hash": result.tx_hash, "height": result.height, **by_type}


def _add_query_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`query ...`: one subcommand per read."""
    query = commands.add_parser("query", help="read chain state")
    query.set_defaults(func=cmd_query)
    query_commands = query.add_subparsers(dest="query_command", required=True)
    at_node = argparse.ArgumentParser(add_help=False)
    at_node.add_argument("--node", default=DEFAULT_NODE)
    for name, help_text in (("balance", "a subaccount's collateral"), ("orders", "a subaccount's open orders"),
                            ("conditionals", "a subaccount's stops, take-profits, trailing stops and TP/SL"),
                            ("twaps", "a subaccount's running TWAPs and their progress"),
                            ("positions", "a subaccount's positions, equity and margin")):
        sub = query_commands.add_parser(name, parents=[at_node], help=help_text)
        sub.add_argument("subaccount", type=subaccount_ref, metavar="0xADDR[/N]")
        if name == "balance":
            add_proof_options(sub)
    query_commands.add_parser("markets", parents=[at_node], help="every market's parameters")
    query_commands.add_parser("params", parents=[at_node],
                              help="the params in force: storage tiers by equity, per-block budgets")
    query_commands.add_parser("prices", parents=[at_node], help="oracle prices (stake-weighted median of the validators')")
    funding = query_commands.add_parser("funding", parents=[at_node], help="a market's funding index and hourly rates")
    funding.add_argument("market", help="ticker or id")
    whatif = query_commands.add_parser("whatif", parents=[at_node],
                                       help="simulate an order: fills, fees, position, margin after (nothing sent)")
    whatif.add_argument("subaccount", type=subaccount_ref, metavar="0xADDR[/N]")
    whatif.add_argument("--market", required=True)
    whatif.add_argument("--side", required=True, choices=["buy", "sell"])
    whatif.add_argument("--price", required=True)
    whatif.add_argument("--size", required=True)
    whatif.add_argument("--kind", default="ioc", choices=["gtc", "ioc", "fok", "post-only"])
    book = query_commands.add_parser("book", parents=[at_node], help="aggregated price levels")
    book.add_argument("market", help="ticker or id")
    book.add_argument("--depth", type=uint_arg("depth", 0, 1000), default=10)
    trades = query_commands.add_parser("trades", parents=[at_node], help="recent trades, newest first")
    trades.add_argument("market", help="ticker or id")
    trades.add_argument("--limit", type=uint_arg("limit", 0, 200), default=20)
    raw = query_commands.add_parser("path", parents=[at_node], help="any abci_query path (docs/queries.md)")
    raw.add_argument("path")
    store = query_commands.add_parser("store", parents=[at_node],
                                      help="a raw store key's value or absence, always proven (docs/queries.md)")
    store.add_argument("key", type=store_key, help="0x + hex, or the key's text (e.g. bank/supply)")
    add_proof_options(store, flag=False)
    from bridge.cli import add_query_parsers as add_bridge_query_parsers

    add_bridge_query_parsers(query_commands, at_node)  # `query solvency`, `query bridge ...`
    from bridge.anchor_cli import add_query_parsers as add_anchor_query_parsers

    add_anchor_query_parsers(query_commands, at_node)  # `query anchor`, `query exit-proof`


def store_key(text: str) -> bytes:
    """A raw store key (an argparse `type=`): `0x` + hex digits, or the key's own text."""
    if not text.startswith("0x"):
        return text.encode()
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise argparse.ArgumentTypeError(f"not hexadecimal after 0x: {text!r}") from None


def cmd_query(args: argparse.Namespace) -> int:
    from client import Client, PlaceOrder, Side, TimeInForce

    def run() -> int:
        with Client(args.node, trust=trust_root(args)) as client:
            command = args.query_command
            if command == "balance":
                address, number = args.subaccount
                proven = client.prove_balance(address, number) if args.prove else None
                balance = proven.balance if proven else client.balance(address, number)
                answer: object = {
                    "address": balance.address,
                    "subaccount": balance.subaccount,
                    "amount_micro_usdc": str(balance.amount_micro_usdc),
                    "amount_usdc": format_usdc(balance.amount_micro_usdc),
                    **(proven.proven.summary() if proven else {}),
                }
            elif command == "store":
                value = client.prove(args.key)
                answer = {"key": "0x" + args.key.hex(), "present": value.value is not None,
                          "value": "0x" + value.value.hex() if value.value is not None else None, **value.summary()}
            elif command == "markets":
                answer = client.markets()
            elif command == "params":
                answer = client.query("/params")
            elif command == "prices":
                answer = client.oracle_prices()
            elif command == "funding":
                answer = client.funding(client.market(args.market)["market_id"])
            elif command == "whatif":
                market = client.market(args.market)
                address, number = args.subaccount
                tif = {"gtc": TimeInForce.GTC, "ioc": TimeInForce.IOC, "fok": TimeInForce.FOK,
                       "post-only": TimeInForce.GTC}[args.kind]
                order = PlaceOrder(number, market["market_id"], Side[args.side.upper()],
                                   parse_decimal(args.price, 6, "price"),
                                   parse_decimal(args.size, market["size_decimals"], "size"), tif,
                                   post_only=args.kind == "post-only")
                answer = client.what_if(address, order)
            elif command == "book":
                answer = client.book(client.market(args.market)["market_id"], args.depth)
            elif command == "trades":
                answer = client.trades(client.market(args.market)["market_id"], args.limit)
            elif command in ("orders", "positions", "conditionals", "twaps"):
                address, number = args.subaccount
                answer = getattr(client, command)(address, number)
            elif command in ("solvency", "bridge"):
                from bridge.cli import query_result

                answer = query_result(client, args)
            elif command in ("anchor", "exit-proof"):
                from bridge.anchor_cli import query_result as anchor_query_result

                answer = anchor_query_result(client, args)
            else:
                answer = client.query(args.path)
        print(json.dumps(answer, indent=2))
        return 0

    return _rejected_or_failed(run)


def cmd_exit_proof(args: argparse.Namespace) -> int:
    """`exit-proof --home`: read a stopped node's LevelDB (app/) for the anchor the vault holds
    (bridge/anchor_cli.py reads it from Ethereum) or the one asked for."""
    from app.exit_proof import OfflineStoreError, offline_exit_proof
    from bridge.anchor_cli import print_proof, vault_nonce
    from modules.errors import ChainError

    nonce = args.nonce
    if nonce is None and args.eth_rpc:
        if not args.vault:
            raise SystemExit("error: --eth-rpc needs --vault (no node may be running)")
        nonce = vault_nonce(args.eth_rpc, args.vault)
    try:
        print_proof(offline_exit_proof(args.home, args.address, nonce), args.out)
    except OfflineStoreError as error:
        raise SystemExit(f"error: {error}") from None
    except ChainError as error:  # no leaf for the address, an anchor no longer kept, ...
        raise SystemExit(f"error {error.code}: {error.log}") from None
    return 0


def _add_simulate_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`simulate`: a price path against accounts, in process."""
    simulate = commands.add_parser("simulate", help="replay a price path against accounts on an in-process chain")
    simulate.add_argument("--accounts", help="JSON accounts file (default: --random-accounts generated)")
    simulate.add_argument("--prices", help="JSON list of price steps (default: a seeded random walk)")
    simulate.add_argument("--random-accounts", type=uint_arg("random-accounts"), default=200)
    simulate.add_argument("--steps", type=uint_arg("steps"), default=20)
    simulate.add_argument("--volatility-bps", type=uint_arg("volatility-bps"), default=300, help="random walk: max move per step")
    simulate.add_argument("--seed", type=uint_arg("seed"), default=1)
    simulate.add_argument("--insurance", type=uint_arg("insurance"), default=0, help="insurance fund at the start, USDC")
    simulate.set_defaults(func=cmd_simulate)


def cmd_simulate(args: argparse.Namespace) -> int:
    from sim.simulate import run

    return run(args.accounts, args.prices, args.random_accounts, args.steps, args.volatility_bps, args.seed,
               args.insurance)


def _add_schema_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`schema [--check]`."""
    schema = commands.add_parser("schema", help="write the integrator's contract (docs/api/: the actions' JSON "
                                 "Schema and the EIP-712 typed data) from the code; --check compares instead")
    schema.add_argument("--out", default=str(PROJECT_ROOT / "docs" / "api"), help="folder (%(default)s)")
    schema.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 naming each file that differs from the code")
    schema.set_defaults(func=cmd_schema)


def cmd_schema(args: argparse.Namespace) -> int:
    from wire import schema

    directory = Path(args.out)
    if args.check:
        problems = schema.check(directory)
        for problem in problems:
            print(problem, file=sys.stderr)
        if not problems:
            print(f"{directory}: up to date with the code")
        return 1 if problems else 0
    for path in schema.write(directory):
        print(f"wrote {path}")
    return 0


def _add_indexer_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`indexer --node URL --db URL` (docs/indexer.md)."""
    indexer = commands.add_parser("indexer", help="follow a node and keep its history (trades, candles, fills...) in SQL")
    indexer.add_argument("--node", default=DEFAULT_NODE, help="RPC URL of the node to follow (%(default)s)")
    indexer.add_argument("--db", default=DEFAULT_INDEXER_DB,
                         help="SQLAlchemy database URL: a SQLite file (%(default)s) or postgresql+psycopg://...")
    indexer.set_defaults(func=cmd_indexer)


def cmd_indexer(args: argparse.Namespace) -> int:
    import logging

    from indexer.follow import run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run(args.node, args.db)
    except KeyboardInterrupt:
        pass
    return 0


def _add_report_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`report SUBACCOUNT --db URL [--out FILE]` (docs/indexer.md)."""
    report = commands.add_parser("report", help="an HTML report of a subaccount's equity, PnL, funding and fees "
                                                "over time, from the indexer's database")
    report.add_argument("subaccount", help="0x<address>/<number> (or 0x<address>: subaccount 0)")
    report.add_argument("--db", default=DEFAULT_INDEXER_DB,
                        help="the indexer's database URL (%(default)s)")
    report.add_argument("--node", default=DEFAULT_NODE, help="RPC URL of a node, for the markets' units (%(default)s)")
    report.add_argument("--out", default="report.html", help="the HTML file to write (%(default)s)")
    report.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from client import Client
    from indexer.api.app import open_read_engine
    from indexer.report import build_report, render_html

    address, _, number = args.subaccount.lower().partition("/")
    subaccount = f"{address}/{int(number or 0)}"
    with Client(args.node) as client:
        markets = client.markets()
    engine = open_read_engine(args.db)
    report = build_report(engine, subaccount, {int(m["market_id"]): int(m["size_decimals"]) for m in markets})
    Path(args.out).write_text(render_html(report, {int(m["market_id"]): str(m["ticker"]) for m in markets}))
    print(f"{args.out}: {len(report.points)} points for {subaccount}")
    return 0


def _add_bench_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`bench NAME [--size N]`."""
    from bench.cli import BENCHMARKS

    bench = commands.add_parser("bench", help="run a benchmark; its last line is a JSON object of figures")
    bench.add_argument("name", choices=BENCHMARKS)
    bench.add_argument("--size", type=uint_arg("size"), default=0, help="work size (0: the benchmark's default)")
    bench.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from bench.cli import run_benchmark

    return run_benchmark(args.name, args.size)


def _add_load_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`load`: options of the order flow (localnet/load.py)."""
    load = commands.add_parser("load", help="drive a running chain with a realistic order flow and measure it")
    load.add_argument("--node", action="append", help="RPC URL (repeatable; default: the localnet's nodes)")
    load.add_argument("--root", default=str(DEFAULT_LOCALNET), help="localnet folder (nodes and faucet key)")
    load.add_argument("--faucet-key", help="key that funds the load accounts (default: the localnet faucet)")
    load.add_argument("--accounts", type=uint_arg("accounts"), default=100, help="funded load accounts (%(default)s)")
    load.add_argument("--fund-usdc", type=uint_arg("fund-usdc"), default=5_000, help="USDC the faucet sends each account (%(default)s)")
    load.add_argument("--rate", type=float, default=200.0, help="txs per second offered (open loop, %(default)s)")
    load.add_argument("--concurrency", type=uint_arg("concurrency"), default=0,
                      help="closed loop instead: this many txs in flight, each sender waiting for its tx's block")
    load.add_argument("--duration", type=float, default=20.0, help="seconds")
    load.add_argument("--count", type=uint_arg("count"), default=0, help="stop after this many txs (0: duration only)")
    load.add_argument("--batch", type=uint_arg("batch"), default=10,
                      help="txs per JSON-RPC request, open loop (%(default)s; CometBFT caps a batch at its "
                           "rpc.max_request_batch_size)")
    load.add_argument("--levels", type=uint_arg("levels"), default=15, help="price levels per side in a maker re-quote (%(default)s)")
    load.add_argument("--bad-ppm", type=uint_arg("bad-ppm"), default=20_000, help="bad (off-tick) txs per million (%(default)s)")
    load.add_argument("--seed", type=uint_arg("seed"), default=7, help="fixes the flow, bad txs included (%(default)s)")
    load.add_argument("--csv", help="write one row per tx here: submit time, latencies, codes")
    load.add_argument("--allow-remote", action="store_true",
                      help="allow a --node that is not a loopback address (refused otherwise)")
    load.add_argument("--read-results", action="store_true",
                      help="read every block's results for the codes (default: only blocks whose results hash "
                           "shows a tx that did not end with code 0)")
    load.set_defaults(func=cmd_load)


def cmd_load(args: argparse.Namespace) -> int:
    from client import load_key
    from localnet.layout import Layout
    from localnet.load import LoadConfig, RemoteNodeRefused, require_loopback, run_load

    nodes = args.node or []
    try:  # before anything is read or sent
        for url in nodes if not args.allow_remote else []:
            require_loopback(url)
    except RemoteNodeRefused as refused:
        print(f"error: {refused}", file=sys.stderr)
        return 2
    if not nodes:
        layout = Layout.load(Path(args.root))
        if layout is None:
            print(f"error: no --node and no localnet at {args.root}", file=sys.stderr)
            return 1
        nodes = [n.rpc_url for n in layout.nodes]
    faucet = load_key(Path(args.faucet_key) if args.faucet_key else Path(args.root) / "keys" / "faucet.json")
    run_load(LoadConfig(nodes=nodes, faucet=faucet, accounts=args.accounts, rate=args.rate, duration_s=args.duration,
                        count=args.count, concurrency=args.concurrency, batch=args.batch, levels=args.levels,
                        bad_share_ppm=args.bad_ppm, seed=args.seed, fund_usdc=args.fund_usdc,
                        csv_path=Path(args.csv) if args.csv else None, allow_remote=args.allow_remote,
                        read_results=args.read_results))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Every command; each group's subcommands are built beside its handler (or in its package)."""
    parser = argparse.ArgumentParser(prog="perpchain", description="perpetual futures chain on CometBFT")
    commands = parser.add_subparsers(dest="command", required=True)

    _add_node_parser(commands)

    from genesis.cli import add_parser as add_genesis_parser

    add_genesis_parser(commands, COMETBFT).set_defaults(func=cmd_genesis)

    _add_localnet_parser(commands)
    _add_keys_parser(commands)
    _add_tx_parser(commands)
    _add_query_parser(commands)

    from perpchain.tui_cli import add_parsers as add_tui_parsers

    add_tui_parsers(commands, DEFAULT_NODE)  # `tui` and `mm`

    from bridge.cli import add_parsers as add_bridge_parsers

    add_bridge_parsers(commands, DEFAULT_NODE)  # `relayer`
    from bridge.anchor_cli import add_parsers as add_anchor_parsers

    add_anchor_parsers(commands, cmd_exit_proof)  # `exit-proof --home`, `vault-anchor`, `freeze`, `exit`, `reclaim`
    from localnet.chaos import add_parsers as add_chaos_parsers

    add_chaos_parsers(commands)  # `chaos`

    _add_load_parser(commands)

    from indexer.api.cli import add_parser as add_api_parser

    add_api_parser(commands, DEFAULT_NODE, DEFAULT_INDEXER_DB)  # `api`
    _add_report_parser(commands)

    from sim.cli import add_parsers as add_simulation_parsers

    add_simulation_parsers(commands)  # `simulate-chain`, `export-state`, `import-state`

    _add_simulate_parser(commands)
    _add_schema_parser(commands)
    _add_indexer_parser(commands)
    _add_bench_parser(commands)
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
