"""New blocks as they are committed (with every event their txs and FinalizeBlock emitted) and
block times by height: what the terminal UI and the market maker follow the chain with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, AsyncIterator

from client.client import Client, TxEvent
from client.events import subscribe
from client.times import rfc3339_to_ms

NEW_BLOCK_QUERY = "tm.event='NewBlock'"


@dataclass(frozen=True)
class BlockEvent:
    """One committed block: its height, header time, and the events of its successful txs
    followed by the block's own FinalizeBlock events (expiries, dead-man switches...)."""

    height: int
    time_ms: int
    tx_count: int
    events: tuple[TxEvent, ...]


def _events(raw: list[dict[str, Any]] | None) -> list[TxEvent]:
    return [TxEvent(e["type"], {a["key"]: a.get("value", "") for a in e.get("attributes", [])}) for e in raw or []]


def parse_new_block(result: dict[str, Any]) -> BlockEvent:
    """A NewBlock subscription result (CometBFT v0.38: block, block_id, result_finalize_block)."""
    value = result["data"]["value"]
    header = value["block"]["header"]
    finalize = value.get("result_finalize_block") or {}
    events: list[TxEvent] = []
    tx_results = finalize.get("tx_results") or []
    for tx_result in tx_results:
        if int(tx_result.get("code", 0)) == 0:
            events.extend(_events(tx_result.get("events")))
    events.extend(_events(finalize.get("events")))
    return BlockEvent(int(header["height"]), rfc3339_to_ms(header["time"]), len(tx_results), tuple(events))


async def new_blocks(rpc_url: str) -> AsyncIterator[BlockEvent]:
    """Every new block, forever; reconnects by itself (blocks committed while away are skipped)."""
    async for result in subscribe(rpc_url, NEW_BLOCK_QUERY):
        yield parse_new_block(result)


def block_time_ms(client: Client, height: int) -> int:
    """The header time of block `height` in Unix milliseconds."""
    header = client.rpc.call("header", height=str(height))["header"]
    return rfc3339_to_ms(header["time"])
