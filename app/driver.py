"""An in-process chain: the Application over its own LevelDB, driven block by block as CometBFT
drives it over ABCI, with no consensus and no sockets. The benchmarks (bench/), the simulation
(sim/) and the app tests (tests/app/conftest.py) all run the chain through it.

    chain = InProcessChain.start(path, Genesis("demo", app_state, validators=((pub_key, 10),),
                                               vote_extensions_from=1))
    chain.check(raw)                         # CheckTx, on the mempool's state
    chain.block([raw], prices={1: price})    # FinalizeBlock (the oracle tx first) + Commit
    chain.query("/markets")                  # Query
    chain.close()

Heights follow on from the last block, and so do block times (`block_interval_ms` apart unless a
time is given). Oracle txs carry the validators' votes as PrepareProposal receives them, with
placeholder extension signatures: checking those is CometBFT's and ProcessProposal's, and
FinalizeBlock trusts an accepted proposal.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Mapping, Sequence

from google.protobuf.timestamp_pb2 import Timestamp

from app.application import Application
from app.oracle_votes import encode_extension, oracle_tx
from app.state_export import export_state, import_state, write_export
from app.store import CacheStore, CommitInfo, CommittedStore
from modules.context import BlockContext, Event
from modules.oracle.keeper import OracleKeeper
from wire.pb import abci_pb

from tendermint.crypto import keys_pb2 as keys_pb  # on the path once wire.pb is imported

GENESIS_TIME_MS = 1_800_000_000_000
BLOCK_INTERVAL_MS = 500
MAX_PROPOSAL_TX_BYTES = 100 << 20


@dataclass(frozen=True)
class Genesis:
    """What InitChain carries: the chain id, the app state, the validators (ed25519 public key,
    power) and the first height whose votes carry extensions (0: none ever do)."""

    chain_id: str
    app_state: dict[str, Any]
    validators: tuple[tuple[bytes, int], ...] = ()
    vote_extensions_from: int = 0

    def request(self) -> abci_pb.RequestInitChain:
        request = abci_pb.RequestInitChain(chain_id=self.chain_id, app_state_bytes=json.dumps(self.app_state).encode())
        for pub_key, power in self.validators:
            request.validators.add(pub_key=keys_pb.PublicKey(ed25519=pub_key), power=power)
        if self.vote_extensions_from:
            request.consensus_params.abci.vote_extensions_enable_height = self.vote_extensions_from
        return request


# A validator for chains whose blocks carry prices and nothing else from consensus: FinalizeBlock
# trusts an accepted oracle tx, so its key never signs.
SOLE_VALIDATOR = (bytes(range(32)), 10)


def priced_genesis(chain_id: str, app_state: dict[str, Any]) -> Genesis:
    """`app_state` with SOLE_VALIDATOR voting prices from height 1 (`InProcessChain.block(prices=...)`)."""
    return Genesis(chain_id, app_state, (SOLE_VALIDATOR,), vote_extensions_from=1)


def votes_commit(votes: Sequence[tuple[bytes, int, Mapping[int, int]]]) -> abci_pb.ExtendedCommitInfo:
    """The last commit as PrepareProposal receives it: each (validator address, power, its prices
    by market id) as a vote with that extension."""
    commit = abci_pb.ExtendedCommitInfo(round=0)
    for address, power, prices in votes:
        commit.votes.add(validator=abci_pb.Validator(address=address, power=power),
                         vote_extension=encode_extension(dict(prices)), extension_signature=b"\x01" * 64,
                         block_id_flag=2)
    return commit


def votes_tx(votes: Sequence[tuple[bytes, int, Mapping[int, int]]]) -> bytes:
    """The oracle tx a proposer puts first in a block carrying these votes."""
    return oracle_tx(votes_commit(votes))


@dataclass(frozen=True)
class Consensus:
    """What CometBFT tells FinalizeBlock of consensus: each validator's vote in the last commit
    (address, power, signed: COMMIT, else ABSENT) and the evidence committed in the block
    (MisbehaviorType, validator address, power, infraction height)."""

    votes: tuple[tuple[bytes, int, bool], ...] = ()
    misbehavior: tuple[tuple[int, bytes, int, int], ...] = ()

    def fill(self, request: abci_pb.RequestFinalizeBlock) -> None:
        for address, power, signed in self.votes:
            request.decided_last_commit.votes.add(validator=abci_pb.Validator(address=address, power=power),
                                                  block_id_flag=2 if signed else 1)
        for kind, address, power, height in self.misbehavior:
            request.misbehavior.add(type=kind, validator=abci_pb.Validator(address=address, power=power),
                                    height=height)


def timestamp(time_ms: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromMilliseconds(time_ms)
    return stamp


class InProcessChain:
    """One node's Application and store. `height` and `time_ms` are the last finalized block's
    (committed, or pending between `finalize` and `commit`)."""

    def __init__(self, store: CommittedStore, block_interval_ms: int = BLOCK_INTERVAL_MS,
                 genesis_time_ms: int = GENESIS_TIME_MS) -> None:
        self.store = store
        self.app = Application(store)
        self.block_interval_ms = block_interval_ms
        last = store.last_commit()
        self.height = last.height
        self._genesis_time_ms = genesis_time_ms
        self.time_ms = last.block_time_ms if last.height else genesis_time_ms
        self._pending = False
        self._genesis_validators: list[tuple[bytes, int]] = []  # until block 1 commits them

    @classmethod
    def open(cls, data: Path, block_interval_ms: int = BLOCK_INTERVAL_MS,
             genesis_time_ms: int = GENESIS_TIME_MS) -> InProcessChain:
        """The chain stored under `data` (a new, empty one if nothing is there yet)."""
        return cls(CommittedStore(data), block_interval_ms, genesis_time_ms)

    @classmethod
    def start(cls, data: Path, genesis: Genesis, block_interval_ms: int = BLOCK_INTERVAL_MS,
              genesis_time_ms: int = GENESIS_TIME_MS) -> InProcessChain:
        """A new chain under `data`, after InitChain (its genesis writes are committed with block 1)."""
        chain = cls.open(data, block_interval_ms, genesis_time_ms)
        chain.init_chain(genesis.request())
        return chain

    @classmethod
    def from_export(cls, exported: dict[str, Any], data: Path,
                    block_interval_ms: int = BLOCK_INTERVAL_MS) -> InProcessChain:
        """A node restored into the empty `data` from an export (app/state_export.py), at its height."""
        return cls(import_state(exported, data), block_interval_ms)

    @property
    def chain_id(self) -> str:
        return self.app.chain_id

    def init_chain(self, request: abci_pb.RequestInitChain) -> bytes:
        """InitChain; returns the genesis app hash."""
        self._genesis_validators = sorted((hashlib.sha256(v.pub_key.ed25519).digest()[:20], v.power)
                                          for v in request.validators)
        return bytes(self.app.init_chain(request).app_hash)

    # -- mempool ------------------------------------------------------------------------------

    def check(self, raw: bytes) -> abci_pb.ResponseCheckTx:
        """CheckTx of a new tx."""
        return self.app.check_tx(abci_pb.RequestCheckTx(tx=raw, type=abci_pb.NEW))

    def check_all(self, raws: Sequence[bytes]) -> list[abci_pb.ResponseCheckTx]:
        """CheckTx of each, their signers recovered first in one parallel batch, as the server does
        for the requests of one read."""
        self.app.prefetch_signers(raws)
        return [self.check(raw) for raw in raws]

    # -- blocks -------------------------------------------------------------------------------

    def next_time_ms(self) -> int:
        return self.time_ms + self.block_interval_ms

    def oracle_tx(self, prices: Mapping[int, int]) -> bytes:
        """An oracle tx in which every validator votes `prices` (market id -> micro-USDC)."""
        validators = [(v.address, v.power) for v in OracleKeeper(self.store).validators()] or self._genesis_validators
        return votes_tx([(address, power, prices) for address, power in validators])

    def propose(self, txs: Sequence[bytes], votes: abci_pb.ExtendedCommitInfo | None = None,
                max_tx_bytes: int = MAX_PROPOSAL_TX_BYTES) -> list[bytes]:
        """PrepareProposal for the next height: the block's txs as this node would propose them
        (with extensions enabled, the oracle tx of `votes` first)."""
        request = abci_pb.RequestPrepareProposal(txs=txs, max_tx_bytes=max_tx_bytes, height=self.height + 1)
        if votes is not None:
            request.local_last_commit.CopyFrom(votes)
        return list(self.app.prepare_proposal(request).txs)

    def accepts(self, txs: Sequence[bytes]) -> bool:
        """ProcessProposal of `txs` at the next height."""
        verdict = self.app.process_proposal(abci_pb.RequestProcessProposal(txs=txs, height=self.height + 1))
        return verdict.status == abci_pb.ResponseProcessProposal.ACCEPT

    def finalize(self, txs: Sequence[bytes], time_ms: int | None = None, consensus: Consensus | None = None,
                 ) -> abci_pb.ResponseFinalizeBlock:
        """FinalizeBlock of the next height at `time_ms` (default: the regular interval on), with
        what CometBFT reports of consensus (`consensus`: the last commit's votes, evidence)."""
        return abci_pb.ResponseFinalizeBlock.FromString(self.finalize_encoded(txs, time_ms, consensus))

    def finalize_encoded(self, txs: Sequence[bytes], time_ms: int | None = None, consensus: Consensus | None = None,
                         ) -> bytes:
        """`finalize`, answered with the response's bytes as the ABCI server sends them."""
        if self._pending:
            raise RuntimeError(f"block {self.height} is finalized but not committed")
        self.height += 1
        self.time_ms = self.next_time_ms() if time_ms is None else time_ms
        self._pending = True
        request = abci_pb.RequestFinalizeBlock(txs=txs, height=self.height, time=timestamp(self.time_ms))
        if consensus is not None:
            consensus.fill(request)
        return self.app.finalize_block_encoded(request)

    def commit(self) -> None:
        self.app.commit(abci_pb.RequestCommit())
        self._pending = False

    def block(self, txs: Sequence[bytes] = (), time_ms: int | None = None,
              prices: Mapping[int, int] | None = None, consensus: Consensus | None = None,
              ) -> abci_pb.ResponseFinalizeBlock:
        """FinalizeBlock and Commit; `prices`: the validators' votes, carried as the oracle tx first."""
        if prices is not None:
            txs = [self.oracle_tx(prices), *txs]
        response = self.finalize(txs, time_ms, consensus)
        self.commit()
        return response

    def write_state(self, write: Callable[[CacheStore], None]) -> list[Event]:
        """Commit, as the next block, a state no tx made (a benchmark's or a simulation's starting
        point), which `write` puts through the keepers. The end of a block runs over it as over a
        block's txs (Application.settle_writes: funding's sample, and its rate at an hour boundary;
        the liquidation pass; the anchor marks), so it is indexed as if txs had made it; the
        Application then restarts on the new state, as a node does. Returns the events of that end
        of block (a funding rate, liquidations of subaccounts left under maintenance)."""
        if self._pending or self.height == 0:
            raise RuntimeError("write_state follows a committed block (InitChain's writes commit with block 1)")
        height, time_ms = self.height + 1, self.next_time_ms()
        block = CacheStore(self.store)
        write(block)
        events = self.app.settle_writes(block, BlockContext(self.chain_id, height, time_ms))
        tree = self.store.tree().update(block.writes)
        self.store.commit(block.writes, CommitInfo(height, tree.root, time_ms), tree)
        self.height, self.time_ms = height, time_ms
        self.restart()
        return events

    def restart(self) -> None:
        """A new Application on the committed state, as after a node's restart: books, mempool and
        anchor tree rebuilt from the store."""
        self.app.signers.close()
        self.app = Application(self.store)
        last = self.store.last_commit()  # a block finalized and not committed is lost, as in a crash
        self.height, self._pending = last.height, False
        self.time_ms = last.block_time_ms if last.height else self._genesis_time_ms

    # -- reads --------------------------------------------------------------------------------

    def query(self, path: str, height: int = 0) -> abci_pb.ResponseQuery:
        return self.app.query(abci_pb.RequestQuery(path=path, height=height))

    def export(self, path: Path | None = None) -> dict[str, Any]:
        """The committed state as app/state_export.py exports it, also written to `path` if given."""
        return write_export(self.store, path) if path is not None else export_state(self.store)

    # -- lifetime -----------------------------------------------------------------------------

    def close(self) -> None:
        self.app.signers.close()
        self.store.close()

    def __enter__(self) -> InProcessChain:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
