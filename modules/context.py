"""What a state transition may know about its block, and the events it reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, TypeVarTuple, Unpack

Attributes = tuple[tuple[str, str], ...]
Records = TypeVarTuple("Records")


@dataclass(frozen=True)
class BlockContext:
    """Height and time come from the block header only; nothing reads a clock."""

    chain_id: str
    height: int
    time_ms: int


class Event:
    """An ABCI event: a type and ordered string attributes (indexed by CometBFT for queries).

    `Event.deferred` keeps the records an event is about and formats its attributes on first read
    only: an event nobody delivers (a CheckTx dry run, a failed tx) costs no formatting. Its
    records must not change afterwards (an orderbook Order's fields are never reassigned, Market
    and SideSettlement are frozen).
    """

    __slots__ = ("type", "_attributes", "_format", "_records")

    def __init__(self, type: str, attributes: Attributes = ()) -> None:
        self.type = type
        self._attributes = attributes
        self._format: Callable[..., Attributes] | None = None
        self._records: tuple[object, ...] = ()

    @classmethod
    def deferred(cls, type: str, format: Callable[[Unpack[Records]], Attributes], *records: Unpack[Records]) -> Event:
        """The event whose attributes are `format(*records)`, computed when first read."""
        event = cls(type)
        event._format = format
        event._records = records
        return event

    @property
    def attributes(self) -> Attributes:
        if self._format is not None:
            self._attributes = self._format(*self._records)
            self._format, self._records = None, ()
        return self._attributes

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return self.type == other.type and self.attributes == other.attributes

    def __repr__(self) -> str:
        return f"Event(type={self.type!r}, attributes={self.attributes!r})"
