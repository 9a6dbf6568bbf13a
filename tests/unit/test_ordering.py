"""The canonical block order (app/ordering.py): by class, then by each account's seeded draw, then
by nonce; the only order ProcessProposal accepts, so a proposer chooses no tx's place."""

from __future__ import annotations

import hashlib
import itertools

from app.ordering import CLASS_NAMES, describe_tx, order_txs, proposal_order_error
from modules.bank.types import Transfer
from modules.orderbook.actions import CancelAll, PlaceOrder
from modules.orderbook.types import Side, TimeInForce
from modules.types import SubaccountId
from wire import PrivateKey, sign_tx
from wire.codec import Action, Tx

SEED = hashlib.sha256(b"the previous block's app hash").digest()
OTHER_SEED = hashlib.sha256(b"another app hash").digest()
KEYS = [PrivateKey.from_hex(f"{i:064x}") for i in range(201, 209)]
NONCE = 1_800_000_000_000


def tx(key: PrivateKey, *actions: Action, nonce: int = NONCE) -> bytes:
    return sign_tx(key, Tx("perpchain-test", key.address, nonce, actions))


def taker(key: PrivateKey, nonce: int = NONCE) -> bytes:
    return tx(key, PlaceOrder(0, 1, Side.BUY, 65_000_000_000, 100, TimeInForce.IOC), nonce=nonce)


def resting(key: PrivateKey) -> bytes:
    return tx(key, PlaceOrder(0, 1, Side.SELL, 66_000_000_000, 100))


def draw(key: PrivateKey, seed: bytes = SEED) -> bytes:
    return hashlib.sha256(seed + key.address).digest()


def test_classes_come_in_order_whatever_the_draws() -> None:
    taking, placing = taker(KEYS[0]), resting(KEYS[1])
    cancel, transfer = tx(KEYS[2], CancelAll(0)), tx(KEYS[3], Transfer(0, SubaccountId(KEYS[4].address, 0), 5))
    assert order_txs([taking, placing, cancel, transfer], SEED) == [transfer, cancel, placing, taking]
    assert proposal_order_error([transfer, cancel, placing, taking], SEED) is None
    assert proposal_order_error([transfer, taking, placing], SEED) == "tx 2 is a resting placement after a taking order"


def test_within_a_class_accounts_go_by_their_seeded_draw() -> None:
    takers = [taker(k) for k in KEYS]
    expected = [taker(k) for k in sorted(KEYS, key=draw)]
    assert order_txs(takers, SEED) == expected
    assert order_txs(list(reversed(takers)), SEED) == expected  # the arrival (proposer's) order plays no part
    assert order_txs(takers, OTHER_SEED) == [taker(k) for k in sorted(KEYS, key=lambda k: draw(k, OTHER_SEED))]
    assert order_txs(takers, OTHER_SEED) != expected  # a new block, a new draw


def test_a_new_nonce_does_not_draw_again() -> None:
    """Signing the same order again with other nonces never moves an account past another one."""
    first, second = sorted(KEYS[:2], key=draw)
    for nonce in range(NONCE, NONCE + 20):
        assert order_txs([taker(second, nonce), taker(first)], SEED) == [taker(first), taker(second, nonce)]


def test_one_accounts_txs_of_a_class_go_by_nonce() -> None:
    later, earlier = taker(KEYS[0], NONCE + 5), taker(KEYS[0], NONCE + 1)
    assert order_txs([later, earlier], SEED) == [earlier, later]
    assert proposal_order_error([later, earlier], SEED) == "tx 1 comes before tx 0 among the taking orders " \
                                                           "(account draw, nonce, tx hash)"


def test_any_other_order_of_the_same_txs_is_refused() -> None:
    block = order_txs([taker(k) for k in KEYS[:4]] + [resting(k) for k in KEYS[4:6]], SEED)
    for permutation in itertools.permutations(block):
        refused = proposal_order_error(list(permutation), SEED) is not None
        assert refused == (list(permutation) != block)


def test_a_proposers_own_tx_ahead_of_its_draw_is_refused() -> None:
    """A front-runner: its taking order put first, where its account's draw does not put it."""
    victims = [taker(k) for k in KEYS[:6]]
    own_key = max(KEYS[:7], key=draw)  # some account drawing after at least one victim
    own = taker(own_key, NONCE + 7)
    block = order_txs([v for v in victims if v != taker(own_key)], SEED)
    assert proposal_order_error([own, *block], SEED) is not None
    assert proposal_order_error(order_txs([own, *block], SEED), SEED) is None


def test_any_subset_of_a_canonical_block_is_canonical() -> None:
    """PrepareProposal leaves out txs that exceed the block's bytes; what stays is still in order."""
    block = order_txs([taker(k) for k in KEYS] + [resting(k) for k in KEYS], SEED)
    for dropped in range(len(block)):
        assert proposal_order_error(block[:dropped] + block[dropped + 1:], SEED) is None


def test_bytes_that_do_not_decode_are_non_order_drawn_on_their_own_hash() -> None:
    junk = [b"\x01not a tx", b"\x02not a tx either"]
    facts = describe_tx(junk[0])
    assert (facts.tx_class, facts.account) == (0, None)
    expected = sorted(junk, key=lambda raw: hashlib.sha256(SEED + hashlib.sha256(raw).digest()).digest())
    assert order_txs([taker(KEYS[0]), *junk], SEED) == [*expected, taker(KEYS[0])]
    assert CLASS_NAMES[facts.tx_class] == "non-order"
