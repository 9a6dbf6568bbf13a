"""Nonces are millisecond timestamps; one process hands out strictly increasing ones."""

from __future__ import annotations

import threading
import time


class NonceSource:
    """max(now in ms, last + 1): unique within the process, close to the wall clock."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(time.time_ns() // 1_000_000, self._last + 1)
            return self._last
