"""The cycle collector in a node's processes (the node and its mempool worker).

What a process loads at its start (every resting order, the balances tree) lives as long as the
process. Python's cycle collector walks every container object it tracks, so a load of a million
orders under it pays for collections that walk the orders already loaded, again and again (about
40% of the load's CPU at 1,000,000 orders), and a full collection in some later block walks them
once more. After the load, the youngest generation is collected every YOUNG_OBJECTS allocations
instead of Python's 700: an order allocates about a hundred objects, and each collection of the
older generations walks the caches (decoded txs, signers). Measured with `perpchain bench orders`
(which runs as a node does): FinalizeBlock 91-94 µs per order with Python's threshold, 83-84 with
this one, the same as with no collector at all; CheckTx in the worker 4-5 µs less per check."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator

YOUNG_OBJECTS = 20_000  # allocations between two collections of the youngest generation


def collect_as_a_node() -> None:
    """The collector's youngest generation as a node's processes run it (the module doc)."""
    gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])


@contextmanager
def loading_long_lived() -> Iterator[None]:
    """Run a load with the cycle collector paused; once it has succeeded, collect what the load
    left as garbage, move everything alive out of the collector's reach (gc.freeze) and run the
    collector as a node does from then on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
    gc.collect()
    gc.freeze()
    collect_as_a_node()
