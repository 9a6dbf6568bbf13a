"""bridge/gas.py keeps working: every figure is measured (values are printed, not asserted)."""

from __future__ import annotations

from bridge.gas import measure


def test_gas_script_measures_every_operation() -> None:
    figures = measure()
    assert set(figures) == {
        "deposit_first_gas",
        "deposit_gas",
        "withdraw_4_validators_gas",
        "withdraw_4_validators_all_signers_gas",
        "update_valset_4_to_4_gas",
        "anchor_no_bond_debits_gas",
        "anchor_4_bond_debits_new_gas",
        "anchor_4_bond_debits_unchanged_gas",
        "anchor_4_bond_debits_grown_gas",
        "anchor_128_bond_debits_new_gas",
        "anchor_128_bond_debits_unchanged_gas",
        "withdraw_20_validators_gas",
        "withdraw_20_validators_all_signers_gas",
        "bond_first_gas",
        "bond_gas",
        "prove_anchor_equivocation_20_validators_gas",
        "prove_withdrawal_equivocation_19_validators_gas",
    }
    assert all(value > 21_000 for value in figures.values())
