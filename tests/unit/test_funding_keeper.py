"""FundingKeeper reads a market's funding state once and then answers from its copy; a write
drops the copy, so what it answers next is what its store holds."""

from __future__ import annotations

from modules.funding.keeper import FundingKeeper
from modules.funding.types import FundingState
from tests.memory_store import MemoryStore


def test_a_keeper_answers_what_its_store_holds_after_its_own_writes_and_those_dropped() -> None:
    store = MemoryStore()
    FundingKeeper(store).set_state(1, FundingState(7, 0, 0, 1))
    keeper = FundingKeeper(store)
    assert keeper.index(1) == 7
    keeper.set_state(1, FundingState(9, 5, 1, 1))
    assert keeper.state(1) == FundingState(9, 5, 1, 1)
    saved = dict(store.data)
    keeper.set_state(1, FundingState(11, 0, 0, 2))
    store.data.clear()
    store.data.update(saved)  # the write's branch dropped: the store holds index 9 again
    assert keeper.index(1) == 9


def test_a_market_without_a_stored_state_reads_as_the_initial_state() -> None:
    assert FundingKeeper(MemoryStore()).state(3) == FundingState()
