"""margin's record cache: a record written is kept as written, and what it keeps is what decoding
the stored bytes gives, so a read served from it is the read from the store."""

from __future__ import annotations

import modules.margin.keeper as margin_keeper
from modules.margin.keeper import MarginKeeper
from modules.margin.keys import STORE_PREFIX, subaccount_key
from modules.margin.types import Position
from modules.types import SubaccountId
from tests.memory_store import MemoryStore

OWNER = SubaccountId(b"\x11" * 20, 3)


def _written_and_decoded(keeper: MarginKeeper, store: MemoryStore) -> tuple[object, object]:
    raw = store.get(STORE_PREFIX + subaccount_key(OWNER))
    assert raw is not None
    return keeper.holdings(OWNER), margin_keeper._decode(OWNER, raw)


def test_a_record_read_back_after_each_write_is_its_decoded_bytes() -> None:
    store = MemoryStore()
    keeper = MarginKeeper(store)
    keeper.add_exposure(OWNER, 2, 5, 0)  # a market not held: a holding with no position
    kept, decoded = _written_and_decoded(keeper, store)
    assert kept == decoded
    keeper.set_position(Position(OWNER, 1, -7, -700_000, 12))  # a market below it, sorted in front
    keeper.add_exposure(OWNER, 1, 0, 3)
    keeper.add_exposure(OWNER, 2, -5, 0)  # its exposure gone, its holding dropped
    kept, decoded = _written_and_decoded(keeper, store)
    assert kept == decoded and [h.position.market_id for h in decoded] == [1]  # type: ignore[attr-defined]


def test_the_cache_keeps_at_most_its_bound() -> None:
    records = margin_keeper._Records()
    for number in range(margin_keeper.RECORDS_KEPT + 10):
        records.read(SubaccountId(b"\x22" * 20, number % 128), number.to_bytes(4, "big") + bytes(56))
    assert len(records._entries) == margin_keeper.RECORDS_KEPT
