"""bank's genesis section: validation names the bad field; export(import(x)) == x."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.store import CacheStore, CommittedStore
from modules.bank.errors import InvalidGenesis
from modules.bank.genesis import export_genesis, import_genesis, validate_genesis
from modules.bank.keeper import BankKeeper

A = "0x" + "aa" * 20
B = "0x" + "bb" * 20


def entry(address: str = A, subaccount: int = 0, amount: str | int = "5") -> dict[str, object]:
    """A balance as genesis JSON; an int amount is the wrong JSON type (amounts are decimal strings)."""
    return {"address": address, "subaccount": subaccount, "amount_micro_usdc": amount}


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"balances": [entry(address="0x12")]}, "bank.balances[0].address"),
        ({"balances": [entry(address="0x" + "zz" * 20)]}, "bank.balances[0].address is not hexadecimal"),
        ({"balances": [entry(subaccount=128)]}, "bank.balances[0].subaccount"),
        ({"balances": [entry(amount="-1")]}, "bank.balances[0].amount_micro_usdc"),
        ({"balances": [entry(amount=5)]}, "bank.balances[0].amount_micro_usdc"),
        ({"balances": [entry(), entry(B), entry()]}, "bank.balances[2] repeats"),
        ({"balances": [{**entry(), "colour": "red"}]}, "unknown field 'colour'"),
        ({"balance": []}, "bank has unknown field 'balance'"),
    ],
)
def test_bad_genesis_names_the_field(section: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidGenesis, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate_genesis(section)


def test_export_of_imported_genesis_is_identical(tmp_path: Path) -> None:
    section = {"balances": [entry(A, 0, "5"), entry(A, 3, "70"), entry(B, 127, "1000000000000")]}
    store = CommittedStore(tmp_path / "db")
    try:
        cache = CacheStore(store)
        import_genesis(BankKeeper(cache), section)
        assert export_genesis(BankKeeper(cache)) == section
        assert BankKeeper(cache).supply() == 1_000_000_000_075
    finally:
        store.close()
