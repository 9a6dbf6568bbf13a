"""Vault anchors and the escape hatch on a real anvil: every revert path, exact payouts.

Trees come from modules/anchor/merkle.py, digests from wire/anchor.py: the same code the chain
and the CLI use, checked here against the contract's own keccak and ecrecover."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from web3 import Web3

from bridge.eth import Anvil, anvil_rpc, deploy_bridge
from client.bridge import held_by_vault
from client.eth import send_eth_transaction, transact
from modules.anchor.merkle import BalanceTree, Leaf, hash_pair
from modules.anchor.types import AnchorRecord
from tests.bridge.conftest import USDC, VaultSetup, deploy, reverts, validator_keys
from wire import vault as digests
from wire.anchor import NO_BOND_DEBITS_HASH, anchor_digest, vault_record
from wire.crypto import PrivateKey, keccak256

FREEZE_S = 3_600


def traders(count: int) -> list[PrivateKey]:
    return [PrivateKey(keccak256(f"trader-{i}".encode())) for i in range(count)]


def record_for(tree: BalanceTree, nonce: int = 1, deposit_nonce: int = 0, withdrawal_id: int = 0,
               total: int | None = None, withdrawn_total: int = 0) -> AnchorRecord:
    return AnchorRecord(nonce=nonce, chain_id="perpchain-test", height=10 * nonce,
                        app_hash=keccak256(b"app %d" % nonce), balances_root=tree.root,
                        total_claimable_micro_usdc=tree.total_micro_usdc if total is None else total,
                        deposit_nonce=deposit_nonce, withdrawal_id=withdrawal_id,
                        withdrawn_total_micro_usdc=withdrawn_total, bond_debits_hash=NO_BOND_DEBITS_HASH,
                        leaf_count=len(tree), time_ms=0)


def sign(setup: VaultSetup, record: AnchorRecord, keys: list[PrivateKey] | None = None, chain_id: int | None = None,
         vault: bytes | None = None) -> list[tuple[bytes, bytes, int]]:
    digest = anchor_digest(chain_id or setup.chain_id, vault or setup.vault_address, record)
    return digests.sign_quorum(setup.validators[:3] if keys is None else keys, digest)


def anchor(setup: VaultSetup, record: AnchorRecord, sigs: list[Any] | None = None) -> Any:
    call = setup.vault.functions.anchor(vault_record(record), sign(setup, record) if sigs is None else sigs, [])
    return transact(setup.w3, call, setup.user.checksum)


def fund_gas(setup: VaultSetup, *keys: PrivateKey) -> None:
    for key in keys:
        anvil_rpc(setup.w3, "anvil_setBalance", Web3.to_checksum_address(key.address), hex(10**18))


def pass_time(setup: VaultSetup, seconds: int) -> None:
    anvil_rpc(setup.w3, "evm_increaseTime", seconds)
    anvil_rpc(setup.w3, "evm_mine")


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
    record = AnchorRecord(nonce=1, chain_id="perpchain-test", height=10, app_hash=bytes(32), balances_root=root,
                          total_claimable_micro_usdc=0, deposit_nonce=0, withdrawal_id=0,
                          withdrawn_total_micro_usdc=0, bond_debits_hash=NO_BOND_DEBITS_HASH, leaf_count=2, time_ms=0)
    anchor(setup, record)
    _freeze(setup)
    with reverts(setup.vault, "InvalidProof"):
        exit_(setup, attacker, amount, [other])


def test_exits_never_pay_more_than_the_anchored_total(anvil: Anvil) -> None:
    setup = hatch_vault(anvil, 260 * USDC)
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
    exit_(setup, people[2], 60 * USDC, tree.proof(people[2].address))


def test_an_anchor_the_vault_could_not_pay_reverts(anvil: Anvil) -> None:
    """What an anchor makes the vault owe: its claims, its withdrawals not yet paid, and the
    deposits it does not include. The vault takes it only if it holds all of that."""
    setup = hatch_vault(anvil, 150 * USDC)
    tree = BalanceTree(keccak256, [Leaf(traders(1)[0].address, 100 * USDC)])
    with reverts(setup.vault, "AnchorExceedsVault") as args:
        anchor(setup, record_for(tree, withdrawal_id=1, withdrawn_total=51 * USDC))
    assert args == [(151 * USDC, 150 * USDC)]
    anchor(setup, record_for(tree, withdrawal_id=1, withdrawn_total=50 * USDC))  # exactly what it holds
    setup.approve_and_deposit(7 * USDC, setup.user.address, 0)  # deposit 1: the next anchor must include it or owe it
    assert setup.vault.functions.owed().call() == [100 * USDC, 50 * USDC, 7 * USDC, 0]
    with reverts(setup.vault, "AnchorExceedsVault") as args:
        anchor(setup, record_for(tree, nonce=2, withdrawal_id=1, withdrawn_total=50 * USDC, total=101 * USDC))
    assert args == [(158 * USDC, 157 * USDC)]
    anchor(setup, record_for(tree, nonce=2, deposit_nonce=1, withdrawal_id=1, withdrawn_total=50 * USDC,
                              total=107 * USDC))  # the deposit credited: now a claim, no longer a deposit owed
    assert setup.vault.functions.owed().call() == [107 * USDC, 50 * USDC, 0, 0]


def test_anchor_counters_never_go_back(escape: tuple[VaultSetup, BalanceTree, list[PrivateKey]]) -> None:
    setup, tree, _ = escape
    setup.approve_and_deposit(7 * USDC, setup.user.address, 0)
    anchor(setup, record_for(tree, nonce=2, deposit_nonce=1, withdrawal_id=3, withdrawn_total=30 * USDC))
    for behind, given, current in ((dict(deposit_nonce=0, withdrawal_id=3, withdrawn_total=30 * USDC), 0, 1),
                                   (dict(deposit_nonce=1, withdrawal_id=2, withdrawn_total=30 * USDC), 2, 3),
                                   (dict(deposit_nonce=1, withdrawal_id=3, withdrawn_total=29 * USDC), 29 * USDC,
                                    30 * USDC)):
        with reverts(setup.vault, "AnchorCounterBehind") as args:
            anchor(setup, record_for(tree, nonce=3, **behind))
        assert args == [(given, current)]


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


def test_a_withdrawal_is_paid_only_once_an_anchor_covers_it(
        escape: tuple[VaultSetup, BalanceTree, list[PrivateKey]]) -> None:
    """Live or frozen: the anchored balances exclude withdrawals 1..anchoredWithdrawalId and
    include every later one, so paying a later one would let its owner take it twice."""
    setup, tree, _ = escape
    recipient = setup.recipient.address
    sigs = setup.sign_withdrawal(1, recipient, 3 * USDC)
    with reverts(setup.vault, "WithdrawalNotAnchored") as args:
        setup.withdraw(1, recipient, 3 * USDC, sigs)  # live, queued after the only anchor
    assert args == [(1, 0)]
    anchor(setup, record_for(tree, nonce=2, withdrawal_id=2, withdrawn_total=8 * USDC))
    setup.withdraw(1, recipient, 3 * USDC, sigs)
    _freeze(setup)
    setup.withdraw(2, recipient, 5 * USDC, setup.sign_withdrawal(2, recipient, 5 * USDC))  # covered: paid frozen
    with reverts(setup.vault, "WithdrawalNotAnchored") as args:
        setup.withdraw(3, recipient, 3 * USDC, setup.sign_withdrawal(3, recipient, 3 * USDC))
    assert args == [(3, 2)]
    assert setup.balance(setup.recipient) == 8 * USDC


def test_withdrawals_together_never_pay_more_than_the_anchored_withdrawn_total(
        escape: tuple[VaultSetup, BalanceTree, list[PrivateKey]]) -> None:
    setup, tree, _ = escape
    recipient = setup.recipient.address
    anchor(setup, record_for(tree, nonce=2, withdrawal_id=2, withdrawn_total=8 * USDC))
    setup.withdraw(1, recipient, 6 * USDC, setup.sign_withdrawal(1, recipient, 6 * USDC))
    with reverts(setup.vault, "ExceedsAnchoredWithdrawals") as args:
        setup.withdraw(2, recipient, 3 * USDC, setup.sign_withdrawal(2, recipient, 3 * USDC))
    assert args == [(3 * USDC, 2 * USDC)]
    assert setup.vault.functions.owed().call()[1] == 2 * USDC


def _same_block(setup: VaultSetup, calls: list[Any], timestamp: int) -> list[int]:
    """Mine `calls` from one sender (so in this order) in one block at `timestamp`; their
    statuses (1 ok, 0 reverted)."""
    w3 = setup.w3
    anvil_rpc(w3, "evm_setAutomine", False)
    try:
        nonce = w3.eth.get_transaction_count(setup.user.checksum, "pending")
        hashes = [call.transact({"from": setup.user.checksum, "gas": 1_000_000, "nonce": nonce + i})
                  for i, call in enumerate(calls)]
        anvil_rpc(w3, "evm_mine", timestamp)
    finally:
        anvil_rpc(w3, "evm_setAutomine", True)
    receipts = [w3.eth.wait_for_transaction_receipt(h, timeout=30) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1
    return [int(r["status"]) for r in receipts]


@pytest.mark.parametrize("order", ["freeze first", "anchor first"])
@pytest.mark.parametrize("arrives", ["at the deadline", "a second before"])
def test_the_freeze_race_is_decided_by_the_block_time_not_the_order(
        escape: tuple[VaultSetup, BalanceTree, list[PrivateKey]], order: str, arrives: str) -> None:
    """An anchor and freeze() in one block, in either order: from freezesAt() on the vault is
    frozen and the anchor is refused; a second before, the anchor lands and freeze() is early."""
    setup, tree, _ = escape
    record = record_for(tree, nonce=2)
    late = setup.vault.functions.anchor(vault_record(record), sign(setup, record), [])
    freeze = setup.vault.functions.freeze()
    deadline = setup.vault.functions.freezesAt().call()
    timestamp = deadline if arrives == "at the deadline" else deadline - 1
    statuses = _same_block(setup, [freeze, late] if order == "freeze first" else [late, freeze], timestamp)
    anchored, frozen = (statuses[1], statuses[0]) if order == "freeze first" else tuple(statuses)
    if arrives == "at the deadline":
        assert (anchored, frozen) == (0, 1)
        assert setup.vault.functions.anchorNonce().call() == 1 and setup.vault.functions.frozen().call()
    else:
        assert (anchored, frozen) == (1, 0)
        assert setup.vault.functions.anchorNonce().call() == 2 and not setup.vault.functions.frozen().call()


def test_the_vault_is_frozen_from_the_deadline_without_anyone_calling_freeze(
        escape: tuple[VaultSetup, BalanceTree, list[PrivateKey]]) -> None:
    setup, tree, people = escape
    pass_time(setup, FREEZE_S + 1)
    with reverts(setup.vault, "VaultFrozen"):
        anchor(setup, record_for(tree, nonce=2))
    exit_(setup, people[0], 100 * USDC, tree.proof(people[0].address))
    assert not setup.vault.functions.freezeRecorded().call()


def test_a_deposit_beyond_96_bits_reverts(escape: tuple[VaultSetup, BalanceTree, list[PrivateKey]]) -> None:
    setup, _, _ = escape
    call = setup.vault.functions.deposit(2**96, setup.user.checksum, 0)
    with reverts(setup.vault, "AmountTooLarge"):
        transact(setup.w3, call, setup.user.checksum)


def test_signatures_by_keys_the_vault_lacks_are_left_out_of_an_anchor(
        escape: tuple[VaultSetup, BalanceTree, list[PrivateKey]]) -> None:
    """One unknown signer makes the vault refuse the whole anchor; `held_by_vault` (what the
    relayers send) keeps only the keys the vault holds, and only while they carry > 2/3."""
    setup, tree, _ = escape
    record = record_for(tree, nonce=2)
    digest = anchor_digest(setup.chain_id, setup.vault_address, record)
    stranger = PrivateKey(keccak256(b"a key rotated in, not yet handed to the vault"))
    signers = sorted([*setup.validators[:3], stranger], key=lambda key: key.address)
    answer: dict[str, list[Any]] = {
        "signatures": [{"eth_address": "0x" + key.address.hex()} for key in signers],
        "vault_signatures": [["0x" + r.hex(), "0x" + s.hex(), v] for r, s, v in digests.sign_quorum(signers, digest)]}
    with reverts(setup.vault, "UnknownSigner"):
        anchor(setup, record, digests.sign_quorum(signers, digest))
    held = held_by_vault(setup.vault, answer)
    assert held is not None and len(held) == 3
    anchor(setup, record, held)
    stranger_and_two = [i for i, key in enumerate(signers) if key in (stranger, *setup.validators[:2])]
    short = {name: [answer[name][i] for i in stranger_and_two] for name in ("signatures", "vault_signatures")}
    assert held_by_vault(setup.vault, short) is None  # 2 of 4 known: the relayer waits
