"""Oracle rules: the stake-weighted median, the per-block clamp, and what ProcessProposal
accepts of an oracle tx (real ed25519 signatures over CometBFT's vote-extension sign bytes)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from app.oracle_votes import (
    BadOracleData,
    decode_extension,
    encode_extension,
    extension_sign_bytes,
    oracle_tx,
    verify_oracle_tx,
)
from modules.oracle.aggregate import clamp, next_price, weighted_median
from modules.oracle.types import Observation, Validator
from wire.pb import abci_pb, validator_pb

CHAIN = "perpchain-test"
HEIGHT = 10  # the proposal's height; the extensions are from height 9


def test_weighted_median_follows_power_not_headcount() -> None:
    votes = [Observation(1, 100, 10), Observation(1, 101, 10), Observation(1, 102, 10), Observation(1, 10_000, 10)]
    assert weighted_median(votes) == 101  # the wild 10,000 moves it no more than any single vote
    assert weighted_median([Observation(1, 100, 1), Observation(1, 200, 3)]) == 200


@given(st.lists(st.tuples(st.integers(1, 10**9), st.integers(1, 100)), min_size=1, max_size=20))
def test_the_median_lies_within_the_observations_and_half_the_power_is_on_each_side(pairs: list[tuple[int, int]]) -> None:
    votes = [Observation(1, price, power) for price, power in pairs]
    median = weighted_median(votes)
    total = sum(v.power for v in votes)
    assert 2 * sum(v.power for v in votes if v.price <= median) >= total
    assert 2 * sum(v.power for v in votes if v.price >= median) >= total


def test_the_price_moves_at_most_ten_percent_a_block_and_lands_on_the_tick() -> None:
    assert clamp(1_000_000, 5_000_000) == 1_100_000
    assert clamp(1_000_000, 10) == 900_000
    assert clamp(0, 5_000_000) == 5_000_000
    assert next_price(65_000_000_000, [Observation(1, 65_000_123_456, 1)], 100_000) == 65_000_100_000


def _validator(seed: int, power: int = 10) -> tuple[Ed25519PrivateKey, Validator]:
    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(bytes([seed])).digest())
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return key, Validator(hashlib.sha256(public).digest()[:20], public, power)


def _commit(signers: list[tuple[Ed25519PrivateKey, Validator]], extensions: list[bytes] | None = None,
            absent: tuple[int, ...] = ()) -> tuple[abci_pb.ExtendedCommitInfo, abci_pb.CommitInfo]:
    extended, plain = abci_pb.ExtendedCommitInfo(round=0), abci_pb.CommitInfo(round=0)
    for index, (key, validator) in enumerate(signers):
        flag = 1 if index in absent else 2
        extension = b"" if flag == 1 else (extensions[index] if extensions else encode_extension({1: 65_000_000_000}))
        signature = b"" if flag == 1 else key.sign(extension_sign_bytes(extension, HEIGHT - 1, 0, CHAIN))
        info = abci_pb.Validator(address=validator.address, power=validator.power)
        extended.votes.add(validator=info, vote_extension=extension, extension_signature=signature, block_id_flag=flag)
        plain.votes.add(validator=info, block_id_flag=flag)
    return extended, plain


FOUR = [_validator(i) for i in range(4)]
VALIDATORS = [v for _, v in FOUR]


def test_a_proposal_with_every_committed_extension_signed_is_accepted() -> None:
    extended, plain = _commit(FOUR)
    verified = verify_oracle_tx(oracle_tx(extended), plain, VALIDATORS, HEIGHT, CHAIN, {1, 2})
    assert (verified.signed_power, verified.total_power, len(verified.observations)) == (40, 40, 4)


def test_a_forged_extension_is_refused() -> None:
    extended, plain = _commit(FOUR)
    extended.votes[0].vote_extension = encode_extension({1: 1})  # the signature no longer matches
    with pytest.raises(BadOracleData, match="bad extension signature"):
        verify_oracle_tx(oracle_tx(extended), plain, VALIDATORS, HEIGHT, CHAIN, {1})


def test_a_dropped_extension_is_refused() -> None:
    extended, plain = _commit(FOUR)
    extended.votes[3].block_id_flag = validator_pb.BLOCK_ID_FLAG_ABSENT
    extended.votes[3].vote_extension = b""
    extended.votes[3].extension_signature = b""
    with pytest.raises(BadOracleData, match="dropped"):
        verify_oracle_tx(oracle_tx(extended), plain, VALIDATORS, HEIGHT, CHAIN, {1})


def test_signed_power_of_two_thirds_or_less_is_refused() -> None:
    extended, plain = _commit(FOUR, absent=(2, 3))
    with pytest.raises(BadOracleData, match="not more than 2/3"):
        verify_oracle_tx(oracle_tx(extended), plain, VALIDATORS, HEIGHT, CHAIN, {1})


def test_a_signed_but_malformed_extension_counts_for_nothing_but_does_not_fail_the_block() -> None:
    extended, plain = _commit(FOUR, extensions=[encode_extension({1: 65_000_000_000})] * 3 + [b"\xff" * 10])
    verified = verify_oracle_tx(oracle_tx(extended), plain, VALIDATORS, HEIGHT, CHAIN, {1})
    assert len(verified.observations) == 3 and verified.signed_power == 40


@pytest.mark.parametrize(("raw", "problem"), [
    (b"\xff" * 10, "not an OracleVote"),
    (b"\x00" * 5000, "limit"),
    (encode_extension({7: 5}), "unknown market"),
    (encode_extension({1: 0}), "zero"),
])
def test_bad_extensions_are_refused(raw: bytes, problem: str) -> None:
    with pytest.raises(BadOracleData, match=problem):
        decode_extension(raw, {1, 2})
