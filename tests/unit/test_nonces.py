"""The nonce rule: concurrent nonces, no replay, a window around block time."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modules.auth.errors import NonceAlreadyUsed, NonceOutsideWindow, NonceTooOld
from modules.auth.nonces import check_nonce, record_nonce
from modules.auth.params import NONCE_FUTURE_WINDOW_MS, NONCE_PAST_WINDOW_MS, RECENT_NONCES_KEPT

NOW = 1_800_000_000_000


def test_nonces_may_arrive_out_of_order() -> None:
    recent: tuple[int, ...] = ()
    for nonce in (NOW + 5, NOW + 1, NOW + 3):
        check_nonce(recent, nonce, NOW)
        recent = record_nonce(recent, nonce)
    assert recent == (NOW + 1, NOW + 3, NOW + 5)


def test_a_used_nonce_is_a_replay() -> None:
    with pytest.raises(NonceAlreadyUsed):
        check_nonce((NOW,), NOW, NOW)


@pytest.mark.parametrize("nonce", [NOW - NONCE_PAST_WINDOW_MS, NOW + NONCE_FUTURE_WINDOW_MS, 0])
def test_nonces_outside_the_window_are_refused(nonce: int) -> None:
    with pytest.raises(NonceOutsideWindow):
        check_nonce((), nonce, NOW)


def test_once_the_list_is_full_a_nonce_below_its_smallest_is_too_old() -> None:
    recent = tuple(NOW + i for i in range(RECENT_NONCES_KEPT))
    with pytest.raises(NonceTooOld):
        check_nonce(recent, NOW - 1, NOW)
    check_nonce(recent, NOW + RECENT_NONCES_KEPT, NOW)


@given(st.lists(st.integers(min_value=NOW - 1000, max_value=NOW + 1000), max_size=300))
def test_the_kept_list_is_the_highest_used_nonces_sorted(nonces: list[int]) -> None:
    recent: tuple[int, ...] = ()
    for nonce in nonces:
        recent = record_nonce(recent, nonce)
    assert recent == tuple(sorted(nonces)[-RECENT_NONCES_KEPT:])
