"""The invariants the simulation checks after each block: every module's, as its module.py
declares them (REGISTRY.invariants), in module order, so the first broken one reported is the same
on every run."""

from __future__ import annotations

from modules.module import Invariant, InvariantContext
from modules.registry import REGISTRY

INVARIANTS: tuple[Invariant, ...] = REGISTRY.invariants


def first_broken(ctx: InvariantContext, invariants: tuple[Invariant, ...] = INVARIANTS) -> tuple[str, str] | None:
    """(name, message) of the first broken invariant, or None."""
    for invariant in invariants:
        message = invariant.check(ctx)
        if message is not None:
            return invariant.name, message
    return None
