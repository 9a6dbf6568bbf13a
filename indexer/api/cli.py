"""`perpchain api`: serve the read API with uvicorn, for perpchain/cli.py to register."""

from __future__ import annotations

import argparse

from client.arguments import port


def listen_address(text: str) -> tuple[str, int]:
    """`HOST:PORT` (an argparse `type=`), e.g. 127.0.0.1:8600."""
    host, colon, number = text.rpartition(":")
    if not colon or not host:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), port(number)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], default_node: str, default_db: str) -> None:
    api = commands.add_parser("api", help="serve the read API (REST, WebSocket, OpenAPI at /docs) over the "
                                          "indexer's database and a node; read-only (docs/read-api.md)")
    api.add_argument("--db", default=default_db,
                     help="the indexer's database URL: sqlite:///PATH or postgresql+psycopg://... (%(default)s)")
    api.add_argument("--node", default=default_node, help="RPC URL of a node, for markets and books (%(default)s)")
    api.add_argument("--listen", type=listen_address, default=("127.0.0.1", 8600), metavar="HOST:PORT",
                     help="where to serve (127.0.0.1:8600)")
    api.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    api.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from client import Client
    from indexer.api.app import create_app, open_read_engine

    host, number = args.listen
    with Client(args.node) as node:
        app = create_app(open_read_engine(args.db), node)
        uvicorn.run(app, host=host, port=number, log_level=args.log_level, access_log=False)
    return 0
