"""Anchors and the escape hatch through the client: the chain's anchor queries and exit proofs,
the vault's anchor state, and the trader's Ethereum calls (freeze, exit, reclaim), each signed
by the caller's own key since the vault pays `msg.sender`.

    anchors = AnchorClient(Client(node_rpc), eth_rpc="http://127.0.0.1:8545", vault="0x..")
    proof = anchors.proof(address)                 # /anchor/proof/<address>: amount + Merkle proof
    proven = anchors.proven_proof(address)         # the same, its root proven against a signed header
    anchors.exit(trader_key, proof)                # Vault.exit(amount, proof)
    anchors.vault_anchor()                         # VaultAnchor: nonce, root, age, frozen, ...

A proof saved from `perpchain exit-proof` (offline, from a stopped node's data) has the same
shape as the query's answer, so `exit` takes either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from client.bridge import BridgeClient, held_by_vault
from client.client import Client, TxResult
from client.errors import ChainRejected, ClientError
from client.light import NotVerified
from client.proven import Proven
from modules.anchor import merkle
from modules.anchor.errors import NoClaimableBalance
from modules.anchor.types import AnchorRecord, BondDebit, SignAnchor
from wire.anchor import vault_bond_debits, vault_record
from wire.crypto import PrivateKey, keccak256

if TYPE_CHECKING:  # web3 is imported on first Ethereum use (client/eth.py)
    from web3.contract import Contract
    from web3.contract.contract import ContractFunction
    from web3.types import TxReceipt

__all__ = ["AnchorClient", "EscapeSummary", "ProvenExitProof", "SignAnchor", "VaultAnchor", "bond_debits_from_json",
           "escape_summary", "proof_call_args", "vault_anchor_call", "record_from_json"]


@dataclass(frozen=True)
class VaultAnchor:
    """What the vault holds of the latest anchor, and its clock."""

    nonce: int
    height: int
    balances_root: bytes
    total_claimable_micro_usdc: int
    deposit_nonce: int
    withdrawal_id: int
    withdrawn_total_micro_usdc: int
    last_anchor_time_s: int
    freeze_period_s: int
    frozen: bool
    total_exited_micro_usdc: int
    eth_time_s: int  # the latest Ethereum block's timestamp

    @property
    def freezable_at_s(self) -> int:
        return self.last_anchor_time_s + self.freeze_period_s

    @property
    def age_s(self) -> int:
        return max(0, self.eth_time_s - self.last_anchor_time_s)


@dataclass(frozen=True)
class ProvenExitProof:
    """An exit proof whose leaf was checked against the balances root of `record`, itself proven in
    the chain's state (`proven`): the escape hatch's claim and the app hash speak of the same state."""

    answer: dict[str, Any]  # /anchor/proof/<address>/<nonce>, as Vault.exit takes it
    record: AnchorRecord
    proven: Proven  # the record's key, against the header that commits to that state

    def describe(self) -> str:
        return f"leaf checked against the balances root of anchor {self.record.nonce}, {self.proven.describe()}"


def record_from_json(r: Mapping[str, Any]) -> AnchorRecord:
    """The `AnchorRecord` of an /anchor/... answer's `record`."""
    return AnchorRecord(
        nonce=int(r["nonce"]), chain_id=r["chain_id"], height=int(r["height"]), app_hash=bytes.fromhex(r["app_hash"]),
        balances_root=bytes.fromhex(r["balances_root"][2:]),
        total_claimable_micro_usdc=int(r["total_claimable_micro_usdc"]), deposit_nonce=int(r["deposit_nonce"]),
        withdrawal_id=int(r["withdrawal_id"]), withdrawn_total_micro_usdc=int(r["withdrawn_total_micro_usdc"]),
        bond_debits_hash=bytes.fromhex(r["bond_debits_hash"][2:]), leaf_count=int(r["leaf_count"]), time_ms=int(r["time_ms"]),
        shortfall_micro_usdc=int(r["shortfall_micro_usdc"]), gains_micro_usdc=int(r["gains_micro_usdc"]))


def bond_debits_from_json(answer: Mapping[str, Any]) -> list[BondDebit]:
    """The bond debit list of an /anchor/records/<n> answer (the record carries its hash)."""
    return [(bytes.fromhex(d["signer"][2:]), int(d["debited_total_micro_usdc"])) for d in answer["bond_debits"]]


def vault_anchor_call(vault: Contract, answer: Mapping[str, Any]) -> ContractFunction | None:
    """Vault.anchor for an /anchor/records/<n> answer, with the signatures by keys the vault holds
    (held_by_vault); None while those carry 2/3 of its power or less."""
    signatures = held_by_vault(vault, answer)
    if signatures is None:
        return None
    return vault.functions.anchor(vault_record(record_from_json(answer["record"])), signatures,
                                  vault_bond_debits(bond_debits_from_json(answer)))


def proof_call_args(proof: Mapping[str, Any]) -> tuple[int, list[bytes]]:
    """(amount, proof nodes) of an exit proof, for Vault.exit."""
    return int(proof["amount_micro_usdc"]), [bytes.fromhex(node[2:]) for node in proof["proof"]]


class AnchorClient:
    def __init__(self, client: Client, eth_rpc: str | None = None, vault: str | None = None) -> None:
        self.client = client
        self.bridge = BridgeClient(client, eth_rpc, vault)

    # -- chain ----------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return dict(self.client.query("/anchor/status"))

    def record(self, nonce: int) -> dict[str, Any]:
        return dict(self.client.query(f"/anchor/records/{nonce}"))

    def proof(self, address: bytes, nonce: int | None = None) -> dict[str, Any]:
        suffix = f"/{nonce}" if nonce is not None else ""
        return dict(self.client.query(f"/anchor/proof/0x{address.hex()}{suffix}"))

    def proven_proof(self, address: bytes, nonce: int | None = None) -> ProvenExitProof:
        """`proof`, checked: the anchor record (the latest, or `nonce`) proven against a verified
        header, then the address's leaf and Merkle path against that record's balances root."""
        if nonce is None:
            latest = self.client.prove_latest_anchor()
            if latest.record is None or latest.proven is None:
                raise ClientError(f"no anchor yet (proven at height {latest.latest.height})")
            record, proven = latest.record, latest.proven
        else:
            record, proven = self.client.prove_anchor_record(nonce)
        answer = self.proof(address, record.nonce)
        amount, nodes = proof_call_args(answer)
        if not merkle.verify(keccak256, record.balances_root, address, amount, nodes):
            raise NotVerified(f"the exit proof of 0x{address.hex()} does not lead to anchor {record.nonce}'s "
                              f"proven balances root 0x{record.balances_root.hex()}")
        return ProvenExitProof(answer, record, proven)

    def sign(self, key: PrivateKey, nonce: int, signature: bytes) -> TxResult | str:
        return self.client.send(key, [SignAnchor(nonce, signature)])

    # -- Ethereum -------------------------------------------------------------------------------

    def vault_anchor(self) -> VaultAnchor:
        w3, f = self.bridge.web3, self.bridge.vault.functions
        return VaultAnchor(
            nonce=f.anchorNonce().call(), height=f.anchoredHeight().call(),
            balances_root=bytes(f.balancesRoot().call()), total_claimable_micro_usdc=f.totalClaimable().call(),
            deposit_nonce=f.anchoredDepositNonce().call(), withdrawal_id=f.anchoredWithdrawalId().call(),
            withdrawn_total_micro_usdc=f.anchoredWithdrawnTotal().call(),
            last_anchor_time_s=f.lastAnchorTime().call(), freeze_period_s=f.freezePeriod().call(),
            frozen=f.frozen().call(), total_exited_micro_usdc=f.totalExited().call(),
            eth_time_s=int(w3.eth.get_block("latest")["timestamp"]))

    def anchor_call(self, answer: Mapping[str, Any]) -> ContractFunction | None:
        """vault_anchor_call on this client's vault."""
        return vault_anchor_call(self.bridge.vault, answer)

    def freeze(self, key: PrivateKey) -> TxReceipt:
        return self.bridge.send_eth(key, self.bridge.vault.functions.freeze())

    def exit(self, key: PrivateKey, proof: Mapping[str, Any]) -> TxReceipt:
        """Vault.exit(amount, proof) from `key`, whose address must be the proof's."""
        if proof["address"].lower() != f"0x{key.address.hex()}":
            raise ValueError(f"the proof is for {proof['address']}, the key is 0x{key.address.hex()}")
        amount, nodes = proof_call_args(proof)
        return self.bridge.send_eth(key, self.bridge.vault.functions.exit(amount, nodes))

    def reclaim(self, key: PrivateKey, deposit_nonce: int) -> TxReceipt:
        return self.bridge.send_eth(key, self.bridge.vault.functions.reclaim(deposit_nonce))

    def reclaimable(self, depositor: bytes) -> list[tuple[int, int]]:
        """(deposit nonce, amount) of the depositor's deposits the vault's last anchor did not include."""
        vault = self.bridge.vault
        anchored, last = vault.functions.anchoredDepositNonce().call(), vault.functions.lastDepositNonce().call()
        found = []
        for nonce in range(anchored + 1, last + 1):
            sender, amount = vault.functions.depositOf(nonce).call()
            if sender.lower() == f"0x{depositor.hex()}" and amount:  # a bond's nonce reads amount 0
                found.append((nonce, int(amount)))
        return found


@dataclass(frozen=True)
class EscapeSummary:
    """What a trader's screen shows about its way out: the latest anchor, its age on the chain's
    clock, the amount it holds for the trader, and where the trader's proof was saved."""

    anchor_nonce: int
    anchor_height: int
    age_ms: int  # the chain's latest block time minus the anchored height's block time
    claimable_micro_usdc: int  # 0 when the anchor has no leaf for the address
    proof_path: Path | None  # None when there is nothing to prove


def escape_summary(anchors: AnchorClient, address: bytes, proof_dir: Path) -> EscapeSummary | None:
    """Ask the node for the latest anchor and the address's proof; save the proof as
    <proof_dir>/<address>.json (replacing an older one) so it is at hand if the chain stops.
    None when the chain has no anchor yet."""
    status = anchors.status()
    latest = status.get("latest")
    if not latest:
        return None
    record = latest["record"]
    age_ms = max(0, int(anchors.client.query("/app/status")["block_time_ms"]) - int(record["time_ms"]))
    try:
        proof = anchors.proof(address, int(record["nonce"]))
    except ChainRejected as rejected:
        if rejected.code != NoClaimableBalance.code:  # nothing to claim, nothing to save
            raise
        return EscapeSummary(int(record["nonce"]), int(record["height"]), age_ms, 0, None)
    proof_dir.mkdir(parents=True, exist_ok=True)
    path = proof_dir / f"0x{address.hex()}.json"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(proof, indent=2) + "\n")
    temporary.replace(path)
    return EscapeSummary(int(record["nonce"]), int(record["height"]), age_ms, int(proof["amount_micro_usdc"]), path)
