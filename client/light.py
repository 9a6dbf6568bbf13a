"""CometBFT v0.38's light-client rules in Python: a header is believed only when the commit for
it carries valid precommit signatures of enough voting power, counted from a trusted header on.

What CometBFT computes, reproduced here (its types/block.go, types/validator_set.go,
types/vote.go, types/validation.go and light/verifier.go):
  header hash      RFC 6962 Merkle root over the header's 14 fields, each proto-encoded; the
                   primitive ones in protobuf's wrapper types (an empty one as no bytes)
  validators hash  the same Merkle root over SimpleValidator{pub_key, voting_power}, in set order
  precommit        ed25519 over a length-delimited CanonicalVote (type, height, round, block id,
                   timestamp, chain id); only votes for the committed block count
  adjacent header  (trusted height + 1) its validators_hash is the trusted next_validators_hash,
                   and more than 2/3 of its own set's power signed it
  later header     more than 1/3 of the trusted set's power signed it and more than 2/3 of its own
                   set's; when the trusted set signed too little, the height halfway is verified
                   first (CometBFT's bisection), so trust moves on through a changed set
  trusting period  a pinned trust root, and every header trusted from it, must be younger than
                   the trusting period (CometBFT's ErrOldHeaderExpired): validators who have since
                   unbonded (docs/staking.md) could sign a forged history from an old header
                   without losing anything. A root taken from the node itself (no pinned hash) is
                   that node's word whatever its age, so no period applies to it.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf import wrappers_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from client.errors import ClientError
from client.rpc import RpcClient
from client.times import NANOS_PER_SECOND, rfc3339_to_ns
from wire.pb import canonical_pb, types_pb, validator_pb
from wire.varint import encode_uvarint

ED25519_KEY_TYPE = "tendermint/PubKeyEd25519"
MAX_CLOCK_DRIFT_NS = 10 * NANOS_PER_SECOND  # CometBFT's default: how far a header's time may run ahead of ours
VALIDATORS_PER_PAGE = 100  # the most CometBFT's /validators returns at once
KEPT_HEADERS = 16  # verified headers a LightClient keeps to start from, besides its trust root
# Below staking's unbonding period (1,209,600 blocks: two weeks at one block a second, one week at two a
# second), so a header is trusted only while the validators who signed it can still be slashed.
TRUSTING_PERIOD_NS = 7 * 24 * 3600 * NANOS_PER_SECOND


class NotVerified(ClientError):
    """A header, its commit or a validator set did not check: nothing it says can be believed."""


class NotEnoughTrust(NotVerified):
    """The trusted validators' signatures on a later header carry 1/3 of their power or less."""


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def merkle_root(items: Sequence[bytes]) -> bytes:
    """CometBFT's HashFromByteSlices (RFC 6962): leaf sha256(0x00 || item), inner
    sha256(0x01 || left || right), split at the largest power of two below the count."""
    if not items:
        return _sha256(b"")
    if len(items) == 1:
        return _sha256(b"\x00" + items[0])
    split = 1 << ((len(items) - 1).bit_length() - 1)
    return _sha256(b"\x01" + merkle_root(items[:split]) + merkle_root(items[split:]))


def _block_id_bytes(block_id: types_pb.BlockID) -> bytes:
    """BlockID as gogoproto writes it: its part set header is not nullable, so written even when empty."""
    parts = block_id.part_set_header
    return types_pb.BlockID(hash=block_id.hash, part_set_header=types_pb.PartSetHeader(
        total=parts.total, hash=parts.hash)).SerializeToString()


def header_hash(header: types_pb.Header) -> bytes:
    """CometBFT's Header.Hash()."""
    if not header.validators_hash:
        raise NotVerified(f"header {header.height} has no validators hash, hence no hash")

    def wrapped(value: bytes) -> bytes:
        return wrappers_pb2.BytesValue(value=value).SerializeToString()

    return merkle_root([
        header.version.SerializeToString(),
        wrappers_pb2.StringValue(value=header.chain_id).SerializeToString(),
        wrappers_pb2.Int64Value(value=header.height).SerializeToString(),
        header.time.SerializeToString(),
        _block_id_bytes(header.last_block_id),
        wrapped(header.last_commit_hash),
        wrapped(header.data_hash),
        wrapped(header.validators_hash),
        wrapped(header.next_validators_hash),
        wrapped(header.consensus_hash),
        wrapped(header.app_hash),
        wrapped(header.last_results_hash),
        wrapped(header.evidence_hash),
        wrapped(header.proposer_address),
    ])


@dataclass(frozen=True)
class Validator:
    pub_key: bytes  # ed25519, 32 bytes
    power: int

    @property
    def address(self) -> bytes:
        """CometBFT's address of an ed25519 key: the first 20 bytes of its sha256."""
        return _sha256(self.pub_key)[:20]

    def hashed_bytes(self) -> bytes:
        """What the validators hash covers: SimpleValidator{pub_key, voting_power}."""
        return validator_pb.SimpleValidator(pub_key={"ed25519": self.pub_key},
                                            voting_power=self.power).SerializeToString()


@dataclass(frozen=True)
class ValidatorSet:
    validators: tuple[Validator, ...]  # in CometBFT's order: power descending, then address

    @property
    def total_power(self) -> int:
        return sum(v.power for v in self.validators)

    def hash(self) -> bytes:
        return merkle_root([v.hashed_bytes() for v in self.validators])


@dataclass(frozen=True)
class LightBlock:
    """A header, the commit that signs it, and the validator set its validators_hash names."""

    header: types_pb.Header
    commit: types_pb.Commit
    validators: ValidatorSet

    @property
    def height(self) -> int:
        return int(self.header.height)


@dataclass(frozen=True)
class VerifiedHeader:
    height: int
    hash: bytes
    app_hash: bytes  # commits to the state after block height - 1
    time_ns: int
    signed_power: int  # of the header's own validators
    total_power: int


def vote_sign_bytes(chain_id: str, commit: types_pb.Commit, signature: types_pb.CommitSig) -> bytes:
    """What a validator signed for its precommit of the commit's block (types/vote.go VoteSignBytes)."""
    block_id = commit.block_id
    vote = canonical_pb.CanonicalVote(
        type=types_pb.SIGNED_MSG_TYPE_PRECOMMIT, height=commit.height, round=commit.round,
        block_id=canonical_pb.CanonicalBlockID(hash=block_id.hash, part_set_header=canonical_pb.CanonicalPartSetHeader(
            total=block_id.part_set_header.total, hash=block_id.part_set_header.hash)),
        timestamp=signature.timestamp, chain_id=chain_id)
    body = vote.SerializeToString()
    return encode_uvarint(len(body)) + body


def signed_power(chain_id: str, validators: ValidatorSet, commit: types_pb.Commit, own_set: bool) -> int:
    """The power of `validators` whose precommits for the commit's block verify. `own_set`: the set
    that made the commit, matched by position; otherwise matched by address, others skipped.
    Every counted signature is checked; a bad one is refused, not skipped."""
    if own_set and len(commit.signatures) != len(validators.validators):
        raise NotVerified(f"commit {commit.height} has {len(commit.signatures)} signatures for "
                          f"{len(validators.validators)} validators")
    by_address = {v.address: v for v in validators.validators}
    seen: set[bytes] = set()
    power = 0
    for index, signature in enumerate(commit.signatures):
        if signature.block_id_flag != validator_pb.BLOCK_ID_FLAG_COMMIT:
            continue  # absent, or a vote for nil: counts for nothing
        if own_set:
            validator = validators.validators[index]
            if validator.address != signature.validator_address:
                raise NotVerified(f"commit {commit.height}: signature {index} is by "
                                  f"{signature.validator_address.hex().upper()}, not the validator at that position")
        else:
            found = by_address.get(signature.validator_address)
            if found is None:
                continue
            validator = found
            if validator.address in seen:
                raise NotVerified(f"commit {commit.height}: {validator.address.hex().upper()} voted twice")
            seen.add(validator.address)
        try:
            Ed25519PublicKey.from_public_bytes(validator.pub_key).verify(
                signature.signature, vote_sign_bytes(chain_id, commit, signature))
        except (InvalidSignature, ValueError):
            raise NotVerified(f"commit {commit.height}: wrong signature by {validator.address.hex().upper()}") from None
        power += validator.power
    return power


def _time_ns(stamp: Timestamp) -> int:
    return int(stamp.seconds) * NANOS_PER_SECOND + int(stamp.nanos)


def _checked_hash(chain_id: str, block: LightBlock) -> bytes:
    """The header's hash, once the block's parts agree: chain, commit height and block, validator set."""
    header, commit = block.header, block.commit
    if header.chain_id != chain_id:
        raise NotVerified(f"header {header.height} is of chain {header.chain_id!r}, not {chain_id!r}")
    if commit.height != header.height:
        raise NotVerified(f"the commit is for height {commit.height}, the header is {header.height}")
    block_hash = header_hash(header)
    if commit.block_id.hash != block_hash:
        raise NotVerified(f"the commit signs block {commit.block_id.hash.hex().upper()}, header {header.height} "
                          f"hashes to {block_hash.hex().upper()}")
    if header.validators_hash != block.validators.hash():
        raise NotVerified(f"header {header.height} names validators {header.validators_hash.hex().upper()}, "
                          f"the set given hashes to {block.validators.hash().hex().upper()}")
    return block_hash


def _own_supermajority(chain_id: str, block: LightBlock, block_hash: bytes) -> VerifiedHeader:
    """More than 2/3 of the block's own validators' power signed it."""
    power = signed_power(chain_id, block.validators, block.commit, own_set=True)
    total = block.validators.total_power
    if power <= total * 2 // 3:
        raise NotVerified(f"header {block.height} is signed by {power} of {total} voting power; "
                          f"more than 2/3 is needed")
    return VerifiedHeader(block.height, block_hash, bytes(block.header.app_hash), _time_ns(block.header.time),
                          power, total)


def verify_trust_root(block: LightBlock, chain_id: str, trusted_hash: bytes | None = None) -> VerifiedHeader:
    """A header taken on trust, as long as it is consistent: signed by more than 2/3 of its own set,
    and hashing to `trusted_hash` when one is given (then nothing is taken from the node on trust)."""
    block_hash = _checked_hash(chain_id, block)
    if trusted_hash is not None and block_hash != trusted_hash:
        raise NotVerified(f"header {block.height} hashes to {block_hash.hex().upper()}, "
                          f"the trusted hash is {trusted_hash.hex().upper()}")
    return _own_supermajority(chain_id, block, block_hash)


def verify(trusted: LightBlock, untrusted: LightBlock, now_ns: int,
           trusting_period_ns: int | None = None) -> VerifiedHeader:
    """CometBFT's light.Verify: `untrusted`, later than `trusted`, checked against it; `trusted` no
    older than `trusting_period_ns` when one is given."""
    chain_id = trusted.header.chain_id
    if trusting_period_ns is not None and _time_ns(trusted.header.time) + trusting_period_ns <= now_ns:
        raise NotVerified(f"the trusted header {trusted.header.height} is older than the trusting period "
                          f"({trusting_period_ns // NANOS_PER_SECOND} s): start from a more recent trusted header")
    block_hash = _checked_hash(chain_id, untrusted)
    header = untrusted.header
    if header.height <= trusted.header.height:
        raise NotVerified(f"header {header.height} is not after the trusted header {trusted.header.height}")
    if _time_ns(header.time) <= _time_ns(trusted.header.time):
        raise NotVerified(f"header {header.height}'s time is not after the trusted header's")
    if _time_ns(header.time) >= now_ns + MAX_CLOCK_DRIFT_NS:
        raise NotVerified(f"header {header.height}'s time is more than {MAX_CLOCK_DRIFT_NS // NANOS_PER_SECOND} s "
                          f"ahead of this clock")
    if header.height == trusted.header.height + 1:
        if header.validators_hash != trusted.header.next_validators_hash:
            raise NotVerified(f"header {header.height}'s validators are not the ones header "
                              f"{trusted.header.height} named next")
    else:
        power = signed_power(chain_id, trusted.validators, untrusted.commit, own_set=False)
        total = trusted.validators.total_power
        if power <= total // 3:
            raise NotEnoughTrust(f"header {header.height} is signed by {power} of the trusted set's {total} "
                                 f"voting power (height {trusted.height}); more than 1/3 is needed")
    return _own_supermajority(chain_id, untrusted, block_hash)


Fetch = Callable[[int], LightBlock]


@dataclass(frozen=True)
class TrustRoot:
    """Where verification starts: the header at `height` (0: the node's earliest) is taken on trust,
    from the node itself unless `hash` pins it (then a node that lies about it is caught)."""

    height: int = 0
    hash: bytes | None = None
    trusting_period_ns: int = TRUSTING_PERIOD_NS  # applies only to a pinned root (module docstring)


class LightClient:
    """Headers verified from a trust root on, by height. Every header it verifies may serve as the
    trusted one for a later height, so trust follows the validator set as it changes."""

    def __init__(self, fetch: Fetch, chain_id: str, trust: TrustRoot,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        if trust.height < 1:
            raise ValueError("a trust root is a height from 1 on")
        root = fetch(trust.height)
        self.chain_id = chain_id
        self.root = verify_trust_root(root, chain_id, trust.hash)
        self._fetch = fetch
        self._clock_ns = clock_ns
        self._trusting_period_ns = trust.trusting_period_ns if trust.hash is not None else None
        self._verified: dict[int, tuple[LightBlock, VerifiedHeader]] = {trust.height: (root, self.root)}

    def header(self, height: int) -> VerifiedHeader:
        """The header at `height`, verified, or NotVerified saying why not."""
        known = self._verified.get(height)
        if known is not None:
            return known[1]
        if not any(h < height for h in self._verified):
            raise NotVerified(f"height {height} is below the trust root {self.root.height}; "
                              f"start from an older trusted header")
        block = self._fetch(height)  # once: each halving below only moves the trusted header up
        while True:
            trusted = self._verified[max(h for h in self._verified if h < height)][0]
            try:
                verified = verify(trusted, block, self._clock_ns(), self._trusting_period_ns)
                break
            except NotEnoughTrust:
                self.header((trusted.height + height) // 2)  # adjacent headers never raise NotEnoughTrust
        self._keep(block, verified)
        return verified

    def _keep(self, block: LightBlock, verified: VerifiedHeader) -> None:
        self._verified[block.height] = (block, verified)
        dropped = sorted(h for h in self._verified if h != self.root.height)[:-KEPT_HEADERS]
        for height in dropped:
            del self._verified[height]


# -- from a node's RPC ----------------------------------------------------------------------------

def _hex(text: str | None) -> bytes:
    return bytes.fromhex(text or "")


def _timestamp(text: str) -> Timestamp:
    ns = rfc3339_to_ns(text)
    return Timestamp(seconds=ns // NANOS_PER_SECOND, nanos=ns % NANOS_PER_SECOND)


def _block_id(data: Mapping[str, Any]) -> types_pb.BlockID:
    parts = data.get("parts") or {}
    return types_pb.BlockID(hash=_hex(data.get("hash")), part_set_header=types_pb.PartSetHeader(
        total=int(parts.get("total", 0)), hash=_hex(parts.get("hash"))))


def header_from_json(data: Mapping[str, Any]) -> types_pb.Header:
    version = data.get("version") or {}
    return types_pb.Header(
        version={"block": int(version.get("block", 0)), "app": int(version.get("app", 0))},
        chain_id=data["chain_id"], height=int(data["height"]), time=_timestamp(data["time"]),
        last_block_id=_block_id(data["last_block_id"]), last_commit_hash=_hex(data["last_commit_hash"]),
        data_hash=_hex(data["data_hash"]), validators_hash=_hex(data["validators_hash"]),
        next_validators_hash=_hex(data["next_validators_hash"]), consensus_hash=_hex(data["consensus_hash"]),
        app_hash=_hex(data["app_hash"]), last_results_hash=_hex(data["last_results_hash"]),
        evidence_hash=_hex(data["evidence_hash"]), proposer_address=_hex(data["proposer_address"]))


def commit_from_json(data: Mapping[str, Any]) -> types_pb.Commit:
    return types_pb.Commit(
        height=int(data["height"]), round=int(data["round"]), block_id=_block_id(data["block_id"]),
        signatures=[types_pb.CommitSig(
            block_id_flag=validator_pb.BlockIDFlag.Name(int(s["block_id_flag"])),
            validator_address=_hex(s.get("validator_address")),
            timestamp=_timestamp(s["timestamp"]), signature=base64.b64decode(s.get("signature") or ""))
            for s in data["signatures"]])


def validator_set_from_json(entries: Sequence[Mapping[str, Any]]) -> ValidatorSet:
    """/validators' entries, in the order given; the address is derived from the key, and must match."""
    validators = []
    for entry in entries:
        key = entry["pub_key"]
        if key["type"] != ED25519_KEY_TYPE:
            raise NotVerified(f"validator {entry['address']} has a {key['type']} key; only ed25519 is supported")
        validator = Validator(base64.b64decode(key["value"]), int(entry["voting_power"]))
        if validator.address != _hex(entry["address"]):
            raise NotVerified(f"validator {entry['address']}'s address is not that of its key")
        validators.append(validator)
    return ValidatorSet(tuple(validators))


class NodeBlocks:
    """LightBlocks from a node's RPC (/commit, /validators); a validator set is fetched once per hash.
    Nothing here is believed: LightClient checks what it returns."""

    def __init__(self, rpc: RpcClient) -> None:
        self.rpc = rpc
        self._sets: dict[bytes, ValidatorSet] = {}

    def __call__(self, height: int) -> LightBlock:
        signed = self.rpc.call("commit", height=str(height))["signed_header"]
        header, commit = header_from_json(signed["header"]), commit_from_json(signed["commit"])
        validators = self._sets.get(bytes(header.validators_hash))
        if validators is None:
            validators = validator_set_from_json(self.validators_json(height))
            self._sets[validators.hash()] = validators
        return LightBlock(header, commit, validators)

    def validators_json(self, height: int) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self.rpc.call("validators", height=str(height), page=str(page), per_page=str(VALIDATORS_PER_PAGE))
            entries.extend(answer["validators"])
            if len(entries) >= int(answer["total"]) or not answer["validators"]:
                return entries
            page += 1
