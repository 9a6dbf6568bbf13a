"""PrepareProposal and ProcessProposal share the canonical block order (app/ordering.py): what a
byzantine proposer makes of an honest block (reversed, its own taking order put first, the oracle
tx left out) is refused, and the order's seed is the last committed app hash."""

from __future__ import annotations

import hashlib

from app.ordering import order_txs
from modules.orderbook.types import TimeInForce
from tests.app.conftest import AppHarness
from tests.app.test_orderbook import PRICE, buy, sell, signed


def _block(h: AppHarness) -> list[bytes]:
    """Takers and makers of all three accounts, two txs each, in a scrambled arrival order."""
    txs = []
    for round_ in range(2):
        for key in h.keys:
            txs.append(signed(h, key, buy(PRICE - 1_000_000 * (round_ + 1), 10, time_in_force=TimeInForce.IOC)))
            txs.append(signed(h, key, sell(PRICE + 1_000_000 * (round_ + 1), 10)))
    return txs[::-1]


def _propose(h: AppHarness, txs: list[bytes], max_tx_bytes: int = 1 << 20) -> list[bytes]:
    for raw in txs:
        assert h.check(raw).code == 0
    return h.chain.propose(txs, max_tx_bytes=max_tx_bytes)


def test_prepare_proposal_builds_the_canonical_order_and_process_proposal_accepts_it(harness: AppHarness) -> None:
    txs = _block(harness)
    proposed = _propose(harness, txs)
    assert proposed == order_txs(txs, harness.app.ordering_seed)
    assert proposed != txs
    assert harness.chain.accepts(proposed)


def test_a_block_cut_to_the_byte_limit_stays_canonical(harness: AppHarness) -> None:
    txs = _block(harness)
    cut = _propose(harness, txs, max_tx_bytes=sum(len(t) for t in txs) // 2)
    assert 0 < len(cut) < len(txs)
    assert harness.chain.accepts(cut)


def test_a_reordered_block_is_refused(harness: AppHarness) -> None:
    proposed = _propose(harness, _block(harness))
    assert not harness.chain.accepts(proposed[::-1])
    takers = proposed[len(proposed) // 2:]  # the taking class, after the resting placements
    swapped = proposed[:len(proposed) // 2] + takers[1:2] + takers[:1] + takers[2:]
    assert not harness.chain.accepts(swapped)  # one account's two takers out of nonce order
    across = proposed[:len(proposed) // 2] + takers[-1:] + takers[1:-1] + takers[:1]
    assert not harness.chain.accepts(across)  # the first- and last-drawing accounts' takers exchanged


def test_an_own_taking_order_put_ahead_of_its_draw_is_refused(harness: AppHarness) -> None:
    """A front-runner: the account drawing last puts its taker ahead of the others'."""
    seed = harness.app.ordering_seed
    last = max(harness.keys, key=lambda k: hashlib.sha256(seed + k.address).digest())
    others = [k for k in harness.keys if k != last]
    honest = _propose(harness, [signed(harness, k, buy(PRICE, 10, time_in_force=TimeInForce.IOC)) for k in others]
                      + [signed(harness, k, sell(PRICE, 10)) for k in harness.keys])
    own = signed(harness, last, buy(PRICE, 10, time_in_force=TimeInForce.IOC))
    first_taker = len(harness.keys)  # after the three resting placements
    ahead = honest[:first_taker] + [own] + honest[first_taker:]
    assert ahead != order_txs(ahead, seed)
    assert not harness.chain.accepts(ahead)
    assert harness.chain.accepts(order_txs(ahead, seed))  # the same txs where the draw puts them


def test_the_seed_is_the_last_committed_app_hash(harness: AppHarness) -> None:
    before = harness.app.ordering_seed
    response = harness.finalize([], 0)
    assert harness.app.ordering_seed == before  # a block finalized but not committed changes nothing
    harness.commit()
    assert harness.app.ordering_seed == bytes(response.app_hash) != before


def test_a_block_without_the_oracle_tx_is_refused_once_extensions_carry_prices(oracle_harness: AppHarness) -> None:
    h = oracle_harness
    txs = [signed(h, h.keys[0], sell(PRICE, 10))]
    assert h.check(txs[0]).code == 0
    assert not h.chain.accepts(txs)
    assert not h.chain.accepts([])
