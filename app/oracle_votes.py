"""Vote extensions carrying oracle prices, end to end on the ABCI side.

  ExtendVote            this validator's prices -> OracleVote bytes
  VerifyVoteExtension   size, decoding, known markets in increasing order, positive prices
  PrepareProposal       the proposer's ExtendedCommitInfo of the previous height becomes tx 0
  ProcessProposal       tx 0 must be that commit: every validator that committed the previous
                        block has its extension there, signed (ed25519 over CometBFT's
                        CanonicalVoteExtension sign bytes), and the signed power is > 2/3;
                        a signed extension that does not decode counts for nothing
  FinalizeBlock         observations from tx 0 -> modules/oracle (median, clamp, staleness)
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf.message import DecodeError

from app.framing import frame
from modules.oracle.params import MAX_EXTENSION_BYTES
from modules.oracle.types import Observation, Validator
from wire.pb import abci_pb, canonical_pb, tx_pb

ORACLE_TX_PREFIX = b"\x00perpchain-oracle\x00"
BLOCK_ID_FLAG_COMMIT = 2


class BadOracleData(Exception):
    """Why an extension or an oracle tx is refused."""


def encode_extension(prices: dict[int, int]) -> bytes:
    vote = tx_pb.OracleVote(prices=[tx_pb.MarketPrice(market_id=m, price=p) for m, p in sorted(prices.items())])
    return vote.SerializeToString()


def decode_extension(raw: bytes, known_markets: set[int]) -> dict[int, int]:
    if len(raw) > MAX_EXTENSION_BYTES:
        raise BadOracleData(f"extension is {len(raw)} bytes, the limit is {MAX_EXTENSION_BYTES}")
    try:
        vote = tx_pb.OracleVote.FromString(raw)
    except DecodeError as error:
        raise BadOracleData(f"extension is not an OracleVote ({error})") from None
    prices: dict[int, int] = {}
    last = 0
    for entry in vote.prices:
        if entry.market_id <= last:
            raise BadOracleData("market ids must be strictly increasing")
        if entry.market_id not in known_markets:
            raise BadOracleData(f"unknown market {entry.market_id}")
        if entry.price == 0:
            raise BadOracleData(f"price of market {entry.market_id} is zero")
        prices[entry.market_id] = entry.price
        last = entry.market_id
    return prices


def extension_sign_bytes(extension: bytes, height: int, round_: int, chain_id: str) -> bytes:
    """What CometBFT signs for a vote extension: a length-delimited CanonicalVoteExtension."""
    body = canonical_pb.CanonicalVoteExtension(extension=extension, height=height, round=round_,
                                               chain_id=chain_id).SerializeToString()
    return frame(body)


def oracle_tx(commit: abci_pb.ExtendedCommitInfo) -> bytes:
    return ORACLE_TX_PREFIX + commit.SerializeToString(deterministic=True)


def is_oracle_tx(raw: bytes) -> bool:
    return raw.startswith(ORACLE_TX_PREFIX)


def parse_oracle_tx(raw: bytes) -> abci_pb.ExtendedCommitInfo:
    try:
        return abci_pb.ExtendedCommitInfo.FromString(raw[len(ORACLE_TX_PREFIX):])
    except DecodeError as error:
        raise BadOracleData(f"oracle tx is not an ExtendedCommitInfo ({error})") from None


@dataclass(frozen=True)
class VerifiedVotes:
    observations: list[Observation]
    signed_power: int
    total_power: int


def verify_oracle_tx(raw: bytes, last_commit: abci_pb.CommitInfo, validators: list[Validator], height: int,
                     chain_id: str, known_markets: set[int]) -> VerifiedVotes:
    """Every check ProcessProposal makes; raises BadOracleData naming the first failure."""
    commit = parse_oracle_tx(raw)
    by_address = {v.address: v for v in validators}
    total = sum(v.power for v in validators)
    if commit.round != last_commit.round:
        raise BadOracleData(f"round {commit.round} is not the last commit's {last_commit.round}")
    included = {vote.validator.address: vote for vote in commit.votes}
    if len(included) != len(commit.votes):
        raise BadOracleData("a validator appears twice")
    for committed in last_commit.votes:
        if committed.block_id_flag == BLOCK_ID_FLAG_COMMIT:
            found = included.get(committed.validator.address)
            if found is None or found.block_id_flag != BLOCK_ID_FLAG_COMMIT:
                raise BadOracleData(f"the extension of validator {committed.validator.address.hex()} was dropped")
    observations: list[Observation] = []
    signed = 0
    for vote in commit.votes:
        validator = by_address.get(vote.validator.address)
        if validator is None or validator.power != vote.validator.power:
            raise BadOracleData(f"{vote.validator.address.hex()} is not a validator with that power")
        if vote.block_id_flag != BLOCK_ID_FLAG_COMMIT:
            if vote.vote_extension or vote.extension_signature:
                raise BadOracleData("an extension from a validator that did not commit the block")
            continue
        message = extension_sign_bytes(vote.vote_extension, height - 1, commit.round, chain_id)
        try:
            Ed25519PublicKey.from_public_bytes(validator.pub_key).verify(vote.extension_signature, message)
        except (InvalidSignature, ValueError):
            raise BadOracleData(f"bad extension signature from {validator.address.hex()}") from None
        signed += validator.power
        try:
            prices = decode_extension(vote.vote_extension, known_markets)
        except BadOracleData:
            # CometBFT adds late precommits to the last commit without VerifyVoteExtension
            # (cometbft#2361), so a signed but malformed extension can reach an honest
            # proposer. It is ignored here, as in FinalizeBlock, instead of failing the block.
            continue
        observations.extend(Observation(m, p, validator.power) for m, p in prices.items())
    if 3 * signed <= 2 * total:
        raise BadOracleData(f"signed power {signed} is not more than 2/3 of {total}")
    return VerifiedVotes(observations, signed, total)


def observations_of(raw: bytes, validators: list[Validator], known_markets: set[int]) -> list[Observation]:
    """FinalizeBlock's reading of an accepted oracle tx (already verified by the network; a block
    replayed by block sync never went through our ProcessProposal, so decode defensively)."""
    by_address = {v.address: v for v in validators}
    observations: list[Observation] = []
    try:
        commit = parse_oracle_tx(raw)
    except BadOracleData:
        return observations
    for vote in commit.votes:
        validator = by_address.get(vote.validator.address)
        if validator is None or vote.block_id_flag != BLOCK_ID_FLAG_COMMIT:
            continue
        try:
            prices = decode_extension(vote.vote_extension, known_markets)
        except BadOracleData:
            continue
        observations.extend(Observation(m, p, validator.power) for m, p in prices.items())
    return observations
