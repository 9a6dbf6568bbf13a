"""The anchoring and escape-hatch commands, registered on perpchain's parser by perpchain/cli.py:

    perpchain query anchor [--node URL] [--prove]          the chain's latest anchor and its signatures
    perpchain query exit-proof 0xADDR [--nonce N] [--prove] the address's anchored amount and proof (live node)
    perpchain exit-proof --home NODE_HOME 0xADDR [--nonce N | --eth-rpc URL --vault 0x..] [--out FILE]
                                                           the same from a stopped node's data (offline)
    perpchain vault-anchor [--eth-rpc URL] [--vault 0x..]   the vault's anchor, its age, frozen or not
    perpchain freeze --key FILE [--eth-rpc URL] [--vault 0x..]
    perpchain exit --key FILE --proof FILE [--eth-rpc URL] [--vault 0x..]
    perpchain reclaim --key FILE [--deposit N] [--eth-rpc URL] [--vault 0x..]

The Ethereum commands need --vault when no node answers (the chain may be down); --eth-rpc
defaults as for the bridge commands. `exit-proof --eth-rpc` picks the anchor the vault holds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bridge.cli import add_eth_options, eth_rpc_of
from client.arguments import uint_arg
from client.proof_arguments import add_proof_options


def _address(text: str) -> bytes:
    from wire.crypto import address_from_hex

    try:
        return address_from_hex(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_query_parsers(query_commands: argparse._SubParsersAction[argparse.ArgumentParser],
                      node: argparse.ArgumentParser) -> None:
    anchor = query_commands.add_parser("anchor", parents=[node], help="the chain's latest anchor and its signatures")
    add_proof_options(anchor)
    proof = query_commands.add_parser("exit-proof", parents=[node],
                                      help="an address's anchored claimable amount and Merkle proof")
    proof.add_argument("address", type=_address, metavar="0xADDR")
    proof.add_argument("--nonce", type=uint_arg("nonce"), help="anchor nonce (default: the latest; the one before is kept too)")
    add_proof_options(proof)


def query_result(client: Any, args: argparse.Namespace) -> Any:
    """With --prove: `anchor` is the latest record proven in the chain's state (its signatures are not
    part of it); `exit-proof` is the proof checked against that record's balances root."""
    from client.anchor import AnchorClient
    from modules.anchor.queries import record_json

    anchors = AnchorClient(client)
    if args.query_command == "anchor":
        if not args.prove:
            return anchors.status()
        latest = client.prove_latest_anchor()
        proven = latest.proven or latest.latest
        return {"latest_nonce": str(latest.record.nonce if latest.record else 0),
                "record": record_json(latest.record) if latest.record else None, **proven.summary()}
    if not args.prove:
        return anchors.proof(args.address, args.nonce)
    checked = anchors.proven_proof(args.address, args.nonce)
    return {**checked.answer, **checked.proven.summary(), "verified": checked.describe()}


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser],
                offline_command: Any) -> None:
    """`offline_command` runs `exit-proof` (perpchain/cli.py hands it in: it reads node data)."""
    offline = commands.add_parser("exit-proof", help="an exit proof from a stopped node's data (no node needed)")
    offline.add_argument("--home", type=Path, required=True,
                         help="the node's folder: its app data, a localnet node folder, or its cometbft home")
    offline.add_argument("address", type=_address, metavar="0xADDR")
    offline.add_argument("--nonce", type=uint_arg("nonce"), help="anchor nonce (default: the vault's with --eth-rpc, else the latest)")
    offline.add_argument("--eth-rpc", help="read the vault's anchor nonce here to prove against it")
    offline.add_argument("--vault", help="vault address (with --eth-rpc)")
    offline.add_argument("--out", type=Path, help="also save the proof to this file (for `perpchain exit`)")
    offline.set_defaults(func=offline_command)

    def eth_command(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help_text)
        add_eth_options(parser)
        parser.add_argument("--node", default="http://127.0.0.1:26657", help="node RPC, only to find the vault")
        parser.set_defaults(func=cmd_eth)
        return parser

    eth_command("vault-anchor", "the vault's latest anchor, its age and whether it is frozen")
    freeze = eth_command("freeze", "freeze the vault (allowed once no anchor arrived for the freeze period)")
    freeze.add_argument("--key", type=Path, required=True, help="key file paying the gas")
    exit_ = eth_command("exit", "take your anchored amount out of a frozen vault, once")
    exit_.add_argument("--key", type=Path, required=True, help="the trader's key file (the vault pays its address)")
    exit_.add_argument("--proof", type=Path, required=True, help="proof file from `perpchain exit-proof --out`")
    reclaim = eth_command("reclaim", "take back deposits the last anchor did not include (frozen vault)")
    reclaim.add_argument("--key", type=Path, required=True, help="the depositor's key file")
    reclaim.add_argument("--deposit", type=uint_arg("deposit"), help="deposit nonce (default: every one of yours)")


def vault_nonce(eth_rpc: str, vault: str) -> int:
    """The anchor nonce the vault holds, read without any node (the chain may be down)."""
    from client.anchor import AnchorClient
    from client.client import Client

    return AnchorClient(Client("http://127.0.0.1:1"), eth_rpc, vault).vault_anchor().nonce


def print_proof(answer: dict[str, Any], out: Path | None) -> None:
    text = json.dumps(answer, indent=2)
    if out is not None:
        out.write_text(text + "\n")
    print(text)


def cmd_eth(args: argparse.Namespace) -> int:
    """The Ethereum commands; a call the vault would refuse exits 1 naming the vault's error."""
    from web3.exceptions import ContractCustomError

    from client.anchor import AnchorClient
    from client.client import Client
    from client.eth import decode_custom_error

    anchors = AnchorClient(Client(args.node), eth_rpc_of(args), args.vault)
    try:
        answer = _eth_answer(anchors, args)
    except ContractCustomError as error:
        name, arguments = decode_custom_error(anchors.bridge.vault.abi, error)
        print(f"error: the vault refuses: {name}{arguments}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2))
    return 0


def _eth_answer(anchors: Any, args: argparse.Namespace) -> Any:
    from dataclasses import asdict

    from client.keys import load_key

    if args.command == "vault-anchor":
        state = anchors.vault_anchor()
        answer: Any = {**asdict(state), "balances_root": "0x" + state.balances_root.hex(), "age_s": state.age_s,
                       "freezable_at_s": state.freezable_at_s}
    elif args.command == "freeze":
        answer = {"eth_tx": "0x" + bytes(anchors.freeze(load_key(args.key))["transactionHash"]).hex()}
    elif args.command == "exit":
        proof = json.loads(args.proof.read_text())
        receipt = anchors.exit(load_key(args.key), proof)
        answer = {"eth_tx": "0x" + bytes(receipt["transactionHash"]).hex(), "amount_micro_usdc": proof["amount_micro_usdc"],
                  "gas_used": receipt["gasUsed"]}
    else:
        key = load_key(args.key)
        nonces = [args.deposit] if args.deposit else [n for n, _ in anchors.reclaimable(key.address)]
        answer = {"reclaimed": [{"deposit_nonce": n, "eth_tx": "0x" + bytes(anchors.reclaim(key, n)["transactionHash"]).hex()}
                                for n in nonces]}
    return answer
