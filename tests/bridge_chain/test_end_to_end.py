"""End to end on a 4-validator localnet with anvil and four relayers (real cometbft, real anvil):
deposits credited once, withdrawals paid once, solvency after each, and faults."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD

from bridge.config import RelayerConfig
from bridge.eth import anvil_rpc
from client import PrivateKey
from client.bridge import Solvency
from client.eth import decode_custom_error, send_eth_transaction
from tests.bridge_chain.conftest import BridgedNet, wait_for
from wire.crypto import keccak256

USDC = 1_000_000


def _solvent(net: BridgedNet) -> None:
    """Solvency holds (asked again while a block or a relayer step lands between the two reads)."""
    bridge = net.bridge()
    last: list[Solvency] = []

    def holds() -> bool:
        last[:] = [bridge.solvency()]
        return last[0].holds

    try:
        wait_for(holds, 20, "vault balance == chain claim + unpaid withdrawals + uncredited deposits")
    except AssertionError:
        raise AssertionError(f"insolvent: {last[0].as_json()}") from None


def _send_unmined(w3: Web3, key: PrivateKey, call: ContractFunction) -> HexBytes:
    """Sign and send `call` without waiting for a block (mining is frozen); its tx hash."""
    sender = w3.to_checksum_address(key.address)
    tx = call.build_transaction({"from": sender, "nonce": w3.eth.get_transaction_count(sender, "pending"),
                                 "chainId": w3.eth.chain_id})
    return w3.eth.send_raw_transaction(w3.eth.account.sign_transaction(tx, key.secret).raw_transaction)


def _pool(w3: Web3) -> list[dict[str, object]]:
    """The transactions waiting in anvil's pool for a block."""
    pending = anvil_rpc(w3, "txpool_content")["pending"]
    return [tx for by_nonce in pending.values() for tx in by_nonce.values()]


def _waiting_on_ethereum(net: BridgedNet, w3: Web3) -> list[bool]:
    """Per relayer: its own tx waits in the pool (while mining is frozen it waits for a block)."""
    senders = {str(tx["from"]).lower() for tx in _pool(w3)}
    return [address.lower() in senders for address in net.bridge_files.settings()["relayer_eth_addresses"]]


def _relayer_health(net: BridgedNet, index: int) -> dict[str, Any]:
    listen = (net.bridge_files.relayer_state_dir(index) / "listen").read_text().strip()
    return httpx.get(f"http://{listen}/health", timeout=5).json()


def _relayer_at_work(net: BridgedNet, index: int) -> bool:
    """Its process runs and has come far enough to answer /health (not still starting)."""
    if not net.supervisor.relayers[index].alive:
        return False
    try:
        _relayer_health(net, index)
    except (OSError, httpx.HTTPError):  # no listen file yet, or the last run's port
        return False
    return True


def _relayer_state(net: BridgedNet, index: int) -> dict[str, Any]:
    return json.loads((net.bridge_files.relayer_state_dir(index) / "relayer-state.json").read_text())


def _settled(net: BridgedNet) -> bool:
    """Every deposit on Ethereum credited and every withdrawal paid."""
    bridge = net.bridge()
    vault = bridge.vault
    status = bridge.status()
    deposits_done = int(status["next_deposit_nonce"]) - 1 == vault.functions.lastDepositNonce().call()
    paid = all(vault.functions.withdrawalPaid(i).call() for i in range(1, int(status["next_withdrawal_id"])))
    return deposits_done and paid


def test_deposit_credited_once_withdrawal_paid_once_solvency_after_each(bridged_net: BridgedNet) -> None:
    net, trader = bridged_net, PrivateKey.generate()
    bridge = net.bridge()
    _solvent(net)

    nonce = bridge.deposit(net.faucet, 25 * USDC, trader.address, 2)
    wait_for(lambda: net.balance(trader.address, 2) == 25 * USDC, 60, "deposit credited")
    assert bridge.deposit_status(nonce)["status"] == "credited"
    with net.client() as client:
        client.wait_for_height(client.height() + 10)
    assert [net.balance(trader.address, 2, i) for i in range(4)] == [25 * USDC] * 4  # once, on every node
    _solvent(net)

    recipient = PrivateKey.generate().address
    result = bridge.withdraw(trader, 10 * USDC, recipient, subaccount=2)
    (queued,) = [e for e in result.events if e.type == "withdrawal_queued"]
    withdrawal_id = int(queued.attributes["withdrawal_id"])
    assert net.balance(trader.address, 2) == 15 * USDC
    token = bridge.token
    wait_for(lambda: token.functions.balanceOf(Web3.to_checksum_address(recipient)).call() == 10 * USDC, 60,
             "withdrawal paid on Ethereum")
    answer = bridge.withdrawal(withdrawal_id)
    assert answer["ready"] and len(answer["signatures"]) >= 3
    _solvent(net)

    # Resubmitting the paid withdrawal to the vault reverts: it pays an id once.
    w3, vault = bridge.web3, bridge.vault
    signatures = [(bytes.fromhex(r[2:]), bytes.fromhex(s[2:]), v) for r, s, v in answer["vault_signatures"]]
    with pytest.raises(ContractCustomError) as caught:
        send_eth_transaction(w3, net.faucet, vault.functions.withdraw(
            withdrawal_id, Web3.to_checksum_address(recipient), 10 * USDC, signatures))
    assert decode_custom_error(vault.abi, caught.value)[0] == "AlreadyPaid"
    assert token.functions.balanceOf(Web3.to_checksum_address(recipient)).call() == 10 * USDC


def test_one_relayer_down_the_bridge_works_with_three_of_four(bridged_net: BridgedNet) -> None:
    net, trader = bridged_net, PrivateKey.generate()
    bridge = net.bridge()
    net.supervisor.hold_relayer(1)
    try:
        bridge.deposit(net.faucet, 3 * USDC, trader.address)
        wait_for(lambda: net.balance(trader.address) == 3 * USDC, 60, "deposit credited by three relayers")
        recipient = PrivateKey.generate().address
        bridge.withdraw(trader, 2 * USDC, recipient)
        wait_for(lambda: bridge.token.functions.balanceOf(Web3.to_checksum_address(recipient)).call() == 2 * USDC,
                 60, "withdrawal paid with three signatures")
        _solvent(net)
    finally:
        net.supervisor.release_relayer(1)
    wait_for(lambda: _settled(net), 60, "bridge settled")


KILL_SEED = 20_251_204  # fixes the stream's order and amounts, and when and which relayer is killed


def _credit_events(net: BridgedNet, nonce: int) -> list[dict[str, str]]:
    """Every `deposit_credited` event for `nonce` in any tx of the chain (CometBFT's tx index)."""
    with net.client() as client:
        found = client.rpc.call("tx_search", query=f"deposit_credited.nonce='{nonce}'", per_page="100")
    events = [(e["type"], {a["key"]: a["value"] for a in e["attributes"]})
              for tx in found["txs"] for e in tx["tx_result"]["events"]]
    return [attributes for kind, attributes in events if kind == "deposit_credited" and attributes["nonce"] == str(nonce)]


def test_relayers_killed_at_random_during_deposits_and_withdrawals_credit_and_pay_each_exactly_once(
        bridged_net: BridgedNet) -> None:
    """Six deposits and six withdrawals in a seeded random order; after most of them, at a seeded
    random moment, a seeded random relayer (the next one at work if it is restarting) is SIGKILLed
    while that deposit or withdrawal is in flight (the supervisor restarts it). Then each deposit
    nonce has exactly one credit event, with its content; each withdrawal id exactly one
    `Withdrawn` on the vault; balances are exact on every node."""
    from client import SubaccountId

    net, rng = bridged_net, random.Random(KILL_SEED)
    bridge = net.bridge()
    vault, token = bridge.vault, bridge.token
    traders = [PrivateKey.generate() for _ in range(3)]
    wait_for(lambda: _settled(net), 60, "bridge settled")
    first_eth_block = bridge.web3.eth.block_number
    with net.client() as client:
        for trader in traders:  # withdrawals need not wait for deposits
            client.transfer(net.faucet, SubaccountId(trader.address, 0), 20 * USDC)
    plan = [("deposit", i % 3, rng.randint(1, 9) * USDC) for i in range(6)]
    plan += [("withdraw", i % 3, rng.randint(1, 9) * USDC) for i in range(6)]
    rng.shuffle(plan)

    deposits: dict[int, tuple[int, int]] = {}  # nonce -> (trader, amount)
    withdrawals: dict[int, tuple[bytes, int]] = {}  # id -> (recipient, amount)
    kills: list[tuple[str, int, bool]] = []  # (what was in flight, relayer, still in flight after the kill)
    for kind, who, amount in plan:
        if kind == "deposit":
            nonce = bridge.deposit(net.faucet, amount, traders[who].address)
            deposits[nonce] = (who, amount)
        else:
            recipient = PrivateKey.generate().address
            result = bridge.withdraw(traders[who], amount, recipient)
            (queued,) = [e for e in result.events if e.type == "withdrawal_queued"]
            withdrawal_id = int(queued.attributes["withdrawal_id"])
            withdrawals[withdrawal_id] = (recipient, amount)
        if rng.random() < 0.2:
            continue
        time.sleep(rng.uniform(0.0, 0.5))
        drawn = rng.randrange(4)  # or the next one at work, while the drawn one restarts from an earlier kill
        running = [i % 4 for i in range(drawn, drawn + 4) if _relayer_at_work(net, i % 4)]
        if not running:
            continue
        victim = running[0]
        net.supervisor.kill_relayer(victim)
        in_flight = (bridge.deposit_status(nonce)["status"] != "credited" if kind == "deposit"
                     else not vault.functions.withdrawalPaid(withdrawal_id).call())
        kills.append((kind, victim, in_flight))

    seed = f"seed {KILL_SEED}, kills {kills}"
    for what in ("deposit", "withdraw"):
        assert any(kind == what and in_flight for kind, _, in_flight in kills), f"no kill during a {what} ({seed})"
    wait_for(lambda: _settled(net), 120, f"bridge settled after the kills ({seed})")
    with net.client() as client:
        client.wait_for_height(client.height() + 10)

    for nonce, (who, amount) in sorted(deposits.items()):
        credits = _credit_events(net, nonce)
        assert [(c["recipient"], c["amount_micro_usdc"]) for c in credits] == [
            ("0x" + traders[who].address.hex(), str(amount))], f"deposit {nonce} credited {credits} ({seed})"
    paid = [int(log["args"]["withdrawalId"]) for log in vault.events.Withdrawn().get_logs(from_block=first_eth_block)]
    assert sorted(i for i in paid if i in withdrawals) == sorted(withdrawals), f"payments {paid} ({seed})"
    for withdrawal_id, (recipient, amount) in withdrawals.items():
        assert token.functions.balanceOf(Web3.to_checksum_address(recipient)).call() == amount, (
            f"withdrawal {withdrawal_id} ({seed})")
    expected = [20 * USDC + sum(a for t, a in deposits.values() if t == i)
                - sum(a for (kind, who, a) in plan if kind == "withdraw" and who == i) for i in range(3)]
    for node in range(4):
        assert [net.balance(t.address, 0, node) for t in traders] == expected, f"node {node} ({seed})"
    _solvent(net)


def test_a_reorg_shallower_than_the_confirmation_depth_credits_nothing_from_the_dropped_block(
        bridged_net: BridgedNet) -> None:
    """Relayers read up to head - confirmations. With mining frozen, a deposit is mined and buried
    under confirmations - 1 blocks: the vault shows it, every relayer's cursor stops just below it.
    Those blocks are dropped (anvil snapshot / revert); the new chain's deposit takes the same
    nonce and is credited once with its own amount and recipient; the dropped one never is."""
    net, dropped_to, kept_to = bridged_net, PrivateKey.generate().address, PrivateKey.generate().address
    bridge = net.bridge()
    w3, vault, token = bridge.web3, bridge.vault, bridge.token
    depths = {RelayerConfig.load(net.bridge_files.relayer_config(i)).confirmations for i in range(4)}
    (confirmations,) = depths
    assert confirmations >= 1
    wait_for(lambda: _settled(net), 60, "bridge settled")
    nonce = vault.functions.lastDepositNonce().call() + 1
    assert int(bridge.status()["next_deposit_nonce"]) == nonce
    send_eth_transaction(w3, net.faucet, token.functions.approve(vault.address, 10 * USDC))  # kept: before the fork
    vault_before = token.functions.balanceOf(vault.address).call()

    anvil_rpc(w3, "evm_setIntervalMining", 0)  # (automine is off on the localnet): blocks only when mined here
    try:
        snapshot = anvil_rpc(w3, "evm_snapshot")
        fork = w3.eth.block_number
        dropped_hash = _send_unmined(w3, net.faucet, vault.functions.deposit(
            7 * USDC, Web3.to_checksum_address(dropped_to), 0))
        for _ in range(confirmations):  # the deposit's block, then confirmations - 1 on top of it
            anvil_rpc(w3, "evm_mine")
        assert w3.eth.get_transaction_receipt(dropped_hash)["blockNumber"] == fork + 1
        assert w3.eth.block_number == fork + confirmations
        assert vault.functions.lastDepositNonce().call() == nonce
        assert token.functions.balanceOf(vault.address).call() == vault_before + 7 * USDC
        (seen,) = vault.events.Deposited().get_logs(from_block=fork + 1, to_block=fork + confirmations)
        assert (seen["args"]["depositNonce"], seen["args"]["recipient"].lower(), seen["args"]["amount"]) == (
            nonce, "0x" + dropped_to.hex(), 7 * USDC)
        def cursors_at_the_head() -> bool:  # or stopped by a tx of its own (an anchor) waiting for a block
            cursors = [_relayer_health(net, i)["eth_cursor_block"] for i in range(4)]
            return all(c == fork or waiting for c, waiting in zip(cursors, _waiting_on_ethereum(net, w3)))

        wait_for(cursors_at_the_head, 30, "every relayer's cursor at head - confirmations, just below the deposit")
        cursors = [int(_relayer_health(net, i)["eth_cursor_block"]) for i in range(4)]
        assert max(cursors) == fork and all(str(nonce) not in _relayer_state(net, i)["pending"] for i in range(4))
        assert anvil_rpc(w3, "evm_revert", snapshot) is True
    finally:
        anvil_rpc(w3, "evm_setIntervalMining", 1)
    assert vault.functions.lastDepositNonce().call() == nonce - 1
    assert token.functions.balanceOf(vault.address).call() == vault_before

    receipt = send_eth_transaction(w3, net.faucet, vault.functions.deposit(
        3 * USDC, Web3.to_checksum_address(kept_to), 1))
    (kept,) = vault.events.Deposited().process_receipt(receipt, errors=DISCARD)
    assert kept["args"]["depositNonce"] == nonce  # the same nonce, on the new chain
    wait_for(lambda: net.balance(kept_to, 1) == 3 * USDC, 60, "the new chain's deposit credited")
    wait_for(lambda: _settled(net), 60, "bridge settled")
    with net.client() as client:
        client.wait_for_height(client.height() + 10)
    answer = bridge.deposit_status(nonce)
    assert answer["status"] == "credited"
    assert answer["deposit"] == {
        "deposit_nonce": str(nonce), "eth_block": str(receipt["blockNumber"]),
        "eth_tx_hash": "0x" + bytes(receipt["transactionHash"]).hex(), "sender": "0x" + net.faucet.address.hex(),
        "recipient": "0x" + kept_to.hex(), "subaccount": 1, "amount_micro_usdc": str(3 * USDC)}
    assert len(answer["claims"]) >= 3 and all(claim["agrees"] for claim in answer["claims"])
    assert [net.balance(kept_to, 1, i) for i in range(4)] == [3 * USDC] * 4
    assert [net.balance(dropped_to, 0, i) for i in range(4)] == [0] * 4
    assert int(bridge.status()["next_deposit_nonce"]) == nonce + 1
    _solvent(net)


def _relayer_steps(net: BridgedNet, index: int) -> int:
    listen = (net.bridge_files.relayer_state_dir(index) / "listen").read_text().strip()
    metrics = httpx.get(f"http://{listen}/metrics", timeout=5).text
    (line,) = [line for line in metrics.splitlines() if line.startswith("relayer_steps_total ")]
    return int(float(line.split()[1]))


def test_a_reorg_that_drops_a_payment_gets_the_withdrawal_paid_again_once(bridged_net: BridgedNet) -> None:
    """With mining frozen, a withdrawal is signed; blocks are mined one at a time until the anchor
    that covers it lands (the vault pays only what an anchor covers); the relayer's payment waits
    in anvil's pool; one block pays it; every relayer steps twice over the paid id (unless its own
    tx waits for a block), none counts it done (it is not buried under the confirmations); the
    paying block is dropped. The relayers pay it again, once, and count it done once that payment
    is confirmed."""
    net, recipient = bridged_net, PrivateKey.generate().address
    bridge = net.bridge()
    w3, vault, token = bridge.web3, bridge.vault, bridge.token
    checksum = Web3.to_checksum_address
    wait_for(lambda: _settled(net), 60, "bridge settled")
    anvil_rpc(w3, "evm_setIntervalMining", 0)
    try:
        result = bridge.withdraw(net.faucet, 2 * USDC, recipient)
        (queued,) = [e for e in result.events if e.type == "withdrawal_queued"]
        withdrawal_id = int(queued.attributes["withdrawal_id"])

        def anchor_covers_it() -> bool:  # a block at a time, until the anchor covering the id lands
            anvil_rpc(w3, "evm_mine")
            return bool(vault.functions.anchoredWithdrawalId().call() >= withdrawal_id)

        wait_for(anchor_covers_it, 60, "an anchor covering the withdrawal on the vault")
        snapshot = anvil_rpc(w3, "evm_snapshot")
        fork = w3.eth.block_number

        def payment_waiting() -> bool:
            calls = [vault.decode_function_input(tx["input"]) for tx in _pool(w3)
                     if str(tx["to"]).lower() == vault.address.lower()]
            return any(f.fn_name == "withdraw" and args["withdrawalId"] == withdrawal_id for f, args in calls)

        wait_for(payment_waiting, 60, "the withdrawal's payment in anvil's pool")
        anvil_rpc(w3, "evm_mine")
        assert vault.functions.withdrawalPaid(withdrawal_id).call()
        assert token.functions.balanceOf(checksum(recipient)).call() == 2 * USDC
        steps = [_relayer_steps(net, i) for i in range(4)]

        def stepped_over_it() -> bool:  # or stopped by a tx of its own (an anchor) waiting for a block
            waiting = _waiting_on_ethereum(net, w3)
            return all(_relayer_steps(net, i) >= steps[i] + 2 or waiting[i] for i in range(4))

        wait_for(stepped_over_it, 60, "two more steps of every relayer over the paid withdrawal")
        assert [_relayer_health(net, i)["paid_through"] < withdrawal_id for i in range(4)] == [True] * 4
        assert anvil_rpc(w3, "evm_revert", snapshot) is True
        assert w3.eth.block_number == fork
        assert not vault.functions.withdrawalPaid(withdrawal_id).call()
        assert token.functions.balanceOf(checksum(recipient)).call() == 0
    finally:
        anvil_rpc(w3, "evm_setIntervalMining", 1)
    wait_for(lambda: token.functions.balanceOf(checksum(recipient)).call() == 2 * USDC, 60, "paid on the new chain")
    wait_for(lambda: _settled(net), 60, "bridge settled")
    payments = vault.events.Withdrawn().get_logs(from_block=fork + 1, argument_filters={"withdrawalId": withdrawal_id})
    assert [(log["args"]["recipient"], log["args"]["amount"]) for log in payments] == [(checksum(recipient), 2 * USDC)]
    wait_for(lambda: all(_relayer_health(net, i)["paid_through"] >= withdrawal_id for i in range(4)), 120,
             "every relayer past the withdrawal once its payment is confirmed")
    _solvent(net)


def _deposit_on_ethereum(net: BridgedNet, amount: int, recipient: bytes, subaccount: int) -> dict[str, object]:
    """approve + Vault.deposit from the faucet; the `ClaimDeposit` fields an honest relayer reads."""
    bridge = net.bridge()
    w3, vault = bridge.web3, bridge.vault
    send_eth_transaction(w3, net.faucet, bridge.token.functions.approve(vault.address, amount))
    receipt = send_eth_transaction(w3, net.faucet, vault.functions.deposit(
        amount, Web3.to_checksum_address(recipient), subaccount))
    (event,) = vault.events.Deposited().process_receipt(receipt, errors=DISCARD)
    return {"deposit_nonce": str(event["args"]["depositNonce"]), "eth_block": str(receipt["blockNumber"]),
            "eth_tx_hash": "0x" + bytes(receipt["transactionHash"]).hex(), "sender": "0x" + net.faucet.address.hex(),
            "recipient": "0x" + recipient.hex(), "subaccount": subaccount, "amount_micro_usdc": str(amount)}


def test_one_validator_claiming_a_forged_deposit_credits_nothing(bridged_net: BridgedNet) -> None:
    """Validator 3's operator stops its relayer and sends its own claims through cometbft: first a
    deposit that never happened, then a real deposit with its amount raised a hundredfold (with
    validator 2's relayer held too, so the two honest claims and the forged one stand together).
    Each nonce is credited once, with what the vault shows; the forged claims stay `agrees: false`."""
    from modules.bridge.types import ClaimDeposit

    net, attacker, trader = bridged_net, PrivateKey.generate(), PrivateKey.generate()
    bridge = net.bridge()
    forger = RelayerConfig.load(net.bridge_files.relayer_config(3)).operator_key()  # encrypted at rest
    (forger_validator,) = [v["consensus_address"] for v in bridge.validators()
                           if v["operator"] == "0x" + forger.address.hex()]
    wait_for(lambda: _settled(net), 60, "bridge settled")
    nonce = int(bridge.status()["next_deposit_nonce"])
    net.supervisor.hold_relayer(3)
    try:
        never_happened = ClaimDeposit(nonce, bridge.web3.eth.block_number, keccak256(b"no such Ethereum tx"),
                                      attacker.address, attacker.address, 0, 1_000_000 * USDC)
        with net.client() as client:
            result = client.send(forger, [never_happened])
            assert [e.type for e in result.events if e.type.startswith("deposit_")] == ["deposit_claim"]
            client.wait_for_height(client.height() + 10)
        pending = bridge.deposit_status(nonce)
        assert pending["status"] == "pending"
        assert [(c["validator"], c["agrees"]) for c in pending["claims"]] == [(forger_validator, False)]
        assert net.balance(attacker.address) == 0

        real = _deposit_on_ethereum(net, 6 * USDC, trader.address, 0)
        assert real["deposit_nonce"] == str(nonce)  # the nonce the forger claimed
        wait_for(lambda: net.balance(trader.address) == 6 * USDC, 60, "the real deposit credited by three relayers")
        credited = bridge.deposit_status(nonce)
        assert credited["status"] == "credited" and credited["deposit"] == real
        assert sorted(c["agrees"] for c in credited["claims"]) == [False, True, True, True]
        assert [c["agrees"] for c in credited["claims"] if c["validator"] == forger_validator] == [False]

        net.supervisor.hold_relayer(2)
        raised = _deposit_on_ethereum(net, 4 * USDC, trader.address, 1)
        assert raised["deposit_nonce"] == str(nonce + 1)
        forged = ClaimDeposit(nonce + 1, int(str(raised["eth_block"])), bytes.fromhex(str(raised["eth_tx_hash"])[2:]),
                              net.faucet.address, trader.address, 1, 400 * USDC)
        with net.client() as client:
            client.send(forger, [forged])
        wait_for(lambda: len(bridge.deposit_status(nonce + 1)["claims"]) == 3, 60,
                 "the two running honest relayers' claims beside the forged one")
        split = bridge.deposit_status(nonce + 1)
        assert split["status"] == "pending"  # 20 of 40 on the real content, 10 on the forged: neither over 2/3
        assert net.balance(trader.address, 1) == 0
        net.supervisor.release_relayer(2)
        wait_for(lambda: net.balance(trader.address, 1) == 4 * USDC, 60, "credited once validator 2 claims")
        assert bridge.deposit_status(nonce + 1)["deposit"] == raised
    finally:
        net.supervisor.release_relayer(2)
        net.supervisor.release_relayer(3)
    wait_for(lambda: _settled(net), 60, "bridge settled")
    with net.client() as client:
        client.wait_for_height(client.height() + 10)
    assert [(net.balance(trader.address, 0, i), net.balance(trader.address, 1, i)) for i in range(4)] == [
        (6 * USDC, 4 * USDC)] * 4
    assert [net.balance(attacker.address, 0, i) for i in range(4)] == [0] * 4
    _solvent(net)


def test_perpchain_tx_deposit_and_withdraw_move_exactly_the_amounts_on_both_sides(
        bridged_net: BridgedNet, tmp_path: Path) -> None:
    """The real command line (a subprocess per command): `tx deposit` takes 12.5 USDC from the
    key's Ethereum balance into the vault and credits subaccount /1 with it; `tx withdraw` debits
    4.25 of it on chain and the vault pays the recipient that much; a withdrawal above the balance
    is refused with the bank's code and changes nothing."""
    import subprocess
    import sys

    from bridge.localnet import fund_on_ethereum
    from client.keys import save_key
    from tests.bridge_chain.conftest import ROOT

    net, trader, recipient = bridged_net, PrivateKey.generate(), PrivateKey.generate().address
    bridge = net.bridge()
    token, vault = bridge.token, bridge.vault
    checksum = Web3.to_checksum_address
    save_key(trader, tmp_path / "trader.json")
    fund_on_ethereum(net.bridge_files, trader.address, 100)  # 100 TestUSDC and ETH for gas
    wait_for(lambda: _settled(net), 60, "bridge settled")
    common = ["--key", str(tmp_path / "trader.json"), "--node", net.layout.nodes[0].rpc_url]
    eth = ["--eth-rpc", net.bridge_files.eth_rpc, "--vault", vault.address]

    def perpchain(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "perpchain.cli", *argv], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)

    vault_before = token.functions.balanceOf(vault.address).call()
    deposited = perpchain("tx", "deposit", *common, "--amount", "12.5", "--to", f"0x{trader.address.hex()}/1", *eth)
    assert deposited.returncode == 0, deposited.stderr
    answer = json.loads(deposited.stdout.strip().splitlines()[-1])
    assert answer["recipient"] == f"0x{trader.address.hex()}" and answer["subaccount"] == 1
    assert answer["amount_micro_usdc"] == str(12_500_000)
    assert token.functions.balanceOf(checksum(trader.address)).call() == 100 * USDC - 12_500_000
    assert token.functions.balanceOf(vault.address).call() == vault_before + 12_500_000
    wait_for(lambda: net.balance(trader.address, 1) == 12_500_000, 60, "the CLI deposit credited")
    assert bridge.deposit_status(answer["deposit_nonce"])["deposit"]["amount_micro_usdc"] == str(12_500_000)

    refused = perpchain("tx", "withdraw", *common, "--amount", "12.500001", "--to", f"0x{recipient.hex()}",
                        "--subaccount", "1")
    assert refused.returncode == 2 and "code 100 (bank)" in refused.stderr, refused.stderr
    assert net.balance(trader.address, 1) == 12_500_000

    withdrawn = perpchain("tx", "withdraw", *common, "--amount", "4.25", "--to", f"0x{recipient.hex()}",
                          "--subaccount", "1")
    assert withdrawn.returncode == 0, withdrawn.stderr
    withdrawal_id = json.loads(withdrawn.stdout.strip().splitlines()[-1])["withdrawal_id"]
    assert net.balance(trader.address, 1) == 8_250_000  # debited in the tx's block
    wait_for(lambda: token.functions.balanceOf(checksum(recipient)).call() == 4_250_000, 60,
             "the CLI withdrawal paid on Ethereum")
    assert vault.functions.withdrawalPaid(withdrawal_id).call()
    assert token.functions.balanceOf(vault.address).call() == vault_before + 12_500_000 - 4_250_000
    assert token.functions.balanceOf(checksum(trader.address)).call() == 100 * USDC - 12_500_000
    with net.client() as client:
        client.wait_for_height(client.height() + 10)
    assert [net.balance(trader.address, 1, i) for i in range(4)] == [8_250_000] * 4
    _solvent(net)


def test_relayers_answer_health_and_metrics(bridged_net: BridgedNet) -> None:
    listen = (bridged_net.bridge_files.relayer_state_dir(0) / "listen").read_text().strip()
    wait_for(lambda: httpx.get(f"http://{listen}/health").status_code == 200, 30, "relayer 0 healthy")
    assert httpx.get(f"http://{listen}/health").json()["validator"]
    metrics = httpx.get(f"http://{listen}/metrics").text
    assert "relayer_steps_total" in metrics and "# TYPE relayer_deposits_claimed_total counter" in metrics


def test_cli_parsers_register_the_bridge_commands() -> None:
    import argparse

    from bridge.cli import add_parsers, add_query_parsers, add_tx_parsers

    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    add_parsers(commands, "http://127.0.0.1:26657")
    tx = commands.add_parser("tx").add_subparsers(dest="tx_command")
    signer = argparse.ArgumentParser(add_help=False)
    signer.add_argument("--key")
    add_tx_parsers(tx, signer)
    query = commands.add_parser("query").add_subparsers(dest="query_command")
    add_query_parsers(query, argparse.ArgumentParser(add_help=False))
    args = parser.parse_args(["tx", "withdraw", "--key", "k.json", "--amount", "1.5", "--to", "0x" + "11" * 20])
    assert args.amount == 1_500_000
    assert parser.parse_args(["relayer", "--config", "r.json"]).config.name == "r.json"
    assert parser.parse_args(["query", "solvency"]).query_command == "solvency"


def test_a_rotated_bridge_key_is_handed_over_to_the_vault_and_the_bridge_keeps_working(
        bridged_net: BridgedNet) -> None:
    """The operator of validator 0 makes a new keystore, registers it with `perpchain tx
    bridge-key` (approved by its current keystore), points its relayer at it and restarts it; the
    other relayers sign set 1 with their keys in set 0 and one sends Vault.updateValset; deposits
    and withdrawals go on. Before that, the operator key with an attacker's Ethereum key (its proof,
    and an approval by it rather than by the current key) is refused (CheckTx) with
    BadRotationApproval (620). (Last in this module: it changes the vault's set for whatever runs
    after it.)"""
    import subprocess
    import sys

    from bridge.config import save_keystore
    from client.errors import ChainRejected
    from modules.bridge.types import SetBridgeKey
    from tests.bridge_chain.conftest import ROOT
    from wire.vault import bridge_key_digest, bridge_key_rotation_digest

    net, trader, recipient = bridged_net, PrivateKey.generate(), PrivateKey.generate().address
    bridge = net.bridge()
    vault = bridge.vault
    config = RelayerConfig.load(net.bridge_files.relayer_config(0))
    old_key, new_key = config.eth_key(), PrivateKey.generate()
    assert vault.functions.valsetNonce().call() == 0

    net.supervisor.hold_relayer(0)
    operator, thief = config.operator_key(), PrivateKey.generate()
    (mine,) = [v for v in bridge.validators() if v["operator"] == f"0x{operator.address.hex()}"]
    consensus, nonce = bytes.fromhex(mine["consensus_address"]), int(bridge.status()["valset_nonce"]) + 1
    with net.client() as client:
        chain_id = client.chain_id()
        stolen = SetBridgeKey(thief.address, thief.sign_digest(bridge_key_digest(chain_id, consensus, thief.address)),
                              nonce, thief.sign_digest(bridge_key_rotation_digest(
                                  chain_id, consensus, old_key.address, thief.address, nonce)))
        with pytest.raises(ChainRejected) as refused:
            client.send(operator, [stolen])
    assert (refused.value.code, refused.value.codespace) == (620, "bridge")
    assert [v["eth_address"] for v in bridge.validators() if v["operator"] == mine["operator"]] == [
        f"0x{old_key.address.hex()}"] and int(bridge.status()["valset_nonce"]) == 0
    new_keystore = config.eth_keystore.with_name("eth0.rotated.keystore.json")
    save_keystore(new_key, new_keystore, config.password(), scrypt_n=2**14)
    done = subprocess.run(
        [sys.executable, "-m", "perpchain.cli", "tx", "bridge-key", "--node", net.layout.nodes[0].rpc_url,
         "--key", str(config.perpchain_key), "--password-file", str(config.perpchain_password_file),
         "--current-eth-keystore", str(config.eth_keystore),
         "--current-eth-password-file", str(config.eth_password_file),
         "--eth-keystore", str(new_keystore), "--eth-password-file", str(config.eth_password_file)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert f'"eth_address": "0x{new_key.address.hex()}", "valset_nonce": 1' in done.stdout
    new_keystore.replace(config.eth_keystore)  # the relayer's config names this file
    net.supervisor.release_relayer(0)

    checksum = Web3.to_checksum_address
    wait_for(lambda: vault.functions.valsetNonce().call() == 1, 60, "the vault holds validator set 1")
    assert vault.functions.powerOf(checksum(new_key.address)).call() > 0
    assert vault.functions.powerOf(checksum(old_key.address)).call() == 0
    handed = bridge.valset(1)
    assert handed["ready"] and f"0x{old_key.address.hex()}" not in [s["eth_address"] for s in handed["signatures"]]
    assert [a.lower() for a in vault.functions.currentValset().call()[0]] == handed["validators"]

    bridge.deposit(net.faucet, 4 * USDC, trader.address)
    wait_for(lambda: net.balance(trader.address) == 4 * USDC, 60, "deposit credited after the rotation")
    result = bridge.withdraw(trader, 3 * USDC, recipient)
    (queued,) = [e for e in result.events if e.type == "withdrawal_queued"]
    withdrawal_id = int(queued.attributes["withdrawal_id"])
    wait_for(lambda: bridge.token.functions.balanceOf(checksum(recipient)).call() == 3 * USDC, 60,
             "withdrawal paid after the rotation")
    wait_for(lambda: f"0x{new_key.address.hex()}" in [s["eth_address"] for s in
                                                      bridge.withdrawal(withdrawal_id)["signatures"]],
             30, "validator 0's relayer signs with its new key")
    _solvent(net)
