"""Unbond on the in-process chain (docs/staking.md, "Unbonding"): the power drops at the end of the
block, the amount waits unbonding_period_blocks as an entry that slashes still reach, then the
bounded end-block step pays it to the operator's subaccount 0, carrying the rest over. Every
invariant is checked after each block (tests/app/test_staking.py's Net)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from modules.bank.keeper import BankKeeper
from modules.bank.types import Transfer
from modules.bridge.keeper import BridgeKeeper
from modules.bridge.types import ClaimDeposit, ResumeDeposits
from modules.staking.params import MAX_UNBONDING_ENTRIES
from modules.staking.types import Unbond
from modules.types import BOND_SUBACCOUNT, SubaccountId
from tests.app.test_staking import ADDRESSES, BOND, ETH_KEYS, OPERATORS, PARAMS, PUB_KEYS, TRADER, UNIT, Net, updates
from tests.app.test_staking_equivocation import conflicting_anchors, deliver
from wire.crypto import keccak256

PERIOD = 5
UNBONDING = {**PARAMS, "unbonding_period_blocks": PERIOD, "unbonding_releases_per_block": 2}


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    with Net(tmp_path / "db", UNBONDING) as running:
        running.block()
        yield running


def balance(net: Net, index: int) -> int:
    return BankKeeper(net.chain.store).balance(SubaccountId(OPERATORS[index].address, 0))


def events(response: Any, kind: str) -> list[dict[str, str]]:
    return [{a.key: a.value for a in e.attributes} for e in response.events if e.type == kind]


def test_an_unbond_lowers_the_power_at_once_and_pays_the_operator_after_the_period(net: Net) -> None:
    nonce = net.valset_nonce()
    response = net.block([net.tx(OPERATORS[1], Unbond(4 * UNIT))])
    assert response.tx_results[0].code == 0, response.tx_results[0].log
    assert updates(response) == [(PUB_KEYS[1], 6)]
    assert net.valset_nonce() == nonce + 1 and BridgeKeeper(net.chain.store).validator(ADDRESSES[1]).power == 6  # type: ignore[union-attr]
    unbonded_at = net.chain.height
    standing = net.validator(1)
    assert (standing["bond_micro_usdc"], standing["power"]) == (str(BOND - 4 * UNIT), "6")
    assert [(e["amount_micro_usdc"], e["mature_height"]) for e in standing["unbonding"]] == [
        (str(4 * UNIT), str(unbonded_at + PERIOD))]
    before = balance(net, 1)
    while net.chain.height + 1 < unbonded_at + PERIOD:
        assert events(net.block(), "unbonding_released") == []
    released = net.block()
    assert [(e["validator"], e["amount_micro_usdc"]) for e in events(released, "unbonding_released")] == [
        (f"0x{ADDRESSES[1].hex()}", str(4 * UNIT))]
    assert balance(net, 1) == before + 4 * UNIT and net.validator(1)["unbonding"] == []
    answer = json.loads(net.chain.query("/staking/validators").value)
    assert answer["unbonded_total_micro_usdc"] == str(4 * UNIT)
    # released from the bond: a debit of the validator's bridge key, for the next anchor to carry
    assert answer["bond_debits"] == [{"eth_address": f"0x{ETH_KEYS[1].address.hex()}",
                                      "debited_micro_usdc": str(4 * UNIT)}]
    # tradable: the operator moves it like any balance
    moved = deliver(net, OPERATORS[1], Transfer(0, SubaccountId(TRADER.address, 0), 4 * UNIT))
    assert moved.code == 0, moved.log


def test_unbonding_money_is_slashed_with_the_bond_until_it_is_released(net: Net) -> None:
    assert deliver(net, OPERATORS[0], Unbond(5 * UNIT)).code == 0
    fund = net.insurance_fund()
    net.block(evidence=(0,))
    share = 5 * UNIT * PARAMS["double_sign_slash_ppm"] // 1_000_000  # of the bond, and of the entry
    assert net.insurance_fund() == fund + 2 * share
    assert net.validator(0)["unbonding"][0]["amount_micro_usdc"] == str(5 * UNIT - share)
    before = balance(net, 0)
    for _ in range(PERIOD):
        net.block()
    assert balance(net, 0) == before + 5 * UNIT - share


def test_all_of_a_bond_may_leave_and_the_validator_leaves_the_set(net: Net) -> None:
    response = net.block([net.tx(OPERATORS[2], Unbond(BOND))])
    assert response.tx_results[0].code == 0 and updates(response) == [(PUB_KEYS[2], 0)]
    assert net.validator(2)["bond_micro_usdc"] == "0"
    # a report still reaches the unbonding money, and the validator is tombstoned
    fund = net.insurance_fund()
    assert deliver(net, TRADER, conflicting_anchors(ETH_KEYS[2])).code == 0
    assert net.insurance_fund() == fund + BOND - BOND // 10 and net.validator(2)["tombstoned"]  # less the vault's reporter share


@pytest.mark.parametrize(("who", "amount", "code"), [
    ("trader", UNIT, 801), ("operator", 0, 812), ("operator", BOND + 1, 812), ("operator", BOND - UNIT // 2, 813)])
def test_an_unbond_that_breaks_a_rule_is_refused(net: Net, who: str, amount: int, code: int) -> None:
    key = TRADER if who == "trader" else OPERATORS[3]
    checked = net.chain.check(net.tx(key, Unbond(amount)))
    assert (checked.code, checked.codespace) == (code, "staking"), checked.log
    result = deliver(net, key, Unbond(amount))
    assert (result.code, result.codespace) == (code, "staking"), result.log
    assert net.validator(3)["bond_micro_usdc"] == str(BOND) and net.validator(3)["unbonding"] == []


def test_a_validator_has_a_bounded_number_of_unbondings(net: Net) -> None:
    results = net.block([net.tx(OPERATORS[3], Unbond(UNIT)) for _ in range(MAX_UNBONDING_ENTRIES + 1)]).tx_results
    assert [r.code for r in results[:-1]] == [0] * MAX_UNBONDING_ENTRIES
    assert (results[-1].code, results[-1].codespace) == (814, "staking"), results[-1].log
    assert len(net.validator(3)["unbonding"]) == MAX_UNBONDING_ENTRIES


def test_the_release_step_pays_at_most_its_budget_a_block_and_carries_the_rest_over(net: Net) -> None:
    response = net.block([net.tx(OPERATORS[i], Unbond(UNIT)) for i in range(3)])
    assert [r.code for r in response.tx_results] == [0, 0, 0]
    by_entry = sorted((int(entry["entry_id"]), f"0x{ADDRESSES[i].hex()}")
                      for i in range(3) for entry in net.validator(i)["unbonding"])
    assert [entry_id for entry_id, _ in by_entry] == [1, 2, 3]
    due = net.chain.height + PERIOD
    while net.chain.height + 1 < due:
        net.block()
    first = net.block()  # all three mature here; the budget is two, taken in creation order
    assert [e["validator"] for e in events(first, "unbonding_released")] == [v for _, v in by_entry[:2]]
    assert events(first, "unbonding_carried_over") == [{"released": "2", "next_entry_id": "3"}]
    second = net.block()
    assert [e["validator"] for e in events(second, "unbonding_released")] == [by_entry[2][1]]
    assert events(second, "unbonding_carried_over") == []


def test_two_nodes_agree_on_every_app_hash_through_unbonding_and_a_report(tmp_path: Path) -> None:
    with Net(tmp_path / "node0", UNBONDING) as first, Net(tmp_path / "node1", UNBONDING) as second:
        nodes = [first, second]
        hashes: list[list[bytes]] = [[], []]
        for step in range(12):
            for node, seen in zip(nodes, hashes):
                txs = ([node.tx(OPERATORS[i], Unbond(UNIT)) for i in range(3)] if step == 1
                       else [node.tx(TRADER, conflicting_anchors(ETH_KEYS[1]))] if step == 3 else [])
                seen.append(bytes(node.block(txs).app_hash))
        assert hashes[0] == hashes[1]
        assert nodes[0].validator(1)["tombstoned"] and nodes[0].validator(0)["unbonding"] == []


def test_a_resume_undoing_a_joined_bond_takes_it_back_from_the_unbonding_too(net: Net) -> None:
    """Validator 2's bond grew by a credited bond of 5 units, then its operator unbonded 12 of its
    15: the credit, reorged out of Ethereum, must not leave as a release to the operator. The
    resume takes the 3 left in the bond, then 2 from the unbonding entry."""
    bond = ClaimDeposit(1, 100, keccak256(b"bond"), ETH_KEYS[2].address, ETH_KEYS[2].address, BOND_SUBACCOUNT,
                        5 * UNIT)
    net.block([net.tx(OPERATORS[i], bond) for i in range(3)])
    assert net.block([net.tx(OPERATORS[2], Unbond(12 * UNIT))]).tx_results[0].code == 0
    canonical = ClaimDeposit(1, 101, keccak256(b"deposit"), TRADER.address, TRADER.address, 0, 5 * UNIT)
    net.block([net.tx(OPERATORS[i], canonical) for i in range(4)])
    resumed = net.block([net.tx(OPERATORS[i], ResumeDeposits(1)) for i in (0, 1, 3)])
    assert [r.code for r in resumed.tx_results] == [0, 0, 0], [r.log for r in resumed.tx_results]
    assert "bond_shortfall" not in [e.type for r in resumed.tx_results for e in r.events]
    standing = net.validator(2)
    assert standing["bond_micro_usdc"] == "0"
    assert [e["amount_micro_usdc"] for e in standing["unbonding"]] == [str(10 * UNIT)]
