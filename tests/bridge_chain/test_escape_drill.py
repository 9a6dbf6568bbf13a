"""The escape drill, end to end (docs/anchoring.md): a 4-validator localnet with anvil and four
relayers anchors on schedule; traders hold positions; every validator stops; anvil's clock
passes the freeze period; the vault is frozen; every holder exits with a proof read offline
from a stopped node's data and receives exactly its anchored amount; the vault keeps what the
numbers say. Real cometbft, real anvil, real LevelDB; the CLI as a trader would run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from web3 import Web3
from web3.exceptions import ContractCustomError

from app.store import CommittedStore
from bridge.config import load_keystore
from bridge.eth import anvil_rpc
from bridge.localnet import ANCHOR_INTERVAL_BLOCKS, FREEZE_PERIOD_S, LocalBridge
from client import Client, PrivateKey, load_key, save_key
from client.anchor import AnchorClient, proof_call_args
from client.bridge import BridgeClient
from client.eth import decode_custom_error, send_eth_transaction
from localnet.commands import wait_for_blocks
from localnet.create import create_or_resume
from localnet.layout import Layout, LocalnetConfig
from localnet.supervisor import Supervisor
from modules.anchor.invariants import anchor_mismatch
from modules.anchor.keeper import AnchorKeeper
from modules.bank.keeper import BankKeeper
from modules.bank.types import Transfer
from modules.bridge.queries import solvency as chain_solvency
from modules.funding.keeper import FundingKeeper
from modules.orderbook.actions import PlaceOrder
from modules.orderbook.types import Side, TimeInForce
from modules.types import FEE_POOL, INSURANCE_FUND, SubaccountId
from tests.bridge_chain.conftest import wait_for
from tests.harness import COMETBFT, ROOT, free_port_block, processes_mentioning
from wire.crypto import keccak256

USDC = 1_000_000
BTC = 1
PRICES = {"BTC-USD": "65000", "ETH-USD": "3200", "SOL-USD": "150"}

pytestmark = pytest.mark.integration


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "perpchain.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    if check and done.returncode != 0:
        raise AssertionError(f"perpchain {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done


class Drill:
    def __init__(self, root: Path, layout: Layout, supervisor: Supervisor) -> None:
        self.root, self.layout, self.supervisor = root, layout, supervisor
        files = LocalBridge.of(root)
        assert files is not None
        self.files = files
        self.faucet = load_key(layout.faucet_key)
        self.vault_address = self.files.settings()["vault"]
        self.client = Client(layout.nodes[0].rpc_url, timeout_s=10.0)
        self.bridge = BridgeClient(self.client, self.files.eth_rpc, self.vault_address)
        self.anchors = AnchorClient(self.client, self.files.eth_rpc, self.vault_address)

    @property
    def w3(self) -> Web3:
        return self.bridge.web3

    def token_balance(self, address: bytes | str) -> int:
        checksum = Web3.to_checksum_address(address if isinstance(address, str) else "0x" + address.hex())
        return int(self.bridge.token.functions.balanceOf(checksum).call())

    def eth_args(self) -> list[str]:
        return ["--eth-rpc", self.files.eth_rpc, "--vault", self.vault_address]


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drill]:
    root = tmp_path_factory.mktemp("escape") / "localnet"
    config = LocalnetConfig(validators=4, block_time_ms=100, port_base=free_port_block(40), faucet_usdc=1_000_000)
    layout, created = create_or_resume(root, config, COMETBFT, bridge=True)
    assert created
    prices = root / "prices.json"  # one fixed price for every validator: the state stands still once trading stops
    prices.write_text(json.dumps(PRICES))
    supervisor = Supervisor(layout, COMETBFT, ROOT, price_sources={i: f"file:{prices}" for i in range(4)})
    try:
        supervisor.start()
        wait_for_blocks(layout)
        drill = Drill(root, layout, supervisor)
        yield drill
        drill.client.close()
    finally:
        supervisor.stop()
        leftovers = processes_mentioning(str(root))
        assert leftovers == [], f"processes left behind: {leftovers}"


def _vault_anchors(drill: Drill) -> list[dict[str, Any]]:
    return [dict(log["args"]) for log in drill.bridge.vault.events.Anchored().get_logs(from_block=0)]


def test_escape_drill(drill: Drill, tmp_path: Path) -> None:
    traders = [PrivateKey.generate() for _ in range(3)]
    key_files = []
    for i, key in enumerate(traders + [drill.faucet]):
        save_key(key, tmp_path / f"holder{i}.json")
        key_files.append(tmp_path / f"holder{i}.json")
        anvil_rpc(drill.w3, "anvil_setBalance", Web3.to_checksum_address(key.address), hex(10**18))

    # 1. Traders funded through the vault; a long and a short; a withdrawal paid.
    for key in traders:
        drill.bridge.deposit(drill.faucet, 2_000 * USDC, key.address)
    for key in traders:
        wait_for(lambda: drill.client.balance("0x" + key.address.hex()).amount_micro_usdc == 2_000 * USDC, 90,
                 "deposit credited")
    long_trader, short_trader, saver = traders
    drill.client.place(short_trader, PlaceOrder(0, BTC, Side.SELL, 65_000 * USDC, 1000))  # rejected: raises
    drill.client.place(long_trader, PlaceOrder(0, BTC, Side.BUY, 65_000 * USDC, 1000, TimeInForce.IOC))
    [position] = drill.client.positions("0x" + long_trader.address.hex())["positions"]
    assert position["size"] in (1000, "1000")
    drill.client.send(saver, [Transfer(0, SubaccountId(saver.address, 3), 150 * USDC)])  # a second subaccount
    drill.bridge.withdraw(saver, 100 * USDC, saver.address)
    wait_for(lambda: drill.token_balance(saver.address) == 100 * USDC, 90, "withdrawal paid")
    quiet_from = drill.client.height()

    # 2. Anchors land on schedule; the relayers report no lag; solvency holds.
    def caught_up() -> bool:
        vault = drill.anchors.vault_anchor()
        latest = drill.anchors.status()["latest"]
        return vault.height > quiet_from and latest is not None and int(latest["record"]["nonce"]) == vault.nonce
    wait_for(caught_up, 90, "an anchor of the quiet state on the vault")
    wait_for(lambda: json.loads(cli("query", "solvency", "--node", drill.layout.nodes[0].rpc_url,
                                    *drill.eth_args()).stdout)["holds"], 30, "`perpchain query solvency` holds")
    relayers = []
    for i in range(4):  # one relayer may lag a while behind (a claim overtaken in the mempool waits out its timeout)
        listen = (drill.files.relayer_state_dir(i) / "listen").read_text().strip()
        relayers.append(dict(line.split() for line in httpx.get(f"http://{listen}/metrics").text.splitlines()
                             if line and not line.startswith("#")))
    assert sum(float(m["relayer_anchors_signed_total"]) for m in relayers) >= 3  # a quorum signed at least once
    current = [m for m in relayers if float(m["relayer_anchor_vault_nonce"]) >= 1]
    assert current and min(float(m["relayer_anchor_lag_nonces"]) for m in current) <= 1
    assert all(0 <= float(m["relayer_anchor_age_seconds"]) < FREEZE_PERIOD_S for m in current)
    landed = _vault_anchors(drill)
    assert landed and all(a["height"] == a["nonce"] * ANCHOR_INTERVAL_BLOCKS for a in landed)
    assert [a["nonce"] for a in landed] == sorted({a["nonce"] for a in landed})  # increasing, none twice
    chain_latest = int(drill.anchors.status()["latest_nonce"])
    assert len(landed) >= chain_latest - 2, f"only {len(landed)} of {chain_latest} anchors landed"
    live_proof = drill.anchors.proof(long_trader.address)
    cli_live = json.loads(cli("query", "exit-proof", "0x" + long_trader.address.hex(), "--node",
                              drill.layout.nodes[1].rpc_url).stdout)
    assert cli_live["amount_micro_usdc"] == live_proof["amount_micro_usdc"]

    # 3. Every validator stops (and its relayer); then a deposit the chain never sees.
    for i in range(4):
        drill.supervisor.hold(i)
    for i in range(4):
        drill.supervisor.hold_relayer(i)
    vault = drill.anchors.vault_anchor()
    late_nonce = drill.bridge.deposit(drill.faucet, 77 * USDC, short_trader.address)
    assert late_nonce > vault.deposit_nonce

    # 4. The stopped nodes' data: the record the vault holds, equal to a from-scratch recomputation.
    roots = []
    for node in drill.layout.nodes:
        store = CommittedStore(node.data)
        try:
            keeper = AnchorKeeper(store)
            record = keeper.record(vault.nonce)
            assert record is not None and record.balances_root == vault.balances_root
            assert record.total_claimable_micro_usdc == vault.total_claimable_micro_usdc
            assert keeper.latest_nonce() in (vault.nonce, vault.nonce + 1)  # at most one computed but not landed
            assert anchor_mismatch(store, keccak256) is None  # the state stood still: leaves == recomputation
            roots.append(record.balances_root)
            if node.index == 0:
                claim = chain_solvency(store)
                bank = BankKeeper(store)
                module_money = bank.balance(FEE_POOL) + bank.balance(INSURANCE_FUND) + FundingKeeper(store).pool()
                assert int(claim["withdrawn_total_micro_usdc"]) == 100 * USDC  # paid before the stop
        finally:
            store.close()
    assert len(set(roots)) == 1

    # 5. Ethereum's clock passes the freeze period; anyone freezes.
    refused = cli("freeze", "--key", str(key_files[0]), *drill.eth_args(), check=False)
    assert refused.returncode == 1 and "FreezeTooEarly" in refused.stderr
    anvil_rpc(drill.w3, "evm_increaseTime", FREEZE_PERIOD_S + 5)
    anvil_rpc(drill.w3, "evm_mine")
    cli("freeze", "--key", str(key_files[0]), *drill.eth_args())
    shown = json.loads(cli("vault-anchor", *drill.eth_args()).stdout)
    assert shown["frozen"] and shown["nonce"] == vault.nonce and shown["balances_root"] == "0x" + vault.balances_root.hex()

    # 6. Every holder exits once with an offline proof, for exactly its anchored amount.
    vault_before = drill.token_balance(drill.vault_address)
    paid = 0
    for i, (key, key_file) in enumerate(zip(traders + [drill.faucet], key_files)):
        proof_file = tmp_path / f"proof{i}.json"
        home = drill.layout.root / drill.layout.nodes[i % 4].name  # any stopped node will do
        proof = json.loads(cli("exit-proof", "--home", str(home), "0x" + key.address.hex(), *drill.eth_args(),
                               "--out", str(proof_file)).stdout)
        assert proof["anchor"]["nonce"] == str(vault.nonce)
        before = drill.token_balance(key.address)
        cli("exit", "--key", str(key_file), "--proof", str(proof_file), *drill.eth_args())
        amount = int(proof["amount_micro_usdc"])
        assert drill.token_balance(key.address) - before == amount
        paid += amount
        if key is long_trader:
            assert proof["amount_micro_usdc"] == live_proof["amount_micro_usdc"]
        again = cli("exit", "--key", str(key_file), "--proof", str(proof_file), *drill.eth_args(), check=False)
        assert again.returncode == 1 and "AlreadyExited" in again.stderr
    assert paid == vault.total_claimable_micro_usdc

    # 7. A proof for another amount or another address reverts.
    stranger = PrivateKey.generate()
    anvil_rpc(drill.w3, "anvil_setBalance", Web3.to_checksum_address(stranger.address), hex(10**18))
    amount, nodes = proof_call_args(json.loads((tmp_path / "proof0.json").read_text()))
    for attempt in (drill.bridge.vault.functions.exit(amount + 1, nodes), drill.bridge.vault.functions.exit(amount, nodes)):
        with pytest.raises(ContractCustomError) as caught:
            send_eth_transaction(drill.w3, stranger, attempt)
        assert decode_custom_error(drill.bridge.vault.abi, caught.value)[0] == "InvalidProof"

    # 8. The deposit after the anchor is reclaimed once, by its depositor.
    faucet_before = drill.token_balance(drill.faucet.address)
    cli("reclaim", "--key", str(key_files[3]), *drill.eth_args())
    assert drill.token_balance(drill.faucet.address) - faucet_before == 77 * USDC
    again = cli("reclaim", "--key", str(key_files[3]), "--deposit", str(late_nonce), *drill.eth_args(), check=False)
    assert again.returncode == 1 and "NothingToReclaim" in again.stderr

    # 9. The vault keeps exactly the chain's money that belongs to no trader, and the bonds.
    f = drill.bridge.vault.functions
    bonds = [int(b) for b in drill.files.settings()["bonds"]]
    assert f.totalBonded().call() == sum(bonds)  # the genesis bonds, nothing slashed
    remainder = drill.token_balance(drill.vault_address)
    assert remainder == vault_before - paid - 77 * USDC
    assert remainder - sum(bonds) == int(claim["chain_claim_micro_usdc"]) - vault.total_claimable_micro_usdc == module_money

    # 10. One freeze period later each validator key takes its genesis bond back; the vault keeps the module money.
    anvil_rpc(drill.w3, "evm_increaseTime", FREEZE_PERIOD_S + 1)
    anvil_rpc(drill.w3, "evm_mine")
    for index in range(len(bonds)):
        eth_key = load_keystore(drill.files.root / f"eth{index}.keystore.json",
                                (drill.files.root / f"eth{index}.password").read_text().strip())
        before = drill.token_balance(eth_key.address)
        send_eth_transaction(drill.w3, eth_key, f.reclaimBond())
        assert drill.token_balance(eth_key.address) - before == bonds[index]
    assert drill.token_balance(drill.vault_address) == module_money and f.totalBonded().call() == 0
