"""The canonical order of a block's txs (docs/orderbook.md, "A block"): the one PrepareProposal
builds and the only one ProcessProposal accepts, so a proposer chooses which txs go in but never
where they go.

  1. By class: non-order actions, cancels, resting placements, taking orders (IOC, FOK, market).
     A tx takes the highest class among its actions; bytes that do not decode are non-order
     (they fail in the block with their code either way).
  2. Within a class, by the account's draw for the block: sha256(seed || account), the seed being
     the previous block's app hash, fixed before the block is proposed. Neither the proposer nor a
     sender picks an account's place, and a new nonce does not draw again.
  3. One account's txs of a class by nonce (the order the sender signed them in), then by tx hash.
     Bytes that do not decode draw on their own hash.

A tx's rank depends on the tx and the seed only, not on the other txs, so any subset of a
canonical order (PrepareProposal leaving out what exceeds the block's bytes) is canonical too."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from modules.errors import ChainError
from modules.orderbook.actions import NON_ORDER, action_class
from wire.codec import Tx, decode_signed_tx

CLASS_NAMES = ("non-order", "cancel", "resting placement", "taking order")


@dataclass(frozen=True)
class TxFacts:
    """What the order reads of a tx: its class, and its account and nonce (None: not decodable)."""

    tx_class: int
    account: bytes | None
    nonce: int


Rank = tuple[int, bytes, int, bytes]
Describe = Callable[[bytes], TxFacts]


def actions_class(actions: Sequence[Any]) -> int:
    """A tx's class: the highest of its actions'."""
    return max((action_class(a) for a in actions), default=NON_ORDER)


def facts_of(tx: Tx | None) -> TxFacts:
    """The facts of a decoded tx, or of bytes that do not decode (None)."""
    if tx is None:
        return TxFacts(NON_ORDER, None, 0)
    return TxFacts(actions_class(tx.actions), tx.account, tx.nonce)


def describe_tx(raw: bytes) -> TxFacts:
    try:
        return facts_of(decode_signed_tx(raw).tx)
    except ChainError:
        return facts_of(None)


def rank(raw: bytes, facts: TxFacts, seed: bytes) -> Rank:
    """The sort key of `raw` in a block whose ordering seed is `seed`."""
    tx_hash = hashlib.sha256(raw).digest()
    drawer = facts.account if facts.account is not None else tx_hash
    return facts.tx_class, hashlib.sha256(seed + drawer).digest(), facts.nonce, tx_hash


def order_txs(txs: Sequence[bytes], seed: bytes, describe: Describe = describe_tx) -> list[bytes]:
    """`txs` in the canonical order. `describe` may answer from decodes made already (the
    application's decode cache)."""
    return sorted(txs, key=lambda raw: rank(raw, describe(raw), seed))


def proposal_order_error(txs: Sequence[bytes], seed: bytes, describe: Describe = describe_tx) -> str | None:
    """Why a proposal's txs are not in the canonical order, or None."""
    ranks = [rank(raw, describe(raw), seed) for raw in txs]
    for index in range(1, len(ranks)):
        previous, current = ranks[index - 1], ranks[index]
        if current >= previous:
            continue
        if current[0] < previous[0]:
            return f"tx {index} is a {CLASS_NAMES[current[0]]} after a {CLASS_NAMES[previous[0]]}"
        return (f"tx {index} comes before tx {index - 1} among the {CLASS_NAMES[current[0]]}s "
                "(account draw, nonce, tx hash)")
    return None
