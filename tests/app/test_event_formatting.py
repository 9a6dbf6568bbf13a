"""An order's events are formatted only where they are delivered: CheckTx's dry run and a tx that
fails in a block format none (modules/context.py, Event.deferred); the block's tx result carries
them all."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from modules.orderbook import keeper, placement
from modules.orderbook.types import TimeInForce
from tests.app.conftest import AppHarness
from tests.app.test_orderbook import PRICE, USDC, buy, events, run, sell, signed


@pytest.fixture
def formatted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The event types whose attributes were formatted, in order."""
    seen: list[str] = []

    def counting(kind: str, format_: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*records: Any) -> Any:
            seen.append(kind)
            return format_(*records)
        return wrapped

    monkeypatch.setattr(placement, "_placed_attributes", counting("order_placed", placement._placed_attributes))
    monkeypatch.setattr(keeper, "_fill_attributes", counting("fill", keeper._fill_attributes))
    monkeypatch.setattr(keeper, "_cancel_attributes", counting("order_cancelled", keeper._cancel_attributes))
    return seen


def test_check_tx_and_a_failed_tx_format_no_event_and_a_delivered_tx_formats_each_once(
        harness: AppHarness, formatted: list[str]) -> None:
    alice, bob, _ = harness.keys
    assert [r.code for r in run(harness, signed(harness, alice, sell(PRICE, 100)))] == [0]
    formatted.clear()
    taker = signed(harness, bob, buy(PRICE + 100 * USDC, 150, time_in_force=TimeInForce.IOC))
    assert harness.check(taker).code == 0  # a dry run: placed, filled against alice, remainder cancelled
    assert formatted == []
    refused = signed(harness, alice, sell(PRICE + 500 * USDC, 10), buy(PRICE + 1, 10))  # places, then off its tick
    [taken, failed] = run(harness, taker, refused)
    assert taken.code == 0 and "tick" in failed.log, failed.log
    assert formatted == ["order_placed", "fill", "order_cancelled"]
    assert [e.type for e in taken.events] == formatted
    assert events(taken, "fill")[0]["size"] == "100" and events(taken, "order_cancelled")[0]["size"] == "50"
