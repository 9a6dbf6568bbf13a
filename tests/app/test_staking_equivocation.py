"""Equivocation reports on the in-process chain (docs/staking.md, "Equivocation"): two conflicting
vault signatures by one validator's bridge key, current or past, take its whole bond and every
unbonding entry into the insurance fund, jail and tombstone it, once; every refusal has its code.
Every invariant is checked after each block (tests/app/test_staking.py's Net)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import pytest

from modules.anchor.types import AnchorRecord
from modules.bank.keeper import BankKeeper
from modules.bridge.keeper import BridgeKeeper
from modules.bridge.types import SetBridgeKey
from modules.staking.types import (
    ReportAnchorEquivocation,
    ReportWithdrawalEquivocation,
    SignedAnchor,
    SignedWithdrawalTerms,
    Unbond,
)
from tests.app.conftest import CHAIN_ID
from tests.app.test_staking import ADDRESSES, BOND, ETH_KEYS, OPERATORS, PUB_KEYS, TRADER, UNIT, Net, updates
from wire.anchor import NO_BOND_DEBITS_HASH, anchor_digest
from wire.crypto import PrivateKey, keccak256
from wire.vault import bridge_key_digest, bridge_key_rotation_digest, withdrawal_digest

ETH_CHAIN_ID, VAULT = 31337, bytes([0x11]) * 20  # the bridge section of staking_genesis


def signed_anchor(key: PrivateKey, nonce: int = 3, app_hash: bytes = keccak256(b"state a")) -> SignedAnchor:
    record = AnchorRecord(nonce, CHAIN_ID, 40, app_hash, keccak256(b"root"), 7 * UNIT, 2, 1, UNIT,
                          NO_BOND_DEBITS_HASH, leaf_count=0, time_ms=0)
    signature = key.sign_digest(anchor_digest(ETH_CHAIN_ID, VAULT, record))
    return SignedAnchor(nonce, CHAIN_ID, 40, app_hash, keccak256(b"root"), 7 * UNIT, 2, 1, UNIT, NO_BOND_DEBITS_HASH,
                        signature)


def conflicting_anchors(key: PrivateKey) -> ReportAnchorEquivocation:
    return ReportAnchorEquivocation(signed_anchor(key), signed_anchor(key, app_hash=keccak256(b"state b")))


def terms(key: PrivateKey, recipient: bytes, amount: int, withdrawal_id: int = 5) -> SignedWithdrawalTerms:
    signature = key.sign_digest(withdrawal_digest(ETH_CHAIN_ID, VAULT, withdrawal_id, recipient, amount))
    return SignedWithdrawalTerms(recipient, amount, signature)


def conflicting_withdrawals(key: PrivateKey) -> ReportWithdrawalEquivocation:
    return ReportWithdrawalEquivocation(5, terms(key, bytes([1]) * 20, UNIT), terms(key, bytes([2]) * 20, UNIT))


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    with Net(tmp_path / "db") as running:
        running.block()
        yield running


def deliver(net: Net, key: PrivateKey, action: Any) -> Any:
    """The tx's result in a block of its own."""
    [result] = net.block([net.tx(key, action)]).tx_results
    return result


@pytest.mark.parametrize("report", [conflicting_anchors, conflicting_withdrawals])
def test_a_conflicting_pair_takes_the_whole_bond_into_the_insurance_fund_and_tombstones(net: Net, report: Any) -> None:
    fund, released = net.insurance_fund(), BridgeKeeper(net.chain.store).bonds_released()
    response = net.block([net.tx(TRADER, report(ETH_KEYS[2]))])
    assert response.tx_results[0].code == 0, response.tx_results[0].log
    # the fund takes the bond less the share the vault pays whoever proves the pair on Ethereum
    assert net.insurance_fund() == fund + BOND - BOND // 10
    assert BridgeKeeper(net.chain.store).bonds_released() == released + BOND - BOND // 10
    listed = json.loads(net.chain.query("/staking/validators").value)
    assert listed["withheld_for_reporters_micro_usdc"] == str(BOND // 10)
    assert updates(response) == [(PUB_KEYS[2], 0)]
    standing = net.validator(2)
    assert (standing["bond_micro_usdc"], standing["slashed_micro_usdc"], standing["jailed"], standing["tombstoned"],
            standing["forfeited_at_height"]) == ("0", str(BOND), True, True, str(net.chain.height))
    reported = [e for e in response.tx_results[0].events if e.type == "equivocation_reported"]
    assert [(a.key, a.value) for a in reported[0].attributes][:2] == [
        ("validator", f"0x{ADDRESSES[2].hex()}"), ("eth_address", f"0x{ETH_KEYS[2].address.hex()}")]
    # the other pair of the same key, or the same one again: one forfeiture per validator
    for again in (conflicting_anchors(ETH_KEYS[2]), conflicting_withdrawals(ETH_KEYS[2])):
        refused = deliver(net, TRADER, again)
        assert (refused.code, refused.codespace) == (811, "staking"), refused.log
    assert net.insurance_fund() == fund + BOND - BOND // 10


def test_a_validator_tombstoned_by_evidence_still_forfeits_the_rest(net: Net) -> None:
    net.block(evidence=(1,))
    left = int(net.validator(1)["bond_micro_usdc"])
    assert net.validator(1)["tombstoned"] and 0 < left < BOND
    fund = net.insurance_fund()
    assert deliver(net, TRADER, conflicting_anchors(ETH_KEYS[1])).code == 0
    assert net.insurance_fund() == fund + left - left // 10 and net.validator(1)["bond_micro_usdc"] == "0"


def test_unbonding_money_is_forfeited_with_the_bond(net: Net) -> None:
    assert deliver(net, OPERATORS[0], Unbond(4 * UNIT)).code == 0
    fund = net.insurance_fund()
    assert deliver(net, TRADER, conflicting_withdrawals(ETH_KEYS[0])).code == 0
    assert net.insurance_fund() == fund + BOND - BOND // 10
    assert net.validator(0)["unbonding"] == []


def test_a_pair_signed_by_a_key_the_validator_rotated_away_from_is_charged(net: Net) -> None:
    old, new = ETH_KEYS[3], PrivateKey(keccak256(b"rotated"))
    nonce = BridgeKeeper(net.chain.store).valset_nonce() + 1
    proof = new.sign_digest(bridge_key_digest(CHAIN_ID, ADDRESSES[3], new.address))
    approval = old.sign_digest(bridge_key_rotation_digest(CHAIN_ID, ADDRESSES[3], old.address, new.address, nonce))
    assert deliver(net, OPERATORS[3], SetBridgeKey(new.address, proof, nonce, approval)).code == 0
    assert net.validator(3)["eth_address"] == f"0x{new.address.hex()}"
    assert deliver(net, TRADER, conflicting_anchors(old)).code == 0
    assert net.validator(3)["tombstoned"] and net.validator(3)["bond_micro_usdc"] == "0"


def _high_s(signature: bytes) -> bytes:
    """The malleable twin: s -> n - s, v flipped (the same key, refused by the vault as HighS)."""
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = int.from_bytes(signature[32:64], "big")
    return signature[:32] + (n - s).to_bytes(32, "big") + bytes([55 - signature[64]])


STRANGER = PrivateKey(keccak256(b"no validator's key"))
REFUSED = [
    ("different nonces", lambda: ReportAnchorEquivocation(signed_anchor(ETH_KEYS[0]),
                                                          signed_anchor(ETH_KEYS[0], 4, keccak256(b"state b"))), 808),
    ("one anchor twice", lambda: ReportAnchorEquivocation(signed_anchor(ETH_KEYS[0]), signed_anchor(ETH_KEYS[0])),
     808),
    ("one withdrawal twice", lambda: ReportWithdrawalEquivocation(
        5, terms(ETH_KEYS[0], bytes([1]) * 20, UNIT), terms(ETH_KEYS[0], bytes([1]) * 20, UNIT)), 808),
    ("different signers", lambda: ReportAnchorEquivocation(
        signed_anchor(ETH_KEYS[0]), signed_anchor(ETH_KEYS[1], app_hash=keccak256(b"state b"))), 809),
    ("unknown signer", lambda: conflicting_anchors(STRANGER), 810),
    ("a signature cut short", lambda: ReportAnchorEquivocation(
        signed_anchor(ETH_KEYS[0]), replace(conflicting_anchors(ETH_KEYS[0]).b, signature=b"\1" * 64)), 807),
    ("a high-s signature", lambda: ReportAnchorEquivocation(
        signed_anchor(ETH_KEYS[0]),
        replace(conflicting_anchors(ETH_KEYS[0]).b, signature=_high_s(conflicting_anchors(ETH_KEYS[0]).b.signature))),
     807),
    ("an app hash of 31 bytes", lambda: ReportAnchorEquivocation(
        signed_anchor(ETH_KEYS[0]), replace(conflicting_anchors(ETH_KEYS[0]).b, app_hash=bytes(31))), 807),
    ("a bond debits hash of 31 bytes", lambda: ReportAnchorEquivocation(
        signed_anchor(ETH_KEYS[0]), replace(conflicting_anchors(ETH_KEYS[0]).b, bond_debits_hash=bytes(31))), 807),
    ("a recipient of 19 bytes", lambda: replace(
        conflicting_withdrawals(ETH_KEYS[0]), b=replace(conflicting_withdrawals(ETH_KEYS[0]).b, recipient=bytes(19))),
     807),
]


@pytest.mark.parametrize(("case", "report", "code"), REFUSED, ids=[case for case, _, _ in REFUSED])
def test_a_pair_that_proves_nothing_is_refused_with_its_code(net: Net, case: str, report: Any, code: int) -> None:
    fund, supply = net.insurance_fund(), BankKeeper(net.chain.store).supply()
    checked = net.chain.check(net.tx(TRADER, report()))
    assert (checked.code, checked.codespace) == (code, "staking"), checked.log
    result = deliver(net, TRADER, report())
    assert (result.code, result.codespace) == (code, "staking"), result.log
    assert (net.insurance_fund(), BankKeeper(net.chain.store).supply()) == (fund, supply)
    assert not net.validator(0)["tombstoned"] and net.validator(0)["bond_micro_usdc"] == str(BOND)
