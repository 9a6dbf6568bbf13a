"""Every integer in every query path goes through the one parser (modules/integers.py): a bad one
gets a documented code and a log naming the field, never code 1 and a traceback."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest

from modules.integers import U64_MAX
from tests.app.conftest import AppHarness, start_app
from wire import PrivateKey
from wire.pb import abci_pb

ADDRESS = "0x" + "ab" * 20
DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"
DOCUMENTED = {int(m.group(1)) for m in re.finditer(r"^\| (\d+) \| \w+ \| \w+ \|", DOC.read_text(), re.M)} - {1}

# Each query path with an integer in it: `{name}` marks the integer, the others hold valid values.
# The value is (the field's name in the log, a valid value, the field's range).
SLOTS = {
    "subaccount": ("subaccount", "0", 0, 127), "market": ("market id", "1", 1, 2**32 - 1),
    "depth": ("depth", "5", 0, 1000), "limit": ("limit", "5", 0, 200), "risk_limit": ("limit", "5", 0, 500),
    "height": ("height", "1", 1, 2**63 - 1), "anchor": ("anchor nonce", "1", 0, U64_MAX),
    "deposit": ("deposit nonce", "1", 0, U64_MAX), "withdrawal": ("withdrawal id", "1", 0, U64_MAX),
    "valset": ("valset nonce", "1", 0, U64_MAX), "halt": ("halt id", "1", 0, U64_MAX),
    # what-if takes the ranges the tx envelope gives the same fields (wire/codec.py)
    "wi_subaccount": ("subaccount", "0", 0, 2**32 - 1), "wi_market": ("market id", "1", 0, 2**32 - 1),
    "price": ("price", "65000000000", 0, 2**63 - 1), "size": ("size", "10", 0, 2**63 - 1),
}
TEMPLATES = [
    f"/bank/balance/{ADDRESS}/{{subaccount}}", f"/orders/{ADDRESS}/{{subaccount}}",
    f"/conditionals/{ADDRESS}/{{subaccount}}", f"/twaps/{ADDRESS}/{{subaccount}}",
    f"/positions/{ADDRESS}/{{subaccount}}", "/markets/{market}", "/funding/{market}",
    "/book/{market}/{depth}", "/book/{market}/l3/{depth}", "/trades/{market}/{limit}",
    "/liquidation/at_risk/{risk_limit}", "/liquidation/history/{risk_limit}", "/app/hash/{height}",
    "/anchor/records/{anchor}", f"/anchor/proof/{ADDRESS}/{{anchor}}",
    "/bridge/deposits/{deposit}", "/bridge/withdrawals/{withdrawal}", "/bridge/valsets/{valset}",
    "/bridge/halts/{halt}",
    f"/whatif/{ADDRESS}/{{wi_subaccount}}/{{wi_market}}/buy/{{price}}/{{size}}/gtc",
]
MALFORMED = ["01", "00", "²", "①", "１", "٣", "-1", "+1", "1e3", " 1", "1 ", "1_0", "0x1"]
OVERFLOWING = [str(2**64), str(2**64 + 7), "9" * 21, "1" + "0" * 4_999]


def _cases() -> Iterator[tuple[str, str, str]]:
    """(template, slot, path with every slot valid except `slot`, left as `{bad}`)."""
    for template in TEMPLATES:
        for slot in re.findall(r"\{(\w+)\}", template):
            others = {name: SLOTS[name][1] for name in SLOTS if name != slot}
            yield template, slot, template.format(**others, **{slot: "{bad}"})


CASES = list(_cases())
IDS = [f"{template}:{slot}" for template, slot, _ in CASES]


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppHarness]:
    keys = [PrivateKey.from_hex(f"{i:064x}") for i in (101, 102, 103)]
    h = start_app(tmp_path_factory.mktemp("query-integers") / "db", keys)
    try:
        yield h
    finally:
        h.app.signers.close()


def query(h: AppHarness, path: str, height: int = 0) -> abci_pb.ResponseQuery:
    return h.app.query(abci_pb.RequestQuery(path=path, height=height))


@pytest.mark.parametrize(("template", "slot", "path"), CASES, ids=IDS)
def test_every_query_path_answers_its_valid_template(harness: AppHarness, template: str, slot: str,
                                                     path: str) -> None:
    response = query(harness, path.replace("{bad}", SLOTS[slot][1]))
    assert response.code in {0} | DOCUMENTED - {24, 25, 26}, response.log


@pytest.mark.parametrize(("template", "slot", "path"), CASES, ids=IDS)
def test_a_malformed_integer_gets_code_24_naming_the_field(harness: AppHarness, template: str, slot: str,
                                                          path: str) -> None:
    for bad in MALFORMED:
        response = query(harness, path.replace("{bad}", bad))
        assert (response.code, response.log.startswith(f"MalformedInteger: {SLOTS[slot][0]} must be")) == (24, True), \
            (bad, response.log)


@pytest.mark.parametrize(("template", "slot", "path"), CASES, ids=IDS)
def test_an_integer_of_2_to_the_64_or_more_gets_code_25_without_reaching_int(harness: AppHarness, template: str,
                                                                            slot: str, path: str) -> None:
    for bad in OVERFLOWING:
        response = query(harness, path.replace("{bad}", bad))
        assert (response.code, response.log.startswith(f"IntegerOverflow: {SLOTS[slot][0]} ")) == (25, True), \
            (bad[:30], response.log)
        assert len(response.log) < 200


@pytest.mark.parametrize(("template", "slot", "path"), CASES, ids=IDS)
def test_the_largest_u64_is_out_of_range_or_answered_but_never_a_traceback(harness: AppHarness, template: str,
                                                                          slot: str, path: str) -> None:
    name, _, low, high = SLOTS[slot]
    response = query(harness, path.replace("{bad}", str(U64_MAX)))
    if high < U64_MAX:
        assert response.log == f"IntegerOutOfRange: {name} must be from {low} to {high}, got {U64_MAX}"
        assert response.code == 26
    else:
        assert response.code in {0} | DOCUMENTED - {24, 25, 26}, response.log


@pytest.mark.parametrize(("template", "slot", "path"), CASES, ids=IDS)
def test_an_empty_integer_gets_a_documented_code(harness: AppHarness, template: str, slot: str, path: str) -> None:
    response = query(harness, path.replace("{bad}", ""))
    if template == "/markets/{market}":  # "/markets/" is the list of every market
        assert response.code == 0
        return
    assert response.code in DOCUMENTED, response.log
    assert re.match(r"^[A-Z]\w+: \S", response.log), response.log


@pytest.mark.parametrize("height", [-1, -(2**63)])
def test_a_negative_query_height_is_out_of_range(harness: AppHarness, height: int) -> None:
    response = query(harness, "/bank/supply", height)
    assert (response.code, response.log) == (26, f"IntegerOutOfRange: query height must be from 0 to {2**63 - 1}, "
                                                  f"got {height}")
