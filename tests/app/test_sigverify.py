"""Signature recovery in a process of its own (app/sigverify.py's RecoveryProcess): the signers and
the refusals are those of recovering in this process, in the order asked for, however many are
sent at once and whether or not the process survives."""

from __future__ import annotations

from typing import Iterator

import pytest

from app import sigverify
from app.sigverify import RecoveryProcess, SignerCache
from modules.auth.errors import BadSignature
from wire.codec import DecodedTx, Tx
from wire.crypto import PrivateKey, keccak256, recover_address
from wire.eip712 import tx_digest

KEY = PrivateKey.from_hex(f"{7:064x}")
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _signed(nonce: int) -> tuple[bytes, DecodedTx]:
    """(tx hash, decoded tx) with a good signature over its digest."""
    body = b"body %d" % nonce
    tx = Tx(chain_id="perpchain-ü", account=KEY.address, nonce=nonce, actions=())
    signature = KEY.sign_digest(tx_digest(tx.chain_id, tx.account, tx.nonce, body))
    return keccak256(body), DecodedTx(tx=tx, body=body, signature=signature)


def _with_signature(item: tuple[bytes, DecodedTx], signature: bytes) -> tuple[bytes, DecodedTx]:
    tx_hash, decoded = item
    return keccak256(tx_hash + signature), DecodedTx(tx=decoded.tx, body=decoded.body, signature=signature)


def _bad_signatures() -> list[tuple[bytes, DecodedTx]]:
    """One of each refusal recover_address makes: length, recovery id, malleable s, no point."""
    _, good = _signed(1)
    sig = good.signature
    high_s = (_N - int.from_bytes(sig[32:64], "big")).to_bytes(32, "big")
    return [
        _with_signature(_signed(2), sig[:64]),  # 64 bytes
        _with_signature(_signed(3), sig[:64] + b"\x05"),  # v not 27/28
        _with_signature(_signed(4), sig[:32] + high_s + sig[64:]),  # s in the upper half
        _with_signature(_signed(5), bytes(32) + sig[32:]),  # r = 0: recovers no key
    ]


def _in_process(decoded: DecodedTx) -> bytes | str:
    try:
        return recover_address(decoded.digest, decoded.signature)
    except BadSignature as error:
        return f"BadSignature: {error}"


def _asked(cache: SignerCache, items: list[tuple[bytes, DecodedTx]]) -> list[bytes | str]:
    answers: list[bytes | str] = []
    for tx_hash, decoded in items:
        try:
            answers.append(cache.signer(tx_hash, decoded))
        except BadSignature as error:
            answers.append(f"BadSignature: {error}")
    return answers


@pytest.fixture
def cache() -> Iterator[SignerCache]:
    cache = SignerCache(recoverer=RecoveryProcess())
    yield cache
    cache.close()


def test_signers_and_refusals_from_the_recovery_process_are_those_recovered_in_process(cache: SignerCache) -> None:
    items = [_signed(n) for n in range(10, 60)]
    items[7:7] = _bad_signatures()
    items.append(items[3])  # the same tx twice in one batch
    cache.prefetch(items)
    assert _asked(cache, items) == [_in_process(d) for _, d in items]
    assert cache.recoveries == len(items) - 1


def test_more_signatures_than_may_be_outstanding_are_all_answered(cache: SignerCache) -> None:
    items = [_signed(n) for n in range(100, 100 + 2 * sigverify.MAX_OUTSTANDING + 5)]
    cache.prefetch(items)
    assert _asked(cache, items[-3:]) == [KEY.address] * 3  # the last ones first: the rest are kept
    assert _asked(cache, items) == [KEY.address] * len(items)
    assert cache.recoveries == len(items)


def test_a_recovery_process_that_dies_leaves_the_cache_recovering_in_process(cache: SignerCache) -> None:
    first = [_signed(n) for n in range(200, 210)]
    cache.prefetch(first)
    assert _asked(cache, first[:1]) == [KEY.address]
    recoverer = cache._recoverer
    assert recoverer is not None
    recoverer.process.kill()
    recoverer.process.wait(10)
    later = [_signed(n) for n in range(210, 220)] + _bad_signatures()
    cache.prefetch(later)
    assert _asked(cache, first + later) == [_in_process(d) for _, d in first + later]
