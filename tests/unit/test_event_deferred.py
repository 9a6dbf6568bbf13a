"""modules/context.py's Event.deferred: attributes formatted on first read only, once, and equal
to the same event given formatted."""

from __future__ import annotations

from modules.context import Attributes, Event


def test_a_deferred_event_formats_on_first_read_only_and_once() -> None:
    calls: list[int] = []

    def format_(order_id: int) -> Attributes:
        calls.append(order_id)
        return (("order_id", str(order_id)),)

    event = Event.deferred("order_placed", format_, 42)
    assert event.type == "order_placed" and calls == []
    assert event.attributes == (("order_id", "42"),) and calls == [42]
    assert event.attributes == (("order_id", "42"),) and calls == [42]


def test_a_deferred_event_equals_the_same_event_given_formatted() -> None:
    deferred = Event.deferred("fill", lambda size: (("size", str(size)),), 10)
    assert deferred == Event("fill", (("size", "10"),))
    assert deferred != Event("fill", (("size", "11"),))
    assert deferred != Event("order_placed", (("size", "10"),))
    assert repr(deferred) == "Event(type='fill', attributes=(('size', '10'),))"
