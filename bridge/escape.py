"""The Ethereum side of anchoring and the escape hatch, for the relayer, the CLI and the tests:
read the vault's anchor state, submit an anchor, freeze, exit and reclaim.

`exit` and `reclaim` are sent from the trader's own key (a signed raw transaction), since the
vault pays `msg.sender`; nothing here needs an unlocked node account for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from bridge.eth import TransactionFailed
from wire.crypto import PrivateKey


@dataclass(frozen=True)
class VaultAnchor:
    """What the vault holds of the latest anchor."""

    nonce: int
    height: int
    balances_root: bytes
    total_claimable_micro_usdc: int
    deposit_nonce: int
    withdrawal_id: int
    last_anchor_time_s: int
    freeze_period_s: int
    frozen: bool
    total_exited_micro_usdc: int

    @property
    def freezable_at_s(self) -> int:
        return self.last_anchor_time_s + self.freeze_period_s


def vault_anchor(vault: Contract) -> VaultAnchor:
    f = vault.functions
    return VaultAnchor(
        nonce=f.anchorNonce().call(), height=f.anchoredHeight().call(), balances_root=bytes(f.balancesRoot().call()),
        total_claimable_micro_usdc=f.totalClaimable().call(), deposit_nonce=f.anchoredDepositNonce().call(),
        withdrawal_id=f.anchoredWithdrawalId().call(), last_anchor_time_s=f.lastAnchorTime().call(),
        freeze_period_s=f.freezePeriod().call(), frozen=f.frozen().call(), total_exited_micro_usdc=f.totalExited().call())


def record_tuple(record: Mapping[str, Any]) -> tuple[int, str, int, bytes, bytes, int, int, int]:
    """An /anchor/records/<n> answer's `record` as Vault.anchor's AnchorRecord struct."""
    return (int(record["nonce"]), record["chain_id"], int(record["height"]), bytes.fromhex(record["app_hash"]),
            bytes.fromhex(record["balances_root"][2:]), int(record["total_claimable_micro_usdc"]),
            int(record["deposit_nonce"]), int(record["withdrawal_id"]))


def signature_tuples(vault_signatures: Sequence[Sequence[Any]]) -> list[tuple[bytes, bytes, int]]:
    return [(bytes.fromhex(r[2:]), bytes.fromhex(s[2:]), int(v)) for r, s, v in vault_signatures]


def anchor_call(vault: Contract, answer: Mapping[str, Any]) -> ContractFunction:
    """Vault.anchor for an /anchor/records/<n> answer (its record and ordered signatures)."""
    return vault.functions.anchor(record_tuple(answer["record"]), signature_tuples(answer["vault_signatures"]))


def send_as(w3: Web3, key: PrivateKey, call: ContractFunction, gas: int | None = None) -> TxReceipt:
    """Sign `call` with `key` and send it raw; raise TransactionFailed if it reverted.

    A call that would revert raises web3's ContractCustomError while gas is estimated."""
    sender = Web3.to_checksum_address(key.address)
    tx = call.build_transaction({"from": sender, "nonce": w3.eth.get_transaction_count(sender),
                                 "chainId": w3.eth.chain_id, **({"gas": gas} if gas else {})})
    signed = w3.eth.account.sign_transaction(tx, private_key=key.secret)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    if receipt["status"] != 1:
        raise TransactionFailed(f"transaction {tx_hash.hex()} reverted")
    return receipt


def exit_call(vault: Contract, proof_answer: Mapping[str, Any]) -> ContractFunction:
    """Vault.exit for an /anchor/proof/<address> answer (or the offline exit-proof file)."""
    return vault.functions.exit(int(proof_answer["amount_micro_usdc"]),
                                [bytes.fromhex(node[2:]) for node in proof_answer["proof"]])
