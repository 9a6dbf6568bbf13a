"""A key-value store in a dict, for unit tests of keepers that need no LevelDB (modules/store.py's
KVStore: iteration in key order, `end` exclusive)."""

from __future__ import annotations

from typing import Iterator


class MemoryStore:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        self.data[key] = value

    def delete(self, key: bytes) -> None:
        self.data.pop(key, None)

    def iterate(self, start: bytes, end: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        for key in sorted(self.data):
            if key >= start and (end is None or key < end):
                yield key, self.data[key]
