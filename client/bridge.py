"""The bridge through the client: chain-side bridge queries and txs, Ethereum-side deposits and the
solvency check (the vault's balance read with web3, set against the chain's claim).

    bridge = BridgeClient(Client(node_rpc), eth_rpc="http://127.0.0.1:8545", vault="0x..")
    bridge.deposit(eth_key, amount_micro_usdc, recipient, subaccount)   # approve + Vault.deposit
    bridge.withdraw(key, amount_micro_usdc, eth_recipient, subaccount)  # chain tx, queues a payment
    bridge.solvency()                                                    # Solvency, `holds` True when equal
    bridge.rotate_key(operator_key, current_eth_key, new_eth_key)        # validators: a new bridge key
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from client.client import Client, TxResult
from modules.bridge.keeper import supermajority
from modules.bridge.types import ClaimDeposit, ResumeDeposits, SetBridgeKey, SignValset, SignWithdrawal, Withdraw
from wire.crypto import PrivateKey
from wire.vault import bridge_key_digest, bridge_key_rotation_digest

__all__ = ["BridgeClient", "ClaimDeposit", "SetBridgeKey", "SignValset", "SignWithdrawal", "Solvency", "Withdraw",
           "held_by_vault", "send_eth_transaction"]

DEPOSITED_EVENT = "Deposited"


@dataclass(frozen=True)
class Solvency:
    """vault_balance == chain_claim + unpaid_withdrawals + uncredited_deposits on a healthy bridge."""

    height: int
    eth_block: int
    vault_balance_micro_usdc: int
    chain_claim_micro_usdc: int
    unpaid_withdrawals_micro_usdc: int
    uncredited_deposits_micro_usdc: int
    chain: dict[str, Any]

    @property
    def expected_vault_micro_usdc(self) -> int:
        return self.chain_claim_micro_usdc + self.unpaid_withdrawals_micro_usdc + self.uncredited_deposits_micro_usdc

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
                "surplus_micro_usdc": str(self.surplus_micro_usdc), "chain": self.chain}


def held_by_vault(vault: Any, answer: Mapping[str, Any]) -> list[tuple[bytes, bytes, int]] | None:
    """The signatures of a /bridge/withdrawals/<id> or /anchor/records/<n> answer made by keys the
    vault holds, in the answer's (vault) order, if they carry more than 2/3 of its power; None
    otherwise, e.g. while a key rotation is not handed over yet. The vault refuses a whole call for
    one signer it does not know, so a signature by a key it lacks is left out, never sent."""
    from web3 import Web3

    held, power = [], 0
    for signature, (r, s, v) in zip(answer["signatures"], answer["vault_signatures"], strict=True):
        weight = int(vault.functions.powerOf(Web3.to_checksum_address(signature["eth_address"])).call())
        if weight:
            held.append((bytes.fromhex(r[2:]), bytes.fromhex(s[2:]), int(v)))
            power += weight
    return held if supermajority(power, int(vault.functions.totalPower().call())) else None


def send_eth_transaction(w3: Any, key: PrivateKey, call: Any, timeout_s: float = 60.0) -> Any:
    """Sign `call` (a web3 contract function) with `key`, send it, wait for the receipt; raises web3's
    ContractCustomError while estimating gas if it would revert, RuntimeError if it reverted mined."""
    sender = w3.to_checksum_address(key.address)
    tx = call.build_transaction({"from": sender, "nonce": w3.eth.get_transaction_count(sender, "pending"),
                                 "chainId": w3.eth.chain_id})
    signed = w3.eth.account.sign_transaction(tx, key.secret)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout_s)
    if receipt["status"] != 1:
        raise RuntimeError(f"Ethereum tx 0x{bytes(tx_hash).hex()} reverted")
    return receipt


class BridgeClient:
    """Chain queries need only `client`; Ethereum calls need `eth_rpc` and `vault` (web3 is
    imported on first use, so chain-only users never load it)."""

    def __init__(self, client: Client, eth_rpc: str | None = None, vault: str | None = None) -> None:
        self.client = client
        self._eth_rpc = eth_rpc
        self._vault_address = vault
        self._w3: Any = None
        self._vault: Any = None
        self._token: Any = None

    # -- chain ----------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return self.client.query("/bridge/status")  # type: ignore[no-any-return]

    def validators(self) -> list[dict[str, Any]]:
        return self.client.query("/bridge/validators")["validators"]  # type: ignore[no-any-return]

    def deposit_status(self, nonce: int) -> dict[str, Any]:
        return self.client.query(f"/bridge/deposits/{nonce}")  # type: ignore[no-any-return]

    def withdrawal(self, withdrawal_id: int) -> dict[str, Any]:
        return self.client.query(f"/bridge/withdrawals/{withdrawal_id}")  # type: ignore[no-any-return]

    def valset(self, nonce: int) -> dict[str, Any]:
        return self.client.query(f"/bridge/valsets/{nonce}")  # type: ignore[no-any-return]

    def halt(self, halt_id: int) -> dict[str, Any]:
        """A deposit halt: while halted, its disputes and resumes; once resumed, what it corrected."""
        return self.client.query(f"/bridge/halts/{halt_id}")  # type: ignore[no-any-return]

    def resume_deposits(self, operator: PrivateKey, halt_id: int, wait: bool = True) -> TxResult | str:
        """The validator operator's resume of deposit halt `halt_id` (docs/bridge.md, "Deposit
        halts"); it takes effect once operators of more than 2/3 of the power sent theirs."""
        return self.client.send(operator, [ResumeDeposits(halt_id)], wait=wait)

    def rotate_key(self, operator: PrivateKey, current_eth_key: PrivateKey, new_eth_key: PrivateKey,
                   wait: bool = True) -> TxResult | str:
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
        return self.client.send(operator, [SetBridgeKey(new_eth_key.address, proof, valset_nonce, approval)],
                                wait=wait)

    def chain_solvency(self) -> dict[str, Any]:
        return self.client.query("/bridge/solvency")  # type: ignore[no-any-return]

    def withdraw(self, key: PrivateKey, amount_micro_usdc: int, eth_recipient: bytes, subaccount: int = 0,
                 wait: bool = True) -> TxResult | str:
        """Debit the subaccount on chain and queue a vault payment; the result's `withdrawal_queued`
        event carries the id."""
        return self.client.send(key, [Withdraw(subaccount, eth_recipient, amount_micro_usdc)], wait=wait)

    # -- Ethereum -------------------------------------------------------------------------------

    def _eth(self) -> tuple[Any, Any, Any]:
        if self._w3 is None:
            from web3 import Web3

            from bridge.eth import contract_at

            if self._eth_rpc is None:
                raise ValueError("no Ethereum RPC configured")
            self._w3 = Web3(Web3.HTTPProvider(self._eth_rpc, request_kwargs={"timeout": 30}))
            vault = self._vault_address or self.status()["vault"]
            self._vault = contract_at(self._w3, "Vault", vault)
            self._token = contract_at(self._w3, "TestUSDC", self._vault.functions.token().call())
        return self._w3, self._vault, self._token

    @property
    def vault(self) -> Any:
        return self._eth()[1]

    @property
    def token(self) -> Any:
        return self._eth()[2]

    @property
    def web3(self) -> Any:
        return self._eth()[0]

    def deposit(self, eth_key: PrivateKey, amount_micro_usdc: int, recipient: bytes, subaccount: int = 0) -> int:
        """approve + Vault.deposit from `eth_key`; returns the deposit nonce."""
        w3, vault, token = self._eth()
        send_eth_transaction(w3, eth_key, token.functions.approve(vault.address, amount_micro_usdc))
        receipt = send_eth_transaction(
            w3, eth_key, vault.functions.deposit(amount_micro_usdc, w3.to_checksum_address(recipient), subaccount))
        from web3.logs import DISCARD

        (event,) = vault.events.Deposited().process_receipt(receipt, errors=DISCARD)  # the token's logs: skipped
        return int(event["args"]["depositNonce"])

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
            from_block=0, to_block=eth_block) if int(log["args"]["depositNonce"]) > credited)
        paid = sum(int(log["args"]["amount"]) for log in vault.events.Withdrawn().get_logs(
            from_block=0, to_block=eth_block))
        return Solvency(height, eth_block, balance, int(chain["chain_claim_micro_usdc"]),
                        int(chain["withdrawn_total_micro_usdc"]) - paid, uncredited, chain)
