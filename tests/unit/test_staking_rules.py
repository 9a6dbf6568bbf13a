"""staking's rules (modules/staking/rules.py): power, slash rounding, the signing window, and
which power decreases a block may send."""

from __future__ import annotations

from dataclasses import replace

from modules.staking.keeper import MAX_BOND_DEBITS, StakingKeeper
from modules.staking.keys import MISSED_BITS, MISSED_CHUNK_BITS, SIGNING, STORE_PREFIX, missed_chunk_key
from modules.staking.msg_server import count_vote
from modules.staking.params import StakingParams
from modules.staking.rules import (
    allowed_powers,
    bonded_power,
    due_power,
    empty_window,
    is_down,
    min_signed_blocks,
    slash_amount,
)
from modules.staking.types import SigningWindow, StakingValidator
from modules.store import prefix_end
from tests.memory_store import MemoryStore

ADDRESS = bytes(range(20))


class RecordingStore(MemoryStore):
    """Counts the bytes written (key and value), to pin what a block writes."""

    written_bytes = 0

    def set(self, key: bytes, value: bytes) -> None:
        self.written_bytes += len(key) + len(value)
        super().set(key, value)


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


def _votes(staking: StakingKeeper, votes: list[bool], params: StakingParams = PARAMS) -> SigningWindow:
    window = empty_window(params)
    for signed in votes:
        window = count_vote(staking, ADDRESS, signed, params)
    return window


def test_the_window_counts_misses_and_forgets_the_oldest_once_full() -> None:
    staking = StakingKeeper(MemoryStore())
    window = _votes(staking, [False] * 3 + [True] * 7)
    assert (window.counted, window.missed) == (10, 3)
    window = _votes(staking, [True] * 3)  # the three misses slide out as three signed commits take their slots
    assert (window.counted, window.missed) == (13, 0)
    assert _votes(staking, [False]).missed == 1


def test_down_only_after_a_full_window_with_fewer_signed_than_the_minimum() -> None:
    assert min_signed_blocks(PARAMS) == 5
    assert min_signed_blocks(replace(PARAMS, downtime_min_signed_ppm=450_001)) == 5  # 4.50001 rounds up
    staking = StakingKeeper(MemoryStore())
    assert not is_down(_votes(staking, [False] * 9), PARAMS)  # 9 of 10: the window is not full yet
    assert is_down(_votes(staking, [False]), PARAMS)
    staking = StakingKeeper(MemoryStore())
    assert not is_down(_votes(staking, [True] * 5 + [False] * 5), PARAMS)  # 5 signed: the minimum
    assert is_down(_votes(staking, [False]), PARAMS)  # the oldest signed slot now misses: 4


def test_a_changed_window_size_starts_the_window_again() -> None:
    staking = StakingKeeper(MemoryStore())
    _votes(staking, [False])
    bigger = replace(PARAMS, downtime_window_blocks=20)
    assert _votes(staking, [True], bigger) == SigningWindow(1, 0, 20)
    assert not staking.slot_missed(ADDRESS, 0)  # the old window's miss went with it


def test_a_validator_that_keeps_signing_rewrites_only_its_window_head() -> None:
    """The window's bits live in chunks stored only while they hold a miss: a block writes the
    16-byte head, and a chunk only where a slot's bit changes."""
    params = replace(PARAMS, downtime_window_blocks=3_000)
    store = RecordingStore()
    staking = StakingKeeper(store)
    _votes(staking, [True] * 2_500, params)
    head = len(STORE_PREFIX + SIGNING) + 20 + 16
    assert store.written_bytes == 2_500 * head
    store.written_bytes = 0
    window = _votes(staking, [False], params)  # slot 2,500: the third chunk
    assert (window.missed, staking.slot_missed(ADDRESS, 2_500), staking.slot_missed(ADDRESS, 2_499)) == (1, True, False)
    assert store.written_bytes == head + len(STORE_PREFIX + missed_chunk_key(ADDRESS, 2_500)) + MISSED_CHUNK_BITS // 8
    _votes(staking, [True] * 2_999, params)
    window = _votes(staking, [True], params)  # slot 2,500 again: its miss slides out, the chunk goes
    assert window.missed == 0
    assert not list(store.iterate(STORE_PREFIX + MISSED_BITS, prefix_end(STORE_PREFIX + MISSED_BITS)))


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
