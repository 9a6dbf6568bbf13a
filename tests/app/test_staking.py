"""Bonds, slashing, jailing and validator updates on the in-process chain (app/driver.py): four
bonded validators of power 10, a bridge whose validators are theirs, every invariant after each
block (docs/staking.md)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from app.driver import Consensus, Genesis, InProcessChain
from modules.bank.keeper import BankKeeper
from modules.bridge.keeper import BridgeKeeper
from modules.bridge.types import ClaimDeposit, ResumeDeposits
from modules.module import InvariantContext
from modules.oracle.keeper import OracleKeeper
from modules.staking.params import MAX_VALIDATOR_POWER
from modules.staking.types import Unjail
from modules.types import BOND_SUBACCOUNT, INSURANCE_FUND, SubaccountId
from sim.invariants import first_broken
from tests.app.conftest import BLOCK_INTERVAL_MS, CHAIN_ID, GENESIS_TIME_MS, funded_app_state
from wire.codec import Tx, sign_tx
from wire.crypto import PrivateKey, keccak256

DUPLICATE_VOTE = 1
COMETBFT_MAX_TOTAL_VOTING_POWER = (2**63 - 1) // 8  # types.MaxTotalVotingPower
UNIT = 1_000_000  # micro-USDC per unit of power
BOND = 10 * UNIT
PUB_KEYS = [bytes([i]) * 32 for i in range(1, 5)]
ADDRESSES = [hashlib.sha256(pk).digest()[:20] for pk in PUB_KEYS]
OPERATORS = [PrivateKey(keccak256(f"operator-{i}".encode())) for i in range(4)]
ETH_KEYS = [PrivateKey(keccak256(f"eth-{i}".encode())) for i in range(4)]
TRADER = PrivateKey.from_hex(f"{101:064x}")
PARAMS = {"power_unit_micro_usdc": UNIT, "double_sign_slash_ppm": 50_000, "downtime_slash_ppm": 10_000,
          "downtime_window_blocks": 10, "downtime_min_signed_ppm": 500_000, "jail_cooldown_blocks": 5}


def staking_genesis(params: dict[str, int] = PARAMS) -> dict[str, Any]:
    staking = {"params": params, "validators": [
        {"consensus_address": a.hex().upper(), "pub_key": base64.b64encode(pk).decode(),
         "operator": f"0x{o.address.hex()}", "bond_micro_usdc": str(BOND)}
        for a, pk, o in zip(ADDRESSES, PUB_KEYS, OPERATORS)]}
    bridge = {"eth_chain_id": 31337, "vault": "0x" + "11" * 20, "validators": [
        {"consensus_address": a.hex().upper(), "operator": f"0x{o.address.hex()}",
         "eth_address": f"0x{e.address.hex()}", "power": BOND // UNIT}
        for a, o, e in zip(ADDRESSES, OPERATORS, ETH_KEYS)]}
    return funded_app_state([TRADER], sections={"staking": staking, "bridge": bridge})


class Net:
    """The chain, its block-by-block consensus report, and the invariants after every block."""

    def __init__(self, path: Path, params: dict[str, int] = PARAMS, anchor_interval_blocks: int | None = None) -> None:
        app_state = staking_genesis(params)
        if anchor_interval_blocks is not None:
            app_state["anchor"] = {"interval_blocks": anchor_interval_blocks}
        self.supply = sum(int(b["amount_micro_usdc"]) for b in app_state["bank"]["balances"])
        self.chain = InProcessChain.start(path, Genesis(CHAIN_ID, app_state, tuple((pk, 10) for pk in PUB_KEYS)),
                                          BLOCK_INTERVAL_MS, GENESIS_TIME_MS)
        self.nonce = GENESIS_TIME_MS

    def __enter__(self) -> Net:
        return self

    def __exit__(self, *_: object) -> None:
        self.chain.close()

    def block(self, txs: list[bytes] | None = None, absent: frozenset[int] = frozenset(),
              evidence: tuple[int, ...] = ()) -> Any:
        """A block whose last commit holds a vote of every validator in CometBFT's set (the
        oracle's copy of it), signed unless its index is in `absent`."""
        in_set = {v.address: v.power for v in OracleKeeper(self.chain.store).validators()}
        votes = tuple((a, in_set[a], i not in absent) for i, a in enumerate(ADDRESSES) if a in in_set)
        misbehavior = tuple((DUPLICATE_VOTE, ADDRESSES[i], 10, self.chain.height) for i in evidence)
        response = self.chain.block(txs or [], consensus=Consensus(votes, misbehavior))
        broken = first_broken(InvariantContext(self.chain.store, self.chain.app.books, self.supply))
        assert broken is None, broken
        return response

    def tx(self, key: PrivateKey, *actions: Any) -> bytes:
        self.nonce += 1
        return sign_tx(key, Tx(CHAIN_ID, key.address, self.nonce, tuple(actions)))

    def validator(self, index: int) -> dict[str, Any]:
        answer = self.chain.query(f"/staking/validators/0x{ADDRESSES[index].hex()}")
        assert answer.code == 0, answer.log
        return dict(json.loads(answer.value))

    def insurance_fund(self) -> int:
        return BankKeeper(self.chain.store).balance(INSURANCE_FUND)

    def valset_nonce(self) -> int:
        return BridgeKeeper(self.chain.store).valset_nonce()


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    with Net(tmp_path / "db") as running:
        running.block()
        yield running


def updates(response: Any) -> list[tuple[bytes, int]]:
    return [(u.pub_key.ed25519, u.power) for u in response.validator_updates]


def event_types(response: Any) -> list[str]:
    return [e.type for e in response.events]


def tx_event_types(response: Any) -> list[str]:
    return [e.type for result in response.tx_results for e in result.events]


def test_double_sign_evidence_slashes_into_the_insurance_fund_jails_and_tombstones(net: Net) -> None:
    fund_before, nonce_before = net.insurance_fund(), net.valset_nonce()
    response = net.block(evidence=(0,))
    slash = 10 * UNIT * 50_000 // 1_000_000
    assert updates(response) == [(PUB_KEYS[0], 0)]
    assert {"validator_slashed", "validator_jailed", "validator_tombstoned", "validator_power",
            "valset_recorded"} <= set(event_types(response))
    assert net.insurance_fund() == fund_before + slash
    assert net.valset_nonce() == nonce_before + 1
    valset = BridgeKeeper(net.chain.store).valset(net.valset_nonce())
    assert valset is not None and [m.consensus_address for m in valset.members] == sorted(ADDRESSES[1:])
    assert net.validator(0) | {"jailed_until_height": None} == {
        "consensus_address": f"0x{ADDRESSES[0].hex()}", "operator": f"0x{OPERATORS[0].address.hex()}",
        "eth_address": f"0x{ETH_KEYS[0].address.hex()}", "bond_micro_usdc": str(BOND - slash), "power": "0",
        "jailed": True, "jailed_until_height": None, "missed_blocks": "0", "slashed_micro_usdc": str(slash),
        "tombstoned": True, "forfeited_at_height": "0", "unbonding": []}
    # the same evidence again changes nothing: one infraction is punished once
    assert updates(net.block(evidence=(0,))) == [] and net.insurance_fund() == fund_before + slash
    # CometBFT's set (the oracle's copy) loses it two blocks after the update was sent
    assert ADDRESSES[0] in {v.address for v in OracleKeeper(net.chain.store).validators()}
    net.block()
    assert ADDRESSES[0] not in {v.address for v in OracleKeeper(net.chain.store).validators()}
    for _ in range(PARAMS["jail_cooldown_blocks"]):
        net.block()
    [result] = net.block([net.tx(OPERATORS[0], Unjail())]).tx_results
    assert (result.code, result.codespace) == (804, "staking"), result.log


def test_a_validator_down_for_the_window_is_jailed_and_unjails_after_the_cooldown(net: Net) -> None:
    fund_before = net.insurance_fund()
    jailed_at = 0
    for _ in range(PARAMS["downtime_window_blocks"]):
        response = net.block(absent=frozenset({1}))
        if updates(response):
            jailed_at = net.chain.height
            break
    assert jailed_at, "validator 1 was never jailed"
    assert updates(response) == [(PUB_KEYS[1], 0)]
    slash = -(-BOND * 10_000 // 1_000_000)
    assert net.insurance_fund() == fund_before + slash
    standing = net.validator(1)
    assert (standing["jailed"], standing["tombstoned"], standing["power"], standing["jailed_until_height"]) == \
        (True, False, "0", str(jailed_at + PARAMS["jail_cooldown_blocks"]))
    early = net.block([net.tx(OPERATORS[1], Unjail())], absent=frozenset({1}))
    assert (early.tx_results[0].code, early.tx_results[0].codespace) == (803, "staking"), early.tx_results[0].log
    stranger = net.block([net.tx(TRADER, Unjail())])
    assert stranger.tx_results[0].code == 801, stranger.tx_results[0].log
    not_jailed = net.block([net.tx(OPERATORS[2], Unjail())])
    assert not_jailed.tx_results[0].code == 802, not_jailed.tx_results[0].log
    while net.chain.height + 1 < jailed_at + PARAMS["jail_cooldown_blocks"]:
        net.block()
    back = net.block([net.tx(OPERATORS[1], Unjail())])
    assert back.tx_results[0].code == 0, back.tx_results[0].log
    assert updates(back) == [(PUB_KEYS[1], (BOND - slash) // UNIT)]  # 9: the slash took part of a unit
    assert net.validator(1)["jailed"] is False and net.validator(1)["power"] == "9"
    net.block()
    net.block()
    assert {v.address: v.power for v in OracleKeeper(net.chain.store).validators()}[ADDRESSES[1]] == 9


def test_each_slash_is_debited_to_the_validators_bridge_key_for_the_vault(net: Net) -> None:
    net.block(evidence=(2,))
    double_sign = 10 * UNIT * 50_000 // 1_000_000
    for _ in range(PARAMS["downtime_window_blocks"]):
        if updates(net.block(absent=frozenset({1}))):
            break
    downtime = -(-BOND * 10_000 // 1_000_000)
    answer = json.loads(net.chain.query("/staking/validators").value)
    expected = sorted([(f"0x{ETH_KEYS[2].address.hex()}", str(double_sign)), (f"0x{ETH_KEYS[1].address.hex()}", str(downtime))])
    assert [(d["eth_address"], d["debited_micro_usdc"]) for d in answer["bond_debits"]] == expected
    assert answer["bond_debits_unlisted_micro_usdc"] == "0"
    assert answer["slashed_total_micro_usdc"] == str(double_sign + downtime)


def test_the_next_anchor_carries_the_slash_as_a_debit_of_the_validators_bridge_key(tmp_path: Path) -> None:
    with Net(tmp_path / "db", anchor_interval_blocks=3) as net:
        net.block(evidence=(1,))
        slash = 10 * UNIT * 50_000 // 1_000_000
        for _ in range(4):  # the interval is 3 blocks
            if any(e.type == "anchor" for e in net.block().events):
                break
        else:
            pytest.fail("no anchor within 4 blocks")
        answer = json.loads(net.chain.query("/anchor/status").value)["latest"]
        debit = (ETH_KEYS[1].address, slash)
        assert answer["bond_debits"] == [{"signer": f"0x{debit[0].hex()}", "debited_total_micro_usdc": str(slash)}]
        abi = (32).to_bytes(32, "big") + (1).to_bytes(32, "big") + bytes(12) + debit[0] + slash.to_bytes(32, "big")
        assert answer["record"]["bond_debits_hash"] == f"0x{keccak256(abi).hex()}"


def test_a_bond_credited_through_the_bridge_raises_its_validators_power_never_the_bank(net: Net) -> None:
    supply = BankKeeper(net.chain.store).supply()
    bond = ClaimDeposit(1, 100, keccak256(b"bond"), ETH_KEYS[2].address, ETH_KEYS[2].address, BOND_SUBACCOUNT,
                        5 * UNIT)
    response = net.block([net.tx(OPERATORS[i], bond) for i in range(3)])  # 30 of 40 power: credited
    assert [r.code for r in response.tx_results] == [0, 0, 0], [r.log for r in response.tx_results]
    assert updates(response) == [(PUB_KEYS[2], 15)]
    assert "bond_added" in event_types(response)
    assert net.validator(2)["bond_micro_usdc"] == str(BOND + 5 * UNIT)
    assert BankKeeper(net.chain.store).supply() == supply
    assert BridgeKeeper(net.chain.store).validator(ADDRESSES[2]).power == 15  # type: ignore[union-attr]


def test_no_bond_gives_the_set_more_power_than_cometbft_accepts(net: Net) -> None:
    """CometBFT fails the block (and so halts the chain) when a validator update would take its
    set's total power past MaxTotalVotingPower; a bond is refused by nothing on its way in, so its
    power is capped instead, each validator at MAX_VALIDATOR_POWER."""
    huge = 2**100  # vault bonds are up to 2^96 each; several add up
    bond = ClaimDeposit(1, 100, keccak256(b"bond"), ETH_KEYS[2].address, ETH_KEYS[2].address, BOND_SUBACCOUNT, huge)
    response = net.block([net.tx(OPERATORS[i], bond) for i in range(3)])
    assert updates(response) == [(PUB_KEYS[2], MAX_VALIDATOR_POWER)]
    net.block()
    net.block()
    powers = {v.address: v.power for v in OracleKeeper(net.chain.store).validators()}
    assert sum(powers.values()) <= COMETBFT_MAX_TOTAL_VOTING_POWER
    assert net.validator(2)["bond_micro_usdc"] == str(BOND + huge) and net.validator(2)["power"] == str(MAX_VALIDATOR_POWER)


def test_a_resume_undoing_a_bond_that_joined_its_validator_takes_it_back_from_its_bond(net: Net) -> None:
    """A bond credited, joined to validator 2 (power 15), then found reorged out of Ethereum: the
    canonical deposit 1 is a trader's deposit. Kept, the validator would vote with power no vault
    money backs, and a slash of it would mint unbacked money into the insurance fund."""
    bond = ClaimDeposit(1, 100, keccak256(b"bond"), ETH_KEYS[2].address, ETH_KEYS[2].address, BOND_SUBACCOUNT,
                        5 * UNIT)
    assert updates(net.block([net.tx(OPERATORS[i], bond) for i in range(3)])) == [(PUB_KEYS[2], 15)]
    canonical = ClaimDeposit(1, 101, keccak256(b"deposit"), TRADER.address, TRADER.address, 0, 5 * UNIT)
    disputed = net.block([net.tx(OPERATORS[i], canonical) for i in range(4)])
    assert "deposits_halted" in tx_event_types(disputed), [r.log for r in disputed.tx_results]
    balance = BankKeeper(net.chain.store).balance(SubaccountId(TRADER.address, 0))
    resumed = net.block([net.tx(OPERATORS[i], ResumeDeposits(1)) for i in range(3)])  # 35 of 45 power
    assert [r.code for r in resumed.tx_results] == [0, 0, 0], [r.log for r in resumed.tx_results]
    events = tx_event_types(resumed)
    assert "deposits_resumed" in events and "bond_shortfall" not in events
    assert BankKeeper(net.chain.store).balance(SubaccountId(TRADER.address, 0)) == balance + 5 * UNIT
    assert net.validator(2)["bond_micro_usdc"] == str(BOND)
    assert updates(resumed) == [(PUB_KEYS[2], 10)]


def test_a_bond_to_a_key_no_validator_holds_waits_as_pending(net: Net) -> None:
    stranger = PrivateKey(keccak256(b"someone")).address
    bond = ClaimDeposit(1, 100, keccak256(b"bond"), stranger, stranger, BOND_SUBACCOUNT, 3 * UNIT)
    response = net.block([net.tx(OPERATORS[i], bond) for i in range(3)])
    assert updates(response) == []
    answer = json.loads(net.chain.query("/staking/validators").value)
    assert answer["pending_bonds"] == [{"eth_address": f"0x{stranger.hex()}", "amount_micro_usdc": str(3 * UNIT)}]
    assert answer["params"]["downtime_window_blocks"] == 10


def test_jailing_never_takes_the_set_to_two_thirds_or_less_at_once(net: Net) -> None:
    response = net.block(evidence=(0, 1))
    assert updates(response) == [(PUB_KEYS[0], 0)]  # validator 1 would leave 20 of 40: it waits
    assert net.validator(1)["jailed"] is True and net.validator(1)["power"] == "10"
    # of the 30 left, removing 10 would leave exactly 2/3: it keeps waiting (CometBFT needs more)
    assert updates(net.block()) == [] and net.validator(1)["power"] == "10"


def test_two_nodes_fed_the_same_blocks_agree_on_every_app_hash(tmp_path: Path) -> None:
    with Net(tmp_path / "node0") as first, Net(tmp_path / "node1") as second:
        nodes = [first, second]
        hashes: list[list[bytes]] = [[], []]
        for step in range(16):
            for node, seen in zip(nodes, hashes):
                response = node.block(absent=frozenset({3}) if step < 12 else frozenset(),
                                      evidence=(1,) if step == 4 else ())
                seen.append(bytes(response.app_hash))
        assert hashes[0] == hashes[1]
        assert nodes[0].validator(3)["jailed"] and nodes[0].validator(1)["tombstoned"]
