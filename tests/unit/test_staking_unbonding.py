"""staking's unbonding and slashing rules over the keeper (modules/staking/msg_server.py): an
Unbond's refusals in order, a slash's share of every unbonding entry, and the release step's
order and budget."""

from __future__ import annotations

import pytest

from modules.bank.keeper import BankKeeper
from modules.bridge.keeper import BridgeKeeper
from modules.context import BlockContext
from modules.staking import msg_server
from modules.staking.errors import InvalidUnbondAmount, NotValidatorOperator, TooManyUnbondings, UnbondLeavesDust
from modules.staking.keeper import StakingKeeper
from modules.staking.params import MAX_UNBONDING_ENTRIES, StakingParams
from modules.staking.types import StakingValidator, Unbond
from modules.types import INSURANCE_FUND, SubaccountId
from tests.memory_store import MemoryStore

UNIT = 1_000_000
PARAMS = StakingParams(power_unit_micro_usdc=UNIT, unbonding_period_blocks=10, unbonding_releases_per_block=2)
OPERATORS = [bytes([0xA0 + i]) * 20 for i in range(3)]
ADDRESSES = [bytes([i + 1]) * 20 for i in range(3)]


def ctx(height: int) -> BlockContext:
    return BlockContext(height=height, time_ms=height * 1000, chain_id="test")


@pytest.fixture
def store() -> MemoryStore:
    memory = MemoryStore()
    staking = StakingKeeper(memory)
    staking.set_params(PARAMS)
    for operator, address in zip(OPERATORS, ADDRESSES):
        staking.set_validator(StakingValidator(address, bytes(32), operator, 10 * UNIT, 10))
        staking.add_bonded(10 * UNIT)
    return memory


def unbond(store: MemoryStore, index: int, amount: int, height: int = 5) -> None:
    msg_server.handle_unbond(StakingKeeper(store), ctx(height), OPERATORS[index], Unbond(amount))


def test_an_unbond_moves_the_amount_from_the_bond_into_an_entry_maturing_after_the_period(store: MemoryStore) -> None:
    unbond(store, 0, 3 * UNIT, height=5)
    staking = StakingKeeper(store)
    assert staking.validator(ADDRESSES[0]).bond_micro_usdc == 7 * UNIT  # type: ignore[union-attr]
    [entry] = staking.unbonding_entries(ADDRESSES[0])
    assert (entry.amount_micro_usdc, entry.created_height, entry.mature_height) == (3 * UNIT, 5, 15)


@pytest.mark.parametrize(("signer", "amount", "error"), [
    (bytes(20), UNIT, NotValidatorOperator), (OPERATORS[0], 0, InvalidUnbondAmount),
    (OPERATORS[0], 10 * UNIT + 1, InvalidUnbondAmount), (OPERATORS[0], 10 * UNIT - 1, UnbondLeavesDust),
    (OPERATORS[0], 9 * UNIT + 1, UnbondLeavesDust)])
def test_an_unbond_is_refused_outside_its_rules(store: MemoryStore, signer: bytes, amount: int,
                                                error: type[Exception]) -> None:
    with pytest.raises(error):
        msg_server.handle_unbond(StakingKeeper(store), ctx(5), signer, Unbond(amount))


def test_leaving_exactly_one_unit_or_nothing_is_allowed(store: MemoryStore) -> None:
    unbond(store, 0, 9 * UNIT)
    unbond(store, 1, 10 * UNIT)
    staking = StakingKeeper(store)
    assert [staking.validator(ADDRESSES[i]).bond_micro_usdc for i in (0, 1)] == [UNIT, 0]  # type: ignore[union-attr]


def test_entries_are_bounded_per_validator(store: MemoryStore) -> None:
    for _ in range(MAX_UNBONDING_ENTRIES):
        unbond(store, 0, 1)  # 1 micro-USDC each: the bond keeps at least one unit
    with pytest.raises(TooManyUnbondings):
        unbond(store, 0, 1)
    unbond(store, 1, UNIT)  # another validator's count is its own


def test_a_slash_takes_its_share_of_the_bond_and_of_each_entry_rounded_up(store: MemoryStore) -> None:
    unbond(store, 0, 3 * UNIT + 1)
    unbond(store, 0, 1)
    staking, bank, bridge = StakingKeeper(store), BankKeeper(store), BridgeKeeper(store)
    validator = staking.validator(ADDRESSES[0])
    assert validator is not None
    slashed, _ = msg_server._slash(staking, bank, bridge, validator, 100_000, "test")  # 10%
    from_bond = -(-(7 * UNIT - 2) * 100_000 // 1_000_000)
    from_entries = -(-(3 * UNIT + 1) // 10) + 1  # the 1-micro-USDC entry loses its 1 and leaves
    assert slashed.bond_micro_usdc == 7 * UNIT - 2 - from_bond
    assert [e.amount_micro_usdc for e in staking.unbonding_entries(ADDRESSES[0])] == [3 * UNIT + 1 - (from_entries - 1)]
    assert bank.balance(INSURANCE_FUND) == from_bond + from_entries == bridge.bonds_released()
    assert staking.slashed_total() == from_bond + from_entries


def test_the_release_step_pays_operators_by_maturity_then_creation_within_its_budget(store: MemoryStore) -> None:
    unbond(store, 2, UNIT, height=6)  # matures at 16
    unbond(store, 1, UNIT, height=5)  # 15
    unbond(store, 0, 2 * UNIT, height=5)  # 15, created after validator 1's
    staking, bank, bridge = StakingKeeper(store), BankKeeper(store), BridgeKeeper(store)
    assert msg_server.release_unbondings(staking, bank, bridge, ctx(14)) == []
    first = msg_server.release_unbondings(staking, bank, bridge, ctx(16))
    assert [(e.type, dict(e.attributes).get("validator")) for e in first] == [
        ("unbonding_released", f"0x{ADDRESSES[1].hex()}"), ("unbonding_released", f"0x{ADDRESSES[0].hex()}"),
        ("unbonding_carried_over", None)]
    assert [bank.balance(SubaccountId(operator, 0)) for operator in OPERATORS] == [2 * UNIT, UNIT, 0]
    second = msg_server.release_unbondings(staking, bank, bridge, ctx(17))
    assert [dict(e.attributes)["validator"] for e in second] == [f"0x{ADDRESSES[2].hex()}"]
    assert staking.unbonded_total() == 4 * UNIT == bridge.bonds_released()
    assert list(staking.all_unbonding_entries()) == []


def test_an_entry_slashed_to_nothing_leaves_the_release_queue(store: MemoryStore) -> None:
    unbond(store, 0, UNIT)
    staking = StakingKeeper(store)
    validator = staking.validator(ADDRESSES[0])
    assert validator is not None
    msg_server._slash(staking, BankKeeper(store), BridgeKeeper(store), validator, 1_000_000, "test")
    assert staking.unbonding_entries(ADDRESSES[0]) == [] and staking.due_unbondings(100, 10) == []
