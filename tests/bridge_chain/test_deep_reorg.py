"""Reorgs deeper than the relayers' confirmation depth, end to end on a 4-validator localnet with
anvil and four relayers (real cometbft, real anvil; the Ethereum chain is forked with anvil's
snapshot / revert while it keeps mining): claims split between the dropped and the canonical
deposit finish once the relayers that claimed the dropped one re-claim; a deposit credited from a
dropped block halts deposits once the relayers dispute it, and the operators' resume credits the
canonical deposit, takes the wrong credit back and lets later deposits through.

Every relayer held stops the anchors (they need more than 2/3 of the signatures) and the
localnet's vault freezes 60 s after its last anchor, so each test waits for a fresh anchor before
it forks and keeps its relayers down for seconds, not minutes."""

from __future__ import annotations

import json
import subprocess
import sys

from web3 import Web3
from web3.logs import DISCARD

from bridge.config import RelayerConfig
from bridge.eth import anvil_rpc
from client import PrivateKey, SubaccountId
from client.eth import send_eth_transaction
from modules.bridge.types import ClaimDeposit
from tests.bridge_chain.conftest import ROOT, BridgedNet, wait_for
from tests.bridge_chain.test_end_to_end import _credit_events, _relayer_health, _settled, _solvent

USDC = 1_000_000


def _events(net: BridgedNet, kind: str, key: str, value: object) -> list[dict[str, str]]:
    """Every `kind` event whose attribute `key` is `value`, in any tx of the chain (the tx index)."""
    with net.client() as client:
        found = client.rpc.call("tx_search", query=f"{kind}.{key}='{value}'", per_page="100")
    events = [(e["type"], {a["key"]: a["value"] for a in e["attributes"]})
              for tx in found["txs"] for e in tx["tx_result"]["events"]]
    return [attributes for name, attributes in events if name == kind and attributes.get(key) == str(value)]


def _fresh_anchor(net: BridgedNet) -> None:
    """Wait for the vault to take one more anchor: its freeze clock starts again."""
    vault = net.bridge().vault
    before = vault.functions.anchorNonce().call()
    wait_for(lambda: vault.functions.anchorNonce().call() > before, 60, "a fresh anchor on the vault")


def _deposit(net: BridgedNet, amount: int, recipient: bytes, subaccount: int) -> tuple[int, ClaimDeposit]:
    """Vault.deposit from the faucet (approved before); its nonce and the claim an honest relayer makes."""
    bridge = net.bridge()
    receipt = send_eth_transaction(bridge.web3, net.faucet, bridge.vault.functions.deposit(
        amount, Web3.to_checksum_address(recipient), subaccount))
    (event,) = bridge.vault.events.Deposited().process_receipt(receipt, errors=DISCARD)
    nonce = int(event["args"]["depositNonce"])
    return nonce, ClaimDeposit(nonce, int(receipt["blockNumber"]), bytes(receipt["transactionHash"]),
                               net.faucet.address, recipient, subaccount, amount)


def _validators_of_relayers(net: BridgedNet) -> list[str]:
    """The consensus address of relayer i's validator, for each i."""
    by_operator = {v["operator"]: v["consensus_address"] for v in net.bridge().validators()}
    return [by_operator["0x" + RelayerConfig.load(net.bridge_files.relayer_config(i)).operator_key().address.hex()]
            for i in range(4)]


def _claimed(net: BridgedNet, nonce: int) -> list[str]:
    """The content hashes of the claims of `nonce`, in validator order."""
    return [c["content_hash"] for c in net.bridge().deposit_status(nonce)["claims"]]


def test_claims_split_by_a_reorg_deeper_than_the_confirmations_finish_on_the_canonical_deposit(
        bridged_net: BridgedNet) -> None:
    """Relayers 0 and 1 claim a deposit, then are held; the Ethereum chain is reverted to before it
    and the same nonce goes to another deposit, which relayers 2 and 3 claim: 20 and 20 of 40 power,
    a tally no new claim can finish. Once 0 and 1 run again they rewind, read the nonce again and
    re-claim it: the canonical deposit is credited once, the dropped one never."""
    net, dropped_to, kept_to = bridged_net, PrivateKey.generate().address, PrivateKey.generate().address
    bridge = net.bridge()
    w3, vault, token = bridge.web3, bridge.vault, bridge.token
    wait_for(lambda: _settled(net), 60, "bridge settled")
    send_eth_transaction(w3, net.faucet, token.functions.approve(vault.address, 10 * USDC))  # before the fork
    validators = _validators_of_relayers(net)
    _fresh_anchor(net)
    held = []
    try:
        for index in (2, 3):
            net.supervisor.hold_relayer(index)
            held.append(index)
        snapshot = anvil_rpc(w3, "evm_snapshot")
        nonce, dropped = _deposit(net, 7 * USDC, dropped_to, 0)
        wait_for(lambda: _claimed(net, nonce) == [dropped.content_hash().hex()] * 2, 60,
                 "relayers 0 and 1 claim the deposit before the reorg")
        for index in (0, 1):
            net.supervisor.hold_relayer(index)
            held.append(index)
        assert anvil_rpc(w3, "evm_revert", snapshot) is True
        assert vault.functions.lastDepositNonce().call() == nonce - 1
        kept_nonce, kept = _deposit(net, 3 * USDC, kept_to, 1)
        assert kept_nonce == nonce  # the same nonce, another deposit
        for index in (2, 3):
            net.supervisor.release_relayer(index)
            held.remove(index)
        split = sorted([dropped.content_hash().hex()] * 2 + [kept.content_hash().hex()] * 2)
        wait_for(lambda: sorted(_claimed(net, nonce)) == split, 60, "relayers 2 and 3 claim the canonical deposit")
        answer = bridge.deposit_status(nonce)
        assert answer["status"] == "pending"  # 20 and 20 of 40: neither content over 2/3
        assert sorted(c["validator"] for c in answer["claims"] if c["content_hash"] == kept.content_hash().hex()) == \
            sorted(validators[2:])
        for index in (0, 1):
            net.supervisor.release_relayer(index)
            held.remove(index)
    finally:
        for index in held:
            net.supervisor.release_relayer(index)
    wait_for(lambda: net.balance(kept_to, 1) == 3 * USDC, 60, "the canonical deposit credited after the re-claims")
    wait_for(lambda: _settled(net), 60, "bridge settled")
    # The first re-claim (or both, if they land in one block) completes the tally; a relayer that
    # finds the nonce credited with what it now reads has nothing more to send.
    reclaims = [e["validator"] for e in _events(net, "deposit_reclaim", "nonce", nonce)]
    assert 1 <= len(reclaims) == len(set(reclaims)) and set(reclaims) <= set(validators[:2]), reclaims
    assert _claimed(net, nonce).count(kept.content_hash().hex()) == 2 + len(reclaims)
    credits = _credit_events(net, nonce)
    assert [(c["recipient"], c["amount_micro_usdc"]) for c in credits] == [("0x" + kept_to.hex(), str(3 * USDC))]
    answer = bridge.deposit_status(nonce)
    assert answer["deposit"]["eth_tx_hash"] == "0x" + kept.eth_tx_hash.hex()
    with net.client() as client:
        client.wait_for_height(client.height() + 10)
    assert [(net.balance(kept_to, 1, i), net.balance(dropped_to, 0, i)) for i in range(4)] == [(3 * USDC, 0)] * 4
    _solvent(net)


def _perpchain(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "perpchain.cli", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_a_deposit_credited_from_blocks_a_deeper_reorg_dropped_halts_deposits_until_operators_resume(
        bridged_net: BridgedNet) -> None:
    """A deposit of 3 USDC is credited to a victim, who moves 1 USDC of it to another subaccount;
    the Ethereum chain is reverted to before the deposit and the same nonce goes to a deposit of 7
    USDC to someone else. Every relayer rewinds, reads the nonce again and disputes the credit;
    deposits halt (a later deposit waits). The operators of three validators run
    `perpchain tx bridge-resume`: the canonical deposit is credited, the victim's 2 USDC left are
    taken back and the 1 USDC it moved is the shortfall; once the vault is sent that much, solvency
    holds again, and the deposit that waited is credited."""
    net = bridged_net
    victim, kept_to, later_to = PrivateKey.generate(), PrivateKey.generate().address, PrivateKey.generate().address
    bridge = net.bridge()
    w3, vault, token = bridge.web3, bridge.vault, bridge.token
    node = net.layout.nodes[0].rpc_url
    wait_for(lambda: _settled(net), 60, "bridge settled")
    send_eth_transaction(w3, net.faucet, token.functions.approve(vault.address, 20 * USDC))  # before the fork
    _fresh_anchor(net)
    snapshot = anvil_rpc(w3, "evm_snapshot")
    nonce, dropped = _deposit(net, 3 * USDC, victim.address, 0)
    wait_for(lambda: net.balance(victim.address) == 3 * USDC, 60, "the deposit credited")
    with net.client() as client:  # spent before anyone noticed
        client.transfer(victim, SubaccountId(victim.address, 5), 1 * USDC)
    confirmations = RelayerConfig.load(net.bridge_files.relayer_config(0)).confirmations
    wait_for(lambda: w3.eth.block_number >= dropped.eth_block + confirmations + 1, 30, "the credit buried deeper")
    assert anvil_rpc(w3, "evm_revert", snapshot) is True
    kept_nonce, kept = _deposit(net, 7 * USDC, kept_to, 1)
    assert kept_nonce == nonce

    wait_for(lambda: bridge.status()["deposits_halted"], 60, "the relayers dispute the credit and deposits halt")
    halt = bridge.status()["deposit_halt"]
    halt_id = int(halt["halt_id"])
    assert halt["nonce"] == str(nonce) and halt["status"] == "halted"
    (halted,) = _events(net, "deposits_halted", "halt_id", halt_id)
    assert halted["nonce"] == str(nonce) and int(halted["dispute_power"]) * 3 > int(halted["total_power"])
    later_nonce, _ = _deposit(net, 4 * USDC, later_to, 0)
    assert later_nonce == nonce + 1
    wait_for(lambda: bridge.halt(halt_id)["ready"], 60, "relayers of more than 2/3 dispute with the same content")
    assert bridge.halt(halt_id)["canonical_content_hash"] == kept.content_hash().hex()
    disputes = bridge.deposit_status(nonce)["disputes"]
    assert {d["content_hash"] for d in disputes} == {kept.content_hash().hex()} and len(disputes) >= 3
    wait_for(lambda: any(_relayer_health(net, i)["deposits_halted"] for i in range(4)), 30, "a relayer sees the halt")
    shown = _perpchain("query", "bridge", "status", "--node", node)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["deposits_halted"] is True
    assert bridge.deposit_status(nonce + 1)["status"] != "credited" and net.balance(later_to) == 0  # it waits
    assert net.balance(victim.address) == 2 * USDC and net.balance(kept_to, 1) == 0

    root = net.bridge_files.root
    outputs = []
    for index in (0, 1, 2):
        done = _perpchain("tx", "bridge-resume", "--node", node, "--key", str(root / f"operator{index}.keystore.json"),
                          "--password-file", str(root / f"operator{index}.password"), "--halt", str(halt_id))
        assert done.returncode == 0, done.stderr
        outputs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert [o["resumed"] for o in outputs] == [False, False, True]
    assert (outputs[-1]["corrected"], outputs[-1]["shortfall_micro_usdc"], outputs[-1]["halted_again"]) == (
        1, str(1 * USDC), False)
    again = _perpchain("tx", "bridge-resume", "--node", node, "--key", str(root / "operator3.keystore.json"),
                       "--password-file", str(root / "operator3.password"), "--halt", str(halt_id))
    assert again.returncode == 2 and "code 616 (bridge)" in again.stderr, again.stderr  # nothing left to resume

    assert bridge.status()["deposits_halted"] is False
    assert bridge.halt(halt_id) | {"resumes": None, "resumed_height": None} == {
        "halt_id": str(halt_id), "status": "resumed", "resumed_height": None, "corrected": "1",
        "debited_micro_usdc": str(2 * USDC), "shortfall_micro_usdc": str(1 * USDC), "resumes": None,
        "resume_power": "30", "total_power": "40"}
    (corrected,) = _events(net, "deposit_corrected", "nonce", nonce)
    assert (corrected["previous_recipient"], corrected["recipient"]) == (
        "0x" + victim.address.hex(), "0x" + kept_to.hex())
    credited = bridge.deposit_status(nonce)
    assert credited["deposit"]["eth_tx_hash"] == "0x" + kept.eth_tx_hash.hex() and credited["disputes"] == []
    wait_for(lambda: net.balance(later_to) == 4 * USDC, 60, "the deposit that waited credited after the resume")

    solvency = bridge.solvency()
    assert solvency.surplus_micro_usdc == -1 * USDC and solvency.chain["deposit_shortfall_micro_usdc"] == str(USDC)
    send_eth_transaction(w3, net.faucet, token.functions.transfer(vault.address, 1 * USDC))  # the operators cover it
    wait_for(lambda: _settled(net), 60, "bridge settled")
    _solvent(net)
    _fresh_anchor(net)  # the vault takes anchors again
    with net.client() as client:
        client.wait_for_height(client.height() + 10)
    assert [(net.balance(victim.address, 0, i), net.balance(victim.address, 5, i), net.balance(kept_to, 1, i),
             net.balance(later_to, 0, i)) for i in range(4)] == [(0, 1 * USDC, 7 * USDC, 4 * USDC)] * 4
    assert [len(_credit_events(net, n)) for n in (nonce, nonce + 1)] == [1, 1]
