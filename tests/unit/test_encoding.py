"""modules/encoding.py, the one byte encoding of keys and values: fixed width, key order is numeric
order, every value reads back; and the whole-store key readers the app uses to see which
subaccounts a block touched recognise exactly the keys the keepers write."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from modules.bank.keeper import BankKeeper
from modules.bank.keys import balance_holder
from modules.encoding import (
    SUBACCOUNT_BYTES,
    i128,
    read_i128,
    read_subaccount,
    read_uint,
    stored_uint,
    subaccount_bytes,
    u32,
    u64,
    u128,
    u256,
)
from modules.margin.keeper import MarginKeeper
from modules.margin.keys import record_holder
from modules.margin.types import Position
from modules.types import MAX_SUBACCOUNT, SubaccountId
from tests.memory_store import MemoryStore

WIDTHS = ((u32, 4), (u64, 8), (u128, 16), (u256, 32))
subaccounts = st.builds(SubaccountId, st.binary(min_size=20, max_size=20), st.integers(0, MAX_SUBACCOUNT))




@given(st.data())
def test_unsigned_integers_have_a_fixed_width_sort_in_numeric_order_and_read_back(data: st.DataObject) -> None:
    for encode, width in WIDTHS:
        a, b = (data.draw(st.integers(0, 2 ** (8 * width) - 1)) for _ in range(2))
        assert len(encode(a)) == len(encode(b)) == width
        assert (encode(a) < encode(b)) == (a < b)
        assert read_uint(encode(a)) == a


@given(st.integers(-(2**127), 2**127 - 1))
def test_a_signed_128_bit_integer_reads_back(value: int) -> None:
    assert len(i128(value)) == 16 and read_i128(i128(value)) == value


def test_an_absent_stored_integer_reads_as_its_default() -> None:
    assert (stored_uint(None), stored_uint(None, 1), stored_uint(u64(7), 1)) == (0, 1, 7)


@given(subaccounts, subaccounts)
def test_subaccounts_read_back_and_sort_by_address_then_number(a: SubaccountId, b: SubaccountId) -> None:
    assert len(subaccount_bytes(a)) == SUBACCOUNT_BYTES
    assert read_subaccount(subaccount_bytes(a) + b"rest of the key") == a
    assert (subaccount_bytes(a) < subaccount_bytes(b)) == (a < b)


@given(subaccounts)
def test_a_subaccount_reads_back_from_its_text(subaccount: SubaccountId) -> None:
    assert SubaccountId.from_text(str(subaccount)) == subaccount


def test_the_holders_of_balance_and_position_keys_are_the_subaccounts_the_keepers_wrote_for() -> None:
    store = MemoryStore()
    alice, bob = SubaccountId(b"\xaa" * 20, 3), SubaccountId(b"\xbb" * 20, 0)
    BankKeeper(store).mint(alice, 5)  # a balance and the supply
    MarginKeeper(store).set_position(Position(bob, 1, 2, 100))  # a record and the open interest
    assert sorted(filter(None, map(balance_holder, store.data))) == [alice]
    assert sorted(filter(None, map(record_holder, store.data))) == [bob]
    assert len(store.data) == 4
