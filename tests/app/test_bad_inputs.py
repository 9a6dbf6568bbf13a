"""Every bad input of docs/errors.md: its own ABCI code, a clear log, and no state change.

Each case runs twice: in CheckTx (the mempool refuses it) and inside a block (FinalizeBlock
records the failure; the block writes nothing but, for a failing action, the tx's used nonce).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest

from modules.auth.params import MAX_ACTIONS_PER_TX, NONCE_PAST_WINDOW_MS, RECENT_NONCES_KEPT
from modules.bank.types import Transfer
from modules.types import SubaccountId
from tests.app.conftest import CHAIN_ID, GENESIS_TIME_MS, AppHarness, without_nonces
from wire import PrivateKey, Tx, encode_body, sign_tx, tx_digest
from wire.codec import Action
from wire.pb import tx_pb


def transfer_tx(h: AppHarness, key: PrivateKey, amount: int = 1, nonce: int | None = None, chain_id: str = CHAIN_ID,
                account: bytes | None = None, to: SubaccountId | None = None,
                actions: tuple[Action, ...] | None = None) -> Tx:
    """A transfer of `amount` to `to` (the second key's subaccount 0); any field can be set wrong on
    purpose, `actions` replacing the transfer."""
    transfer = Transfer(0, to if to is not None else SubaccountId(h.keys[1].address, 0), amount)
    return Tx(chain_id, account if account is not None else key.address, nonce or h.time_ms,
              actions if actions is not None else (transfer,))


def signed(body: bytes, key: PrivateKey, chain_id: str, account: bytes, nonce: int) -> bytes:
    signature = key.sign_digest(tx_digest(chain_id, account, nonce, body))
    return tx_pb.SignedTx(body=body, signature=signature).SerializeToString()


def unknown_action_tx(h: AppHarness) -> bytes:
    key = h.keys[0]
    body = tx_pb.TxBody(chain_id=CHAIN_ID, account=key.address, nonce=h.time_ms)
    body.actions.add().ParseFromString(b"\xc2\x3e\x00")  # field 1000: no action this chain knows
    return signed(body.SerializeToString(), key, CHAIN_ID, key.address, h.time_ms)


@dataclass(frozen=True)
class BadInput:
    name: str
    code: int
    log: str
    build: Callable[[AppHarness], bytes]
    prepare: Callable[[AppHarness], None] = lambda h: None


def _use_nonces(h: AppHarness) -> None:
    """Fill alice's kept nonces with RECENT_NONCES_KEPT transfers in one block."""
    alice = h.keys[0]
    txs = [sign_tx(alice, transfer_tx(h, alice, nonce=h.time_ms + 1_000 + i)) for i in range(RECENT_NONCES_KEPT)]
    assert all(r.code == 0 for r in h.block(txs))


REPLAYED_NONCE = GENESIS_TIME_MS + 7


def _replay_setup(h: AppHarness) -> None:
    alice = h.keys[0]
    assert h.block([sign_tx(alice, transfer_tx(h, alice, nonce=REPLAYED_NONCE))])[0].code == 0


CASES = [
    BadInput("bytes that are not a tx", 2, "not a perpchain SignedTx", lambda h: b"\x0a\xff\xff hello"),
    BadInput("wrong chain id", 3, "is for chain 'other-chain'",
             lambda h: sign_tx(h.keys[0], transfer_tx(h, h.keys[0], chain_id="other-chain"))),
    BadInput("missing signature", 4, "must be 65 bytes",
             lambda h: tx_pb.SignedTx(body=encode_body(transfer_tx(h, h.keys[0]))).SerializeToString()),
    BadInput("signature that recovers no key", 4, "does not recover a public key",
             lambda h: tx_pb.SignedTx(body=encode_body(transfer_tx(h, h.keys[0])), signature=b"\x00" * 32 + b"\x01" * 32 + b"\x1b").SerializeToString()),
    BadInput("signed by another key", 5, "but the tx is for account",
             lambda h: sign_tx(h.keys[2], transfer_tx(h, h.keys[0], account=h.keys[0].address))),
    BadInput("replayed nonce", 6, "already used",
             lambda h: sign_tx(h.keys[0], transfer_tx(h, h.keys[0], amount=2, nonce=REPLAYED_NONCE)),
             _replay_setup),
    BadInput("nonce outside the window", 7, "must lie between",
             lambda h: sign_tx(h.keys[0], transfer_tx(h, h.keys[0], nonce=h.time_ms - NONCE_PAST_WINDOW_MS - 1))),
    BadInput("nonce below the kept ones", 8, "oldest of the last 100",
             lambda h: sign_tx(h.keys[0], transfer_tx(h, h.keys[0], nonce=h.time_ms - 1)), _use_nonces),
    BadInput("unknown action", 9, "does not know", unknown_action_tx),
    BadInput("tx over the size limit", 10, "the limit is 32768", lambda h: b"\x0a" + b"\xff" * 40_000),
    BadInput("no actions", 11, "no actions", lambda h: sign_tx(h.keys[0], transfer_tx(h, h.keys[0], actions=()))),
    BadInput("too many actions", 12, f"at most {MAX_ACTIONS_PER_TX}",
             lambda h: sign_tx(h.keys[0], transfer_tx(h, h.keys[0], actions=(Transfer(0, SubaccountId(h.keys[1].address, 0), 1),) * 65))),
    BadInput("insufficient balance", 100, "holds 1000000000 micro-USDC, 1000000001 needed",
             lambda h: sign_tx(h.keys[0], transfer_tx(h, h.keys[0], amount=1_000_000_001))),
    BadInput("subaccount out of range", 101, "outside 0..127",
             lambda h: sign_tx(h.keys[0], transfer_tx(h, h.keys[0], to=SubaccountId(h.keys[1].address, 128)))),
    BadInput("zero amount", 102, "must be positive", lambda h: sign_tx(h.keys[0], transfer_tx(h, h.keys[0], amount=0))),
    BadInput("transfer to itself", 103, "cannot transfer to itself",
             lambda h: sign_tx(h.keys[0], transfer_tx(h, h.keys[0], to=SubaccountId(h.keys[0].address, 0)))),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_by_check_tx_with_its_code(harness: AppHarness, case: BadInput) -> None:
    case.prepare(harness)
    raw = case.build(harness)
    response = harness.check(raw)
    assert response.code == case.code, response.log
    assert case.log in response.log


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_inside_a_block_fails_alone_and_changes_nothing(harness: AppHarness, case: BadInput) -> None:
    case.prepare(harness)
    before = harness.state()
    response = harness.finalize([case.build(harness)])
    result = response.tx_results[0]
    assert (result.code, case.log in result.log) == (case.code, True), result.log
    harness.commit()
    after = harness.state()
    if case.code >= 100:  # an action failed: its signature and nonce were good, so the nonce is used
        assert without_nonces(after) == without_nonces(before)
        assert after != before
    else:
        assert after == before


def test_a_failing_action_undoes_the_earlier_actions_of_its_tx(harness: AppHarness) -> None:
    alice, bob, _ = harness.keys
    tx = Tx(CHAIN_ID, alice.address, harness.time_ms, (
        Transfer(0, SubaccountId(bob.address, 0), 400_000_000),
        Transfer(0, SubaccountId(bob.address, 1), 700_000_000),  # exceeds what is left
    ))
    assert harness.block([sign_tx(alice, tx)])[0].code == 100
    assert (harness.balance(alice), harness.balance(bob), harness.balance(bob, 1)) == (1_000_000_000, 1_000_000_000, 0)


def test_a_failed_tx_leaves_nothing_for_the_next_tx_in_its_block_or_at_checktx(harness: AppHarness) -> None:
    """The txs of a block share one branch, and CheckTx one check state: what a failed tx wrote
    before it failed is gone before the next tx runs (had its 400 left, 700 more could not)."""
    alice, bob, _ = harness.keys
    failing = sign_tx(alice, Tx(CHAIN_ID, alice.address, harness.time_ms, (
        Transfer(0, SubaccountId(bob.address, 0), 400_000_000),
        Transfer(0, SubaccountId(bob.address, 1), 700_000_000),  # exceeds what is left
    )))
    after = sign_tx(alice, Tx(CHAIN_ID, alice.address, harness.time_ms + 1, (
        Transfer(0, SubaccountId(bob.address, 1), 700_000_000),)))
    assert [harness.check(failing).code, harness.check(after).code] == [100, 0]
    assert [r.code for r in harness.block([failing, after])] == [100, 0]
    assert (harness.balance(alice), harness.balance(bob), harness.balance(bob, 1)) == (300_000_000, 1_000_000_000,
                                                                                      700_000_000)


def test_a_good_tx_beside_bad_ones_in_the_same_block_still_applies(harness: AppHarness) -> None:
    alice, bob, _ = harness.keys
    good = sign_tx(alice, transfer_tx(harness, alice, amount=5, nonce=harness.time_ms + 1))
    results = harness.block([b"junk", good, good])
    assert [r.code for r in results] == [2, 0, 6]
    assert harness.balance(bob) == 1_000_000_005
