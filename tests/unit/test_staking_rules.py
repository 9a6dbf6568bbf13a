"""staking's rules (modules/staking/rules.py): power, slash rounding, the signing window, and
which power decreases a block may send."""

from __future__ import annotations

from dataclasses import replace

from modules.staking.keeper import MAX_BOND_DEBITS, StakingKeeper
from modules.staking.params import StakingParams
from modules.staking.rules import (
    allowed_powers,
    bonded_power,
    due_power,
    empty_window,
    is_down,
    min_signed_blocks,
    record_vote,
    slash_amount,
)
from modules.staking.types import StakingValidator
from tests.memory_store import MemoryStore

PARAMS = StakingParams(power_unit_micro_usdc=1_000_000, downtime_window_blocks=10, downtime_min_signed_ppm=500_000)


def test_power_is_whole_units_of_the_bond_and_none_while_jailed() -> None:
    assert bonded_power(2_999_999, PARAMS) == 2
    validator = StakingValidator(bytes(20), bytes(32), bytes(20), 5_000_000, 5)
    assert due_power(validator, PARAMS) == 5
    assert due_power(replace(validator, jailed=True), PARAMS) == 0


def test_a_slash_rounds_up_in_the_chains_favour_and_never_exceeds_the_bond() -> None:
    assert slash_amount(1_000_001, 50_000) == 50_001  # 50,000.05 rounds up
    assert slash_amount(1_000_000, 50_000) == 50_000  # exact
    assert slash_amount(1, 1) == 1  # any share of a positive bond takes something
    assert slash_amount(7, 1_000_000) == 7
    assert slash_amount(0, 50_000) == 0
    assert slash_amount(1_000, 0) == 0


def test_the_window_counts_misses_and_forgets_the_oldest_once_full() -> None:
    window = empty_window(PARAMS)
    for signed in [False] * 3 + [True] * 7:
        window = record_vote(window, signed, PARAMS)
    assert (window.counted, window.missed) == (10, 3)
    for _ in range(3):  # the three misses slide out as three signed commits take their slots
        window = record_vote(window, True, PARAMS)
    assert (window.counted, window.missed) == (13, 0)
    window = record_vote(window, False, PARAMS)
    assert window.missed == 1


def test_down_only_after_a_full_window_with_fewer_signed_than_the_minimum() -> None:
    assert min_signed_blocks(PARAMS) == 5
    assert min_signed_blocks(replace(PARAMS, downtime_min_signed_ppm=450_001)) == 5  # 4.50001 rounds up
    window = empty_window(PARAMS)
    for _ in range(9):
        window = record_vote(window, False, PARAMS)
    assert not is_down(window, PARAMS)  # 9 of 10: the window is not full yet
    window = record_vote(window, False, PARAMS)
    assert is_down(window, PARAMS)
    window = empty_window(PARAMS)
    for signed in [True] * 5 + [False] * 5:
        window = record_vote(window, signed, PARAMS)
    assert not is_down(window, PARAMS)  # 5 signed: the minimum
    assert is_down(record_vote(window, False, PARAMS), PARAMS)  # the oldest signed slot now misses: 4


def test_a_changed_window_size_starts_the_window_again() -> None:
    window = record_vote(empty_window(PARAMS), False, PARAMS)
    bigger = replace(PARAMS, downtime_window_blocks=20)
    assert record_vote(window, True, bigger) == record_vote(empty_window(bigger), True, bigger)


def test_decreases_wait_while_they_would_leave_two_thirds_or_less_of_the_power() -> None:
    a, b, c, d = (bytes([i]) * 20 for i in range(1, 5))
    assert allowed_powers([(a, 10, 0), (b, 10, 10), (c, 10, 10), (d, 10, 10)]) == {a: 0}  # 30 of 40 stay
    assert allowed_powers([(a, 10, 0), (b, 10, 0), (c, 10, 10), (d, 10, 10)]) == {a: 0}  # b waits: 20 of 40
    assert allowed_powers([(a, 10, 0)]) == {}  # the last validator is never removed
    assert allowed_powers([(a, 0, 10), (b, 10, 0), (c, 10, 10)]) == {a: 10}  # increases always; b would leave 10 of 20
    assert allowed_powers([(a, 10, 9), (b, 10, 9), (c, 10, 9)]) == {a: 9, b: 9, c: 9}  # 27 of 30 stay


def test_bond_debits_are_cumulative_per_key_sorted_and_bounded_by_max_bond_debits() -> None:
    staking = StakingKeeper(MemoryStore())
    staking.debit_bond(b"\x02" * 20, 5)
    staking.debit_bond(b"\x01" * 20, 7)
    staking.debit_bond(b"\x02" * 20, 3)
    staking.debit_bond(None, 4)  # a validator without a bridge key
    assert staking.bond_debits() == [(b"\x01" * 20, 7), (b"\x02" * 20, 8)]
    for index in range(MAX_BOND_DEBITS - 2):
        staking.debit_bond((index + 3).to_bytes(20, "big"), 1)
    staking.debit_bond(b"\xff" * 20, 6)  # the list is full: a new key's debit is unlisted
    staking.debit_bond(b"\x01" * 20, 1)  # a listed key still counts
    assert len(staking.bond_debits()) == MAX_BOND_DEBITS
    assert dict(staking.bond_debits())[b"\x01" * 20] == 8 and b"\xff" * 20 not in dict(staking.bond_debits())
    assert staking.bond_debits_unlisted() == 4 + 6
