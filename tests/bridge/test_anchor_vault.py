"""Vault anchors and the escape hatch on a real anvil: every revert path, exact payouts.

Trees come from modules/anchor/merkle.py, digests from wire/anchor.py: the same code the chain
and the CLI use, checked here against the contract's own keccak and ecrecover."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from web3 import Web3

from client.bridge import send_eth_transaction
from bridge.eth import Anvil, deploy_bridge, transact
from modules.anchor.merkle import BalanceTree, Leaf, hash_pair
from modules.anchor.types import AnchorRecord
from tests.bridge.conftest import USDC, VaultSetup, deploy, reverts, validator_keys
from wire import vault as digests
from wire.anchor import anchor_digest, vault_record
from wire.crypto import PrivateKey, keccak256

FREEZE_S = 3_600


def traders(count: int) -> list[PrivateKey]:
    return [PrivateKey(keccak256(f"trader-{i}".encode())) for i in range(count)]


def record_for(tree: BalanceTree, nonce: int = 1, deposit_nonce: int = 0, withdrawal_id: int = 0,
               total: int | None = None) -> AnchorRecord:
    return AnchorRecord(nonce, "perpchain-test", 10 * nonce, keccak256(b"app %d" % nonce), tree.root,
                        tree.total_micro_usdc if total is None else total, deposit_nonce, withdrawal_id, len(tree), 0)


def sign(setup: VaultSetup, record: AnchorRecord, keys: list[PrivateKey] | None = None, chain_id: int | None = None,
         vault: bytes | None = None) -> list[tuple[bytes, bytes, int]]:
    digest = anchor_digest(chain_id or setup.chain_id, vault or setup.vault_address, record)
    return digests.sign_quorum(setup.validators[:3] if keys is None else keys, digest)


def anchor(setup: VaultSetup, record: AnchorRecord, sigs: list[Any] | None = None) -> Any:
    call = setup.vault.functions.anchor(vault_record(record), sign(setup, record) if sigs is None else sigs)
    return transact(setup.w3, call, setup.user.checksum)


def fund_gas(setup: VaultSetup, *keys: PrivateKey) -> None:
    for key in keys:
        setup.w3.provider.make_request("anvil_setBalance", [Web3.to_checksum_address(key.address), hex(10**18)])


def pass_time(setup: VaultSetup, seconds: int) -> None:
    setup.w3.provider.make_request("evm_increaseTime", [seconds])
    setup.w3.provider.make_request("evm_mine", [])


def exit_(setup: VaultSetup, key: PrivateKey, amount: int, proof: list[bytes]) -> Any:
    return send_eth_transaction(setup.w3, key, setup.vault.functions.exit(amount, proof))


def hatch_vault(anvil: Anvil, stock_micro_usdc: int) -> VaultSetup:
    """conftest's four-validator bridge with a vault whose freeze period is an hour, holding
    `stock_micro_usdc`."""
    setup = deploy(anvil, validator_keys(4), [1, 1, 1, 1])
    vault = deploy_bridge(setup.w3, deployer=setup.deployer.checksum, validators=[k.address for k in setup.validators],
                          powers=[1] * 4, token=setup.token, freeze_period_s=FREEZE_S).vault
    transact(setup.w3, setup.token.functions.mint(vault.address, stock_micro_usdc), setup.deployer.checksum)
    return replace(setup, vault=vault)


@pytest.fixture
def escape(anvil: Anvil) -> tuple[VaultSetup, BalanceTree, list[PrivateKey]]:
    """A vault holding 10,000 USDC, a freeze period of an hour, and an anchor of three traders'
    balances (100, 250 and 1,000 USDC)."""
    setup = hatch_vault(anvil, 10_000 * USDC)
    people = traders(3)
    fund_gas(setup, *people)
    tree = BalanceTree(keccak256)
    tree.apply({k.address: amount for k, amount in zip(people, (100 * USDC, 250 * USDC, 1_000 * USDC))})
    anchor(setup, record_for(tree))
    return setup, tree, people


def test_anchor_digest_matches_the_contract_and_the_vault_keeps_the_record(
        escape: tuple[VaultSetup, BalanceTree, list[PrivateKey]]) -> None:
    setup, tree, _ = escape
    record = record_for(tree, nonce=2, deposit_nonce=0, withdrawal_id=0)
    assert bytes(setup.vault.functions.anchorDigest(vault_record(record)).call()) == \
        anchor_digest(setup.chain_id, setup.vault_address, record)
    receipt = anchor(setup, record)
    f = setup.vault.functions
    assert (f.anchorNonce().call(), f.anchoredHeight().call(), bytes(f.balancesRoot().call()),
            f.totalClaimable().call()) == (2, 20, tree.root, 1_350 * USDC)
    [event] = setup.vault.events.Anchored().process_receipt(receipt)
    assert event.args.appHash == record.app_hash and event.args.nonce == 2


def test_anchor_with_too_little_power_reverts(escape: tuple[VaultSetup, BalanceTree, list[PrivateKey]]) -> None:
    setup, tree, _ = escape
    record = record_for(tree, nonce=2)
    with reverts(setup.vault, "InsufficientPower") as args:
        anchor(setup, record, sign(setup, record, keys=setup.validators[:2]))
    assert args == [(2, 4)]


def test_stale_or_reused_anchor_nonce_reverts(escape: tuple[VaultSetup, BalanceTree, list[PrivateKey]]) -> None:
    setup, tree, _ = escape
    with reverts(setup.vault, "StaleAnchorNonce") as args:
        anchor(setup, record_for(tree, nonce=1))
    assert args == [(1, 1)]
    anchor(setup, record_for(tree, nonce=5))
    with reverts(setup.vault, "StaleAnchorNonce"):
        anchor(setup, record_for(tree, nonce=4))


@pytest.mark.parametrize("domain", ["other chain id", "other vault"])
def test_anchor_signed_for_another_domain_reverts(escape: tuple[VaultSetup, BalanceTree, list[PrivateKey]],
                                                  domain: str) -> None:
    setup, tree, _ = escape
    record = record_for(tree, nonce=2)
    sigs = sign(setup, record, chain_id=1) if domain == "other chain id" else sign(setup, record, vault=b"\x22" * 20)
    with reverts(setup.vault, "UnknownSigner"):
        anchor(setup, record, sigs)


def test_anchor_of_a_deposit_nonce_the_vault_never_issued_reverts(
        escape: tuple[VaultSetup, BalanceTree, list[PrivateKey]]) -> None:
    setup, tree, _ = escape
    with reverts(setup.vault, "UnknownDepositNonce") as args:
        anchor(setup, record_for(tree, nonce=2, deposit_nonce=3))
    assert args == [(3, 0)]


def test_freeze_only_after_the_period_and_once(escape: tuple[VaultSetup, BalanceTree, list[PrivateKey]]) -> None:
    setup, tree, people = escape
    with reverts(setup.vault, "NotFrozen"):
        exit_(setup, people[0], 100 * USDC, tree.proof(people[0].address))  # exit before freeze
    with reverts(setup.vault, "FreezeTooEarly"):
        transact(setup.w3, setup.vault.functions.freeze(), setup.user.checksum)
    pass_time(setup, FREEZE_S - 100)
    anchor(setup, record_for(tree, nonce=2))  # a fresh anchor restarts the clock
    pass_time(setup, FREEZE_S - 100)
    with reverts(setup.vault, "FreezeTooEarly"):
        transact(setup.w3, setup.vault.functions.freeze(), setup.user.checksum)
    pass_time(setup, 200)
    transact(setup.w3, setup.vault.functions.freeze(), setup.user.checksum)
    assert setup.vault.functions.frozen().call()
    with reverts(setup.vault, "VaultFrozen"):
        transact(setup.w3, setup.vault.functions.freeze(), setup.user.checksum)
    with reverts(setup.vault, "VaultFrozen"):
        anchor(setup, record_for(tree, nonce=3))
    with reverts(setup.vault, "VaultFrozen"):
        setup.approve_and_deposit(5 * USDC, setup.user.address, 0)


def _freeze(setup: VaultSetup) -> None:
    pass_time(setup, FREEZE_S + 1)
    transact(setup.w3, setup.vault.functions.freeze(), setup.user.checksum)


def test_each_trader_exits_once_with_exactly_its_anchored_amount(
        escape: tuple[VaultSetup, BalanceTree, list[PrivateKey]]) -> None:
    setup, tree, people = escape
    _freeze(setup)
    vault_before = setup.balance(setup.vault.address)
    for key in people:
        amount = tree.amount(key.address)
        receipt = exit_(setup, key, amount, tree.proof(key.address))
        assert setup.balance(Web3.to_checksum_address(key.address)) == amount
        [event] = setup.vault.events.Exited().process_receipt(receipt)
        assert (event.args.account, event.args.amount) == (Web3.to_checksum_address(key.address), amount)
    assert setup.balance(setup.vault.address) == vault_before - 1_350 * USDC
    assert setup.vault.functions.totalExited().call() == 1_350 * USDC
    with reverts(setup.vault, "AlreadyExited"):
        exit_(setup, people[0], 100 * USDC, tree.proof(people[0].address))


def test_a_proof_for_another_amount_or_address_reverts(
        escape: tuple[VaultSetup, BalanceTree, list[PrivateKey]]) -> None:
    setup, tree, people = escape
    _freeze(setup)
    with reverts(setup.vault, "InvalidProof"):
        exit_(setup, people[0], 101 * USDC, tree.proof(people[0].address))  # another amount
    with reverts(setup.vault, "InvalidProof"):
        exit_(setup, people[1], 100 * USDC, tree.proof(people[0].address))  # someone else's leaf
    with reverts(setup.vault, "ZeroAmount"):
        exit_(setup, people[0], 0, [])
    exit_(setup, people[0], 100 * USDC, tree.proof(people[0].address))  # the right one still pays


def test_a_leaf_forged_as_an_inner_node_reverts(anvil: Anvil) -> None:
    """Two sibling nodes X || Y that read as abi.encode(attacker, amount) make their parent equal
    to a single-hashed leaf of (attacker, amount); the vault's double hash refuses it."""
    setup = hatch_vault(anvil, 0)
    attacker = traders(4)[3]
    fund_gas(setup, attacker)
    amount = 2**255 + 1  # makes Y sort after X, so the pair hashes as X || Y = abi.encode(attacker, amount)
    x, y = bytes(12) + attacker.address, amount.to_bytes(32, "big")
    other = keccak256(b"the rest of the tree")
    root = hash_pair(keccak256, hash_pair(keccak256, x, y), other)
    record = AnchorRecord(1, "perpchain-test", 10, bytes(32), root, 2**256 - 1, 0, 0, 2, 0)
    anchor(setup, record)
    _freeze(setup)
    with reverts(setup.vault, "InvalidProof"):
        exit_(setup, attacker, amount, [other])


def test_exits_never_pay_more_than_the_anchored_total_or_the_vault_balance(anvil: Anvil) -> None:
    setup = hatch_vault(anvil, 150 * USDC)
    people = traders(3)
    fund_gas(setup, *people)
    tree = BalanceTree(keccak256, [Leaf(people[0].address, 100 * USDC), Leaf(people[1].address, 100 * USDC),
                                   Leaf(people[2].address, 60 * USDC)])
    anchor(setup, record_for(tree, total=180 * USDC))  # a record whose total is below its leaves' sum
    _freeze(setup)
    exit_(setup, people[0], 100 * USDC, tree.proof(people[0].address))
    with reverts(setup.vault, "ExceedsAnchoredTotal") as args:
        exit_(setup, people[1], 100 * USDC, tree.proof(people[1].address))
    assert args == [(100 * USDC, 80 * USDC)]
    with reverts(setup.vault, "InsufficientVaultBalance") as args:
        exit_(setup, people[2], 60 * USDC, tree.proof(people[2].address))  # 50 USDC left in the vault
    assert args == [(50 * USDC, 60 * USDC)]


def test_a_deposit_after_the_anchor_is_reclaimed_once_by_its_depositor(
        escape: tuple[VaultSetup, BalanceTree, list[PrivateKey]]) -> None:
    setup, tree, _ = escape
    setup.approve_and_deposit(7 * USDC, setup.user.address, 0)  # nonce 1
    anchor(setup, record_for(tree, nonce=2, deposit_nonce=1))
    setup.approve_and_deposit(11 * USDC, setup.user.address, 0)  # nonce 2: after the anchor
    with reverts(setup.vault, "NotFrozen"):
        transact(setup.w3, setup.vault.functions.reclaim(2), setup.user.checksum)
    _freeze(setup)
    with reverts(setup.vault, "DepositAnchored") as args:
        transact(setup.w3, setup.vault.functions.reclaim(1), setup.user.checksum)
    assert args == [(1, 1)]
    with reverts(setup.vault, "NotDepositor"):
        transact(setup.w3, setup.vault.functions.reclaim(2), setup.recipient.checksum)
    before = setup.balance(setup.user)
    transact(setup.w3, setup.vault.functions.reclaim(2), setup.user.checksum)
    assert setup.balance(setup.user) == before + 11 * USDC
    with reverts(setup.vault, "NothingToReclaim"):
        transact(setup.w3, setup.vault.functions.reclaim(2), setup.user.checksum)
    with reverts(setup.vault, "NothingToReclaim"):
        transact(setup.w3, setup.vault.functions.reclaim(3), setup.user.checksum)  # never made


def test_a_frozen_vault_pays_only_withdrawals_the_anchor_excludes(
        escape: tuple[VaultSetup, BalanceTree, list[PrivateKey]]) -> None:
    setup, tree, _ = escape
    anchor(setup, record_for(tree, nonce=2, withdrawal_id=2))
    _freeze(setup)
    recipient = setup.recipient.address
    setup.withdraw(2, recipient, 3 * USDC, setup.sign_withdrawal(2, recipient, 3 * USDC))  # queued before: paid
    with reverts(setup.vault, "WithdrawalAfterAnchor") as args:
        setup.withdraw(3, recipient, 3 * USDC, setup.sign_withdrawal(3, recipient, 3 * USDC))
    assert args == [(3, 2)]


def test_a_deposit_beyond_96_bits_reverts(escape: tuple[VaultSetup, BalanceTree, list[PrivateKey]]) -> None:
    setup, _, _ = escape
    call = setup.vault.functions.deposit(2**96, setup.user.checksum, 0)
    with reverts(setup.vault, "AmountTooLarge"):
        transact(setup.w3, call, setup.user.checksum)
