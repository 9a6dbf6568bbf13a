"""What a process loads at its start (every resting order, the balances tree) lives as long as
the process. Python's cycle collector walks every container object it tracks, so a load of a
million orders under it pays for collections that walk the orders already loaded, again and
again (about 40% of the load's CPU at 1,000,000 orders), and a full collection in some later
block walks them once more."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def loading_long_lived() -> Iterator[None]:
    """Run a load with the cycle collector paused; once it has succeeded, collect what the load
    left as garbage and move everything alive out of the collector's reach (gc.freeze)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
    gc.collect()
    gc.freeze()
