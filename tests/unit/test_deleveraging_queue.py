"""The deleveraging queue on a plain store: each market side in score order (highest first, ties
by subaccount), a position keyed once however often it is re-queued, moved or dropped when its
subaccount is re-indexed, and read a page at a time from where the last page stopped."""

from __future__ import annotations

from modules.liquidation.engine import deleveraging_score
from modules.liquidation.index import LiquidationIndex
from modules.types import SubaccountId
from tests.memory_store import MemoryStore

BTC, ETH = 1, 2




def _sub(n: int) -> SubaccountId:
    return SubaccountId(bytes([n]) * 20, 0)


def _side(index: LiquidationIndex, market_id: int, long: bool) -> list[SubaccountId]:
    return [s for _, s in index.queue_page(market_id, long, None, 100)]


def test_a_side_reads_highest_score_first_and_ties_by_subaccount() -> None:
    index = LiquidationIndex(MemoryStore())
    index.queue_positions(_sub(3), [(BTC, False, 5)])
    index.queue_positions(_sub(1), [(BTC, False, -7)])
    index.queue_positions(_sub(2), [(BTC, False, 5), (ETH, True, 1)])
    index.queue_positions(_sub(4), [(BTC, True, 9)])
    assert _side(index, BTC, False) == [_sub(2), _sub(3), _sub(1)]
    assert _side(index, BTC, True) == [_sub(4)]
    assert _side(index, ETH, True) == [_sub(2)]
    assert _side(index, ETH, False) == []


def test_requeueing_moves_flips_and_drops_positions_without_leaving_stale_keys() -> None:
    store = MemoryStore()
    index = LiquidationIndex(store)
    index.queue_positions(_sub(1), [(BTC, False, 5), (ETH, True, 3)])
    index.queue_positions(_sub(2), [(BTC, False, 4)])
    index.queue_positions(_sub(1), [(BTC, False, 1), (ETH, True, 3)])  # its BTC score fell
    assert _side(index, BTC, False) == [_sub(2), _sub(1)]
    index.queue_positions(_sub(1), [(BTC, True, 1)])  # flipped long; ETH closed
    assert _side(index, BTC, False) == [_sub(2)] and _side(index, BTC, True) == [_sub(1)]
    assert _side(index, ETH, True) == []
    keys = len(store.data)
    index.queue_positions(_sub(1), [(BTC, True, 1)])  # the same again writes nothing
    assert len(store.data) == keys
    index.queue_positions(_sub(1), [])
    index.queue_positions(_sub(2), [])
    assert store.data == {}


def test_pages_continue_after_the_last_key_read() -> None:
    index = LiquidationIndex(MemoryStore())
    for n in range(1, 8):
        index.queue_positions(_sub(n), [(BTC, True, 10 * n)])
    first = index.queue_page(BTC, True, None, 3)
    second = index.queue_page(BTC, True, first[-1][0], 3)
    third = index.queue_page(BTC, True, second[-1][0], 3)
    assert [s for _, s in first + second + third] == [_sub(n) for n in range(7, 0, -1)]
    assert len(third) == 1


def test_the_score_is_pnl_per_entry_notional_times_leverage() -> None:
    # 10% up on 1,000 of entry with 1,100 notional on 220 of equity (5x): 0.1 x 5, in ppm x ppm
    assert deleveraging_score(100, 1_000, 1_100, 220) == 100_000 * 5_000_000
    assert deleveraging_score(-100, -1_000, 900, 900) == -100_000 * 1_000_000  # a short 10% down at 1x
    assert deleveraging_score(5, 1_000, 1_000, 0) > deleveraging_score(5, 1_000, 1_000, 10)  # no equity: most leveraged
