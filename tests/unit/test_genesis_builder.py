"""The genesis builder: a good spec builds a genesis CometBFT and the app accept; each bad input
in docs/genesis.md's table gets its error naming the field."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any, Callable

import pytest

from app.application import APP_VERSION as APP_INFO_VERSION
from genesis.builder import APP_VERSION, GenesisError, build_genesis, validate_genesis_file, validator_address
from modules.staking.params import MAX_VALIDATOR_POWER

DOCS = Path(__file__).resolve().parents[2] / "docs" / "genesis.md"
KEY_A = base64.b64encode(bytes(range(32))).decode()
KEY_B = base64.b64encode(bytes(range(1, 33))).decode()
ADDRESS = "0x" + "ab" * 20


def good_spec() -> dict[str, Any]:
    return {
        "chain_id": "perpchain-1",
        "genesis_time": "2026-12-01T00:00:00Z",
        "validators": [{"name": "v1", "pub_key": KEY_A, "power": 10}, {"name": "v2", "pub_key": KEY_B, "power": 5}],
        "app_state": {"bank": {"balances": [{"address": ADDRESS, "subaccount": 0, "amount_micro_usdc": "5"}]}},
    }


def test_a_good_spec_builds_the_genesis_cometbft_expects() -> None:
    doc = build_genesis(good_spec())
    assert doc["chain_id"] == "perpchain-1"
    assert doc["consensus_params"]["version"]["app"] == str(APP_VERSION) == str(APP_INFO_VERSION)
    assert [v["power"] for v in doc["validators"]] == ["10", "5"]
    assert doc["validators"][0]["address"] == validator_address(bytes(range(32)))
    assert doc["validators"][0]["pub_key"] == {"type": "tendermint/PubKeyEd25519", "value": KEY_A}
    assert doc["app_state"]["bank"]["balances"][0]["amount_micro_usdc"] == "5"


def test_a_written_genesis_validates_and_a_tampered_one_does_not(tmp_path: Path) -> None:
    path = tmp_path / "genesis.json"
    doc = build_genesis(good_spec())
    path.write_text(json.dumps(doc))
    assert validate_genesis_file(path)["chain_id"] == "perpchain-1"
    doc["validators"][1]["power"] = "0"
    path.write_text(json.dumps(doc))
    with pytest.raises(GenesisError) as error:
        validate_genesis_file(path)
    assert error.value.field == "validators[1].power"


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(spec: dict[str, Any]) -> None:
        target: Any = spec
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target[key]
        last = keys[-1]
        if last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value
    return mutate


# (case, change to the good spec, field named by the error, words in the message)
BAD_GENESIS: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("unknown top-level field", _set("block_time", 1), "block_time", "unknown field"),
    ("chain id with spaces", _set("chain_id", "perp chain"), "chain_id", "letters, digits"),
    ("genesis time not RFC 3339 UTC", _set("genesis_time", "yesterday"), "genesis_time", "RFC 3339"),
    ("no validators", _set("validators", []), "validators", "non-empty list"),
    ("unknown validator field", _set("validators.0.stake", 3), "validators[0].stake", "unknown field"),
    ("duplicate validator", _set("validators.1.pub_key", KEY_A), "validators[1].pub_key", "duplicates validators[0]"),
    ("duplicate validator name", _set("validators.1.name", "v1"), "validators[1].name", "duplicates validators[0]"),
    ("zero power", _set("validators.0.power", 0), "validators[0].power", "integer from 1"),
    ("power as a string", _set("validators.0.power", "10"), "validators[0].power", "integer from 1"),
    ("power over CometBFT's limit", _set("validators.0.power", 2**62), "validators[0].power", "integer from 1"),
    ("total power over the limit", _set("validators.1.power", 2**60 - 1), "validators", "total power"),
    ("pub key not base64", _set("validators.0.pub_key", "not base64!"), "validators[0].pub_key", "not base64"),
    ("pub key of the wrong length", _set("validators.0.pub_key", base64.b64encode(b"x" * 33).decode()),
     "validators[0].pub_key", "32 bytes"),
    ("validator address not its key's", _set("validators.0.address", "00" * 20), "validators[0].address",
     "does not match pub_key"),
    ("unknown app_state section", _set("app_state.casino", {}), "app_state", "unknown section 'casino'"),
    ("bad balance address", _set("app_state.bank.balances.0.address", "0x1234"), "app_state",
     "bank.balances[0].address must be 0x followed by 40 hex digits"),
    ("balance as a number", _set("app_state.bank.balances.0.amount_micro_usdc", 5), "app_state",
     "bank.balances[0].amount_micro_usdc must be a positive integer written as a string"),
]


@pytest.mark.parametrize(("case", "mutate", "field", "words"), BAD_GENESIS, ids=[c[0] for c in BAD_GENESIS])
def test_bad_genesis_input_gets_an_error_naming_the_field(
    case: str, mutate: Callable[[dict[str, Any]], None], field: str, words: str
) -> None:
    spec = copy.deepcopy(good_spec())
    mutate(spec)
    with pytest.raises(GenesisError) as error:
        build_genesis(spec)
    assert error.value.field == field
    assert words in error.value.problem


def test_every_bad_genesis_case_is_in_the_docs_table() -> None:
    table = [line for line in DOCS.read_text().splitlines() if line.startswith("| ")]
    for case, _, field, _ in BAD_GENESIS:
        assert any(case in row and f"`{field}`" in row for row in table), f"docs/genesis.md lacks {case!r} ({field})"


def test_bonded_validators_get_the_power_their_bonds_buy_and_a_staking_section() -> None:
    spec = good_spec()
    operators = ["0x" + "01" * 20, "0x" + "02" * 20]
    spec["validators"] = [{"name": "v1", "pub_key": KEY_A, "bond_micro_usdc": "30000000", "operator": operators[0]},
                          {"name": "v2", "pub_key": KEY_B, "bond_micro_usdc": 10_500_000, "operator": operators[1]}]
    spec["app_state"]["staking"] = {"params": {"power_unit_micro_usdc": 1_000_000}}
    doc = build_genesis(spec)
    assert [v["power"] for v in doc["validators"]] == ["30", "10"]
    staking = doc["app_state"]["staking"]
    assert staking["params"] == {"power_unit_micro_usdc": 1_000_000}
    assert [(v["consensus_address"], v["operator"], v["bond_micro_usdc"]) for v in staking["validators"]] == [
        (validator_address(bytes(range(32))), operators[0], "30000000"),
        (validator_address(bytes(range(1, 33))), operators[1], "10500000")]
    spec["validators"][0]["power"] = 3
    with pytest.raises(GenesisError) as error:
        build_genesis(spec)
    assert error.value.field == "validators[0].power"
    spec["validators"][0] = {"name": "v1", "pub_key": KEY_A, "power": 10}
    with pytest.raises(GenesisError) as error:
        build_genesis(spec)
    assert error.value.field == "validators" and "every validator" in error.value.problem


def test_a_bond_past_the_power_cap_gets_the_capped_power_staking_gives_it() -> None:
    """The builder and the staking module compute one power from one bond, or InitChain refuses."""
    spec = good_spec()
    huge = (MAX_VALIDATOR_POWER + 5) * 1_000_000
    spec["validators"] = [{"name": "v1", "pub_key": KEY_A, "bond_micro_usdc": str(huge), "operator": "0x" + "01" * 20}]
    spec["app_state"]["staking"] = {"params": {"power_unit_micro_usdc": 1_000_000}}
    doc = build_genesis(spec)
    assert [v["power"] for v in doc["validators"]] == [str(MAX_VALIDATOR_POWER)]
