"""A key-value store in memory, for unit tests of keepers that need no LevelDB (modules/store.py's
KVStore: iteration in key order, `end` exclusive)."""

from __future__ import annotations

from typing import Iterator

from sortedcontainers import SortedDict


class MemoryStore:
    def __init__(self) -> None:
        self.data: SortedDict = SortedDict()

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        self.data[key] = value

    def delete(self, key: bytes) -> None:
        self.data.pop(key, None)

    def iterate(self, start: bytes, end: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        for key in list(self.data.irange(start, end, inclusive=(True, False))):
            yield key, self.data[key]
