"""Whole committed blocks with their place-tagged events, read from the RPC (/block and
/block_results) or from the websocket's NewBlock: what the indexer stores and re-reads to backfill."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, AsyncIterator

from client.client import Client
from client.events import subscribe
from client.times import rfc3339_to_ms

NEW_BLOCK_QUERY = "tm.event='NewBlock'"


@dataclass(frozen=True)
class PlacedEvent:
    """An event of a block with the tx it came from (None: the block's own FinalizeBlock events)."""

    tx_index: int | None
    type: str
    attributes: dict[str, str]


@dataclass(frozen=True)
class BlockRecord:
    """One committed block: the events of its successful txs in tx order, then the block's own."""

    height: int
    hash: str
    time_ms: int
    tx_count: int
    events: tuple[PlacedEvent, ...]


def _placed(tx_index: int | None, raw: list[dict[str, Any]] | None) -> list[PlacedEvent]:
    return [PlacedEvent(tx_index, e["type"], {a["key"]: a.get("value", "") for a in e.get("attributes") or []})
            for e in raw or []]


def block_record(height: int, block_hash: str, time_ms: int, tx_results: list[dict[str, Any]] | None,
                 block_events: list[dict[str, Any]] | None) -> BlockRecord:
    """A block from the parts both the RPC and the websocket deliver; failed txs' events are dropped."""
    events: list[PlacedEvent] = []
    for index, tx_result in enumerate(tx_results or []):
        if int(tx_result.get("code", 0)) == 0:
            events.extend(_placed(index, tx_result.get("events")))
    events.extend(_placed(None, block_events))
    return BlockRecord(height, block_hash, time_ms, len(tx_results or []), tuple(events))


def from_rpc(block: dict[str, Any], results: dict[str, Any]) -> BlockRecord:
    """A block from the answers of /block and /block_results at one height (CometBFT v0.38)."""
    header = block["block"]["header"]
    return block_record(int(header["height"]), block["block_id"]["hash"], rfc3339_to_ms(header["time"]),
                        results.get("txs_results"),
                        results.get("finalize_block_events"))


def from_finalize_block(height: int, block_hash: str, time_ms: int, finalize: dict[str, Any]) -> BlockRecord:
    """A block from its FinalizeBlock response as JSON: a NewBlock's `result_finalize_block`, or an
    in-process chain's response through protobuf's MessageToDict (app/driver.py)."""
    return block_record(height, block_hash, time_ms, finalize.get("tx_results"), finalize.get("events"))


def from_new_block(result: dict[str, Any]) -> BlockRecord:
    """A block from a NewBlock subscription result (block, block_id, result_finalize_block)."""
    value = result["data"]["value"]
    header = value["block"]["header"]
    return from_finalize_block(int(header["height"]), value["block_id"]["hash"], rfc3339_to_ms(header["time"]),
                               value.get("result_finalize_block") or {})


def read_raw(client: Client, height: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answers of /block and /block_results at `height`, as the node gave them."""
    return client.rpc.call("block", height=str(height)), client.rpc.call("block_results", height=str(height))


def read_block(client: Client, height: int) -> BlockRecord:
    """Block `height` with every event, read back from the node (it must still keep that height)."""
    return from_rpc(*read_raw(client, height))


async def new_block_records(rpc_url: str) -> AsyncIterator[BlockRecord]:
    """Every new block, forever; reconnects by itself, so heights may be missing: read them back."""
    async for result in subscribe(rpc_url, NEW_BLOCK_QUERY):
        yield from_new_block(result)


@dataclass(frozen=True)
class DuplicateVote:
    """Duplicate-vote evidence a block carries: one validator's two signed votes for one height,
    round and step, for different blocks (an empty hash: a vote for nil)."""

    validator_address: str  # the consensus address, 0x-hex
    height: int  # of the votes, below the block's own
    round: int
    vote_type: int  # 1 prevote, 2 precommit
    block_hashes: tuple[str, str]
    validator_power: int  # at `height`
    total_voting_power: int


DUPLICATE_VOTE_EVIDENCE = "tendermint/DuplicateVoteEvidence"


def duplicate_votes(block: dict[str, Any]) -> list[DuplicateVote]:
    """The duplicate-vote evidence in an answer of /block (CometBFT v0.38), in block order; other
    kinds of evidence (light-client attacks) are left out."""
    found = []
    for evidence in block["block"]["evidence"]["evidence"] or []:
        if evidence["type"] != DUPLICATE_VOTE_EVIDENCE:
            continue
        value = evidence["value"]
        vote_a, vote_b = value["vote_a"], value["vote_b"]
        found.append(DuplicateVote(
            validator_address="0x" + vote_a["validator_address"].lower(), height=int(vote_a["height"]),
            round=int(vote_a["round"]), vote_type=int(vote_a["type"]),
            block_hashes=(vote_a["block_id"]["hash"], vote_b["block_id"]["hash"]),
            validator_power=int(value["ValidatorPower"]), total_voting_power=int(value["TotalVotingPower"])))
    return found
