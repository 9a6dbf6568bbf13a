"""The triggered queue and trailing segments on a plain store: detection reads and moves at most
its budget whatever crossed, priority is (crossing height, distance, id), a pending reach keeps
sweeping after the price retreats, and trailing segments stay few whatever their age."""

from __future__ import annotations

from typing import Iterator

from modules.orderbook.actions import ConditionalKind
from modules.orderbook.conditional_store import Conditional, ConditionalBook
from modules.orderbook.trailing import trail_trigger
from modules.orderbook.types import Side
from modules.types import SubaccountId
from tests.memory_store import MemoryStore

MARKET = 3
OWNER = SubaccountId(b"\x02" * 20, 0)


class CountingStore(MemoryStore):
    """A MemoryStore that counts what is read (gets, iterations and iterated entries)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, key: bytes) -> bytes | None:
        self.reads += 1
        return super().get(key)

    def iterate(self, start: bytes, end: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        self.reads += 1
        for entry in super().iterate(start, end):
            self.reads += 1
            yield entry


def _stop(conditional_id: int, trigger: int, side: Side = Side.BUY, market: int = MARKET) -> Conditional:
    return Conditional(conditional_id, market, OWNER, ConditionalKind.STOP_MARKET, side, trigger, trigger, 1, False)


def _trailing(conditional_id: int, side: Side, anchor: int, trail_ticks: int) -> Conditional:
    return Conditional(conditional_id, MARKET, OWNER, ConditionalKind.TRAILING_STOP, side,
                       trail_trigger(side, anchor, trail_ticks, 0), 0, 1, False, trail_ticks, 0, anchor, 100)


def test_detection_reads_and_moves_at_most_its_budget_when_everything_crosses() -> None:
    store = CountingStore()
    book = ConditionalBook(store)
    for i in range(1, 20_001):  # 20,000 stop buys from 1,001 to 21,000 ticks
        book.add(_stop(i, 1_000 + i))
    store.reads = 0
    detection = book.detect([(MARKET, 50_000)], height=10, budget=100)
    assert (detection.queued, detection.pending_bands) == (100, 1)
    assert store.reads < 400, store.reads  # not 20,000
    assert book.queue_head(3) == [1, 2, 3]  # crossed in one block: furthest past first
    store.reads = 0
    calm = ConditionalBook(store).detect([(MARKET, 900)], height=11, budget=100)  # the price retreated
    assert (calm.queued, calm.pending_bands) == (100, 1)
    assert store.reads < 400, store.reads
    assert book.queued_count() == 200


def test_crossed_triggers_keep_their_crossing_height_and_distance_across_blocks() -> None:
    """Height 10 crosses 1,001..1,010 at 1,010; height 11 reaches 2,000 (crossing 1,011..1,020,
    and 1,500 in another market) while the first backlog is still being swept: the queue holds
    height 10's first, furthest past first, then height 11's by distance across markets."""
    book = ConditionalBook(CountingStore())
    for i in range(1, 21):
        book.add(_stop(i, 1_000 + i))
    book.add(_stop(21, 1_500, market=MARKET + 1))
    book.detect([(MARKET, 1_010), (MARKET + 1, 1_000)], height=10, budget=4)
    book.detect([(MARKET, 2_000), (MARKET + 1, 2_000)], height=11, budget=4)
    for height in range(12, 20):
        book.detect([(MARKET, 500), (MARKET + 1, 500)], height=height, budget=4)
    assert book.queued_count() == 21
    assert book.reach(0, MARKET) is None and book.reach(0, MARKET + 1) is None  # drained
    # height 10: 1,001..1,010 (1,001 furthest past 1,010); height 11: 2,000 is 97.8% past
    # 1,011 .. 96.1% past 1,020, and 33.3% past market 4's 1,500, which comes last
    head = book.queue_head(21)
    assert head[:10] == list(range(1, 11))
    assert head[10:] == list(range(11, 21)) + [21]


def test_a_pending_reach_refuses_what_it_already_passed() -> None:
    book = ConditionalBook(CountingStore())
    for i in range(1, 11):
        book.add(_stop(i, 1_000 + i))
    book.detect([(MARKET, 1_100)], height=5, budget=3)
    assert book.within_pending_reach(_stop(50, 1_050))
    assert not book.within_pending_reach(_stop(51, 1_101))
    assert not book.within_pending_reach(_stop(52, 1_050, side=Side.SELL))  # the other band


def test_a_trailing_band_with_a_backlog_does_not_trail_until_drained() -> None:
    """Ten sells anchored at 1,000 trailing 10 ticks; the price falls to 980 (all crossed),
    budget 3. While they wait, a new high does not move the band; none is lost, each fires at
    its trigger from the crossing (990), and the band trails again once drained."""
    book = ConditionalBook(CountingStore())
    for i in range(1, 11):
        book.add(_trailing(i, Side.SELL, 1_000, 10))
    book.add(_trailing(11, Side.SELL, 1_000, 300))  # not crossed at 980
    book.detect([(MARKET, 980)], height=3, budget=3)
    book.detect([(MARKET, 1_200)], height=4, budget=3)  # frozen: stop 11 stays anchored at 1,000
    stop = book.get(11)
    assert stop is not None and stop.anchor_ticks == 1_000
    for height in range(5, 9):
        book.detect([(MARKET, 1_200)], height=height, budget=3)
    assert book.queued_count() == 10
    assert all(c is not None and c.trigger_ticks == 990 and c.link_id == 0
               for c in (book.get(i) for i in range(1, 11)))
    stop = book.get(11)
    assert stop is not None and stop.anchor_ticks == 1_200  # drained: it trails again


def test_trailing_segments_do_not_grow_with_age() -> None:
    """Sell trailing stops placed every block of a rising walk with dips, 40 a block for 600
    blocks: every new high merges the segments it passes into one, so the number of segments
    and the reads a block's trailing step makes stay bounded however old the stops are."""
    store = CountingStore()
    book = ConditionalBook(store)
    price, high, next_id = 10_000, 10_000, 1
    segments, reads = [], []
    for block in range(600):
        price += 7 if block % 5 else -12  # up four blocks, down one: a new high most blocks
        high = max(high, price)
        store.reads = 0
        book.detect([(MARKET, price)], height=block + 1, budget=100)
        reads.append(store.reads)
        for _ in range(40):
            book.add(_trailing(next_id, Side.SELL, price, 5_000 + next_id % 97))  # far: none fires
            next_id += 1
        segments.append(book.segment_count(MARKET, Side.SELL))
    assert max(segments) <= 3, max(segments)
    assert max(segments[-100:]) <= max(segments[:100])
    # small to large: each block re-keys at most the smaller segment (40 stops here), not the 24,000
    assert max(reads[-100:]) <= max(reads[50:150]) * 2, (max(reads[50:150]), max(reads[-100:]))
    assert max(reads) < 400, max(reads)
