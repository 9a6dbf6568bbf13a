"""L2 book snapshots and deltas with sequence numbers, from the node's `/book` query.

One feed per market follows the node's height: after each new block it reads the top `depth`
levels, and when they differ from the last read it publishes one delta, numbered `seq + 1`, of the
levels that changed (size "0": the level left the top `depth`). A subscriber gets a snapshot
carrying the current `seq`, then every later delta; applying each delta to the snapshot rebuilds
the node's top levels, and a `seq` that is not the last one + 1 tells the client it missed one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

log = logging.getLogger("perpchain.indexer.api.book")

Level = tuple[str, str, int]  # price, size, orders: the node's level, prices and sizes as decimal strings
Side = dict[str, Level]  # by price
BookReader = Callable[[int, int], Awaitable[dict[str, Any]]]  # (market_id, depth) -> the node's /book answer

FEED_DEPTH = 100  # the levels per side a feed follows: every snapshot and delta is of the top 100
QUEUE_LIMIT = 256  # deltas a subscriber may fall behind by before it is sent a fresh snapshot


def side_levels(raw: list[list[Any]]) -> Side:
    return {str(price): (str(price), str(size), int(orders)) for price, size, orders in raw}


def side_delta(before: Side, after: Side) -> list[Level]:
    """The levels whose size or order count changed, the removed ones with size "0", by price string."""
    changed = [level for price, level in after.items() if before.get(price) != level]
    removed = [(price, "0", 0) for price in before if price not in after]
    return sorted(changed + removed, key=lambda level: int(level[0]))


def _as_lists(levels: list[Level]) -> list[list[Any]]:
    return [[price, size, orders] for price, size, orders in levels]


def _best_first(side: Side, descending: bool) -> list[Level]:
    return sorted(side.values(), key=lambda level: int(level[0]), reverse=descending)


@dataclass(eq=False)  # each subscriber is itself: kept in a set by identity
class Subscriber:
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    lagging: bool = False  # its queue overflowed: the deltas it missed are replaced by a new snapshot


class BookFeed:
    """One market's top levels as last read, the sequence number of its last change, and who listens."""

    def __init__(self, market_id: int, read_book: BookReader, depth: int = FEED_DEPTH) -> None:
        self.market_id = market_id
        self.depth = depth
        self._read_book = read_book
        self.seq = 0
        self.height = 0
        self.bids: Side = {}
        self.asks: Side = {}
        self.subscribers: set[Subscriber] = set()

    def snapshot(self) -> dict[str, Any]:
        return {"type": "snapshot", "market_id": self.market_id, "seq": self.seq, "height": self.height,
                "depth": self.depth, "bids": _as_lists(_best_first(self.bids, True)),
                "asks": _as_lists(_best_first(self.asks, False))}

    async def refresh(self, height: int) -> dict[str, Any] | None:
        """Read the book after block `height`; the delta published (None: nothing changed)."""
        answer = await self._read_book(self.market_id, self.depth)
        bids, asks = side_levels(answer["bids"]), side_levels(answer["asks"])
        bid_delta, ask_delta = side_delta(self.bids, bids), side_delta(self.asks, asks)
        self.bids, self.asks, self.height = bids, asks, height
        if not bid_delta and not ask_delta:
            return None
        self.seq += 1
        delta = {"type": "delta", "market_id": self.market_id, "seq": self.seq, "height": height,
                 "bids": _as_lists(bid_delta), "asks": _as_lists(ask_delta)}
        for subscriber in self.subscribers:
            self._deliver(subscriber, delta)
        return delta

    def _deliver(self, subscriber: Subscriber, delta: dict[str, Any]) -> None:
        if subscriber.lagging:
            return
        try:
            subscriber.queue.put_nowait(delta)
        except asyncio.QueueFull:  # the client reads slower than the book changes
            subscriber.lagging = True

    def subscribe(self) -> Subscriber:
        subscriber = Subscriber()
        subscriber.queue.put_nowait(self.snapshot())
        self.subscribers.add(subscriber)
        return subscriber

    async def next_message(self, subscriber: Subscriber) -> dict[str, Any]:
        """The subscriber's next message: a queued delta, or, once it has fallen behind and read what
        was queued, a fresh snapshot (whose seq jumps, which the client treats as a restart)."""
        if subscriber.lagging and subscriber.queue.empty():
            subscriber.lagging = False
            return self.snapshot()
        return await subscriber.queue.get()


class BookFeeds:
    """The feeds of the markets someone watches, refreshed after each height the node reaches."""

    def __init__(self, read_book: BookReader, read_height: Callable[[], Awaitable[int]],
                 poll_interval_s: float = 0.1, depth: int = FEED_DEPTH) -> None:
        self._read_book = read_book
        self._read_height = read_height
        self.poll_interval_s = poll_interval_s
        self.depth = depth
        self.feeds: dict[int, BookFeed] = {}
        self.height = 0  # the last height the feeds were read after
        self._lock = asyncio.Lock()  # one refresh at a time: a feed's seq and levels change in one place
        self._task: asyncio.Task[None] | None = None

    async def join(self, market_id: int) -> tuple[BookFeed, Subscriber]:
        """Subscribe to a market's feed, reading its book first if nobody watched it yet."""
        async with self._lock:
            feed = self.feeds.get(market_id)
            if feed is None:
                feed = BookFeed(market_id, self._read_book, self.depth)
                self.height = max(self.height, await self._read_height())
                await feed.refresh(self.height)
                self.feeds[market_id] = feed
            subscriber = feed.subscribe()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._follow())
        return feed, subscriber

    def leave(self, feed: BookFeed, subscriber: Subscriber) -> None:
        feed.subscribers.discard(subscriber)
        if not feed.subscribers and self.feeds.get(feed.market_id) is feed:
            del self.feeds[feed.market_id]  # nobody watches: stop reading it

    async def _follow(self) -> None:
        """While any feed has subscribers: poll the node's height, refresh every feed on a new one."""
        while self.feeds:
            try:
                height = await self._read_height()
                if height > self.height:
                    async with self._lock:
                        self.height = height
                        for feed in list(self.feeds.values()):
                            await feed.refresh(height)
            except Exception as error:  # the node went away: keep the feeds, retry
                log.warning("book feed: %s", error)
            await asyncio.sleep(self.poll_interval_s)

    async def close(self) -> None:
        if self._task is not None:
            await cancel_task(self._task)


async def cancel_task(task: asyncio.Task[None]) -> None:
    """Cancel a feed's follower task and wait until it has stopped."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
