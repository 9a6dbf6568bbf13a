"""The bridge through the client: chain-side bridge queries and txs, Ethereum-side deposits and the
solvency check (the vault's balance read with web3, set against the chain's claim).

    bridge = BridgeClient(Client(node_rpc), eth_rpc="http://127.0.0.1:8545", vault="0x..")
    bridge.deposit(eth_key, amount_micro_usdc, recipient, subaccount)   # approve + Vault.deposit
    bridge.bond(eth_key, amount_micro_usdc, signer)                      # approve + Vault.bond
    bridge.prove_anchor_equivocation(key, record_a, sig_a, record_b, sig_b)  # forfeit the signer's bond
    bridge.withdraw(key, amount_micro_usdc, eth_recipient, subaccount)  # chain tx, queues a payment
    bridge.solvency()                                                    # Solvency, `holds` True when equal
    bridge.rotate_key(operator_key, current_eth_key, new_eth_key)        # validators: a new bridge key
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from client.client import Client, TxResult
from modules.anchor.types import AnchorRecord
from modules.bridge.keeper import supermajority
from modules.bridge.types import ClaimDeposit, ResumeDeposits, SetBridgeKey, SignValset, SignWithdrawal, Withdraw
from modules.types import BOND_SUBACCOUNT
from wire.anchor import vault_record
from wire.codec import Action
from wire.crypto import PrivateKey
from wire.vault import bridge_key_digest, bridge_key_rotation_digest, split_signature

if TYPE_CHECKING:  # web3 is imported on first Ethereum use (client/eth.py)
    from web3 import Web3
    from web3.contract import Contract
    from web3.contract.contract import ContractFunction
    from web3.types import TxReceipt

__all__ = ["BridgeClient", "ClaimDeposit", "SetBridgeKey", "SignValset", "SignWithdrawal", "Solvency", "Withdraw",
           "held_by_vault"]


@dataclass(frozen=True)
class Solvency:
    """vault_balance == chain_claim + unpaid_withdrawals + uncredited_deposits + bonded
    − unanchored_bond_debits + insurance_pool on a healthy bridge: bonds and the pool are held by the
    vault outside any user's claim, and a bond the chain slashed since the vault's anchor is
    already in the chain's claim (its insurance fund) but not yet out of the vault's bonds."""

    height: int
    eth_block: int
    vault_balance_micro_usdc: int
    chain_claim_micro_usdc: int
    unpaid_withdrawals_micro_usdc: int
    uncredited_deposits_micro_usdc: int
    bonded_micro_usdc: int
    unanchored_bond_debits_micro_usdc: int
    insurance_pool_micro_usdc: int
    chain: dict[str, Any]

    @property
    def expected_vault_micro_usdc(self) -> int:
        return (self.chain_claim_micro_usdc + self.unpaid_withdrawals_micro_usdc + self.uncredited_deposits_micro_usdc
                + self.bonded_micro_usdc - self.unanchored_bond_debits_micro_usdc + self.insurance_pool_micro_usdc)

    @property
    def surplus_micro_usdc(self) -> int:
        return self.vault_balance_micro_usdc - self.expected_vault_micro_usdc

    @property
    def holds(self) -> bool:
        return self.surplus_micro_usdc == 0

    def as_json(self) -> dict[str, Any]:
        return {"height": self.height, "eth_block": self.eth_block, "holds": self.holds,
                "vault_balance_micro_usdc": str(self.vault_balance_micro_usdc),
                "chain_claim_micro_usdc": str(self.chain_claim_micro_usdc),
                "unpaid_withdrawals_micro_usdc": str(self.unpaid_withdrawals_micro_usdc),
                "uncredited_deposits_micro_usdc": str(self.uncredited_deposits_micro_usdc),
                "bonded_micro_usdc": str(self.bonded_micro_usdc),
                "unanchored_bond_debits_micro_usdc": str(self.unanchored_bond_debits_micro_usdc),
                "insurance_pool_micro_usdc": str(self.insurance_pool_micro_usdc),
                "surplus_micro_usdc": str(self.surplus_micro_usdc), "chain": self.chain}


def held_by_vault(vault: Contract, answer: Mapping[str, Any]) -> list[tuple[bytes, bytes, int]] | None:
    """The signatures of a /bridge/withdrawals/<id>, /bridge/valsets/<n> or /anchor/records/<n>
    answer made by keys the vault holds, in the answer's (vault) order, if they carry more than 2/3
    of its power; None otherwise, e.g. while a key rotation is not handed over yet. The vault
    refuses a whole call for one signer it does not know (a key rotated away, or forfeited by a
    fraud proof), so a signature by a key it lacks is left out, never sent."""
    held, power = [], 0
    for signature, (r, s, v) in zip(answer["signatures"], answer["vault_signatures"], strict=True):
        weight = int(vault.functions.powerOf(vault.w3.to_checksum_address(signature["eth_address"])).call())
        if weight:
            held.append((bytes.fromhex(r[2:]), bytes.fromhex(s[2:]), int(v)))
            power += weight
    return held if supermajority(power, int(vault.functions.totalPower().call())) else None


class BridgeClient:
    """Chain queries need only `client`; Ethereum calls need `eth_rpc` and `vault` (web3 is
    imported on first use, so chain-only users never load it)."""

    def __init__(self, client: Client, eth_rpc: str | None = None, vault: str | None = None) -> None:
        self.client = client
        self._eth_rpc = eth_rpc
        self._vault_address = vault
        self._ethereum: tuple[Web3, Contract, Contract] | None = None

    # -- chain ----------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return dict(self.client.query("/bridge/status"))

    def validators(self) -> list[dict[str, Any]]:
        return list(self.client.query("/bridge/validators")["validators"])

    def deposit_status(self, nonce: int) -> dict[str, Any]:
        return dict(self.client.query(f"/bridge/deposits/{nonce}"))

    def withdrawal(self, withdrawal_id: int) -> dict[str, Any]:
        return dict(self.client.query(f"/bridge/withdrawals/{withdrawal_id}"))

    def valset(self, nonce: int) -> dict[str, Any]:
        return dict(self.client.query(f"/bridge/valsets/{nonce}"))

    def halt(self, halt_id: int) -> dict[str, Any]:
        """A deposit halt: while halted, its disputes and resumes; once resumed, what it corrected."""
        return dict(self.client.query(f"/bridge/halts/{halt_id}"))

    def chain_solvency(self) -> dict[str, Any]:
        return dict(self.client.query("/bridge/solvency"))

    def resume_deposits(self, operator: PrivateKey, halt_id: int) -> TxResult:
        """The validator operator's resume of deposit halt `halt_id` (docs/bridge.md, "Deposit
        halts"); it takes effect once operators of more than 2/3 of the power sent theirs."""
        return self._send(operator, [ResumeDeposits(halt_id)])

    def rotate_key(self, operator: PrivateKey, current_eth_key: PrivateKey, new_eth_key: PrivateKey) -> TxResult:
        """Register `new_eth_key` as the bridge key of the validator `operator` runs, approved by
        `current_eth_key` (the key the chain registers for it now) for the next valset nonce; the
        chain records a new validator set for the previous one to hand over to the vault. A
        rotation by another validator landing first makes the approval stale
        (`StaleRotationNonce`, 621): call again."""
        mine = [v for v in self.validators() if v["operator"] == f"0x{operator.address.hex()}"]
        if not mine:
            raise ValueError(f"0x{operator.address.hex()} operates no bridge validator")
        if mine[0]["eth_address"] != f"0x{current_eth_key.address.hex()}":
            raise ValueError(f"the chain registers bridge key {mine[0]['eth_address']} for this validator, not "
                             f"0x{current_eth_key.address.hex()} (the current keystore given)")
        chain_id, consensus = self.client.chain_id(), bytes.fromhex(mine[0]["consensus_address"])
        valset_nonce = int(self.status()["valset_nonce"]) + 1
        proof = new_eth_key.sign_digest(bridge_key_digest(chain_id, consensus, new_eth_key.address))
        approval = current_eth_key.sign_digest(bridge_key_rotation_digest(
            chain_id, consensus, current_eth_key.address, new_eth_key.address, valset_nonce))
        return self._send(operator, [SetBridgeKey(new_eth_key.address, proof, valset_nonce, approval)])

    def withdraw(self, key: PrivateKey, amount_micro_usdc: int, eth_recipient: bytes, subaccount: int = 0) -> TxResult:
        """Debit the subaccount on chain and queue a vault payment; the result's `withdrawal_queued`
        event carries the id."""
        return self._send(key, [Withdraw(subaccount, eth_recipient, amount_micro_usdc)])

    def _send(self, key: PrivateKey, actions: Sequence[Action]) -> TxResult:
        return self.client.wait_for_tx(self.client.submit(self.client.build(key, actions)))

    # -- Ethereum -------------------------------------------------------------------------------

    def _eth(self) -> tuple[Web3, Contract, Contract]:
        if self._ethereum is None:
            from client.eth import connect, contract_at

            if self._eth_rpc is None:
                raise ValueError("no Ethereum RPC configured")
            w3 = connect(self._eth_rpc)
            vault = contract_at(w3, "Vault", self._vault_address or self.status()["vault"])
            self._ethereum = w3, vault, contract_at(w3, "TestUSDC", vault.functions.token().call())
        return self._ethereum

    @property
    def web3(self) -> Web3:
        return self._eth()[0]

    @property
    def vault(self) -> Contract:
        return self._eth()[1]

    @property
    def token(self) -> Contract:
        return self._eth()[2]

    def send_eth(self, key: PrivateKey, call: ContractFunction) -> TxReceipt:
        """`call` (e.g. `bridge.vault.functions.freeze()`) signed by `key`, sent, mined: see
        client.eth.send_eth_transaction."""
        from client.eth import send_eth_transaction

        return send_eth_transaction(self.web3, key, call)

    def deposit(self, eth_key: PrivateKey, amount_micro_usdc: int, recipient: bytes, subaccount: int = 0) -> int:
        """approve + Vault.deposit from `eth_key`; returns the deposit nonce."""
        from web3.logs import DISCARD

        w3, vault, token = self._eth()
        self.send_eth(eth_key, token.functions.approve(vault.address, amount_micro_usdc))
        receipt = self.send_eth(
            eth_key, vault.functions.deposit(amount_micro_usdc, w3.to_checksum_address(recipient), subaccount))
        (event,) = vault.events.Deposited().process_receipt(receipt, errors=DISCARD)  # the token's logs: skipped
        return int(event["args"]["depositNonce"])

    def bond(self, eth_key: PrivateKey, amount_micro_usdc: int, signer: bytes) -> int:
        """approve + Vault.bond from `eth_key` for validator key `signer`; returns the deposit nonce
        the bond takes (its Deposited event names subaccount 255)."""
        from web3.logs import DISCARD

        w3, vault, token = self._eth()
        self.send_eth(eth_key, token.functions.approve(vault.address, amount_micro_usdc))
        receipt = self.send_eth(eth_key, vault.functions.bond(amount_micro_usdc, w3.to_checksum_address(signer)))
        (event,) = vault.events.Deposited().process_receipt(receipt, errors=DISCARD)
        return int(event["args"]["depositNonce"])

    def bond_of(self, signer: bytes) -> int:
        """The bond the vault holds for validator key `signer` (0 once forfeited or reclaimed)."""
        return int(self.vault.functions.bondOf(self.web3.to_checksum_address(signer)).call())

    def prove_anchor_equivocation(self, key: PrivateKey, record_a: AnchorRecord, signature_a: bytes,
                                  record_b: AnchorRecord, signature_b: bytes) -> TxReceipt:
        """Submit two 65-byte signatures by one key over different anchors with the same nonce:
        the vault forfeits that key's bond and vote and pays `key` the reporter's share."""
        return self.send_eth(key, self.vault.functions.proveAnchorEquivocation(
            vault_record(record_a), split_signature(signature_a), vault_record(record_b), split_signature(signature_b)))

    def prove_withdrawal_equivocation(self, key: PrivateKey, withdrawal_id: int,
                                      a: tuple[bytes, int, bytes], b: tuple[bytes, int, bytes]) -> TxReceipt:
        """As prove_anchor_equivocation for two withdrawals with the same id, each given as
        (recipient, amount_micro_usdc, 65-byte signature)."""
        to = self.web3.to_checksum_address
        (recipient_a, amount_a, signature_a), (recipient_b, amount_b, signature_b) = a, b
        return self.send_eth(key, self.vault.functions.proveWithdrawalEquivocation(
            withdrawal_id, to(recipient_a), amount_a, split_signature(signature_a),
            to(recipient_b), amount_b, split_signature(signature_b)))

    def solvency(self) -> Solvency:
        """Chain figures first, then Ethereum at its latest block (a block landing in between shows
        as a transient difference; ask again)."""
        w3, vault, token = self._eth()
        chain = self.chain_solvency()
        height = self.client.height()
        eth_block = w3.eth.block_number
        balance = token.functions.balanceOf(vault.address).call(block_identifier=eth_block)
        credited = int(chain["credited_deposit_nonce"])
        uncredited = sum(int(log["args"]["amount"]) for log in vault.events.Deposited().get_logs(
            from_block=0, to_block=eth_block)
            if int(log["args"]["depositNonce"]) > credited and int(log["args"]["subaccount"]) != BOND_SUBACCOUNT)
        paid = sum(int(log["args"]["amount"]) for log in vault.events.Withdrawn().get_logs(
            from_block=0, to_block=eth_block))
        bonded = int(vault.functions.totalBonded().call(block_identifier=eth_block))
        pool = int(vault.functions.insurancePool().call(block_identifier=eth_block))
        return Solvency(height, eth_block, balance, int(chain["chain_claim_micro_usdc"]),
                        int(chain["withdrawn_total_micro_usdc"]) - paid, uncredited, bonded,
                        self._unanchored_bond_debits(eth_block), pool, chain)

    def _unanchored_bond_debits(self, eth_block: int) -> int:
        """What the next anchor will take out of the vault's bonds: per key the chain's debit above
        the vault's `debitedOf`, at most its `bondOf` (as Vault.anchor applies it)."""
        w3, vault, _ = self._eth()
        unanchored = 0
        for debit in self.client.query("/staking/validators").get("bond_debits", []):
            signer = w3.to_checksum_address(debit["eth_address"])
            delta = int(debit["debited_micro_usdc"]) - int(vault.functions.debitedOf(signer).call(block_identifier=eth_block))
            unanchored += min(max(delta, 0), int(vault.functions.bondOf(signer).call(block_identifier=eth_block)))
        return unanchored
