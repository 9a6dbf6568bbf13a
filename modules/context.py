"""What a state transition may know about its block, and the events it reports."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class BlockContext:
    """Height and time come from the block header only; nothing reads a clock."""

    chain_id: str
    height: int
    time_ms: int


@dataclass(frozen=True)
class Event:
    """An ABCI event: a type and ordered string attributes (indexed by CometBFT for queries)."""

    type: str
    attributes: tuple[tuple[str, str], ...] = field(default_factory=tuple)
