"""CheckTx runs on its own state: it sees earlier mempool txs, never touches committed state,
and is reset onto the committed state at every Commit."""

from __future__ import annotations

import pytest

from modules.types import SubaccountId
from tests.app.conftest import AppHarness
from tests.app.test_bad_inputs import transfer_tx
from wire import sign_tx
from wire.codec import DecodedTx


def test_check_state_sees_earlier_mempool_txs_and_resets_at_commit(harness: AppHarness) -> None:
    alice, bob, _ = harness.keys
    spend_all = sign_tx(alice, transfer_tx(harness, alice, amount=1_000_000_000, nonce=harness.time_ms + 1))
    spend_again = sign_tx(alice, transfer_tx(harness, alice, amount=1, nonce=harness.time_ms + 2))
    assert harness.check(spend_all).code == 0
    assert harness.check(spend_again).code == 100  # the check state already spent everything
    assert harness.balance(alice) == 1_000_000_000  # committed state untouched
    harness.block([])  # a block without either tx: the check state is rebuilt from committed state
    assert harness.check(spend_again).code == 0


def test_a_tx_included_in_a_block_is_a_replay_when_checked_again(harness: AppHarness) -> None:
    alice, _, _ = harness.keys
    tx = sign_tx(alice, transfer_tx(harness, alice, amount=5))
    assert harness.check(tx).code == 0
    assert [r.code for r in harness.block([tx])] == [0]
    assert harness.check(tx).code == 6


def test_a_signature_recovered_in_check_tx_is_not_recovered_again_in_the_block(harness: AppHarness) -> None:
    alice, bob, _ = harness.keys
    checked = [sign_tx(alice, transfer_tx(harness, alice, amount=7, nonce=harness.time_ms + i)) for i in range(1, 11)]
    unseen = sign_tx(bob, transfer_tx(harness, bob, amount=3, to=SubaccountId(alice.address, 1)))
    for raw in checked:
        assert harness.check(raw).code == 0
    before = harness.app.signers.recoveries
    assert [r.code for r in harness.block([*checked, unseen])] == [0] * 11
    assert harness.app.signers.recoveries == before + 1  # only the tx the mempool never saw
    assert harness.balance(alice) == 1_000_000_000 - 70


def test_a_tx_decoded_in_check_tx_is_not_decoded_again_in_the_block(harness: AppHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    import app.ante as ante

    alice, bob, _ = harness.keys
    checked = [sign_tx(alice, transfer_tx(harness, alice, amount=7, nonce=harness.time_ms + i)) for i in range(1, 6)]
    unseen = sign_tx(bob, transfer_tx(harness, bob, amount=3, to=SubaccountId(alice.address, 1)))
    malformed = b"\x0a\x03not a tx"
    for raw in [*checked, malformed]:
        harness.check(raw)
    decoded: list[bytes] = []
    real_decode = ante.decode

    def recording_decode(raw: bytes) -> tuple[bytes, DecodedTx]:
        decoded.append(raw)
        return real_decode(raw)

    monkeypatch.setattr(ante, "decode", recording_decode)
    results = harness.block([*checked, malformed, unseen])
    assert [r.code for r in results][:5] == [0] * 5 and results[5].code != 0 and results[6].code == 0
    assert decoded == [unseen]  # the malformed tx's refusal came from the cache too, with the same code
    assert harness.balance(alice) == 1_000_000_000 - 35
