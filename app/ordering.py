"""Block ordering (docs/orderbook.md, "A block"): non-order actions, then cancels, then resting
placements, then taking orders (IOC, FOK, market), each class in the proposer's order. A tx
takes the highest class among its actions; bytes that do not decode count as class 0 (they fail
in the block with their code either way)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from modules.errors import ChainError
from modules.orderbook.actions import NON_ORDER, action_class
from wire.codec import decode_signed_tx

CLASS_NAMES = ("non-order", "cancel", "resting placement", "taking order")


def actions_class(actions: Sequence[Any]) -> int:
    """A tx's class: the highest of its actions'."""
    return max((action_class(a) for a in actions), default=NON_ORDER)


def tx_class(raw: bytes) -> int:
    try:
        actions = decode_signed_tx(raw).tx.actions
    except ChainError:
        return NON_ORDER
    return actions_class(actions)


Classify = Callable[[bytes], int]


def order_txs(txs: list[bytes], classify: Classify = tx_class) -> list[bytes]:
    """Stable sort by class: within a class, the mempool's (proposer's) order. `classify` may
    answer from decodes made already (the application's decode cache)."""
    classes = [classify(tx) for tx in txs]
    return [tx for _, _, tx in sorted(zip(classes, range(len(txs)), txs))]


def proposal_order_error(txs: list[bytes], classify: Classify = tx_class) -> str | None:
    """Why a proposal breaks the ordering, or None."""
    highest = NON_ORDER
    for index, tx in enumerate(txs):
        current = classify(tx)
        if current < highest:
            return f"tx {index} is a {CLASS_NAMES[current]} after a {CLASS_NAMES[highest]}"
        highest = current
    return None
