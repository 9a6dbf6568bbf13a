"""orderbook/stored-counts-match: a subaccount's counts of conditionals and TWAPs agree with its
records and its index, which `ConditionalBook.of` and `TwapBook.of` skip on a zero count."""

from __future__ import annotations

from app.store import CacheStore
from modules.orderbook.actions import ConditionalKind, PlaceConditional, PlaceTwap
from modules.orderbook.conditional_store import ConditionalBook
from modules.orderbook.invariants import stored_counts_match_indexes
from modules.orderbook.keys import STORE_PREFIX, conditional_count_key, conditional_index_key, twap_count_key
from modules.orderbook.twap import TwapBook
from modules.orderbook.types import Side
from modules.types import SubaccountId
from tests.app.conftest import AppHarness
from tests.app.test_orderbook import BTC, PRICE, USDC, signed


def _store_one_of_each(h: AppHarness) -> SubaccountId:
    alice = h.keys[0]
    up = PRICE + 1_000 * USDC
    results = h.block([signed(h, alice, PlaceConditional(0, BTC, ConditionalKind.STOP_MARKET, Side.BUY, up,
                                                         up + 2_000 * USDC, 10)),
                       signed(h, alice, PlaceTwap(0, BTC, Side.BUY, 100, 10, 10_000, 10))])
    assert [r.code for r in results] == [0, 0], [r.log for r in results]
    return SubaccountId(alice.address, 0)


def test_counts_records_and_indexes_agree_after_storing(harness: AppHarness) -> None:
    owner = _store_one_of_each(harness)
    assert stored_counts_match_indexes(harness.store) is None
    assert len(ConditionalBook(harness.store).of(owner)) == TwapBook(harness.store).count_of(owner) == 1


def test_a_missing_count_or_a_stray_index_entry_is_reported(harness: AppHarness) -> None:
    owner = _store_one_of_each(harness)
    uncounted = CacheStore(harness.store)
    uncounted.delete(STORE_PREFIX + twap_count_key(owner))
    assert "TWAPs" in (stored_counts_match_indexes(uncounted) or "")
    assert TwapBook(uncounted).of(owner) == []  # what the invariant guards: a zero count hides them
    stray = CacheStore(harness.store)
    [conditional] = ConditionalBook(stray).of(owner)
    stray.delete(STORE_PREFIX + conditional_count_key(owner))
    stray.set(STORE_PREFIX + conditional_index_key(owner, BTC, conditional.conditional_id + 1), b"")
    assert "conditionals" in (stored_counts_match_indexes(stray) or "")
