"""What a bot author writes from docs/api.md and docs/api/*.json alone, without the project's code.

Nothing here imports client/, wire/, modules/ or app/: the example payloads are read out of
docs/api.md's code blocks, a body is encoded to protobuf bytes with the field numbers of
docs/api/actions.schema.json (the rules docs/api.md gives for encoding by hand), and signing is
eth-account's. The tests that use it therefore fail when the docs stop describing what the chain
accepts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data

ROOT = Path(__file__).resolve().parent.parent
API_DOC = ROOT / "docs" / "api.md"
SCHEMA = ROOT / "docs" / "api" / "actions.schema.json"

_BLOCK = re.compile(r"^```(\w+) ([\w-]+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def doc_blocks(text: str | None = None) -> dict[str, str]:
    """The labelled code blocks of docs/api.md: a fence opened as ```json example-body gives
    {"example-body": its text}. A label used twice is an error (the tests would read only one)."""
    blocks: dict[str, str] = {}
    for _, label, body in _BLOCK.findall(API_DOC.read_text() if text is None else text):
        if label in blocks:
            raise ValueError(f"docs/api.md has two blocks labelled {label!r}")
        blocks[label] = body
    return blocks


def doc_json(label: str) -> Any:
    return json.loads(doc_blocks()[label])


def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA.read_text())


# -- protobuf by hand: varints and length-delimited fields (docs/api.md, "Encoding the body") -------

def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    reference = node.get("$ref")
    if reference is None:
        return node
    return dict(schema["$defs"][reference.removeprefix("#/$defs/")])


def encode_message(schema: dict[str, Any], definition: dict[str, Any], value: dict[str, Any]) -> bytes:
    """`value` (a JSON object of `definition`) as protobuf: fields in number order, zero values
    left out (proto3), integers and bools as varints, strings and 0x-hex bytes and nested messages
    length-delimited. An unknown field name is an error, as the schema's additionalProperties says."""
    properties = definition["properties"]
    unknown = set(value) - set(properties)
    if unknown:
        raise KeyError(f"not in the schema: {sorted(unknown)}")
    out = bytearray()
    for name in sorted(value, key=lambda n: properties[n]["x-protobuf"]["number"]):
        field = properties[name]
        number, kind, item = field["x-protobuf"]["number"], field["x-protobuf"]["type"], value[name]
        if kind in ("uint64", "uint32", "bool"):
            if item:
                out += _key(number, 0) + _varint(int(item))
        elif kind in ("string", "bytes"):
            raw = item.encode() if kind == "string" else bytes.fromhex(item.removeprefix("0x"))
            if raw:
                out += _key(number, 2) + _varint(len(raw)) + raw
        elif kind == "repeated Action":
            for action in item:
                encoded = encode_action(schema, action)
                out += _key(number, 2) + _varint(len(encoded)) + encoded
        else:
            raise ValueError(f"{name}: no encoding for {kind}")
    return bytes(out)


def encode_action(schema: dict[str, Any], action: dict[str, Any]) -> bytes:
    """One Action: a oneof, so exactly one kind, itself a length-delimited message."""
    (kind, fields), = action.items()
    reference = schema["$defs"]["Action"]["properties"][kind]
    inner = encode_message(schema, _resolve(schema, reference), fields)
    return _key(reference["x-protobuf"]["number"], 2) + _varint(len(inner)) + inner


def encode_body(body: dict[str, Any]) -> bytes:
    schema = load_schema()
    return encode_message(schema, schema, body)


def signed_tx(body: bytes, signature: bytes) -> bytes:
    """SignedTx{body = 1, signature = 2}."""
    return (_key(1, 2) + _varint(len(body)) + body) + (_key(2, 2) + _varint(len(signature)) + signature)


def sign(typed: dict[str, Any], private_key: str) -> bytes:
    """eth_signTypedData_v4 as eth-account does it: 65 bytes r || s || v (v 27 or 28)."""
    return bytes(Account.sign_message(encode_typed_data(full_message=typed), private_key).signature)
