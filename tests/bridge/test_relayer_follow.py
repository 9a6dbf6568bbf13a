"""The relayer's Ethereum cursor on a real anvil (no perpchain node: only `follow_deposits` runs):
deposits are read once buried under the confirmations; a reorg shallower than that is never seen;
a deeper one moves the cursor back so no block of the new chain is skipped, across a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from web3 import HTTPProvider, Web3

from bridge.config import RelayerConfig
from bridge.eth import anvil_rpc
from bridge.relayer import Relayer
from client.eth import transact
from client.keys import save_encrypted_key
from tests.bridge.conftest import USDC, VaultSetup
from wire.crypto import PrivateKey

ALICE = PrivateKey(b"\x21" * 32).address
BOB = PrivateKey(b"\x22" * 32).address


def _relayer(state_dir: Path, setup: VaultSetup, confirmations: int, start_block: int) -> Relayer:
    """A relayer whose node is never called (follow_deposits reads Ethereum only)."""
    operator, password = state_dir.parent / "operator.keystore.json", state_dir.parent / "operator.password"
    if not operator.exists():
        password.write_text("operator\n")
        save_encrypted_key(PrivateKey(b"\x31" * 32), operator, "operator", scrypt_n=2**10)
    provider = setup.w3.provider
    assert isinstance(provider, HTTPProvider)  # client.eth.connect's
    rpc = str(provider.endpoint_uri)
    config = RelayerConfig("http://127.0.0.1:1", rpc, setup.vault.address, state_dir, operator,
                           state_dir.parent / "unused.keystore.json", confirmations=confirmations,
                           start_block=start_block, perpchain_password_file=password)
    return Relayer(config, eth_key=PrivateKey(b"\x32" * 32))


def _mine(setup: VaultSetup, blocks: int) -> None:
    for _ in range(blocks):
        anvil_rpc(setup.w3, "evm_mine")


def _deposit(setup: VaultSetup, amount: int, recipient: bytes, subaccount: int) -> dict[str, Any]:
    """approve (its own block) + deposit (the next); what the relayer should record for it."""
    receipt = setup.approve_and_deposit(amount, recipient, subaccount)
    return {"eth_block": receipt["blockNumber"], "eth_tx_hash": bytes(receipt["transactionHash"]).hex(),
            "sender": setup.user.address.hex(), "recipient": recipient.hex(), "subaccount": subaccount,
            "amount": str(amount)}


def test_a_deposit_is_read_once_buried_under_the_confirmations(bridge: VaultSetup, tmp_path: Path) -> None:
    relayer = _relayer(tmp_path / "state", bridge, confirmations=3, start_block=bridge.w3.eth.block_number)
    seen = _deposit(bridge, 7 * USDC, ALICE, 1)
    _mine(bridge, 2)
    relayer.follow_deposits()
    assert relayer.state.pending == {}  # two blocks on top, three needed
    assert relayer.state.cursor_block == seen["eth_block"] - 1
    _mine(bridge, 1)
    relayer.follow_deposits()
    assert relayer.state.pending == {1: seen}
    assert relayer.state.cursor_block == seen["eth_block"]
    relayer.client.close()


def test_a_reorg_shallower_than_the_confirmations_is_never_seen(bridge: VaultSetup, tmp_path: Path) -> None:
    relayer = _relayer(tmp_path / "state", bridge, confirmations=3, start_block=bridge.w3.eth.block_number)
    approve = bridge.token.functions.approve(bridge.vault.address, 100 * USDC)
    transact(bridge.w3, approve, bridge.user.checksum)  # before the fork: the deposit is the first block dropped
    snapshot = anvil_rpc(bridge.w3, "evm_snapshot")
    fork = bridge.w3.eth.block_number
    dropped = bridge.vault.functions.deposit(7 * USDC, Web3.to_checksum_address(ALICE), 1)
    receipt = transact(bridge.w3, dropped, bridge.user.checksum)
    _mine(bridge, 2)  # the deposit and two blocks on top: three blocks dropped, one short of the depth
    relayer.follow_deposits()
    assert bridge.vault.functions.lastDepositNonce().call() == 1 and receipt["blockNumber"] == fork + 1
    assert relayer.state.pending == {} and relayer.state.cursor_block == fork
    assert anvil_rpc(bridge.w3, "evm_revert", snapshot) is True
    assert bridge.vault.functions.lastDepositNonce().call() == 0

    kept = bridge.vault.functions.deposit(5 * USDC, Web3.to_checksum_address(BOB), 2)
    receipt = transact(bridge.w3, kept, bridge.user.checksum)
    _mine(bridge, 3)
    relayer.follow_deposits()
    assert relayer.state.pending == {1: {
        "eth_block": fork + 1, "eth_tx_hash": bytes(receipt["transactionHash"]).hex(),
        "sender": bridge.user.address.hex(), "recipient": BOB.hex(), "subaccount": 2, "amount": str(5 * USDC)}}
    assert relayer.metrics["relayer_eth_reorgs_total"] == 0  # nothing the cursor passed was replaced
    relayer.client.close()


def test_a_reorg_deeper_than_the_confirmations_moves_the_cursor_back_even_across_a_restart(
        bridge: VaultSetup, tmp_path: Path) -> None:
    start = bridge.w3.eth.block_number
    relayer = _relayer(tmp_path / "state", bridge, confirmations=2, start_block=start)
    _mine(bridge, 3)
    relayer.follow_deposits()
    before_fork = relayer.state.cursor_block
    assert before_fork == start + 1
    snapshot = anvil_rpc(bridge.w3, "evm_snapshot")
    fork = bridge.w3.eth.block_number
    dropped = _deposit(bridge, 7 * USDC, ALICE, 1)  # approve at fork + 1, deposit at fork + 2
    # nonce 2, which the new chain never reaches: only forgetting what lay above the fork drops it
    dropped_too = _deposit(bridge, 4 * USDC, ALICE, 1)
    _mine(bridge, 2)
    relayer.follow_deposits()
    assert relayer.state.pending == {1: dropped, 2: dropped_too} and relayer.state.cursor_block == fork + 4
    relayer.client.close()
    assert anvil_rpc(bridge.w3, "evm_revert", snapshot) is True

    # The same heights again with other blocks: Bob's deposit takes nonce 1 at Alice's block height.
    kept = _deposit(bridge, 5 * USDC, BOB, 2)
    _mine(bridge, 2)
    assert kept["eth_block"] == dropped["eth_block"] and kept["eth_tx_hash"] != dropped["eth_tx_hash"]
    restarted = _relayer(tmp_path / "state", bridge, confirmations=2, start_block=start)
    assert restarted.state.cursor_block == fork + 4  # read back from the state file
    restarted.follow_deposits()
    assert restarted.state.pending == {1: kept}
    assert restarted.state.cursor_block == fork + 2
    assert restarted.metrics["relayer_eth_reorgs_total"] == 1
    assert restarted.state.recent_blocks[-1] == (fork + 2, bytes(bridge.w3.eth.get_block(fork + 2)["hash"]).hex())
    restarted.client.close()


def test_a_cursor_above_the_head_after_a_reorg_goes_back_to_a_block_still_on_the_chain(
        bridge: VaultSetup, tmp_path: Path) -> None:
    start = bridge.w3.eth.block_number
    relayer = _relayer(tmp_path / "state", bridge, confirmations=1, start_block=start)
    _mine(bridge, 2)
    relayer.follow_deposits()
    before_fork = relayer.state.cursor_block
    snapshot = anvil_rpc(bridge.w3, "evm_snapshot")
    _mine(bridge, 4)
    relayer.follow_deposits()
    assert relayer.state.cursor_block == before_fork + 4
    assert anvil_rpc(bridge.w3, "evm_revert", snapshot) is True
    assert bridge.w3.eth.block_number == before_fork + 1  # the cursor is three blocks above the head
    relayer.follow_deposits()
    assert relayer.state.cursor_block == before_fork  # the head minus one confirmation, on the kept chain
    assert relayer.metrics["relayer_eth_reorgs_total"] == 1
    kept = _deposit(bridge, 3 * USDC, BOB, 0)
    _mine(bridge, 1)
    relayer.follow_deposits()
    assert relayer.state.pending == {1: kept}
    relayer.client.close()
