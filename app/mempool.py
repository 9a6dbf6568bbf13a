"""The mempool's own state: what CheckTx and queries read while a block executes beside them.

CometBFT gives the mempool its own ABCI connection so that checking a tx need not wait for a block.
The node keeps two working states for that:
  the block's   FinalizeBlock's write cache over LevelDB and the node's books, which the block's
                txs move; both stay pending until Commit.
  the mempool's LevelDB as of the last Commit under a write cache of the txs CheckTx admitted
                since, and a copy of the books equal to the committed resting orders. CheckTx's
                dry run places an order on this copy and rolls it back; queries read it.
A block changes neither of the mempool's parts, so CheckTx can run while the block executes on
another thread. At Commit the mempool state follows the new committed state: its cache starts
again, and its books apply the block's writes of resting orders (a cost in the orders the block
changed, not in the orders resting).
"""

from __future__ import annotations

from typing import Mapping, Sequence

from modules.orderbook.book import Books
from modules.orderbook.keeper import OrderbookKeeper

from app.store import CacheStore, CommittedStore


class MempoolState:
    def __init__(self, committed: CommittedStore, books: Books) -> None:
        self._committed = committed
        self.books = books  # equal to the committed resting orders between CheckTx calls
        self.store = CacheStore(committed)  # the admitted txs' writes (nonces, transfers) since Commit

    def follow(self, writes: Mapping[bytes, bytes | None], market_ids: Sequence[int]) -> None:
        """After Commit: the block's writes are in LevelDB; move the books by them and drop what
        CheckTx admitted (CometBFT rechecks the txs still waiting)."""
        OrderbookKeeper.follow_writes(self.books, writes, market_ids)
        self.store = CacheStore(self._committed)
