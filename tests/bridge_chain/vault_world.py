"""The money's whole path, in one process: the real Vault on a real anvil and the real chain (an
in-process Application over LevelDB) with four validators whose relayer duties this module
performs step by step — reading `Deposited` events and claiming them, signing withdrawals and
anchors on the chain, sending ready anchors and covered withdrawals to the vault — so a test
decides exactly when each happens, is late, is lost or is dropped by an Ethereum reorg.

What a user is owed is read from the chain's own history: `chain_credit(user)` is every
transfer received minus every transfer sent, up to the height the vault honours (every height
while it is live, the anchored height once it is frozen). Money is conserved exactly when each
user's token balance on Ethereum has moved by exactly that; no user may ever be ahead of it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from google.protobuf.timestamp_pb2 import Timestamp
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError

from app.application import Application
from app.store import CommittedStore
from bridge.eth import Anvil, anvil_rpc, deploy_bridge
from client.anchor import vault_anchor_call
from client.bridge import held_by_vault
from client.eth import decode_custom_error, transact
from modules.anchor.keeper import AnchorKeeper
from modules.anchor.merkle import BalanceTree, Leaf
from modules.anchor.queries import record_with_signatures
from modules.anchor.types import SignAnchor
from modules.bank.keeper import BankKeeper
from modules.bank.types import Transfer
from modules.bridge.keeper import BridgeKeeper
from modules.bridge.queries import withdrawal as withdrawal_answer
from modules.bridge.types import ClaimDeposit, SignWithdrawal, Withdraw
from modules.types import SubaccountId
from tests.app.conftest import TEST_MARKETS
from wire import vault as digests
from wire.anchor import anchor_digest, vault_record
from wire.codec import Tx, sign_tx
from wire.crypto import PrivateKey, keccak256
from wire.pb import abci_pb

from tendermint.crypto import keys_pb2 as keys_pb

USDC = 1_000_000
CHAIN_ID = "perpchain-ledger"
FREEZE_PERIOD_S = 600
ANCHOR_INTERVAL_BLOCKS = 3
BLOCK_MS = 1_000
GENESIS_TIME_MS = 1_800_000_000_000
USER_TOKENS = 1_000 * USDC


@dataclass(frozen=True)
class Validator:
    pub_key: bytes
    operator: PrivateKey
    eth_key: PrivateKey
    power: int = 10

    @property
    def consensus_address(self) -> bytes:
        return hashlib.sha256(self.pub_key).digest()[:20]


VALIDATORS = tuple(Validator(keccak256(b"ledger validator %d" % i), PrivateKey(keccak256(b"ledger operator %d" % i)),
                             PrivateKey(keccak256(b"ledger eth %d" % i))) for i in range(4))
USERS = tuple(PrivateKey(keccak256(b"ledger user %d" % i)) for i in range(3))


class Refused(Exception):
    """A vault call reverted; `name` is its custom error."""

    def __init__(self, name: str, args: tuple[Any, ...]) -> None:
        super().__init__(f"{name}{args}")
        self.name = name


@dataclass
class Deployed:
    """The vault and token, deployed once; each sequence starts from the snapshot after it."""

    anvil: Anvil
    token: Contract
    vault: Contract
    chain_id: int
    snapshot: str = ""

    @classmethod
    def on(cls, anvil: Anvil) -> "Deployed":
        w3 = anvil.web3()
        deployer = anvil.accounts[0].checksum
        deployment = deploy_bridge(w3, deployer=deployer, validators=[v.eth_key.address for v in VALIDATORS],
                                   powers=[v.power for v in VALIDATORS], mint={u.address: USER_TOKENS for u in USERS},
                                   freeze_period_s=FREEZE_PERIOD_S)
        for key in (*USERS, *(v.eth_key for v in VALIDATORS)):  # their txs are sent unsigned, as anvil allows
            anvil_rpc(w3, "anvil_setBalance", Web3.to_checksum_address(key.address), hex(10**20))
            anvil_rpc(w3, "anvil_impersonateAccount", Web3.to_checksum_address(key.address))
        for user in USERS:
            approve = deployment.token.functions.approve(deployment.vault.address, 2**256 - 1)
            transact(w3, approve, Web3.to_checksum_address(user.address))
        return cls(anvil, deployment.token, deployment.vault, deployment.chain_id)

    def reset(self) -> None:
        """Back to the state right after deployment (anvil forgets a snapshot it reverts to)."""
        w3 = self.anvil.web3()
        if self.snapshot:
            anvil_rpc(w3, "evm_revert", self.snapshot)
        self.snapshot = anvil_rpc(w3, "evm_snapshot")


@dataclass
class World:
    """One sequence: a fresh chain and the vault back at its deployment."""

    deployed: Deployed
    data: Path
    store: CommittedStore = field(init=False)
    app: Application = field(init=False)
    height: int = 0
    pending: list[bytes] = field(default_factory=list)
    nonce: int = 0
    # What each relayer has read from Ethereum (lost when it crashes): deposit nonce -> claim.
    seen: dict[bytes, dict[int, ClaimDeposit]] = field(default_factory=dict)
    # Every anchor's leaves, as an archive would keep them, so any anchor can be proven.
    anchored_leaves: dict[int, list[Leaf]] = field(default_factory=dict)
    # (height, sender, recipient, amount) of every transfer the chain applied.
    transfers: list[tuple[int, bytes, bytes, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.deployed.reset()
        self.w3 = self.deployed.anvil.web3()
        self._rpc = httpx.Client(timeout=30)
        self.vault = self.deployed.vault
        self.token = self.deployed.token
        self.store = CommittedStore(self.data)
        self.app = Application(self.store)
        app_state = {
            "bank": {"balances": []}, "markets": {"markets": TEST_MARKETS},
            "bridge": {"eth_chain_id": self.deployed.chain_id, "vault": self.vault.address.lower(), "validators": [
                {"consensus_address": v.consensus_address.hex().upper(), "operator": f"0x{v.operator.address.hex()}",
                 "eth_address": f"0x{v.eth_key.address.hex()}", "power": v.power} for v in VALIDATORS]},
            "anchor": {"interval_blocks": ANCHOR_INTERVAL_BLOCKS},
        }
        request = abci_pb.RequestInitChain(chain_id=CHAIN_ID, app_state_bytes=json.dumps(app_state).encode())
        for v in VALIDATORS:
            request.validators.add(pub_key=keys_pb.PublicKey(ed25519=v.pub_key), power=v.power)
        self.app.init_chain(request)
        self.user_start = {u.address: self.token_balance(u.address) for u in USERS}
        self.seen = {v.consensus_address: {} for v in VALIDATORS}
        self.block()

    def close(self) -> None:
        self._rpc.close()
        self.app.signers.close()
        self.store.close()

    # -- the chain ------------------------------------------------------------------------------

    def send(self, key: PrivateKey, *actions: Any) -> None:
        """Into the mempool if CheckTx admits it (as CometBFT would)."""
        self.nonce += 1
        raw = sign_tx(key, Tx(CHAIN_ID, key.address, GENESIS_TIME_MS + self.height * BLOCK_MS + self.nonce, actions))
        if self.app.check_tx(abci_pb.RequestCheckTx(tx=raw, type=abci_pb.NEW)).code == 0:
            self.pending.append(raw)

    def block(self) -> None:
        self.height += 1
        txs, self.pending = self.pending, []
        timestamp = Timestamp()
        timestamp.FromMilliseconds(GENESIS_TIME_MS + self.height * BLOCK_MS)
        response = self.app.finalize_block(abci_pb.RequestFinalizeBlock(txs=txs, height=self.height, time=timestamp))
        self.app.commit(abci_pb.RequestCommit())
        for result in response.tx_results:
            for event in result.events:
                if event.type == "transfer":
                    attributes = {a.key: a.value for a in event.attributes}
                    self._transfer_event(attributes)
        if any(e.type == "anchor" for e in response.events):
            keeper = AnchorKeeper(self.store)
            self.anchored_leaves[keeper.latest_nonce()] = keeper.leaves()

    def _transfer_event(self, attributes: dict[str, str]) -> None:
        sender, recipient = bytes.fromhex(attributes["sender"][2:]), bytes.fromhex(attributes["recipient"][2:])
        self.transfers.append((self.height, sender, recipient, int(attributes["amount_micro_usdc"])))

    def chain_balance(self, address: bytes) -> int:
        return BankKeeper(self.store).balance(SubaccountId(address, 0))

    # -- users ----------------------------------------------------------------------------------

    def eth_send(self, key: PrivateKey, call: Any) -> Any:
        """Send `call` from `key` (anvil impersonates it); Refused if the vault would revert."""
        try:
            return transact(self.w3, call, Web3.to_checksum_address(key.address))
        except ContractCustomError as exc:
            name, args = decode_custom_error(self.vault.abi, exc)
            raise Refused(name, args) from None

    def deposit(self, user: PrivateKey, amount: int) -> None:
        self.eth_send(user, self.vault.functions.deposit(amount, Web3.to_checksum_address(user.address), 0))

    def withdraw(self, user: PrivateKey, amount: int) -> None:
        self.send(user, Withdraw(0, user.address, amount))

    def transfer(self, sender: PrivateKey, recipient: PrivateKey, amount: int) -> None:
        self.send(sender, Transfer(0, SubaccountId(recipient.address, 0), amount))

    def exit(self, user: PrivateKey) -> int:
        """Exit with the proof of the vault's anchor; the amount (0: no leaf, nothing sent)."""
        leaves = self.anchored_leaves.get(self.vault.functions.anchorNonce().call(), [])
        tree = BalanceTree(keccak256, leaves)
        if tree.position(user.address) is None:
            return 0
        amount = tree.amount(user.address)
        self.eth_send(user, self.vault.functions.exit(amount, tree.proof(user.address)))
        return amount

    def reclaimable(self, user: PrivateKey) -> list[int]:
        f = self.vault.functions
        return [n for n in range(f.anchoredDepositNonce().call() + 1, f.lastDepositNonce().call() + 1)
                if f.depositOf(n).call()[0].lower() == f"0x{user.address.hex()}"]

    def reclaim(self, user: PrivateKey, deposit_nonce: int) -> None:
        self.eth_send(user, self.vault.functions.reclaim(deposit_nonce))

    # -- relayer duties -------------------------------------------------------------------------

    def follow(self, v: Validator) -> None:
        """Read every `Deposited` event on the vault so far."""
        for log in self.vault.events.Deposited().get_logs(from_block=0):
            a = log["args"]
            self.seen[v.consensus_address][a["depositNonce"]] = ClaimDeposit(
                a["depositNonce"], log["blockNumber"], bytes(log["transactionHash"]), bytes.fromhex(a["sender"][2:]),
                bytes.fromhex(a["recipient"][2:]), a["subaccount"], a["amount"])

    def claim(self, v: Validator) -> None:
        bridge = BridgeKeeper(self.store)
        nonce = max(bridge.last_claim(v.consensus_address), bridge.next_deposit_nonce() - 1) + 1
        claims = []
        while nonce in self.seen[v.consensus_address]:
            claims.append(self.seen[v.consensus_address][nonce])
            nonce += 1
        if claims:
            self.send(v.operator, *claims)

    def sign(self, v: Validator) -> None:
        """Sign every queued withdrawal and the latest anchor this validator has not signed."""
        bridge = BridgeKeeper(self.store)
        actions: list[SignWithdrawal | SignAnchor] = []
        for withdrawal_id in range(1, bridge.next_withdrawal_id()):
            if bridge.signer(withdrawal_id, v.consensus_address) is None:
                w = bridge.withdrawal(withdrawal_id)
                assert w is not None
                digest = digests.withdrawal_digest(self.deployed.chain_id, bytes.fromhex(self.vault.address[2:]),
                                                   withdrawal_id, w.recipient, w.amount_micro_usdc)
                actions.append(SignWithdrawal(withdrawal_id, digests.sign(v.eth_key, digest)))
        keeper = AnchorKeeper(self.store)
        record = keeper.latest()
        if record is not None and keeper.signer(record.nonce, v.consensus_address) != v.eth_key.address:
            digest = anchor_digest(self.deployed.chain_id, bytes.fromhex(self.vault.address[2:]), record)
            actions.append(SignAnchor(record.nonce, v.eth_key.sign_digest(digest)))
        if actions:
            self.send(v.operator, *actions)

    def submit_anchor(self, nonce: int | None = None) -> bool:
        """Send anchor `nonce` to the vault if it is ready; by default the newest ready one (the
        latest, or the one before while the latest collects signatures). False if none is."""
        latest = AnchorKeeper(self.store).latest_nonce()
        ready = [n for n in ((latest, latest - 1) if nonce is None else (nonce,))
                 if 0 < n <= latest and record_with_signatures(self.store, n)["ready"]]
        if not ready:
            return False
        answer = record_with_signatures(self.store, ready[0])
        call = vault_anchor_call(self.vault, answer)  # as a relayer sends it: keys the vault holds
        if call is None:  # a forfeited key's signature counted on the chain, not in the vault
            return False
        self.eth_send(VALIDATORS[0].eth_key, call)
        return True

    def pay(self, withdrawal_id: int) -> None:
        answer = withdrawal_answer(self.store, withdrawal_id)
        signatures = held_by_vault(self.vault, answer) or []  # none: the vault refuses (InsufficientPower)
        call = self.vault.functions.withdraw(withdrawal_id, Web3.to_checksum_address(answer["recipient"]),
                                             int(answer["amount_micro_usdc"]), signatures)
        self.eth_send(VALIDATORS[1].eth_key, call)

    def equivocate(self, v: Validator, reporter: PrivateKey) -> None:
        """`v` signs two anchors with one nonce, and `reporter` proves it: the vault takes its
        vote (it has no bond here: the chain credits none yet)."""
        vault = bytes.fromhex(self.vault.address[2:])
        base = AnchorKeeper(self.store).latest()
        assert base is not None, "equivocate once the chain has an anchor"
        pair = [base, replace(base, total_claimable_micro_usdc=base.total_claimable_micro_usdc + 1)]
        sigs = [digests.split_signature(digests.sign(v.eth_key, anchor_digest(self.deployed.chain_id, vault, r)))
                for r in pair]
        self.eth_send(reporter, self.vault.functions.proveAnchorEquivocation(
            vault_record(pair[0]), sigs[0], vault_record(pair[1]), sigs[1]))

    def next_withdrawal_id(self) -> int:
        return BridgeKeeper(self.store).next_withdrawal_id()

    def is_ready(self, withdrawal_id: int) -> bool:
        return bool(withdrawal_answer(self.store, withdrawal_id)["ready"])

    def payable(self) -> list[int]:
        """Withdrawals an honest relayer sends: ready on chain, covered by the vault's anchor, unpaid."""
        f = self.vault.functions
        through = min(f.anchoredWithdrawalId().call(), BridgeKeeper(self.store).next_withdrawal_id() - 1)
        return [i for i in range(1, through + 1) if not f.withdrawalPaid(i).call() and self.is_ready(i)
                and held_by_vault(self.vault, withdrawal_answer(self.store, i)) is not None]

    # -- Ethereum time and reorgs ---------------------------------------------------------------

    def pass_time(self, seconds: int) -> None:
        anvil_rpc(self.w3, "evm_increaseTime", seconds)
        anvil_rpc(self.w3, "evm_mine")

    def frozen(self) -> bool:
        return bool(self.vault.functions.frozen().call())

    def fork_point(self) -> str:
        return str(anvil_rpc(self.w3, "evm_snapshot"))

    def reorg_to(self, point: str) -> None:
        """Drop every Ethereum block since `point` (relayers have not read them)."""
        assert anvil_rpc(self.w3, "evm_revert", point) is True

    # -- the money ------------------------------------------------------------------------------

    def token_balance(self, address: bytes) -> int:
        return int(self.token.functions.balanceOf(Web3.to_checksum_address(address)).call())

    def gained(self, user: PrivateKey) -> int:
        """What the user's token balance on Ethereum has moved by (paid out minus deposited)."""
        return self.token_balance(user.address) - self.user_start[user.address]

    def honoured_height(self) -> int:
        """The chain's history the vault pays from: all of it while live, the anchor's once frozen."""
        return int(self.vault.functions.anchoredHeight().call()) if self.frozen() else self.height

    def chain_credit(self, user: PrivateKey, through: int | None = None) -> int:
        """Transfers received minus transfers sent, through the honoured height."""
        through = self.honoured_height() if through is None else through
        return sum((amount if recipient == user.address else 0) - (amount if sender == user.address else 0)
                   for height, sender, recipient, amount in self.transfers if height <= through)

    def owed(self) -> int:
        return sum(self.vault.functions.owed().call())

    def broken(self) -> str | None:
        """The ledger's rules, checked after every step (the vault's views read in one batch)."""
        vault = self.vault.address
        words = self._batch([(vault, self.vault.encode_abi("frozen")), (vault, self.vault.encode_abi("anchoredHeight")),
                             (vault, self.vault.encode_abi("owed"))]
                            + [(self.token.address, self.token.encode_abi("balanceOf", args=[Web3.to_checksum_address(a)]))
                               for a in (*(u.address for u in USERS), bytes.fromhex(vault[2:]))])
        frozen, anchored_height, owed_parts, *balances = words
        through = int.from_bytes(anchored_height[:32], "big") if int.from_bytes(frozen[:32], "big") else self.height
        for user, balance in zip(USERS, balances):
            gained = int.from_bytes(balance[:32], "big") - self.user_start[user.address]
            credit = self.chain_credit(user, through)
            if gained > credit:
                return f"user 0x{user.address.hex()[:8]} gained {gained} on Ethereum, more than the chain credited ({credit})"
        vault_balance = int.from_bytes(balances[-1][:32], "big")
        owed = sum(int.from_bytes(owed_parts[i:i + 32], "big") for i in range(0, len(owed_parts), 32))  # every term
        if vault_balance < owed:
            return f"the vault holds {vault_balance} but owes {owed}"
        return None

    def _batch(self, calls: list[tuple[str, str]]) -> list[bytes]:
        """eth_call each (contract, calldata) at the latest block, in one JSON-RPC batch."""
        body = [{"jsonrpc": "2.0", "id": i, "method": "eth_call", "params": [{"to": to, "data": data}, "latest"]}
                for i, (to, data) in enumerate(calls)]
        answers = sorted(self._rpc.post(self.deployed.anvil.rpc_url, json=body).json(), key=lambda a: a["id"])
        return [bytes.fromhex(a["result"][2:]) for a in answers]
