"""Following a node: catch up from the last stored height to the node's, then take each new block
from the websocket, reading back through /block_results whatever the socket skipped (a reconnect,
a restart of either side). Blocks are stored strictly in height order, each exactly once."""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from client.blocks import BlockRecord, new_block_records, read_block
from client.client import Client
from client.errors import ClientError
from indexer.ingest import Ingestor, units_by_market

log = logging.getLogger("perpchain.indexer")


def catch_up(client: Client, ingestor: Ingestor, to_height: int,
             on_block: Callable[[BlockRecord], None] = lambda _: None) -> int:
    """Store every block after the last stored one up to `to_height`, read from the node; the last stored."""
    height = ingestor.last_height()
    while height < to_height:
        record = read_block(client, height + 1)
        ingestor.store(record)
        on_block(record)
        height = record.height
    return height


class OtherChain(Exception):
    """The database holds blocks of another chain than the node's (e.g. a localnet reset since)."""


def check_same_chain(client: Client, ingestor: Ingestor) -> None:
    """Refuse to resume on a node whose block at our last height is not the one we stored."""
    last = ingestor.last_height()
    if last and read_block(client, last).hash != ingestor.stored_hash(last):
        raise OtherChain(f"the database's block {last} is not the node's: it indexes another chain "
                         f"(start over with an empty database)")


async def follow(client: Client, ingestor: Ingestor, stop_at_height: int = 0, retry_s: float = 1.0) -> None:
    """Follow the node forever (or until `stop_at_height` is stored); a node that stops answering
    is waited for, and what it committed meanwhile is read back."""
    while True:
        try:
            await asyncio.to_thread(check_same_chain, client, ingestor)
            await _follow(client, ingestor, stop_at_height)
            return
        except ClientError as error:
            log.warning("indexer lost the node (%s); retrying in %.1fs", error, retry_s)
            await asyncio.sleep(retry_s)


async def _follow(client: Client, ingestor: Ingestor, stop_at_height: int) -> None:
    last = await asyncio.to_thread(catch_up, client, ingestor, await asyncio.to_thread(client.height))
    log.info("indexer caught up at height %d", last)
    if stop_at_height and last >= stop_at_height:
        return
    async for record in new_block_records(client.rpc.url):
        if record.height <= last:
            continue  # re-delivered: already stored
        if record.height > last + 1:
            log.info("indexer reading back heights %d..%d", last + 1, record.height - 1)
            last = await asyncio.to_thread(catch_up, client, ingestor, record.height - 1)
        await asyncio.to_thread(ingestor.store, record)
        last = record.height
        if stop_at_height and last >= stop_at_height:
            return


def run(node_url: str, db_url: str) -> None:
    """`perpchain indexer`: migrate the database, then follow the node until interrupted."""
    from indexer.db import open_engine, upgrade

    engine = open_engine(db_url)
    upgrade(engine)
    with Client(node_url) as client:
        ingestor = Ingestor(engine, lambda: units_by_market(client.markets()))
        log.info("indexer resuming after height %d, following %s into %s", ingestor.last_height(), node_url,
                 engine.url.render_as_string(hide_password=True))
        asyncio.run(follow(client, ingestor))
