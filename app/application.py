"""The ABCI 2.0 Application: one method per request, each routing to ante, router, store, queries;
the modules' hooks and handlers come from modules/registry.py.

A block's life:
  1. PrepareProposal puts the mempool's txs in the canonical order (app/ordering.py): by class,
                    non-order actions, cancels, resting placements, then taking orders
                    (cancel-first protects makers); within a class by a per-account draw
                    seeded by the previous app hash, which the proposer does not choose.
  2. ProcessProposal rejects a proposal whose txs are in any other order.
  3. FinalizeBlock  records the block's time in the state (auth), runs the modules' begin-block
                    hooks in the registry's BEGIN_BLOCKERS order:
                    (0) after an anchor height, the balances anchor of the committed state
                    (anchor), (0b) CometBFT's set as of this height, then the last commit's votes
                    and the block's evidence: slashing and jailing (staking), (1) oracle prices
                    from tx 0 (oracle), (2) expires good-til orders and
                    fires due dead-man switches, moves trailing stops and fires the conditional
                    orders the oracle crossed, sends the TWAP children due (orderbook); then (3)
                    runs every tx on a branch of the block cache, written after a tx that succeeds
                    and dropped after one that fails, and on a checkpoint of the in-memory books
                    (a failed tx leaves nothing); then the end-block hooks in END_BLOCKERS order:
                    (4) samples funding premiums and, at an hour boundary, moves the funding index
                    (funding), (5) liquidates every subaccount under maintenance margin
                    (liquidation), (5b) bonds joined and changed powers sent to CometBFT as
                    validator updates and to the bridge (staking), (6) marks the addresses it
                    wrote for the next anchor (anchor);
                    then updates the state tree (app/tree.py) with the block's writes: its root is
                    the app hash. One set of keepers serves the block's hooks, one its txs
                    (modules/keepers.py).
  4. Commit         writes the block cache, the tree's changed nodes, height, app hash and block
                    time in one LevelDB batch, then moves the mempool's state (app/mempool.py)
                    onto the new committed state and hands the block's writes to whoever follows
                    the node's commits (the mempool worker, app/mempool_worker.py); at a snapshot
                    height, a view of the committed state goes to the snapshot writer
                    (app/snapshots.py).
CheckTx runs on the mempool's state, never on the block's.
State sync (OfferSnapshot, ApplySnapshotChunk) fills an empty node from a peer's snapshot, checked
against the app hash CometBFT trusts, then loads every in-memory structure as a start does.
A crash between FinalizeBlock and Commit leaves the previous height on disk; CometBFT's handshake replays the
block, and the books are rebuilt from the store on start.
"""

from __future__ import annotations

import hashlib
import logging
import traceback
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from google.protobuf.timestamp_pb2 import Timestamp

from app import ante, oracle_votes, queries, snapshots
from app.event_encoding import finalize_block_response, tx_result
from app.genesis_state import import_app_state
from app.long_lived import loading_long_lived
from app.mempool import INTERNAL_ERROR_CODE, DecodedTxs, Mempool
from app.ordering import TxFacts, facts_of, order_txs, proposal_order_error
from app.price_source import NoPrices, PriceSource
from app.router import execute_tx, keepers_over, use_nonce
from app.sigverify import SignerCache
from app.snapshots import BadSnapshot, ChunkCorrupt, Restore, SnapshotStore
from app.store import CacheStore, CommitInfo, CommittedStore
from app.tree import COVERED_START, TreeUpdate, build_tree
from modules.anchor.msg_server import CommittedState, LatestTree
from modules.auth.keeper import AuthKeeper
from modules.context import BlockContext, Event
from modules.errors import ChainError
from modules.keepers import Keepers
from modules.markets.keeper import MarketsKeeper
from modules.module import Block
from modules.oracle.keeper import OracleKeeper
from modules.oracle.types import Observation, Validator
from modules.orderbook.book import Books
from modules.orderbook.keeper import OrderbookKeeper
from modules.registry import REGISTRY
from modules.staking.genesis import check_genesis_powers
from modules.staking.types import CommitVote, Misbehavior, ValidatorUpdate
from wire.codec import DecodedTx
from wire.crypto import keccak256
from wire.pb import abci_pb

from tendermint.crypto import keys_pb2 as keys_pb  # on the path once wire.pb is imported

log = logging.getLogger("perpchain.app")

APP_VERSION = 1
BLOCK_ID_FLAG_ABSENT = 1  # CometBFT's BlockIDFlag: the validator's vote did not reach the commit


@dataclass
class _PendingBlock:
    """What FinalizeBlock produced and Commit will persist."""

    cache: CacheStore
    info: CommitInfo
    tree: TreeUpdate  # the state tree's changes for the cache's writes


def _failed(error: ChainError) -> bytes:
    """The encoded ExecTxResult of a tx that failed with `error`."""
    return abci_pb.ExecTxResult(code=error.code, codespace=error.codespace, log=error.log).SerializeToString()


def _validator_updates_to_pb(updates: Sequence[ValidatorUpdate]) -> list[abci_pb.ValidatorUpdate]:
    return [abci_pb.ValidatorUpdate(pub_key=keys_pb.PublicKey(ed25519=u.pub_key), power=u.power) for u in updates]


def _time_ms(timestamp: Timestamp) -> int:
    return timestamp.seconds * 1000 + timestamp.nanos // 1_000_000


@dataclass(frozen=True)
class CommittedBlock:
    """What a Commit wrote, for a follower of the node's state (the mempool worker)."""

    writes: dict[bytes, bytes | None]
    info: CommitInfo
    market_ids: list[int]
    chain_id: str


class StateFollower(Protocol):
    """Who keeps a copy of the node's committed state (the mempool worker, app/mempool_worker.py):
    told every Commit, and every step of a state sync's restore."""

    def committed(self, block: CommittedBlock) -> None: ...

    def restoring(self, chunk: bytes) -> None:
        """A snapshot chunk the node checked and wrote (app/snapshots.py, format 1)."""

    def restored(self, block: CommittedBlock) -> None:
        """The restore's height committed (no writes: the chunks were the state)."""

    def restore_dropped(self) -> None:
        """The chunks written so far were refused: remove them."""


class Application:
    def __init__(self, store: CommittedStore, price_source: PriceSource | None = None,
                 follower: StateFollower | None = None, snapshot_store: SnapshotStore | None = None) -> None:
        self._store = store
        self._prices: PriceSource = price_source or NoPrices()
        self._signers = SignerCache()
        self._pending: _PendingBlock | None = None
        self._genesis: CacheStore | None = None  # InitChain's writes, until block 1 commits them
        self._block_checkpoint: int | None = None
        # Filled by CheckTx (in process) and proposals, taken by FinalizeBlock.
        self._decoded = DecodedTxs()
        self._follower = follower
        self._snapshots = snapshot_store
        self._restore: Restore | None = None  # a snapshot offered and being applied
        self._load_committed()

    def _load_committed(self) -> None:
        """Everything held in memory over the committed state, built from the store: at start,
        and after a state sync filled it."""
        store = self._store
        self._last = store.last_commit()
        self._chain_id = AuthKeeper(store).chain_id()
        # The block's books, equal to the store's resting orders; a FinalizeBlock's changes are
        # held under a journal checkpoint until Commit.
        self._books = OrderbookKeeper.load_books(store)
        self._mempool = Mempool(store, self._chain_id, self._last, self._signers, self._decoded)
        # The balances tree of the latest anchor, equal to its stored leaves (rebuilt on start).
        self._anchors = LatestTree(keccak256, store)

    @property
    def chain_id(self) -> str:
        return self._chain_id

    @property
    def signers(self) -> SignerCache:
        return self._signers

    @property
    def ordering_seed(self) -> bytes:
        """The seed of the next block's canonical order (app/ordering.py): the last committed app
        hash, the same for its proposer and every validator checking the proposal."""
        return self._last.app_hash

    @property
    def books(self) -> "Books":
        """The block's books (between FinalizeBlock and Commit they hold the pending block)."""
        return self._books

    @property
    def mempool_books(self) -> "Books":
        """The committed books that CheckTx reads."""
        return self._mempool.books

    # -- connection: info / query -------------------------------------------------------------

    def echo(self, req: abci_pb.RequestEcho) -> abci_pb.ResponseEcho:
        return abci_pb.ResponseEcho(message=req.message)

    def flush(self, req: abci_pb.RequestFlush) -> abci_pb.ResponseFlush:
        return abci_pb.ResponseFlush()

    def info(self, req: abci_pb.RequestInfo) -> abci_pb.ResponseInfo:
        return abci_pb.ResponseInfo(
            data="perpchain",
            version="0.1.0",
            app_version=APP_VERSION,
            last_block_height=self._last.height,
            last_block_app_hash=self._last.app_hash,
        )

    def query(self, req: abci_pb.RequestQuery) -> abci_pb.ResponseQuery:
        try:
            if req.path == queries.STORE_PATH:
                return queries.store_query(self._store, req.data, req.height, req.prove)
            latest = self._pending.cache if self._pending is not None else None
            value = queries.answer(self._store, self._chain_id, self._last, req.path, req.height, self._books,
                                   self._anchors, latest)
        except ChainError as error:
            return abci_pb.ResponseQuery(
                code=error.code, codespace=error.codespace, log=error.log, height=self._last.height
            )
        except Exception:  # a bug in a read-only query must not take the node's connection down
            log.error("internal error answering query %s\n%s", req.path, traceback.format_exc())
            return abci_pb.ResponseQuery(code=INTERNAL_ERROR_CODE, codespace="perpchain", log="internal error",
                                         height=self._last.height)
        return abci_pb.ResponseQuery(code=0, value=value, height=self._last.height)

    # -- consensus ----------------------------------------------------------------------------

    def init_chain(self, req: abci_pb.RequestInitChain) -> abci_pb.ResponseInitChain:
        """Import genesis into a cache that the first Commit persists; a bad genesis stops the node."""
        cache = CacheStore(self._store)
        keepers = keepers_over(cache, self._books, BlockContext(req.chain_id, 0, 0))
        keepers.auth.set_chain_id(req.chain_id)
        import_app_state(cache, req.app_state_bytes)  # raises InvalidGenesis naming the field
        keepers.orderbook.ensure_books()
        for update in req.validators:
            pub_key = update.pub_key.ed25519
            keepers.oracle.set_validator(Validator(hashlib.sha256(pub_key).digest()[:20], pub_key, update.power))
        check_genesis_powers(keepers.staking, {v.address: v.power for v in keepers.oracle.validators()})
        if req.HasField("consensus_params"):
            keepers.oracle.set_vote_extensions_enable_height(req.consensus_params.abci.vote_extensions_enable_height)
        self._chain_id = req.chain_id
        self._mempool.set_chain_id(req.chain_id)
        genesis_hash = self._store.tree().update(cache.writes).root
        self._genesis = cache
        self._pending = None
        self._last = CommitInfo(0, genesis_hash, 0)
        log.info("init_chain chain_id=%s app_hash=%s", req.chain_id, genesis_hash.hex())
        return abci_pb.ResponseInitChain(app_hash=genesis_hash)

    def prepare_proposal(self, req: abci_pb.RequestPrepareProposal) -> abci_pb.ResponsePrepareProposal:
        """The oracle tx first (when vote extensions exist), then the mempool's txs in the
        canonical order (app/ordering.py), within max bytes."""
        chosen: list[bytes] = []
        size = 0
        txs = [tx for tx in req.txs if not oracle_votes.is_oracle_tx(tx)]
        if self._extensions_required(req.height):
            chosen.append(oracle_votes.oracle_tx(req.local_last_commit))
            size += len(chosen[0])
        for tx in order_txs(txs, self.ordering_seed, self._tx_facts):
            if size + len(tx) > req.max_tx_bytes:
                continue
            chosen.append(tx)
            size += len(tx)
        return abci_pb.ResponsePrepareProposal(txs=chosen)

    def process_proposal(self, req: abci_pb.RequestProcessProposal) -> abci_pb.ResponseProcessProposal:
        status = abci_pb.ResponseProcessProposal
        txs = list(req.txs)
        try:
            if self._extensions_required(req.height):
                if not txs or not oracle_votes.is_oracle_tx(txs[0]):
                    raise oracle_votes.BadOracleData("the first tx is not the oracle tx")
                oracle = OracleKeeper(self._store)
                oracle_votes.verify_oracle_tx(txs[0], req.proposed_last_commit, list(oracle.validators()), req.height,
                                              self._chain_id, self._market_ids())
                txs = txs[1:]
            if any(oracle_votes.is_oracle_tx(tx) for tx in txs):
                raise oracle_votes.BadOracleData("an oracle tx where none belongs")
        except oracle_votes.BadOracleData as problem:
            log.warning("rejecting proposal at height %d: %s", req.height, problem)
            return status(status=status.REJECT)
        disorder = proposal_order_error(txs, self.ordering_seed, self._tx_facts)
        if disorder is not None:
            log.warning("rejecting proposal at height %d: %s", req.height, disorder)
            return status(status=status.REJECT)
        return status(status=status.ACCEPT)

    def extend_vote(self, req: abci_pb.RequestExtendVote) -> abci_pb.ResponseExtendVote:
        markets = [m for m in MarketsKeeper(self._store).markets()]
        try:
            prices = self._prices.prices(req.height, markets)
        except Exception:  # a broken source must not stop the validator from voting
            log.exception("price source failed; voting no prices")
            prices = {}
        return abci_pb.ResponseExtendVote(vote_extension=oracle_votes.encode_extension(prices))

    def verify_vote_extension(
        self, req: abci_pb.RequestVerifyVoteExtension
    ) -> abci_pb.ResponseVerifyVoteExtension:
        status = abci_pb.ResponseVerifyVoteExtension
        try:
            oracle_votes.decode_extension(req.vote_extension, self._market_ids())
        except oracle_votes.BadOracleData as problem:
            log.warning("rejecting the vote extension of %s at height %d: %s", req.validator_address.hex(),
                        req.height, problem)
            return status(status=status.REJECT)
        return status(status=status.ACCEPT)

    def _market_ids(self) -> set[int]:
        return {m.market_id for m in MarketsKeeper(self._store).markets()}

    def _extensions_required(self, height: int) -> bool:
        """Blocks after the first height with extensions carry the previous height's as tx 0."""
        enabled = OracleKeeper(self._store).vote_extensions_enable_height()
        return enabled > 0 and height > enabled

    def finalize_block(self, req: abci_pb.RequestFinalizeBlock) -> abci_pb.ResponseFinalizeBlock:
        """FinalizeBlock's answer as a message, for callers in process (app/driver.py, tests); the
        ABCI server sends the bytes of `finalize_block_encoded` as they are."""
        return abci_pb.ResponseFinalizeBlock.FromString(self.finalize_block_encoded(req))

    def finalize_block_encoded(self, req: abci_pb.RequestFinalizeBlock) -> bytes:
        """The block run, and its encoded ResponseFinalizeBlock (app/event_encoding.py)."""
        ctx = BlockContext(chain_id=self._chain_id, height=req.height, time_ms=_time_ms(req.time))
        block = CacheStore(self._store)
        if self._genesis is not None:  # genesis writes ride along with the first block, each time it is finalized
            for key, value in self._genesis.writes.items():
                if value is None:
                    block.delete(key)
                else:
                    block.set(key, value)
        if self._block_checkpoint is not None:  # a second FinalizeBlock for one height: start over
            self._books.rollback(self._block_checkpoint)
        self._block_checkpoint = self._books.checkpoint()
        keepers = self._block_keepers(block, ctx)
        txs = list(req.txs)
        results: list[bytes] = []  # each tx's ExecTxResult, encoded
        observations: list[Observation] = []
        if txs and oracle_votes.is_oracle_tx(txs[0]):  # the validators' prices, for oracle's hook
            observations = oracle_votes.observations_of(txs.pop(0), list(keepers.oracle.validators()),
                                                        self._market_ids())
            results.append(b"")  # code 0 and nothing else
        decoded = [self._decoded.take(raw) for raw in txs]
        self._signers.prefetch([d for d in decoded if not isinstance(d, ChainError)])
        this_block = self._block(block, keepers, observations)
        this_block.commit_votes = [CommitVote(vote.validator.address, vote.block_id_flag != BLOCK_ID_FLAG_ABSENT)
                                   for vote in req.decided_last_commit.votes]
        this_block.misbehavior = [Misbehavior(m.type, m.validator.address, m.height) for m in req.misbehavior]
        for hook in REGISTRY.begin_block:
            this_block.events += hook(this_block)
        tx_branch = CacheStore(block)  # each tx writes here first: kept if it succeeds, dropped if not
        tx_keepers = keepers_over(tx_branch, self._books, ctx)
        results += [self._deliver(keepers, tx_branch, tx_keepers, item) for item in decoded]
        for hook in REGISTRY.end_block:
            this_block.events += hook(this_block)
        tree = self._store.tree().update(block.writes)  # from the committed tree: a second FinalizeBlock starts over too
        self._pending = _PendingBlock(cache=block, info=CommitInfo(req.height, tree.root, ctx.time_ms), tree=tree)
        updates = [update.SerializeToString() for update in _validator_updates_to_pb(this_block.validator_updates)]
        return finalize_block_response(this_block.events, results, updates, tree.root)

    def _block_keepers(self, block: CacheStore, ctx: BlockContext) -> Keepers:
        """The keepers of a block's own steps over `block`, the block's time recorded first."""
        keepers = keepers_over(block, self._books, ctx)
        keepers.auth.set_block_time_ms(ctx.time_ms)
        return keepers

    def _block(self, block: CacheStore, keepers: Keepers, observations: list[Observation]) -> Block:
        """What the block hooks see of the block being built in `block`."""
        ctx = keepers.ctx

        def branching() -> tuple[Keepers, Callable[[], None]]:
            branch = CacheStore(block)
            return keepers_over(branch, self._books, ctx), branch.write

        committed = CommittedState(self._last.height, self._last.app_hash, AuthKeeper(self._store).block_time_ms())
        return Block(keepers, branching, self._books, self._anchors, committed, observations, block.writes)

    def settle_writes(self, block: CacheStore, ctx: BlockContext) -> list[Event]:
        """The end of a block (REGISTRY.end_block: funding's sample, the liquidation pass, the
        anchor marks) over what `block` holds, without txs: app/driver.py runs it after writing a
        starting state no tx made, so that state is settled and indexed as a block's would be."""
        this_block = self._block(block, self._block_keepers(block, ctx), [])
        for hook in REGISTRY.end_block:
            this_block.events += hook(this_block)
        return this_block.events

    def commit(self, req: abci_pb.RequestCommit) -> abci_pb.ResponseCommit:
        pending = self._pending
        if pending is None:
            raise RuntimeError("Commit without a finalized block")
        self._store.commit(pending.cache.writes, pending.info, pending.tree)
        self._anchors.committed()
        if self._block_checkpoint is not None:
            self._books.release(self._block_checkpoint)
            self._block_checkpoint = None
        self._last = pending.info
        self._pending = None
        self._genesis = None
        committed = CommittedBlock(pending.cache.writes, pending.info, self._books.market_ids(), self._chain_id)
        self._mempool.follow(committed.writes, committed.market_ids, committed.info, committed.chain_id)
        if self._follower is not None:
            self._follower.committed(committed)
        if self._snapshots is not None:
            self._snapshots.after_commit(self._store, self._last)
        log.info("committed height=%d writes=%d app_hash=%s", self._last.height, len(pending.cache.writes), self._last.app_hash.hex())
        return abci_pb.ResponseCommit(retain_height=0)

    # -- mempool ------------------------------------------------------------------------------

    def check_tx(self, req: abci_pb.RequestCheckTx) -> abci_pb.ResponseCheckTx:
        """In process, between blocks: the mempool's checks on its own state (app/mempool.py)."""
        return self._mempool.check_tx(req)

    def prefetch_signers(self, raws: Sequence[bytes]) -> None:
        self._mempool.prefetch_signers(raws)

    # -- snapshots (app/snapshots.py) ----------------------------------------------------------

    def list_snapshots(self, req: abci_pb.RequestListSnapshots) -> abci_pb.ResponseListSnapshots:
        held = self._snapshots.snapshots() if self._snapshots is not None else []
        return abci_pb.ResponseListSnapshots(snapshots=held)

    def load_snapshot_chunk(self, req: abci_pb.RequestLoadSnapshotChunk) -> abci_pb.ResponseLoadSnapshotChunk:
        chunk = self._snapshots.chunk(req.height, req.format, req.chunk) if self._snapshots is not None else b""
        return abci_pb.ResponseLoadSnapshotChunk(chunk=chunk)

    def offer_snapshot(self, req: abci_pb.RequestOfferSnapshot) -> abci_pb.ResponseOfferSnapshot:
        """Accept a format 1 snapshot for an empty node, keeping the app hash CometBFT trusts for
        its height. A node that has committed a height refuses every snapshot (ABORT): restoring
        over its state would mix two states."""
        answer = abci_pb.ResponseOfferSnapshot
        if self._last.height > 0:
            log.error("offered a snapshot at height %d, but this node holds height %d: state sync is for an "
                      "empty node", req.snapshot.height, self._last.height)
            return answer(result=answer.ABORT)
        try:
            restore = Restore.offered(req.snapshot, req.app_hash)
        except BadSnapshot as problem:
            log.warning("refusing the snapshot at height %d: %s", req.snapshot.height, problem)
            if req.snapshot.format != snapshots.FORMAT:
                return answer(result=answer.REJECT_FORMAT)
            return answer(result=answer.REJECT)
        self._drop_restore()  # what an earlier offer, or a restore cut short by a crash, wrote
        self._restore = restore
        log.info("restoring the snapshot at height %d: %d chunks, %d items, trusted app hash %s", restore.height,
                 len(restore.metadata.chunk_hashes), restore.metadata.item_count, restore.app_hash.hex())
        return answer(result=answer.ACCEPT)

    def apply_snapshot_chunk(self, req: abci_pb.RequestApplySnapshotChunk) -> abci_pb.ResponseApplySnapshotChunk:
        """Write a chunk's items as it comes. A chunk whose hash is not the metadata's is fetched
        again from another peer; after the last, the tree of all items must have the trusted app
        hash as its root, or the snapshot is refused and everything it wrote removed."""
        answer = abci_pb.ResponseApplySnapshotChunk
        restore = self._restore
        if restore is None:
            log.error("chunk %d applied with no snapshot offered", req.index)
            return answer(result=answer.ABORT)
        try:
            restore.apply(self._store, req.index, req.chunk)
        except ChunkCorrupt as problem:
            log.warning("%s (from peer %s); fetching it again", problem, req.sender or "-")
            return answer(result=answer.RETRY, refetch_chunks=[req.index],
                          reject_senders=[req.sender] if req.sender else [])
        except BadSnapshot as problem:
            log.warning("refusing the snapshot at height %d: %s", restore.height, problem)
            self._drop_restore()
            return answer(result=answer.REJECT_SNAPSHOT)
        if self._follower is not None:
            self._follower.restoring(req.chunk)
        if not restore.complete:
            return answer(result=answer.ACCEPT)
        tree = build_tree(self._store.iterate(COVERED_START, None))
        if tree.root != restore.app_hash:
            log.warning("refusing the snapshot at height %d: its state's root %s is not the trusted app hash %s",
                        restore.height, tree.root.hex(), restore.app_hash.hex())
            self._drop_restore()
            return answer(result=answer.REJECT_SNAPSHOT)
        self._store.commit({}, restore.commit_info(self._store), tree)
        self._restore = None
        with loading_long_lived():  # as at a node's start
            self._load_committed()
        if self._follower is not None:
            self._follower.restored(CommittedBlock({}, self._last, self._books.market_ids(), self._chain_id))
        log.info("restored height %d from a snapshot: %d items, app hash %s", self._last.height, restore.items,
                 self._last.app_hash.hex())
        return answer(result=answer.ACCEPT)

    def _drop_restore(self) -> None:
        """Remove what a refused (or interrupted) restore wrote; the node is empty again."""
        self._restore = None
        erased = snapshots.erase_covered(self._store)
        if erased:
            log.info("removed the %d items of a snapshot not restored", erased)
            if self._follower is not None:
                self._follower.restore_dropped()

    # -- helpers ------------------------------------------------------------------------------

    def _tx_facts(self, raw: bytes) -> TxFacts:
        """What the block order reads of `raw`, from the decode CheckTx made (or made now and
        kept for FinalizeBlock); bytes that do not decode as in app/ordering.py."""
        found = self._decoded.get(raw)
        return facts_of(found[1].tx if not isinstance(found, ChainError) else None)

    def _deliver(self, block: Keepers, branch: CacheStore, keepers: Keepers,
                 item: tuple[bytes, DecodedTx] | ChainError) -> bytes:
        """One tx, its ExecTxResult encoded: its nonce used on the block (`block`'s keepers), its
        actions run on `branch` (`keepers`' store), which is written into the block or dropped."""
        if isinstance(item, ChainError):
            return _failed(item)
        try:
            admitted = ante.admit(item[0], item[1], self._chain_id, self._signers)
            use_nonce(block, admitted)
        except ChainError as error:
            return _failed(error)
        checkpoint = self._books.checkpoint()
        try:
            events = execute_tx(keepers, admitted)
        except ChainError as error:
            self._books.rollback(checkpoint)
            branch.discard()
            return _failed(error)
        except Exception:  # a bug, contained to its tx; deterministic code fails alike everywhere
            self._books.rollback(checkpoint)
            branch.discard()
            log.error("internal error executing tx %s\n%s", item[0].hex(), traceback.format_exc())
            return abci_pb.ExecTxResult(code=INTERNAL_ERROR_CODE, codespace="perpchain",
                                        log="internal error").SerializeToString()
        self._books.release(checkpoint)
        branch.write()
        return tx_result(events)
