"""Ethereum through web3.py, for the client, the relayer and the bridge's tools alike: contract
bindings from the compiled artifacts, sending a transaction (signed by a key, or from an account
the node unlocks) and naming the custom error a contract reverts with.

Importing it imports web3 (a second or more): client/bridge.py imports it on first Ethereum use,
so chain-only users never load it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eth_abi.abi import decode as abi_decode
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError
from web3.types import TxReceipt

from client.artifacts import load_artifact
from wire.crypto import PrivateKey, keccak256

REQUEST_TIMEOUT_S = 30
RECEIPT_TIMEOUT_S = 60.0


class TransactionFailed(RuntimeError):
    """A mined transaction reverted."""


def connect(rpc_url: str) -> Web3:
    """web3 over the Ethereum JSON-RPC at `rpc_url`."""
    return Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": REQUEST_TIMEOUT_S}))


def contract_at(w3: Web3, name: str, address: str) -> Contract:
    """The compiled contract `name` (e.g. "Vault") deployed at `address`."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name).abi)


def send_eth_transaction(w3: Web3, key: PrivateKey, call: ContractFunction,
                         timeout_s: float = RECEIPT_TIMEOUT_S) -> TxReceipt:
    """Sign `call` with `key`, send it and wait for its receipt. A call that would revert raises
    web3's ContractCustomError while gas is estimated, before anything is sent (see
    `decode_custom_error`); TransactionFailed if it reverted once mined."""
    sender = Web3.to_checksum_address(key.address)
    tx = call.build_transaction({"from": sender, "nonce": w3.eth.get_transaction_count(sender, "pending"),
                                 "chainId": w3.eth.chain_id})
    signed = w3.eth.account.sign_transaction(tx, key.secret)
    return mined(w3, w3.eth.send_raw_transaction(signed.raw_transaction), timeout_s)


def transact(w3: Web3, call: ContractFunction, sender: str, timeout_s: float = RECEIPT_TIMEOUT_S) -> TxReceipt:
    """Send `call` from `sender`, an account the node unlocks (a dev node's), as `send_eth_transaction`
    does from a key."""
    return mined(w3, call.transact({"from": Web3.to_checksum_address(sender)}), timeout_s)


def mined(w3: Web3, tx_hash: HexBytes, timeout_s: float = RECEIPT_TIMEOUT_S) -> TxReceipt:
    """The receipt of `tx_hash` once mined; TransactionFailed if it reverted."""
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout_s)
    if receipt["status"] != 1:
        raise TransactionFailed(f"Ethereum tx 0x{bytes(tx_hash).hex()} reverted")
    return receipt


def error_selectors(abi: Sequence[Mapping[str, Any]]) -> dict[bytes, tuple[str, list[str]]]:
    """4-byte selector -> (error name, argument types) for every custom error in `abi`."""
    table = {}
    for entry in abi:
        if entry.get("type") == "error":
            types = [arg["type"] for arg in entry["inputs"]]
            selector = keccak256(f"{entry['name']}({','.join(types)})".encode())[:4]
            table[selector] = (entry["name"], types)
    return table


def decode_custom_error(abi: Sequence[Mapping[str, Any]],
                        revert: ContractCustomError | str | bytes) -> tuple[str, tuple[Any, ...]]:
    """(name, arguments) of a custom-error revert, e.g. ("AlreadyPaid", (7,)): from the error web3
    raised, or from the revert payload itself (hex or bytes)."""
    data = revert.data if isinstance(revert, ContractCustomError) else revert
    if isinstance(data, str):
        raw = bytes.fromhex(data.removeprefix("0x"))
    elif isinstance(data, bytes):
        raw = data
    else:
        raise ValueError(f"no revert payload in {revert!r}")
    table = error_selectors(abi)
    if raw[:4] not in table:
        raise ValueError(f"unknown error selector 0x{raw[:4].hex()}")
    name, types = table[raw[:4]]
    return name, tuple(abi_decode(types, raw[4:]))
