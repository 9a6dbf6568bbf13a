"""The key-value interface modules read and write through; app/ provides the LevelDB-backed one.

Keys are bytes compared lexicographically; every module owns one prefix and sees only it.
"""

from __future__ import annotations

from typing import Iterator, Protocol

from modules.encoding import stored_uint, u32


class KVStore(Protocol):
    def get(self, key: bytes) -> bytes | None: ...

    def set(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...

    def iterate(self, start: bytes, end: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        """Pairs with start <= key < end (end None: no upper bound), in ascending key order."""
        ...


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key that starts with `prefix`."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


class PrefixStore:
    """A module's view of the store: its prefix is added on the way in and removed on the way out."""

    def __init__(self, parent: KVStore, prefix: bytes) -> None:
        self._parent = parent
        self._prefix = prefix

    def get(self, key: bytes) -> bytes | None:
        return self._parent.get(self._prefix + key)

    def set(self, key: bytes, value: bytes) -> None:
        self._parent.set(self._prefix + key, value)

    def delete(self, key: bytes) -> None:
        self._parent.delete(self._prefix + key)

    def iterate(self, start: bytes = b"", end: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        upper = self._prefix + end if end is not None else prefix_end(self._prefix)
        cut = len(self._prefix)
        for key, value in self._parent.iterate(self._prefix + start, upper):
            yield key[cut:], value


def read_count(store: KVStore, key: bytes) -> int:
    """A counter kept under `key` (absent: zero)."""
    return stored_uint(store.get(key))


def add_to_count(store: KVStore, key: bytes, delta: int) -> None:
    """Move the counter under `key` by `delta`; a zero counter is not stored."""
    count = read_count(store, key) + delta
    assert count >= 0, f"counter {key!r} below zero"
    if count:
        store.set(key, u32(count))
    else:
        store.delete(key)
