"""client/light.py against what a real CometBFT signed (tests/unit/data/light_blocks.json, recorded
by tests/record_light_blocks.py), and against chains signed here to change the validator set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from google.protobuf.timestamp_pb2 import Timestamp

from client.light import (
    LightBlock,
    LightClient,
    NotEnoughTrust,
    NotVerified,
    TrustRoot,
    Validator,
    ValidatorSet,
    commit_from_json,
    header_from_json,
    header_hash,
    validator_set_from_json,
    verify,
    verify_trust_root,
    vote_sign_bytes,
)
from client.times import NANOS_PER_SECOND
from wire.pb import types_pb, validator_pb

RECORDED = json.loads((Path(__file__).parent / "data" / "light_blocks.json").read_text())
CHAIN_ID = RECORDED["chain_id"]


def recorded(height: int) -> LightBlock:
    block = RECORDED["blocks"][str(height)]
    signed = block["commit"]["signed_header"]
    return LightBlock(header_from_json(signed["header"]), commit_from_json(signed["commit"]),
                      validator_set_from_json(block["validators"]["validators"]))


def soon_after(block: LightBlock) -> int:
    """A clock reading a minute after the block."""
    return block.header.time.seconds * NANOS_PER_SECOND + 60 * NANOS_PER_SECOND


def edited(block: LightBlock, change: Callable[[types_pb.Header, types_pb.Commit], None]) -> LightBlock:
    header, commit = types_pb.Header(), types_pb.Commit()
    header.CopyFrom(block.header)
    commit.CopyFrom(block.commit)
    change(header, commit)
    return LightBlock(header, commit, block.validators)


@pytest.mark.parametrize("height", sorted(int(h) for h in RECORDED["blocks"]))
def test_header_and_validator_hashes_are_cometbfts(height: int) -> None:
    block = recorded(height)
    assert header_hash(block.header) == block.commit.block_id.hash  # what CometBFT's validators signed
    assert block.validators.hash() == block.header.validators_hash


def test_trust_root_is_signed_by_its_own_validators() -> None:
    root = verify_trust_root(recorded(1), CHAIN_ID)
    assert (root.height, root.signed_power, root.total_power) == (1, 40, 40)
    assert root.app_hash == recorded(1).header.app_hash


def test_trust_root_must_hash_to_the_trusted_hash() -> None:
    block = recorded(1)
    assert verify_trust_root(block, CHAIN_ID, header_hash(block.header)).height == 1
    with pytest.raises(NotVerified, match="the trusted hash is"):
        verify_trust_root(block, CHAIN_ID, bytes(32))


def test_trust_root_of_another_chain_is_refused() -> None:
    with pytest.raises(NotVerified, match="is of chain"):
        verify_trust_root(recorded(1), "another-chain")


def test_adjacent_header_verifies_with_an_absent_vote() -> None:
    root, next_block = recorded(1), recorded(2)
    verified = verify(root, next_block, soon_after(next_block))
    absent = sum(s.block_id_flag == validator_pb.BLOCK_ID_FLAG_ABSENT for s in next_block.commit.signatures)
    assert absent == 1  # the recording caught one validator's precommit missing from the commit
    assert (verified.height, verified.signed_power, verified.total_power) == (2, 30, 40)
    assert verified.app_hash == next_block.header.app_hash


def test_later_header_verifies_by_skipping() -> None:
    later = recorded(6)
    assert verify(recorded(1), later, soon_after(later)).height == 6


@pytest.mark.parametrize("field", ["app_hash", "validators_hash", "last_results_hash", "proposer_address",
                                   "time", "height", "last_block_id", "version"])
def test_tampered_header_field_is_refused(field: str) -> None:
    def tamper(header: types_pb.Header, commit: types_pb.Commit) -> None:
        if field == "time":
            header.time.nanos += 1
        elif field == "height":
            header.height += 1
            commit.height += 1
        elif field == "last_block_id":
            header.last_block_id.part_set_header.total += 1
        elif field == "version":
            header.version.app += 1
        else:
            setattr(header, field, bytes(20 if field == "proposer_address" else 32))

    later = recorded(6)
    with pytest.raises(NotVerified, match="the commit signs block"):
        verify(recorded(1), edited(later, tamper), soon_after(later))


def test_tampered_signature_is_refused() -> None:
    def tamper(header: types_pb.Header, commit: types_pb.Commit) -> None:
        signature = bytearray(commit.signatures[2].signature)
        signature[0] ^= 1
        commit.signatures[2].signature = bytes(signature)

    later = recorded(6)
    with pytest.raises(NotVerified, match="wrong signature by"):
        verify(recorded(1), edited(later, tamper), soon_after(later))


def test_tampered_vote_time_is_refused() -> None:
    def tamper(header: types_pb.Header, commit: types_pb.Commit) -> None:
        commit.signatures[0].timestamp.nanos += 1  # part of what the validator signed

    later = recorded(6)
    with pytest.raises(NotVerified, match="wrong signature by"):
        verify(recorded(1), edited(later, tamper), soon_after(later))


def test_two_thirds_of_the_power_or_less_is_refused() -> None:
    def drop_one_more(header: types_pb.Header, commit: types_pb.Commit) -> None:
        signed = next(s for s in commit.signatures if s.block_id_flag == validator_pb.BLOCK_ID_FLAG_COMMIT)
        signed.block_id_flag = validator_pb.BLOCK_ID_FLAG_ABSENT

    next_block = recorded(2)
    with pytest.raises(NotVerified, match="signed by 20 of 40 voting power; more than 2/3 is needed"):
        verify(recorded(1), edited(next_block, drop_one_more), soon_after(next_block))


def test_validator_set_the_header_does_not_name_is_refused() -> None:
    later = recorded(6)
    inflated = ValidatorSet(tuple(Validator(v.pub_key, v.power * 2) for v in later.validators.validators))
    with pytest.raises(NotVerified, match="the set given hashes to"):
        verify(recorded(1), LightBlock(later.header, later.commit, inflated), soon_after(later))


def test_header_from_the_future_is_refused() -> None:
    later = recorded(6)
    with pytest.raises(NotVerified, match="ahead of this clock"):
        verify(recorded(1), later, soon_after(later) - 71 * NANOS_PER_SECOND)


def test_header_not_after_the_trusted_one_is_refused() -> None:
    with pytest.raises(NotVerified, match="is not after the trusted header"):
        verify(recorded(6), recorded(2), soon_after(recorded(6)))


# -- validator set changes, on chains signed here -------------------------------------------------

CHAIN = "light-test"


class Signer:
    def __init__(self, power: int) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.validator = Validator(self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw), power)


def ordered(signers: list[Signer]) -> list[Signer]:
    """CometBFT's order of a set: power descending, then address."""
    return sorted(signers, key=lambda s: (-s.validator.power, s.validator.address))


def validator_set(signers: list[Signer]) -> ValidatorSet:
    return ValidatorSet(tuple(s.validator for s in ordered(signers)))


def signed_chain(sets: list[list[Signer]]) -> dict[int, LightBlock]:
    """Block h (from 1) is made by sets[h - 1], every member signing; each header names the next set."""
    blocks: dict[int, LightBlock] = {}
    last_block_id = types_pb.BlockID()
    for height, signers in enumerate(sets, start=1):
        following = sets[height] if height < len(sets) else signers
        header = types_pb.Header(
            version={"block": 11, "app": 1}, chain_id=CHAIN, height=height,
            time=Timestamp(seconds=1_700_000_000 + height), last_block_id=last_block_id,
            validators_hash=validator_set(signers).hash(), next_validators_hash=validator_set(following).hash(),
            app_hash=height.to_bytes(32, "big"), proposer_address=ordered(signers)[0].validator.address)
        block_id = types_pb.BlockID(hash=header_hash(header), part_set_header=types_pb.PartSetHeader(
            total=1, hash=bytes(32)))
        commit = types_pb.Commit(height=height, round=0, block_id=block_id)
        for signer in ordered(signers):
            signature = commit.signatures.add(block_id_flag=validator_pb.BLOCK_ID_FLAG_COMMIT,
                                              validator_address=signer.validator.address,
                                              timestamp=Timestamp(seconds=1_700_000_001 + height))
            signature.signature = signer.key.sign(vote_sign_bytes(CHAIN, commit, signature))
        blocks[height] = LightBlock(header, commit, validator_set(signers))
        last_block_id = block_id
    return blocks


def light_client(blocks: dict[int, LightBlock], fetched: list[int], trust: TrustRoot = TrustRoot(1),
                 now_s: int = 1_800_000_000) -> LightClient:
    def fetch(height: int) -> LightBlock:
        fetched.append(height)
        return blocks[height]

    return LightClient(fetch, CHAIN, trust, clock_ns=lambda: now_s * NANOS_PER_SECOND)


def test_pinned_trust_root_older_than_the_trusting_period_is_refused_and_a_recent_one_is_not() -> None:
    signers = [Signer(10) for _ in range(4)]
    blocks = signed_chain([signers] * 3)
    root = TrustRoot(1, header_hash(blocks[1].header), trusting_period_ns=100 * NANOS_PER_SECOND)
    header_1_s = 1_700_000_001
    with pytest.raises(NotVerified, match="older than the trusting period"):
        light_client(blocks, [], root, now_s=header_1_s + 100).header(3)
    assert light_client(blocks, [], root, now_s=header_1_s + 99).header(3).height == 3


def test_trust_root_taken_from_the_node_has_no_trusting_period() -> None:
    signers = [Signer(10) for _ in range(4)]
    blocks = signed_chain([signers] * 3)
    unpinned = TrustRoot(1, trusting_period_ns=100 * NANOS_PER_SECOND)
    assert light_client(blocks, [], unpinned, now_s=1_700_000_001 + 10_000).header(3).height == 3


def test_changed_set_with_a_third_of_the_trusted_power_is_taken_in_one_skip() -> None:
    old = [Signer(10) for _ in range(4)]
    new = old[:2] + [Signer(10) for _ in range(2)]  # the trusted set keeps 20 of its 40
    blocks = signed_chain([old, old, old, new, new, new])
    fetched: list[int] = []
    assert light_client(blocks, fetched).header(6).height == 6
    assert fetched == [1, 6]


def test_wholly_new_set_is_reached_by_bisection() -> None:
    old, new = [Signer(10) for _ in range(4)], [Signer(10) for _ in range(4)]
    blocks = signed_chain([old, old, old, new, new, new])
    fetched: list[int] = []
    client = light_client(blocks, fetched)
    with pytest.raises(NotEnoughTrust):
        verify(blocks[1], blocks[6], 1_800_000_000 * NANOS_PER_SECOND)
    verified = client.header(6)
    assert (verified.height, verified.signed_power, verified.total_power) == (6, 40, 40)
    # each header fetched once: 1 -> 3 by the old set, 3 -> 4 named next by it, 4 -> 6 by the new
    assert fetched == [1, 6, 3, 4]


def test_set_the_trusted_ones_never_named_is_refused() -> None:
    old, forgers = [Signer(10) for _ in range(4)], [Signer(10) for _ in range(4)]
    honest = signed_chain([old] * 6)  # every header names `old` next
    forged = signed_chain([old] * 5 + [forgers])[6]
    fetched: list[int] = []
    with pytest.raises(NotVerified, match="are not the ones header 5 named next"):
        light_client({**honest, 6: forged}, fetched).header(6)
    assert fetched == [1, 6, 3, 4, 5]  # bisected down to the adjacent step, which refuses it; each fetched once
