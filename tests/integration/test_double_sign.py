"""A validator double-signs on a real localnet: validator 0's twin (localnet/twin.py) signs with
the same consensus key from a second cometbft and app. The honest validators commit duplicate-vote
evidence against validator 0 and only validator 0, the chain never stops making blocks, and the
app jails, tombstones and slashes validator 0 (its power leaves CometBFT's validator set)."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from client import Client
from client.blocks import DuplicateVote, duplicate_votes
from client.times import rfc3339_to_ms
from genesis.builder import consensus_pub_key, validator_address
from tests.harness import wait_until
from tests.integration.conftest import Net, running_net

EVIDENCE_TIMEOUT_S = 180.0  # the twin block-syncs the chain first, then conflicts within a few heights
BLOCKS_AFTER = 20  # every node makes this many blocks past the evidence, and again past the jailing
LONGEST_GAP_S = 15.0  # no block may take longer, twin or not (a round change takes ~1 s at these timeouts)


@dataclass
class DoubleSign:
    net: Net
    address: str  # validator 0's consensus address, 0x-hex
    started_height: int  # the network's height when the twin was started
    evidence_height: int  # the first block carrying evidence against validator 0
    evidence: list[DuplicateVote]  # what that block carries
    seconds_to_evidence: float  # from the twin's start to that block


def consensus_address(net: Net, index: int) -> str:
    return "0x" + validator_address(base64.b64decode(consensus_pub_key(net.layout.nodes[index].home))).lower()


def first_evidence(client: Client, from_height: int, timeout_s: float) -> tuple[int, list[DuplicateVote]]:
    """The first block at or above `from_height` that carries duplicate-vote evidence, and that evidence."""
    height, deadline = from_height, time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if client.height() < height:
            time.sleep(0.1)
            continue
        found = duplicate_votes(client.rpc.call("block", height=str(height)))
        if found:
            return height, found
        height += 1
    raise TimeoutError(f"no duplicate-vote evidence in blocks {from_height}..{height - 1} in {timeout_s:.0f}s")


def longest_block_gap_s(client: Client, first: int, last: int) -> float:
    """The longest time between consecutive block times (the BFT time in the headers) from `first` to `last`."""
    times: dict[int, float] = {}
    for low in range(first, last + 1, 20):  # /blockchain answers 20 headers at most
        metas = client.rpc.call("blockchain", minHeight=str(low), maxHeight=str(min(low + 19, last)))["block_metas"]
        for meta in metas:
            header = meta["header"]
            times[int(header["height"])] = rfc3339_to_ms(header["time"]) / 1000
    assert sorted(times) == list(range(first, last + 1))
    return max(times[h + 1] - times[h] for h in range(first, last))


@pytest.fixture(scope="module")
def double_sign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DoubleSign]:
    root: Path = tmp_path_factory.mktemp("double-sign") / "localnet"
    with running_net(root) as net:
        started_height = net.height(1)
        started = time.monotonic()
        twin = net.supervisor.start_twin(0)
        with net.client(1) as client:
            try:
                evidence_height, evidence = first_evidence(client, started_height + 1, EVIDENCE_TIMEOUT_S)
            except TimeoutError as error:
                with Client(twin.rpc_url, timeout_s=2.0) as twin_client:
                    raise AssertionError(f"{error}; the twin is at height {twin_client.height()}") from error
        seconds = time.monotonic() - started
        print(f"\n[double-sign] twin of node0 started at height {started_height}; evidence committed in block "
              f"{evidence_height}, {seconds:.1f}s later: " + "; ".join(
                  f"{'prevote' if e.vote_type == 1 else 'precommit'} at {e.height}/{e.round} by {e.validator_address} "
                  f"for {e.block_hashes[0][:8] or 'nil'} and {e.block_hashes[1][:8] or 'nil'}" for e in evidence))
        yield DoubleSign(net, consensus_address(net, 0), started_height, evidence_height, evidence, seconds)


def test_the_twin_s_conflicting_votes_are_committed_as_evidence_against_that_validator_only(
        double_sign: DoubleSign) -> None:
    assert double_sign.evidence
    for evidence in double_sign.evidence:
        assert evidence.validator_address == double_sign.address
        assert evidence.block_hashes[0] != evidence.block_hashes[1]
        assert double_sign.started_height <= evidence.height < double_sign.evidence_height
        assert (evidence.validator_power, evidence.total_voting_power) == (10, 40)
    for index in range(1, 4):  # every honest node holds the same block with the same evidence
        with double_sign.net.client(index) as client:
            block = client.rpc.call("block", height=str(double_sign.evidence_height))
            assert duplicate_votes(block) == double_sign.evidence


def test_the_chain_keeps_making_blocks_while_a_validator_double_signs(double_sign: DoubleSign) -> None:
    net = double_sign.net
    target = double_sign.evidence_height + BLOCKS_AFTER
    net.wait_all(target, timeout_s=60)
    heights = [net.height(index) for index in range(4)]
    with net.client(1) as client:
        gap_s = longest_block_gap_s(client, double_sign.started_height, target)
    print(f"[double-sign] heights: {double_sign.started_height} at the twin's start, {double_sign.evidence_height} "
          f"with the evidence, {heights} after; longest block gap {gap_s:.2f}s")
    assert gap_s < LONGEST_GAP_S


def test_the_double_signer_is_jailed_tombstoned_slashed_and_leaves_the_validator_set(
        double_sign: DoubleSign) -> None:
    net, address = double_sign.net, double_sign.address
    with net.client(1) as client:
        def jailed() -> dict[str, Any]:
            """Validator 0 once jailed; nothing (falsy) until then."""
            validator: dict[str, Any] = client.query(f"/staking/validators/{address}")
            return validator if validator["jailed"] else {}

        validator = wait_until(jailed, 30, f"{address} jailed")
        assert validator["tombstoned"] is True
        assert int(validator["slashed_micro_usdc"]) > 0
        assert validator["power"] == "0"
        wait_until(lambda: address[2:].upper() not in {v["address"] for v in
                                                       client.rpc.call("validators")["validators"]},
                   30, f"{address} out of CometBFT's validator set")
        jailed_at = client.height()
        print(f"[double-sign] {address} jailed by height {jailed_at}: slashed {validator['slashed_micro_usdc']} "
              f"micro-USDC, bond now {validator.get('bond_micro_usdc')}")
    net.wait_all(jailed_at + BLOCKS_AFTER, nodes=[1, 2, 3], timeout_s=60)
