"""Genesis bonds held by the vault, and the chain's bond debits an anchor carries (docs/anchoring.md,
"Bond debits"), on a real anvil: each key's new debit leaves its bond before the vault checks
what it owes; an unchanged list changes nothing; a forfeited key has nothing left to take; every
list the chain could not have signed is refused by name."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

from web3 import Web3
from web3.logs import DISCARD

from bridge.eth import Anvil, deploy_bridge, deploy_contract
from client.eth import transact
from modules.anchor.merkle import BalanceTree
from modules.anchor.types import AnchorRecord, BondDebit, bond_debits_hash
from modules.staking.keeper import MAX_BOND_DEBITS
from tests.bridge.conftest import USDC, VaultSetup, deploy, reverts, validator_keys
from tests.bridge.test_anchor_vault import FREEZE_S, record_for, sign
from tests.bridge.test_fraud_proofs import anchor_sig, prove_anchors
from wire.anchor import vault_bond_debits, vault_record
from wire.crypto import keccak256

GENESIS_BOND = 100 * USDC


def genesis_bonded(anvil: Anvil) -> VaultSetup:
    """conftest's four validators (power 1 each) on a vault whose constructor bonds each GENESIS_BOND,
    minted into it at deployment; it holds nothing else."""
    setup = deploy(anvil, validator_keys(4), [1, 1, 1, 1])
    vault = deploy_bridge(setup.w3, deployer=setup.deployer.checksum, validators=[k.address for k in setup.validators],
                          powers=[1] * 4, bonds=[GENESIS_BOND] * 4, token=setup.token, freeze_period_s=FREEZE_S).vault
    return replace(setup, vault=vault)


def with_debits(record: AnchorRecord, debits: Sequence[BondDebit]) -> AnchorRecord:
    return replace(record, bond_debits_hash=bond_debits_hash(keccak256, debits))


def anchor_with(setup: VaultSetup, record: AnchorRecord, debits: Sequence[BondDebit],
                sent: Sequence[BondDebit] | None = None) -> Any:
    """Vault.anchor of `record` signed by 3 of 4, sending `sent` (by default `debits`, what it names)."""
    call = setup.vault.functions.anchor(vault_record(record), sign(setup, record),
                                        vault_bond_debits(debits if sent is None else sent))
    return transact(setup.w3, call, setup.user.checksum)


def bonds(setup: VaultSetup) -> list[int]:
    return [setup.vault.functions.bondOf(Web3.to_checksum_address(k.address)).call() for k in setup.validators]


def test_the_constructor_holds_each_genesis_bond_and_the_first_anchor_owes_them(anvil: Anvil) -> None:
    setup = genesis_bonded(anvil)
    f = setup.vault.functions
    assert bonds(setup) == [GENESIS_BOND] * 4 and f.totalBonded().call() == 4 * GENESIS_BOND
    assert setup.balance(setup.vault.address) == 4 * GENESIS_BOND  # minted as genesis balances are
    record = record_for(BalanceTree(keccak256), total=1)  # one micro-USDC more than the vault holds beyond the bonds
    with reverts(setup.vault, "AnchorExceedsVault") as refused:
        anchor_with(setup, record, [])
    assert refused[0] == (4 * GENESIS_BOND + 1, 4 * GENESIS_BOND)
    anchor_with(setup, record_for(BalanceTree(keccak256)), [])


def test_the_constructor_refuses_bonds_that_do_not_match_the_set(anvil: Anvil) -> None:
    setup = deploy(anvil, validator_keys(4), [1, 1, 1, 1])
    keys = [Web3.to_checksum_address(k.address) for k in setup.validators]
    with reverts(setup.vault, "GenesisBondsLengthMismatch") as refused:
        deploy_contract(setup.w3, "Vault", setup.token.address, keys, [1] * 4, [1] * 3, FREEZE_S,
                        sender=setup.deployer.checksum)
    assert refused[0] == (4, 3)
    with reverts(setup.vault, "AmountTooLarge"):
        deploy_contract(setup.w3, "Vault", setup.token.address, keys, [1] * 4, [0, 0, 2**96, 0], FREEZE_S,
                        sender=setup.deployer.checksum)


def test_a_genesis_bond_is_forfeited_by_a_fraud_proof(anvil: Anvil) -> None:
    setup = genesis_bonded(anvil)
    cheat = setup.validators[1]
    a = record_for(BalanceTree(keccak256))
    b = replace(a, total_claimable_micro_usdc=1)
    prove_anchors(setup, a, anchor_sig(setup, cheat, a), b, anchor_sig(setup, cheat, b))
    assert bonds(setup)[1] == 0
    assert setup.balance(setup.recipient) == GENESIS_BOND // 10  # the reporter's share of the genesis bond


def test_an_anchor_s_debits_lower_each_bond_and_the_total_once(anvil: Anvil) -> None:
    setup = genesis_bonded(anvil)
    keys = [k.address for k in setup.validators]
    f = setup.vault.functions
    debits = [(keys[0], 5 * USDC), (keys[2], 7 * USDC)]
    receipt = anchor_with(setup, with_debits(record_for(BalanceTree(keccak256)), debits), debits)
    assert bonds(setup) == [GENESIS_BOND - 5 * USDC, GENESIS_BOND, GENESIS_BOND - 7 * USDC, GENESIS_BOND]
    assert f.totalBonded().call() == 4 * GENESIS_BOND - 12 * USDC
    assert [f.debitedOf(Web3.to_checksum_address(k)).call() for k in keys] == [5 * USDC, 0, 7 * USDC, 0]
    events = setup.vault.events.BondDebited().process_receipt(receipt, errors=DISCARD)
    assert [(bytes.fromhex(e.args.signer[2:]), e.args.debited, e.args.applied, e.args.debitedTotal)
            for e in events] == [(keys[0], 5 * USDC, 5 * USDC, 5 * USDC), (keys[2], 7 * USDC, 7 * USDC, 7 * USDC)]
    # the same cumulative list again changes nothing; a grown total applies only the growth
    anchor_with(setup, with_debits(record_for(BalanceTree(keccak256), nonce=2), debits), debits)
    assert f.totalBonded().call() == 4 * GENESIS_BOND - 12 * USDC
    grown = [(keys[0], 6 * USDC), (keys[2], 7 * USDC)]
    anchor_with(setup, with_debits(record_for(BalanceTree(keccak256), nonce=3), grown), grown)
    assert bonds(setup)[0] == GENESIS_BOND - 6 * USDC and f.totalBonded().call() == 4 * GENESIS_BOND - 13 * USDC


def test_debits_apply_before_the_vault_checks_what_it_owes(anvil: Anvil) -> None:
    """The vault holds only the bonds; the chain moved 10 USDC of a bond into claims. The anchor
    claiming them lands only because the same anchor lowers that bond."""
    setup = genesis_bonded(anvil)
    debit = [(setup.validators[3].address, 10 * USDC)]
    claims = record_for(BalanceTree(keccak256), total=10 * USDC)
    with reverts(setup.vault, "AnchorExceedsVault"):
        anchor_with(setup, claims, [])
    anchor_with(setup, with_debits(claims, debit), debit)
    assert setup.vault.functions.totalBonded().call() == 4 * GENESIS_BOND - 10 * USDC


def test_a_forfeited_key_s_debit_takes_nothing_and_is_no_error(anvil: Anvil) -> None:
    setup = genesis_bonded(anvil)
    cheat = setup.validators[0]
    a = record_for(BalanceTree(keccak256), nonce=5)
    b = replace(a, total_claimable_micro_usdc=1)
    prove_anchors(setup, a, anchor_sig(setup, cheat, a), b, anchor_sig(setup, cheat, b))
    debits = [(cheat.address, 5 * USDC), (setup.validators[1].address, USDC)]
    record = with_debits(record_for(BalanceTree(keccak256)), debits)
    call = setup.vault.functions.anchor(vault_record(record), sign(setup, record, setup.validators[1:]),
                                        vault_bond_debits(debits))
    receipt = transact(setup.w3, call, setup.user.checksum)
    applied = {e.args.signer.lower(): e.args.applied for e in setup.vault.events.BondDebited().process_receipt(receipt, errors=DISCARD)}
    assert applied == {f"0x{cheat.address.hex()}": 0, f"0x{setup.validators[1].address.hex()}": USDC}
    assert setup.vault.functions.debitedOf(Web3.to_checksum_address(cheat.address)).call() == 5 * USDC
    assert setup.vault.functions.totalBonded().call() == 3 * GENESIS_BOND - USDC


def test_a_debit_beyond_the_bond_takes_what_is_left(anvil: Anvil) -> None:
    setup = genesis_bonded(anvil)
    debits = [(setup.validators[0].address, GENESIS_BOND + 1)]
    anchor_with(setup, with_debits(record_for(BalanceTree(keccak256)), debits), debits)
    assert bonds(setup)[0] == 0 and setup.vault.functions.totalBonded().call() == 3 * GENESIS_BOND


def test_debit_lists_the_chain_did_not_sign_are_refused_by_name(anvil: Anvil) -> None:
    setup = genesis_bonded(anvil)
    keys = [k.address for k in setup.validators]
    debits = [(keys[0], 5 * USDC), (keys[1], USDC)]
    record = with_debits(record_for(BalanceTree(keccak256)), debits)
    with reverts(setup.vault, "BondDebitsMismatch") as refused:
        anchor_with(setup, record, debits, sent=[(keys[0], 4 * USDC), (keys[1], USDC)])
    assert bytes(refused[0][1]) == record.bond_debits_hash
    backwards = list(reversed(debits))
    with reverts(setup.vault, "UnsortedBondDebit") as refused:
        anchor_with(setup, with_debits(record, backwards), backwards)
    assert refused[0][0] == 1
    repeated = [debits[0], debits[0]]
    with reverts(setup.vault, "UnsortedBondDebit"):
        anchor_with(setup, with_debits(record, repeated), repeated)
    too_many = sorted((keccak256(b"key %d" % i)[:20], 1) for i in range(MAX_BOND_DEBITS + 1))
    with reverts(setup.vault, "TooManyBondDebits") as refused:
        anchor_with(setup, with_debits(record, too_many), too_many)
    assert refused[0] == (MAX_BOND_DEBITS + 1, MAX_BOND_DEBITS)
    assert setup.vault.functions.MAX_BOND_DEBITS().call() == MAX_BOND_DEBITS
    anchor_with(setup, record, debits)
    behind = [(keys[0], 4 * USDC), (keys[1], USDC)]
    with reverts(setup.vault, "AnchorCounterBehind") as refused:
        anchor_with(setup, with_debits(record_for(BalanceTree(keccak256), nonce=2), behind), behind)
    assert refused[0] == (4 * USDC, 5 * USDC)
