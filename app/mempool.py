"""CheckTx: the mempool's own state and the checks a tx passes before it is gossiped.

The mempool's state is the last committed state (LevelDB as of the last Commit) under a write
cache of the txs CheckTx admitted since, with its own books equal to the committed resting
orders; a FinalizeBlock changes none of it. So CheckTx can run beside a block: a node runs
it in a second process (app/mempool_worker.py) over its own replica of the store, and in process
(tests, benchmarks, the simulation) the Application runs it between blocks. At each
Commit the state follows: the cache starts again and the books apply the block's writes of
resting orders, a cost in the orders the block changed, not in the orders resting.
"""

from __future__ import annotations

import logging
import traceback
from collections import OrderedDict
from typing import Mapping, Sequence

from app import ante, oracle_votes
from app.router import check_tx, execute_tx, keepers_over, needs_dry_run
from app.sigverify import SignerCache
from app.store import CacheStore, CommitInfo, CommittedStore
from modules.context import BlockContext
from modules.errors import ChainError
from modules.keepers import Keepers
from modules.oracle.errors import OracleTxNotAllowed
from modules.orderbook.book import Books
from modules.orderbook.keeper import OrderbookKeeper
from wire.codec import DecodedTx
from wire.pb import abci_pb

log = logging.getLogger("perpchain.mempool")

INTERNAL_ERROR_CODE = 1  # a bug in a handler, contained to its tx (docs/errors.md)
DECODED_CACHE_TXS = 65_536  # more than the localnet mempool (50,000 txs) holds

DecodeResult = tuple[bytes, DecodedTx] | ChainError
"""A raw tx decoded, (tx hash, decoded tx), or the error that refuses it."""


def decode_tx(raw: bytes) -> DecodeResult:
    """A tx from the mempool or a block, decoded (or the error that refuses it); the oracle tx is
    never a mempool tx."""
    if oracle_votes.is_oracle_tx(raw):
        return OracleTxNotAllowed("the oracle tx is built by the proposer and may only come first in a block")
    try:
        return ante.decode(raw)
    except ChainError as error:
        return error


class DecodedTxs:
    """raw tx -> decode result, least recently used dropped, so a tx is decoded once on its way
    through a process (the prefetch, CheckTx, a proposal, FinalizeBlock). Decoding is pure: a
    cached result is the same result."""

    def __init__(self) -> None:
        self._entries: OrderedDict[bytes, DecodeResult] = OrderedDict()

    def get(self, raw: bytes) -> DecodeResult:
        found = self._entries.get(raw)
        if found is not None:
            self._entries.move_to_end(raw)
            return found
        found = self._entries[raw] = decode_tx(raw)
        if len(self._entries) > DECODED_CACHE_TXS:
            self._entries.popitem(last=False)
        return found

    def take(self, raw: bytes) -> DecodeResult:
        """Like `get`, dropping the entry: a tx in a block is not checked again."""
        found = self._entries.pop(raw, None)
        return found if found is not None else decode_tx(raw)


class Mempool:
    def __init__(self, committed: CommittedStore, chain_id: str, last: CommitInfo, signers: SignerCache,
                 decoded: DecodedTxs) -> None:
        self._committed = committed
        self._signers = signers
        self._decoded = decoded
        self._books: Books | None = None  # loaded when first needed: a node whose worker checks never is
        self._restart(chain_id, last)

    def _restart(self, chain_id: str, last: CommitInfo) -> None:
        """A check state over the committed state as of `last`, with keepers for it: one set over the
        branch each tx is checked on (written into the check state when it passes), one over the
        branch a dry run uses (always dropped). Built once per Commit, not per tx."""
        self.chain_id = chain_id
        self.last = last
        self.store = CacheStore(self._committed)  # the admitted txs' writes (nonces, transfers) since Commit
        self._ctx = BlockContext(chain_id, last.height + 1, last.block_time_ms)
        self._check_branch = CacheStore(self.store)
        self._dry_branch = CacheStore(self.store)
        # Both over the committed books, built on the first check: a node whose worker checks never
        # loads them. The check handlers read them too (a transfer counts the resting orders that
        # stay stored against the tier of what collateral remains).
        self._check_keepers: Keepers | None = None
        self._dry_keepers: Keepers | None = None

    def set_chain_id(self, chain_id: str) -> None:
        """InitChain names the chain: the check state starts again for it."""
        self._restart(chain_id, self.last)

    @property
    def books(self) -> Books:
        """The committed resting orders (a dry run moves them and rolls back)."""
        if self._books is None:
            self._books = OrderbookKeeper.load_books(self._committed)
        return self._books

    def check_tx(self, req: abci_pb.RequestCheckTx) -> abci_pb.ResponseCheckTx:
        """Run the whole tx against the check state, so later txs see its effects."""
        item = self._decoded.get(req.tx)
        if isinstance(item, ChainError):
            return abci_pb.ResponseCheckTx(code=item.code, codespace=item.codespace, log=item.log)
        branch = self._check_branch
        try:
            admitted = ante.admit(item[0], item[1], self.chain_id, self._signers)
            if self._check_keepers is None:
                self._check_keepers = keepers_over(self._check_branch, self.books, self._ctx)
            check_tx(self._check_keepers, admitted)
            if needs_dry_run(admitted) and req.type != abci_pb.RECHECK:
                self._dry_run(admitted)
        except ChainError as error:
            branch.discard()
            return abci_pb.ResponseCheckTx(code=error.code, codespace=error.codespace, log=error.log)
        except Exception:  # a bug in a handler, contained to its tx as in a block
            branch.discard()
            log.error("internal error checking tx\n%s", traceback.format_exc())
            return abci_pb.ResponseCheckTx(code=INTERNAL_ERROR_CODE, codespace="perpchain", log="internal error")
        branch.write()
        return abci_pb.ResponseCheckTx(code=0, gas_wanted=1)

    def prefetch_signers(self, raws: Sequence[bytes]) -> None:
        """Recover a batch of incoming txs' signers in parallel (the server calls this per read)."""
        decoded = [self._decoded.get(raw) for raw in raws]
        self._signers.prefetch([d for d in decoded if not isinstance(d, ChainError)])

    def _dry_run(self, admitted: ante.AdmittedTx) -> None:
        """Run a tx's actions with the block's own handlers on a throwaway branch and roll the books
        back: CheckTx refuses what the block would, with the same code, judged on the committed
        book (the block may hold other txs before it). A recheck after a block skips it: recheck
        rebuilds the check state (nonces, balances), and matching every waiting order again per
        block would cost more than the rare order that became invalid, which the block refuses
        and whose nonce it uses."""
        books = self.books
        if self._dry_keepers is None:
            self._dry_keepers = keepers_over(self._dry_branch, books, self._ctx)
        token = books.checkpoint()
        try:
            execute_tx(self._dry_keepers, admitted)
        finally:
            books.rollback(token)
            self._dry_branch.discard()

    def follow(self, writes: Mapping[bytes, bytes | None], market_ids: Sequence[int], last: CommitInfo,
               chain_id: str) -> None:
        """After Commit: the block's writes are in the committed store; move the books by them and
        drop what CheckTx admitted (CometBFT rechecks the txs still waiting)."""
        if self._books is not None:
            OrderbookKeeper.follow_writes(self._books, writes, market_ids)
        self._restart(chain_id, last)
