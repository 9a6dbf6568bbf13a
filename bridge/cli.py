"""The bridge's commands, registered on perpchain's parser by perpchain/cli.py:

    perpchain relayer --config FILE
    perpchain tx deposit --key FILE --amount USDC [--to 0xADDR[/N]] [--eth-rpc URL] [--vault 0x..]
    perpchain tx withdraw --key FILE --amount USDC --to 0xETH [--subaccount N]
    perpchain tx bridge-key --key OPERATOR_KEYSTORE [--password-file FILE]
                            --current-eth-keystore FILE [--current-eth-password-file FILE]
                            --eth-keystore NEW_FILE [--eth-password-file FILE]
                                         (validators: rotate the bridge key, approved by the current
                                         one; passwords else from the environment)
    perpchain query solvency [--eth-rpc URL] [--vault 0x..]   (vault balance against the chain's claim)
    perpchain tx bridge-resume --key OPERATOR_FILE --halt N   (validators: resume deposits after halt N)
    perpchain query bridge status|validators|deposit N|withdrawal N|valset N|halt N

`--eth-rpc` defaults to $PERPCHAIN_ETH_RPC, else the localnet's anvil; `--vault` to the chain's.
A deposit is signed on Ethereum by the same key file (any Ethereum key is a perpchain key).
"""

from __future__ import annotations

import argparse
import os
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from client.arguments import subaccount_number, subaccount_ref, uint_arg
from client.proof_arguments import add_proof_options, trust_root

if TYPE_CHECKING:  # imported where used: a command loads only what it needs
    from client import Client, PrivateKey

DEFAULT_LOCALNET = Path(".data/localnet")


def _micro_usdc(text: str) -> int:
    try:
        amount = Decimal(text) * 1_000_000
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not an amount of USDC: {text!r}") from None
    if amount <= 0 or amount != amount.to_integral_value():
        raise argparse.ArgumentTypeError(f"amount must be positive with at most 6 decimals, got {text!r}")
    return int(amount)


def eth_rpc_of(args: argparse.Namespace) -> str:
    if args.eth_rpc:
        return str(args.eth_rpc)
    if os.environ.get("PERPCHAIN_ETH_RPC"):
        return os.environ["PERPCHAIN_ETH_RPC"]
    from bridge.localnet import LocalBridge

    local = LocalBridge.of(DEFAULT_LOCALNET)
    if local is None:
        raise SystemExit("no Ethereum RPC: pass --eth-rpc or set PERPCHAIN_ETH_RPC")
    return local.eth_rpc


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser],
                default_node: str) -> None:
    """Register `relayer` on perpchain's subcommands."""
    relayer = commands.add_parser("relayer", help="bridge relayer of one validator operator (until Ctrl-C)")
    add_relayer_options(relayer)
    relayer.set_defaults(func=lambda args: __import__("bridge.relayer", fromlist=["run"]).run(
        args.config, trust_root(args) if args.verify else None))


def add_relayer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="config file (JSON; docs/bridge.md)")
    parser.add_argument("--verify", action="store_true",
                        help="sign only anchor records proven against headers the validators signed (docs/bridge.md)")
    add_proof_options(parser, flag=False)


def add_eth_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--eth-rpc", help="Ethereum JSON-RPC (default: $PERPCHAIN_ETH_RPC or the localnet's anvil)")
    parser.add_argument("--vault", help="vault address (default: the chain's /bridge/status)")


def add_tx_parsers(tx_commands: argparse._SubParsersAction[argparse.ArgumentParser],
                   signer: argparse.ArgumentParser) -> None:
    deposit = tx_commands.add_parser("deposit", parents=[signer],
                                     help="approve + Vault.deposit on Ethereum; credited on chain by the relayers")
    deposit.add_argument("--amount", type=_micro_usdc, required=True, help="USDC (6 decimals)")
    deposit.add_argument("--to", type=subaccount_ref, metavar="0xADDR[/N]", help="perpchain subaccount credited (default: the key's /0)")
    add_eth_options(deposit)
    withdraw = tx_commands.add_parser("withdraw", parents=[signer],
                                      help="debit free collateral on chain; the vault pays --to once validators sign")
    withdraw.add_argument("--amount", type=_micro_usdc, required=True, help="USDC (6 decimals)")
    withdraw.add_argument("--to", required=True, metavar="0xETH", help="Ethereum recipient")
    withdraw.add_argument("--subaccount", type=subaccount_number, default=0)
    rotate = tx_commands.add_parser(
        "bridge-key", parents=[signer],
        help="validators: replace the bridge's Ethereum key (--key: the encrypted operator key; the current "
             "Ethereum key approves)")
    rotate.add_argument("--current-eth-keystore", type=Path, required=True,
                        help="the encrypted keystore of the bridge key the chain registers now (approves the rotation)")
    rotate.add_argument("--current-eth-password-file", type=Path,
                        help="its password (default: $PERPCHAIN_RELAYER_PASSWORD; never on the command line)")
    rotate.add_argument("--eth-keystore", type=Path, required=True, help="the new key's encrypted keystore")
    rotate.add_argument("--eth-password-file", type=Path,
                        help="its password (default: $PERPCHAIN_RELAYER_PASSWORD; never on the command line)")
    resume = tx_commands.add_parser(
        "bridge-resume", parents=[signer],
        help="validator operators: resume deposits after a halt (applied at > 2/3 of the power; docs/bridge.md)")
    resume.add_argument("--halt", type=uint_arg("halt"), required=True, help="the halt id (`perpchain query bridge status`)")


def add_query_parsers(query_commands: argparse._SubParsersAction[argparse.ArgumentParser],
                      node: argparse.ArgumentParser) -> None:
    solvency = query_commands.add_parser("solvency", parents=[node],
                                         help="the vault's balance against the chain's claim on it")
    add_eth_options(solvency)
    bridge = query_commands.add_parser("bridge", parents=[node], help="bridge status, validators, deposits, withdrawals")
    bridge.add_argument("what", choices=("status", "validators", "deposit", "withdrawal", "valset", "halt"))
    bridge.add_argument("number", nargs="?", type=uint_arg("number"))


def tx_result(client: Client, key: PrivateKey, args: argparse.Namespace) -> dict[str, Any]:
    """`tx deposit` / `tx withdraw` (perpchain/cli.py prints the result as JSON)."""
    from client.bridge import BridgeClient
    from wire.crypto import address_from_hex

    if args.tx_command == "bridge-resume":
        result = BridgeClient(client).resume_deposits(key, args.halt)
        names = [e.type for e in result.events]
        resumed = next((e for e in result.events if e.type == "deposits_resumed"), None)
        return {"tx_hash": result.tx_hash, "height": result.height, "halt_id": args.halt,
                "resume_power": next(e for e in result.events if e.type == "deposit_resume_sent")
                .attributes["resume_power"], "resumed": resumed is not None,
                "corrected": int(resumed.attributes["corrected"]) if resumed else 0,
                "shortfall_micro_usdc": resumed.attributes["shortfall_micro_usdc"] if resumed else "0",
                "halted_again": "deposits_halted" in names}
    if args.tx_command == "bridge-key":
        from bridge.config import PASSWORD_ENV
        from client.keys import load_encrypted_key, read_password

        current_key = load_encrypted_key(args.current_eth_keystore, read_password(
            args.current_eth_password_file, PASSWORD_ENV, "--current-eth-password-file"))
        new_key = load_encrypted_key(args.eth_keystore, read_password(
            args.eth_password_file, PASSWORD_ENV, "--eth-password-file"))
        result = BridgeClient(client).rotate_key(key, current_key, new_key)
        (rotated,) = [e for e in result.events if e.type == "bridge_key_set"]
        return {"tx_hash": result.tx_hash, "height": result.height, "eth_address": f"0x{new_key.address.hex()}",
                "valset_nonce": int(rotated.attributes["valset_nonce"])}
    if args.tx_command == "withdraw":
        result = BridgeClient(client).withdraw(key, args.amount, address_from_hex(args.to), args.subaccount)
        queued = next(e for e in result.events if e.type == "withdrawal_queued")
        return {"tx_hash": result.tx_hash, "height": result.height,
                "withdrawal_id": int(queued.attributes["withdrawal_id"])}
    recipient, number = key.address, 0
    if args.to:
        address, number = args.to
        recipient = address_from_hex(address)
    bridge = BridgeClient(client, eth_rpc_of(args), args.vault)
    nonce = bridge.deposit(key, args.amount, recipient, number)
    return {"deposit_nonce": nonce, "recipient": f"0x{recipient.hex()}", "subaccount": number,
            "amount_micro_usdc": str(args.amount)}


def query_result(client: Client, args: argparse.Namespace) -> Any:
    """`query solvency` / `query bridge ...`."""
    from client.bridge import BridgeClient

    if args.query_command == "solvency":
        return BridgeClient(client, eth_rpc_of(args), args.vault).solvency().as_json()
    bridge = BridgeClient(client)
    if args.what == "status":
        return bridge.status()
    if args.what == "validators":
        return bridge.validators()
    if args.number is None:
        raise SystemExit(f"query bridge {args.what} needs a number")
    by_number = {"deposit": bridge.deposit_status, "withdrawal": bridge.withdrawal, "valset": bridge.valset,
                 "halt": bridge.halt}
    return by_number[args.what](args.number)
