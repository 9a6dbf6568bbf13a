"""New blocks as they are committed (with every event their txs and FinalizeBlock emitted) and
block times by height: what the terminal UI and the market maker follow the chain with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator

from client.blocks import BlockRecord, new_block_records
from client.client import Client, TxEvent
from client.times import rfc3339_to_ms


@dataclass(frozen=True)
class BlockEvent:
    """One committed block: its height, header time, and the events of its successful txs
    followed by the block's own FinalizeBlock events (expiries, dead-man switches...)."""

    height: int
    time_ms: int
    tx_count: int
    events: tuple[TxEvent, ...]


def block_event(record: BlockRecord) -> BlockEvent:
    """A committed block as the UI follows it: client/blocks.py's record without the tx places."""
    events = tuple(TxEvent(event.type, event.attributes) for event in record.events)
    return BlockEvent(record.height, record.time_ms, record.tx_count, events)


async def new_blocks(rpc_url: str) -> AsyncIterator[BlockEvent]:
    """Every new block, forever; reconnects by itself (blocks committed while away are skipped)."""
    async for record in new_block_records(rpc_url):
        yield block_event(record)


def block_time_ms(client: Client, height: int) -> int:
    """The header time of block `height` in Unix milliseconds."""
    header = client.rpc.call("header", height=str(height))["header"]
    return rfc3339_to_ms(header["time"])
