"""docs/api/ is what the code defines, and docs/api.md's examples are what the chain accepts."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

import pytest
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from modules.bank.types import Transfer
from modules.orderbook.actions import CancelAll, ConditionalKind, PlaceOrder
from modules.orderbook.types import Side, TimeInForce
from modules.types import SubaccountId
from tests import integrator
from tests.integrator import API_DOC, ROOT, doc_blocks, doc_json
from wire import PrivateKey, Tx, decode_signed_tx, encode_body, recover_address, sign_tx, tx_digest
from wire import schema as contract
from wire.codec import FIELD_RULES
from wire.eip712 import TX_TYPE

DOC_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
API_DIR = ROOT / "docs" / "api"


# -- the generated files ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(contract.render()))
def test_the_committed_file_is_what_the_code_generates(name: str) -> None:
    assert (API_DIR / name).read_text() == contract.render()[name], f"run `perpchain schema` ({name} is stale)"


def test_every_action_field_the_code_defines_is_in_the_committed_schema() -> None:
    assert contract.missing_fields(json.loads((API_DIR / contract.SCHEMA_FILE).read_text())) == []
    assert contract.check(API_DIR) == []


@pytest.mark.parametrize(("kind", "definition", "field"), [
    ("place_order", "PlaceOrder", "price"),
    ("transfer", "Transfer", "to_subaccount"),  # a part of the record's SubaccountId field `to`
    ("set_bridge_key", "SetBridgeKey", "approval"),
])
def test_a_field_missing_from_the_schema_is_named(kind: str, definition: str, field: str) -> None:
    schema = json.loads((API_DIR / contract.SCHEMA_FILE).read_text())
    del schema["$defs"][definition]["properties"][field]
    assert contract.missing_fields(schema) == [f"{kind}.{field}"]


def test_a_field_with_another_number_or_type_counts_as_missing() -> None:
    schema = json.loads((API_DIR / contract.SCHEMA_FILE).read_text())
    renumbered = copy.deepcopy(schema)
    renumbered["$defs"]["CancelOrder"]["properties"]["client_id"]["x-protobuf"]["number"] = 5
    retyped = copy.deepcopy(schema)
    retyped["$defs"]["Withdraw"]["properties"]["eth_recipient"]["x-protobuf"]["type"] = "string"
    assert contract.missing_fields(renumbered) == ["cancel_order.client_id"]
    assert contract.missing_fields(retyped) == ["withdraw.eth_recipient"]


def test_a_missing_action_kind_is_named() -> None:
    schema = json.loads((API_DIR / contract.SCHEMA_FILE).read_text())
    del schema["$defs"]["Action"]["properties"]["place_twap"]
    assert contract.missing_fields(schema) == ["place_twap"]


def test_an_integer_field_without_a_unit_stops_the_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(contract.UNITS, "trail_bps")
    with pytest.raises(contract.SchemaError, match="place_trailing_stop.trail_bps has no unit"):
        contract.action_schema()


def test_the_schema_carries_the_decoders_ranges_and_enum_members() -> None:
    schema = contract.action_schema()
    for kind, rules in FIELD_RULES.items():
        definition = schema["$defs"][schema["$defs"]["Action"]["properties"][kind]["$ref"].split("/")[-1]]
        for name, rule in rules.items():
            field = definition["properties"][name]
            if isinstance(rule, tuple):
                assert (field["minimum"], field["maximum"]) == rule, f"{kind}.{name}"
            else:
                assert [(m["const"], m["title"]) for m in field["oneOf"]] == [(m.value, m.name) for m in rule]


def test_every_action_kind_decodes_to_a_record() -> None:
    records = contract.action_records()
    assert records["place_order"] is PlaceOrder and records["transfer"] is Transfer
    assert set(records) == set(contract.action_schema()["$defs"]["Action"]["properties"])


def test_the_generated_typed_data_hashes_to_the_chains_digest() -> None:
    """A wallet given docs/api/eip712.json's types and domain signs exactly the digest the chain
    recovers from, and the published hashes are the chain's."""
    published = json.loads((API_DIR / contract.EIP712_FILE).read_text())
    body = bytes.fromhex("0a0e70657270636861696e2d74657374")
    account = PrivateKey.from_hex(DOC_KEY).address
    typed = {"types": published["types"], "primaryType": published["primaryType"], "domain": published["domain"],
             "message": {"chainId": "perpchain-test", "account": "0x" + account.hex(), "nonce": 7, "body": body}}
    signable = encode_typed_data(full_message=typed)  # version 0x01, header the domain separator
    assert signable.header == bytes.fromhex(published["x-hashes"]["domainSeparator"].removeprefix("0x"))
    assert keccak(b"\x19\x01" + signable.header + signable.body) == tx_digest("perpchain-test", account, 7, body)
    assert published["x-hashes"]["typeHash"] == "0x" + keccak(text=TX_TYPE).hex()


# -- docs/api.md's examples -------------------------------------------------------------------------

def test_the_example_body_encodes_to_the_documented_bytes_and_decodes_to_the_transfer() -> None:
    body = integrator.encode_body(doc_json("example-body"))
    assert body.hex() == doc_blocks()["example-body-hex"].strip()
    key = PrivateKey.from_hex(DOC_KEY)
    expected = Tx("perpchain-test", key.address, 1_795_588_198_346,
                  (Transfer(0, SubaccountId(bytes.fromhex("07" * 20), 9), 5_000_001),))
    assert body == encode_body(expected)


def test_the_example_typed_data_signs_to_the_documented_signature_and_tx() -> None:
    typed = doc_json("example-typed-data")
    assert typed["types"] == json.loads((API_DIR / contract.EIP712_FILE).read_text())["types"]
    assert typed["message"]["body"] == "0x" + doc_blocks()["example-body-hex"].strip()
    signature = integrator.sign(typed, DOC_KEY)
    assert signature.hex() == doc_blocks()["example-signature"].strip()
    raw = integrator.signed_tx(bytes.fromhex(typed["message"]["body"][2:]), signature)
    assert base64.b64encode(raw).decode() == doc_blocks()["example-signed-tx-base64"].strip()
    decoded = decode_signed_tx(raw)
    assert recover_address(decoded.digest, decoded.signature) == decoded.tx.account
    assert raw == sign_tx(PrivateKey.from_hex(DOC_KEY), decoded.tx)  # the project's own signer agrees


def test_the_example_order_body_decodes_to_the_order_it_describes() -> None:
    body = integrator.encode_body(doc_json("example-order-body"))
    key = PrivateKey.from_hex(DOC_KEY)
    expected = Tx("perpchain-test", key.address, 1_795_588_198_347, (
        CancelAll(0, 1),
        PlaceOrder(0, 1, Side.BUY, 64_000_000_000, 100, TimeInForce.GTC, post_only=True, client_id=42)))
    assert decode_signed_tx(integrator.signed_tx(body, b"")).tx == expected


def test_the_example_key_file_is_read_as_the_documented_key(tmp_path: Path) -> None:
    from client.keys import load_key

    path = tmp_path / "key.json"
    path.write_text(doc_blocks()["example-key-file"])
    key = load_key(path)
    assert key == PrivateKey.from_hex(DOC_KEY)
    assert doc_json("example-key-file")["address"] == "0x" + key.address.hex()


def test_the_doc_lists_every_member_of_every_enum_a_tx_carries() -> None:
    text = API_DOC.read_text()
    enums = {rule for rules in FIELD_RULES.values() for rule in rules.values() if not isinstance(rule, tuple)}
    assert enums == {Side, TimeInForce, ConditionalKind}
    for enum in enums:
        for member in enum:
            assert f"{member.value} {member.name}" in text, f"docs/api.md lacks {enum.__name__} {member.name}"


def test_the_doc_links_the_generated_files() -> None:
    text = API_DOC.read_text()
    for name in contract.render():
        assert f"(api/{name})" in text
