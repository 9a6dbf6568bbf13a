"""Validator bonds and fraud proofs on a real anvil: a bond is a deposit to subaccount 255 owed as
its own term; two signatures by one key over different anchors (or withdrawals) with the same
nonce forfeit that key's bond (a share to whoever reports it, the rest to the insurance pool)
and its vote; every pair that proves nothing is refused by name."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from unittest import mock

import pytest
from web3 import Web3
from web3.logs import DISCARD

from bridge.eth import Anvil, DevAccount, deploy_bridge
from bridge.relayer import Relayer
from client.bridge import BridgeClient
from client.client import Client
from client.eth import send_eth_transaction, transact
from modules.anchor.merkle import BalanceTree, Leaf
from modules.anchor.types import AnchorRecord
from modules.staking.params import REPORTER_SHARE_BPS
from modules.staking.rules import reporter_share
from tests.bridge.conftest import USDC, VaultSetup, reverts
from tests.bridge.test_anchor_vault import FREEZE_S, anchor, fund_gas, hatch_vault, pass_time, record_for, sign
from wire import vault as digests
from wire.anchor import anchor_digest, vault_record
from wire.crypto import PrivateKey, keccak256

BOND = 500 * USDC
REPORTER_SHARE = BOND // 10  # REPORTER_SHARE_BPS = 1,000


def test_the_chain_withholds_exactly_the_share_the_vault_pays_a_reporter(bonded: VaultSetup) -> None:
    """The chain's insurance fund takes a forfeited bond less this share (docs/staking.md, "Money"),
    so the two sides must agree on it, rounding included."""
    assert bonded.vault.functions.REPORTER_SHARE_BPS().call() == REPORTER_SHARE_BPS
    assert reporter_share(BOND) == REPORTER_SHARE and reporter_share(19) == 1  # the vault rounds down too


@pytest.fixture
def bonded(anvil: Anvil) -> VaultSetup:
    """hatch_vault's four validators (power 1 each) holding 10,000 USDC, with validator 0 bonded
    BOND by the user; the user keeps 500 USDC."""
    setup = hatch_vault(anvil, 10_000 * USDC)
    bond(setup, BOND, setup.validators[0].address)
    return setup


def bond(setup: VaultSetup, amount: int, signer: bytes, sender: DevAccount | None = None) -> Any:
    sender = sender or setup.user
    transact(setup.w3, setup.token.functions.approve(setup.vault.address, amount), sender.checksum)
    return transact(setup.w3, setup.vault.functions.bond(amount, Web3.to_checksum_address(signer)), sender.checksum)


def one(setup: VaultSetup, key: PrivateKey, digest: bytes) -> tuple[bytes, bytes, int]:
    return digests.split_signature(digests.sign(key, digest))


def anchor_sig(setup: VaultSetup, key: PrivateKey, record: AnchorRecord) -> tuple[bytes, bytes, int]:
    return one(setup, key, anchor_digest(setup.chain_id, setup.vault_address, record))


def empty_record(nonce: int = 1, total: int = 0) -> AnchorRecord:
    return record_for(BalanceTree(keccak256), nonce=nonce, total=total)


def prove_anchors(setup: VaultSetup, a: AnchorRecord, sa: Any, b: AnchorRecord, sb: Any,
                  reporter: DevAccount | None = None) -> Any:
    call = setup.vault.functions.proveAnchorEquivocation(vault_record(a), sa, vault_record(b), sb)
    return transact(setup.w3, call, (reporter or setup.recipient).checksum)


def withdrawal_sig(setup: VaultSetup, key: PrivateKey, withdrawal_id: int, recipient: bytes,
                   amount: int) -> tuple[bytes, bytes, int]:
    return one(setup, key, setup.withdrawal_digest(withdrawal_id, recipient, amount))


def prove_withdrawals(setup: VaultSetup, withdrawal_id: int, a: tuple[bytes, int, Any], b: tuple[bytes, int, Any],
                      reporter: DevAccount | None = None) -> Any:
    to = Web3.to_checksum_address
    call = setup.vault.functions.proveWithdrawalEquivocation(withdrawal_id, to(a[0]), a[1], a[2], to(b[0]), b[1], b[2])
    return transact(setup.w3, call, (reporter or setup.recipient).checksum)


def valset(setup: VaultSetup) -> tuple[list[bytes], list[int]]:
    validators, powers = setup.vault.functions.currentValset().call()
    return [bytes.fromhex(v[2:]) for v in validators], list(powers)


# ------------------------------------------------------------------------------------------ bonds


def test_a_bond_takes_the_next_deposit_nonce_and_is_announced_with_subaccount_255(bonded: VaultSetup) -> None:
    setup, signer = bonded, bonded.validators[1].address
    setup.approve_and_deposit(7 * USDC, setup.user.address, 0)  # deposit 2 (the fixture's bond is 1)
    receipt = bond(setup, 30 * USDC, signer)
    [event] = setup.vault.events.Deposited().process_receipt(receipt, errors=DISCARD)
    assert (event.args.depositNonce, event.args.sender, event.args.recipient, event.args.subaccount,
            event.args.amount) == (3, setup.user.checksum, Web3.to_checksum_address(signer), 255, 30 * USDC)
    f = setup.vault.functions
    assert f.bondOf(Web3.to_checksum_address(signer)).call() == 30 * USDC
    assert f.totalBonded().call() == BOND + 30 * USDC
    assert f.lastDepositNonce().call() == 3
    assert f.depositOf(3).call() == [setup.user.checksum, 0]  # a bond adds nothing to the deposits
    assert f.owed().call() == [0, 0, 7 * USDC, BOND + 30 * USDC]


def test_bonds_add_up_per_signer_and_refuse_what_deposits_refuse(bonded: VaultSetup) -> None:
    setup, signer = bonded, bonded.validators[0].address
    bond(setup, 5 * USDC, signer)
    assert setup.vault.functions.bondOf(Web3.to_checksum_address(signer)).call() == BOND + 5 * USDC
    with reverts(setup.vault, "ZeroAmount"):
        bond(setup, 0, signer)
    with reverts(setup.vault, "ZeroRecipient"):
        bond(setup, USDC, bytes(20))


def test_the_vault_refuses_an_anchor_that_would_leave_bonds_unbacked(anvil: Anvil) -> None:
    setup = hatch_vault(anvil, 100 * USDC)
    tree = BalanceTree(keccak256, [Leaf(PrivateKey(keccak256(b"trader")).address, 100 * USDC)])
    anchor(setup, record_for(tree))  # exactly the stock
    bond(setup, 40 * USDC, setup.validators[0].address)  # the vault now holds 140 and owes 140
    with reverts(setup.vault, "AnchorExceedsVault") as args:
        anchor(setup, record_for(tree, nonce=2, deposit_nonce=1, total=101 * USDC))
    assert args == [(141 * USDC, 140 * USDC)]
    anchor(setup, record_for(tree, nonce=2, deposit_nonce=1))  # past the bond's nonce: still owed, as a bond
    assert setup.vault.functions.owed().call() == [100 * USDC, 0, 0, 40 * USDC]


def test_reclaim_refuses_a_bond_nonce_and_the_signer_takes_its_bond_back_a_freeze_period_after_the_freeze(
        bonded: VaultSetup) -> None:
    setup, key = bonded, bonded.validators[0]
    fund_gas(setup, key)
    pass_time(setup, FREEZE_S)
    with reverts(setup.vault, "BondNotReclaimable") as args:
        transact(setup.w3, setup.vault.functions.reclaim(1), setup.user.checksum)  # even by its bonder
    assert args == [(1,)]
    with reverts(setup.vault, "BondsLocked"):
        send_eth_transaction(setup.w3, key, setup.vault.functions.reclaimBond())
    pass_time(setup, FREEZE_S)
    with reverts(setup.vault, "NoBond"):  # the bond belongs to the signer key, not to whoever paid it
        transact(setup.w3, setup.vault.functions.reclaimBond(), setup.user.checksum)
    receipt = send_eth_transaction(setup.w3, key, setup.vault.functions.reclaimBond())
    [event] = setup.vault.events.BondReclaimed().process_receipt(receipt, errors=DISCARD)
    assert (event.args.signer, event.args.amount) == (Web3.to_checksum_address(key.address), BOND)
    assert setup.balance(Web3.to_checksum_address(key.address)) == BOND
    assert setup.vault.functions.owed().call()[3] == 0
    with reverts(setup.vault, "NoBond"):
        send_eth_transaction(setup.w3, key, setup.vault.functions.reclaimBond())


# ---------------------------------------------------------------------------------- fraud proofs


def assert_forfeited(setup: VaultSetup, receipt: Any, cheater: PrivateKey, bond_micro_usdc: int,
                     reporter_before: int) -> None:
    f, address = setup.vault.functions, Web3.to_checksum_address(cheater.address)
    [event] = setup.vault.events.BondForfeited().process_receipt(receipt, errors=DISCARD)
    share = bond_micro_usdc // 10
    assert (event.args.signer, event.args.reporter, event.args.bond, event.args.reporterShare, event.args.power) == \
        (address, setup.recipient.checksum, bond_micro_usdc, share, 1)
    assert setup.balance(setup.recipient) == reporter_before + share
    assert f.insurancePool().call() == bond_micro_usdc - share
    assert (f.bondOf(address).call(), f.totalBonded().call(), f.forfeited(address).call()) == (0, 0, True)
    assert (f.powerOf(address).call(), f.totalPower().call()) == (0, 3)
    validators, powers = valset(setup)
    assert validators == [k.address for k in setup.validators[1:]] and powers == [1, 1, 1]
    assert bytes(f.valsetCheckpoint().call()) == digests.valset_checkpoint(validators, powers, 0)
    # The rest still reach quorum: 3 of the 3 left (2 of them is exactly 2/3: not enough).
    record = empty_record(nonce=7)
    with reverts(setup.vault, "InsufficientPower") as args:
        anchor(setup, record, sign(setup, record, keys=setup.validators[1:3]))
    assert args == [(2, 3)]
    with reverts(setup.vault, "UnknownSigner"):
        anchor(setup, record, sign(setup, record, keys=setup.validators[:3]))
    anchor(setup, record, sign(setup, record, keys=setup.validators[1:]))


def test_an_outsider_proving_two_anchors_with_one_nonce_forfeits_the_signers_bond_and_vote(
        bonded: VaultSetup) -> None:
    setup, cheater = bonded, bonded.validators[0]
    honest, forged = empty_record(nonce=3), empty_record(nonce=3, total=9 * USDC)
    before = setup.balance(setup.recipient)
    receipt = prove_anchors(setup, honest, anchor_sig(setup, cheater, honest), forged, anchor_sig(setup, cheater, forged))
    assert_forfeited(setup, receipt, cheater, BOND, before)


def test_two_withdrawals_with_one_id_forfeit_the_signers_bond_and_vote(bonded: VaultSetup) -> None:
    setup, cheater = bonded, bonded.validators[0]
    me, thief = setup.recipient.address, setup.user.address
    before = setup.balance(setup.recipient)
    receipt = prove_withdrawals(setup, 9, (me, 5 * USDC, withdrawal_sig(setup, cheater, 9, me, 5 * USDC)),
                                (thief, 5 * USDC, withdrawal_sig(setup, cheater, 9, thief, 5 * USDC)))
    assert_forfeited(setup, receipt, cheater, BOND, before)


def test_a_forfeited_key_is_left_out_of_later_sets_and_refused_a_new_bond(bonded: VaultSetup) -> None:
    setup, cheater = bonded, bonded.validators[0]
    a, b = empty_record(nonce=2), empty_record(nonce=2, total=USDC)
    prove_anchors(setup, a, anchor_sig(setup, cheater, a), b, anchor_sig(setup, cheater, b))
    addresses = [k.address for k in setup.validators]  # the chain, not knowing, hands over to all four
    digest = digests.valset_digest(setup.chain_id, setup.vault_address, addresses, [1, 1, 1, 1], 1)
    call = setup.vault.functions.updateValset([Web3.to_checksum_address(a) for a in addresses], [1, 1, 1, 1], 1,
                                              digests.sign_quorum(setup.validators[1:], digest))
    receipt = transact(setup.w3, call, setup.user.checksum)
    assert valset(setup) == (addresses[1:], [1, 1, 1])
    [event] = setup.vault.events.ValsetUpdated().process_receipt(receipt, errors=DISCARD)
    assert event.args.checkpoint == digests.valset_checkpoint(addresses[1:], [1, 1, 1], 1)
    assert setup.vault.functions.totalPower().call() == 3
    with reverts(setup.vault, "SignerForfeited"):
        bond(setup, USDC, cheater.address)


def test_a_relayer_hands_over_the_next_set_without_the_forfeited_keys_signature(bonded: VaultSetup) -> None:
    """The chain does not know of a forfeiture, so the cheater, still a member of the chain's set,
    signs the next set like the others; the vault refuses a whole call for one signer it does not
    hold (UnknownSigner), so a relayer sending every signature would never hand a set over again."""
    setup, cheater = bonded, bonded.validators[0]
    a, b = empty_record(nonce=2), empty_record(nonce=2, total=USDC)
    prove_anchors(setup, a, anchor_sig(setup, cheater, a), b, anchor_sig(setup, cheater, b))
    addresses = [k.address for k in setup.validators]  # in address order, as the chain lists set 1
    digest = digests.valset_digest(setup.chain_id, setup.vault_address, addresses, [1, 1, 1, 1], 1)
    signed = digests.sign_quorum(setup.validators, digest)  # set 0 signs set 1, the cheater too
    update = {"valset_nonce": "1", "validators": [f"0x{a.hex()}" for a in addresses], "powers": ["1"] * 4,
              "signatures": [{"eth_address": f"0x{a.hex()}"} for a in addresses],
              "vault_signatures": [[f"0x{r.hex()}", f"0x{s.hex()}", v] for r, s, v in signed]}
    relayer = Relayer.__new__(Relayer)
    relayer.bridge = mock.Mock(spec=BridgeClient, vault=setup.vault, web3=setup.w3)
    relayer.eth_key, relayer.metrics, relayer._ready_seen = setup.validators[1], {"relayer_valsets_sent_total": 0}, {}
    fund_gas(setup, relayer.eth_key)
    relayer._update_valset(update)
    assert valset(setup) == (addresses[1:], [1, 1, 1])
    assert setup.vault.functions.valsetNonce().call() == 1 and relayer.metrics["relayer_valsets_sent_total"] == 1


def test_a_key_of_an_old_set_still_holding_a_bond_is_punished(bonded: VaultSetup) -> None:
    setup, cheater = bonded, bonded.validators[0]
    rest = [k.address for k in setup.validators[1:]]
    digest = digests.valset_digest(setup.chain_id, setup.vault_address, rest, [1, 1, 1], 1)
    transact(setup.w3, setup.vault.functions.updateValset([Web3.to_checksum_address(a) for a in rest], [1, 1, 1], 1,
                                                          digests.sign_quorum(setup.validators[1:], digest)),
             setup.user.checksum)
    a, b = empty_record(nonce=2), empty_record(nonce=2, total=USDC)
    receipt = prove_anchors(setup, a, anchor_sig(setup, cheater, a), b, anchor_sig(setup, cheater, b))
    [event] = setup.vault.events.BondForfeited().process_receipt(receipt, errors=DISCARD)
    assert (event.args.bond, event.args.power) == (BOND, 0)
    assert setup.vault.functions.totalPower().call() == 3


def test_a_sole_validator_caught_cheating_leaves_an_empty_set_and_the_vault_can_only_freeze(anvil: Anvil) -> None:
    setup = hatch_vault(anvil, 0)
    solo = setup.validators[:1]
    vault = deploy_bridge(setup.w3, deployer=setup.deployer.checksum, validators=[solo[0].address], powers=[5],
                          token=setup.token, freeze_period_s=FREEZE_S).vault
    setup = replace(setup, vault=vault, validators=solo)
    a, b = empty_record(nonce=1), empty_record(nonce=1, total=USDC)
    prove_anchors(setup, a, anchor_sig(setup, solo[0], a), b, anchor_sig(setup, solo[0], b))
    assert valset(setup) == ([], []) and setup.vault.functions.totalPower().call() == 0
    with reverts(setup.vault, "InsufficientPower") as args:
        anchor(setup, a, [])
    assert args == [(0, 0)]


def test_pairs_that_prove_nothing_are_refused_by_name(bonded: VaultSetup) -> None:
    setup, cheater, other = bonded, bonded.validators[0], bonded.validators[1]
    a, b = empty_record(nonce=2), empty_record(nonce=2, total=USDC)
    with reverts(setup.vault, "NotConflicting"):  # the same anchor twice
        prove_anchors(setup, a, anchor_sig(setup, cheater, a), a, anchor_sig(setup, cheater, a))
    with reverts(setup.vault, "DifferentSigners") as args:
        prove_anchors(setup, a, anchor_sig(setup, cheater, a), b, anchor_sig(setup, other, b))
    assert args == [(f"0x{cheater.address.hex()}", f"0x{other.address.hex()}")]
    later = empty_record(nonce=3, total=USDC)
    with reverts(setup.vault, "NoncesDiffer") as args:
        prove_anchors(setup, a, anchor_sig(setup, cheater, a), later, anchor_sig(setup, cheater, later))
    assert args == [(2, 3)]
    me = setup.recipient.address
    with reverts(setup.vault, "NotConflicting"):
        sig = withdrawal_sig(setup, cheater, 4, me, USDC)
        prove_withdrawals(setup, 4, (me, USDC, sig), (me, USDC, sig))
    with reverts(setup.vault, "DifferentSigners"):
        prove_withdrawals(setup, 4, (me, USDC, withdrawal_sig(setup, cheater, 4, me, USDC)),
                          (me, 2 * USDC, withdrawal_sig(setup, other, 4, me, 2 * USDC)))
    high_s = anchor_sig(setup, cheater, b)
    with reverts(setup.vault, "HighS") as args:  # the vault's signature rules hold here too
        n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
        twin = (high_s[0], (n - int.from_bytes(high_s[1], "big")).to_bytes(32, "big"), 55 - high_s[2])
        prove_anchors(setup, a, anchor_sig(setup, cheater, a), b, twin)
    assert args == [(1,)]
    outsider = PrivateKey(keccak256(b"never bonded, never in the set"))
    with reverts(setup.vault, "NothingToForfeit"):
        prove_anchors(setup, a, anchor_sig(setup, outsider, a), b, anchor_sig(setup, outsider, b))
    assert setup.vault.functions.bondOf(Web3.to_checksum_address(cheater.address)).call() == BOND


def test_a_replayed_proof_is_refused_and_a_signer_is_punished_once(bonded: VaultSetup) -> None:
    setup, cheater = bonded, bonded.validators[0]
    a, b, c = empty_record(nonce=2), empty_record(nonce=2, total=USDC), empty_record(nonce=2, total=2 * USDC)
    prove_anchors(setup, a, anchor_sig(setup, cheater, a), b, anchor_sig(setup, cheater, b))
    with reverts(setup.vault, "AlreadyForfeited"):
        prove_anchors(setup, a, anchor_sig(setup, cheater, a), b, anchor_sig(setup, cheater, b))
    with reverts(setup.vault, "AlreadyForfeited"):  # another pair of the same key
        prove_anchors(setup, a, anchor_sig(setup, cheater, a), c, anchor_sig(setup, cheater, c))
    assert setup.vault.functions.insurancePool().call() == BOND - REPORTER_SHARE


def test_a_forfeiture_keeps_the_vault_solvent_and_the_pool_backs_a_later_anchor(bonded: VaultSetup) -> None:
    """The vault held 10,000 USDC of stock and a 500 USDC bond; after the forfeiture it owes no bond,
    paid the reporter 50 and keeps 450 it owes no one, which an anchor may then claim."""
    setup, cheater = bonded, bonded.validators[0]
    a, b = empty_record(nonce=2), empty_record(nonce=2, total=USDC)
    prove_anchors(setup, a, anchor_sig(setup, cheater, a), b, anchor_sig(setup, cheater, b))
    assert setup.vault.functions.owed().call() == [0, 0, 0, 0]
    assert setup.balance(setup.vault.address) == 10_000 * USDC + BOND - REPORTER_SHARE
    rest = setup.validators[1:]
    full = empty_record(nonce=3, total=10_000 * USDC + BOND - REPORTER_SHARE)
    with reverts(setup.vault, "AnchorExceedsVault"):
        over = replace(full, total_claimable_micro_usdc=full.total_claimable_micro_usdc + 1)
        anchor(setup, over, sign(setup, over, keys=rest))
    anchor(setup, full, sign(setup, full, keys=rest))


def test_the_bridge_client_bonds_and_proves_through_the_vault(bonded: VaultSetup, anvil: Anvil) -> None:
    """BridgeClient's Ethereum calls (no chain needed): bond from a key, read bondOf, prove both kinds."""
    setup = bonded
    bridge = BridgeClient(Client("http://127.0.0.1:1"), anvil.rpc_url, setup.vault.address)
    bonder, reporter = PrivateKey(keccak256(b"bonder")), PrivateKey(keccak256(b"reporter"))
    fund_gas(setup, bonder, reporter)
    transact(setup.w3, setup.token.functions.mint(Web3.to_checksum_address(bonder.address), 40 * USDC),
             setup.deployer.checksum)
    cheater, other = setup.validators[1], setup.validators[2]
    assert bridge.bond(bonder, 40 * USDC, cheater.address) == 2
    assert bridge.bond_of(cheater.address) == 40 * USDC
    a, b = empty_record(nonce=4), empty_record(nonce=4, total=USDC)
    sig_a, sig_b = (digests.sign(cheater, anchor_digest(setup.chain_id, setup.vault_address, r)) for r in (a, b))
    bridge.prove_anchor_equivocation(reporter, a, sig_a, b, sig_b)
    assert bridge.bond_of(cheater.address) == 0
    assert setup.balance(Web3.to_checksum_address(reporter.address)) == 4 * USDC
    me = setup.recipient.address
    signed = [(me, amount, digests.sign(other, setup.withdrawal_digest(3, me, amount))) for amount in (USDC, 2 * USDC)]
    bridge.prove_withdrawal_equivocation(reporter, 3, signed[0], signed[1])
    assert setup.vault.functions.forfeited(Web3.to_checksum_address(other.address)).call()
    assert setup.vault.functions.totalPower().call() == 2
