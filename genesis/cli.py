"""`perpchain genesis ...`: set up one validator alone, or a network across machines.

Across machines (docs/genesis.md has the walk-through):
  1. each validator:   perpchain genesis init --home H --moniker NAME      -> prints its pub_key and node id
  2. the coordinator:  perpchain genesis build --spec spec.json --out genesis.json
  3. each validator:   perpchain genesis install --home H --genesis genesis.json --peers ID@HOST:PORT,...
  4. each validator:   perpchain node ... and cometbft node --home H
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from client.amounts import parse_usdc
from client.arguments import port, subaccount_ref, uint_arg
from genesis.builder import GenesisError, build_genesis, consensus_pub_key, validate_genesis_file, validator_address
from genesis.home import BlockTiming, NodeNetwork, NodePorts, configure, init_home, node_id
from genesis.single import write_single_validator_home


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], cometbft: Path) -> argparse.ArgumentParser:
    genesis = commands.add_parser("genesis", help="genesis and CometBFT homes: one validator, or a real network")
    genesis.add_argument("--cometbft", default=str(cometbft), help=argparse.SUPPRESS)
    sub = genesis.add_subparsers(dest="genesis_command", required=True)

    single = sub.add_parser("single", help="a one-validator home with perpchain's app_state, ready to run")
    single.add_argument("--home", required=True)
    single.add_argument("--chain-id", default="perpchain-local")
    single.add_argument("--port-base", type=port, default=26656, help="p2p port; rpc +1, abci +2")
    single.add_argument("--fund", action="append", type=_fund, default=[], metavar="0xADDR[/N]=USDC")
    single.add_argument("--faucet-key", help="create this key file (if missing) and fund it")
    single.add_argument("--faucet-amount", default="1000000", help="USDC for the faucet key")
    single.add_argument("--block-time-ms", type=uint_arg("block-time-ms"), default=200, help="CometBFT timeout_commit")

    init = sub.add_parser("init", help="create this validator's keys and home; print what the coordinator needs")
    init.add_argument("--home", required=True)
    init.add_argument("--moniker", required=True)

    build = sub.add_parser("build", help="validate a genesis spec and write genesis.json")
    build.add_argument("--spec", required=True, help="JSON spec: chain_id, validators, app_state (docs/genesis.md)")
    build.add_argument("--out", required=True)

    install = sub.add_parser("install", help="put genesis.json into a home and point it at its peers")
    install.add_argument("--home", required=True)
    install.add_argument("--genesis", required=True)
    install.add_argument("--moniker", required=True)
    install.add_argument("--peers", default="", help="comma-separated NODE_ID@HOST:PORT of the other validators")
    install.add_argument("--p2p-host", default="0.0.0.0", help="interface the p2p port listens on")
    install.add_argument("--external-address", default="", help="HOST:PORT the other validators dial")
    install.add_argument("--port-base", type=port, default=26656, help="p2p; rpc +1, abci +2 (rpc, abci stay on 127.0.0.1)")
    install.add_argument("--block-time-ms", type=uint_arg("block-time-ms"), default=200)

    validate = sub.add_parser("validate", help="check a genesis.json by the builder's rules")
    validate.add_argument("file")
    return genesis


def run(args: argparse.Namespace, default_cometbft: Path) -> int:
    cometbft = Path(getattr(args, "cometbft", default_cometbft))
    try:
        if args.genesis_command == "single":
            return _single(args, cometbft)
        if args.genesis_command == "init":
            init_home(cometbft, Path(args.home))
            home = Path(args.home)
            pub_key = consensus_pub_key(home)
            print(json.dumps({"name": args.moniker, "pub_key": pub_key, "address": validator_address(base64.b64decode(pub_key)),
                              "node_id": node_id(cometbft, home)}, indent=2))
            return 0
        if args.genesis_command == "build":
            spec = _read_json(Path(args.spec))
            doc = build_genesis(spec)
            Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
            print(f"wrote {args.out}: chain {doc['chain_id']}, {len(doc['validators'])} validators")
            return 0
        if args.genesis_command == "install":
            validate_genesis_file(Path(args.genesis))
            home = Path(args.home)
            init_home(cometbft, home)
            shutil.copyfile(args.genesis, home / "config" / "genesis.json")
            peers = tuple(p.strip() for p in args.peers.split(",") if p.strip())
            configure(home, NodePorts.from_base(args.port_base), BlockTiming(timeout_commit_ms=args.block_time_ms),
                      moniker=args.moniker,
                      network=NodeNetwork(persistent_peers=peers, p2p_host=args.p2p_host,
                                          external_address=args.external_address))
            print(f"installed {args.genesis} into {home} with {len(peers)} peers")
            return 0
        doc = validate_genesis_file(Path(args.file))
        print(f"{args.file}: valid (chain {doc['chain_id']}, {len(doc['validators'])} validators)")
        return 0
    except GenesisError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _fund(text: str) -> tuple[str, int, int]:
    """`--fund 0xADDR[/N]=USDC` (an argparse `type=`): address, subaccount number, micro-USDC."""
    target, _, amount = text.partition("=")
    address, number = subaccount_ref(target)
    try:
        return address, number, parse_usdc(amount)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _single(args: argparse.Namespace, cometbft: Path) -> int:
    funds = list(args.fund)
    summary = write_single_validator_home(
        cometbft=cometbft,
        home=Path(args.home),
        chain_id=args.chain_id,
        port_base=args.port_base,
        funds=funds,
        faucet_key=Path(args.faucet_key) if args.faucet_key else None,
        faucet_usdc=parse_usdc(args.faucet_amount),
        timeout_commit_ms=args.block_time_ms,
    )
    print(json.dumps(summary, indent=2))
    return 0


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise GenesisError(str(path), f"is not JSON ({error})") from None
