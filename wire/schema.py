"""The integrator's contract, derived from the code: a JSON Schema of the transaction body and of
every action, and the EIP-712 typed data a wallet signs (docs/api.md explains both).

Nothing here is written twice. The fields, their protobuf numbers and wire types come from the
compiled `wire/perpchain_tx.proto` (its descriptors), their descriptions from the comments in that
file, their ranges and enum members from `wire.codec.FIELD_RULES` (the rules decoding enforces),
the record each action decodes to from `wire.codec` itself, the envelope's limits from
`modules.auth.params`, and the typed data from the type strings `wire/eip712.py` hashes. What the
code cannot say (the unit of an integer, the length of a byte string) is in the two tables below,
keyed by field name; a field missing from them stops the generator, so a new field cannot be
published without them.

`perpchain schema` writes the files under docs/api/; `perpchain schema --check` (and
tests/unit/test_api_contract.py) fails when the committed files differ from what the code gives.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from modules.auth.params import (
    MAX_ACTIONS_PER_TX,
    MAX_TX_BYTES,
    NONCE_FUTURE_WINDOW_MS,
    NONCE_PAST_WINDOW_MS,
    RECENT_NONCES_KEPT,
)
from modules.integers import U64_MAX
from modules.types import ADDRESS_BYTES, MAX_SUBACCOUNT, SubaccountId
from wire import codec, eip712
from wire.crypto import SIGNATURE_BYTES
from wire.pb import tx_pb

if TYPE_CHECKING:
    # protobuf's descriptors are these or its pure-Python ones, depending on its backend.
    from google._upb._message import Descriptor as UpbDescriptor
    from google._upb._message import FieldDescriptor as UpbFieldDescriptor

PROTO_FILE = Path(__file__).resolve().parent / "perpchain_tx.proto"
SCHEMA_FILE = "actions.schema.json"
EIP712_FILE = "eip712.json"
ACTIONS_FILE = "actions.md"
GENERATOR = "perpchain schema (wire/schema.py)"

_PRICE = "micro-USDC per whole unit of the base asset; a multiple of the market's tick_size"
_SIZE = "base atoms (one atom is 10^-size_decimals of the base asset); a multiple of the market's step_size"
_BPS = "basis points (1/10,000)"
_MS = "milliseconds since the Unix epoch, compared with block time"
# The unit of every integer field, by name (one name means one thing in every action).
UNITS: dict[str, str] = {
    "subaccount": f"subaccount number (the chain holds 0..{MAX_SUBACCOUNT} per address)",
    "from_subaccount": f"subaccount number (the chain holds 0..{MAX_SUBACCOUNT} per address)",
    "to_subaccount": f"subaccount number (the chain holds 0..{MAX_SUBACCOUNT} per address)",
    "market_id": "market id (the /markets query)",
    "side": "enum", "time_in_force": "enum", "kind": "enum",
    "price": _PRICE, "new_price": _PRICE, "trigger_price": _PRICE, "limit_price": _PRICE,
    "take_profit_price": _PRICE, "stop_loss_price": _PRICE, "trail_price": _PRICE,
    "size": _SIZE, "new_size": _SIZE, "display_size": _SIZE,
    "amount_micro_usdc": "micro-USDC (10^-6 USDC)", "total_claimable_micro_usdc": "micro-USDC (10^-6 USDC)",
    "withdrawn_total_micro_usdc": "micro-USDC (10^-6 USDC)",
    "trail_bps": _BPS, "max_slippage_bps": _BPS,
    "good_til_block": "block height", "interval_blocks": "blocks", "slices": "count",
    "good_til_time_ms": _MS, "cancel_at_ms": _MS, "nonce": _MS,
    "order_id": "id the chain gave the order", "client_id": "id the trader chose",
    "conditional_id": "id the chain gave the conditional", "twap_id": "id the chain gave the TWAP",
    "withdrawal_id": "id the chain gave the withdrawal", "halt_id": "id the chain gave the deposit halt",
    "deposit_nonce": "the vault's deposit nonce", "valset_nonce": "validator-set update number",
    "anchor_nonce": "anchor number", "eth_block": "Ethereum block number", "height": "block height",
}
# The length of every bytes field, by name (None: any length).
BYTES_LENGTHS: dict[str, int | None] = {
    "account": ADDRESS_BYTES, "to_account": ADDRESS_BYTES, "eth_recipient": ADDRESS_BYTES,
    "sender": ADDRESS_BYTES, "recipient": ADDRESS_BYTES, "eth_address": ADDRESS_BYTES,
    "eth_tx_hash": 32, "signature": SIGNATURE_BYTES, "proof": SIGNATURE_BYTES, "approval": SIGNATURE_BYTES,
    "app_hash": 32, "balances_root": 32, "bond_debits_hash": 32,
    "body": None,
}
_SCALARS = {FieldDescriptor.TYPE_UINT64: "uint64", FieldDescriptor.TYPE_UINT32: "uint32",
            FieldDescriptor.TYPE_BOOL: "bool", FieldDescriptor.TYPE_BYTES: "bytes",
            FieldDescriptor.TYPE_STRING: "string"}


class SchemaError(ValueError):
    """The code defines something the contract cannot describe (a field without a unit, ...)."""


# -- the .proto file's comments -------------------------------------------------------------------

_MESSAGE = re.compile(r"^message\s+(\w+)\s*\{")
_FIELD = re.compile(r"^\s*(?:repeated\s+)?[\w.]+\s+(\w+)\s*=\s*\d+\s*;\s*(?://\s*(.*))?$")


def proto_comments(text: str) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """(message -> the comment lines just above it, (message, field) -> the field's trailing comment)."""
    messages: dict[str, str] = {}
    fields: dict[tuple[str, str], str] = {}
    pending: list[str] = []
    current: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if current is None:
            if stripped.startswith("//"):
                pending.append(stripped[2:].strip())
                continue
            match = _MESSAGE.match(stripped)
            if match:
                current = match.group(1)
                messages[current] = " ".join(pending)
            pending = []
            continue
        if stripped == "}":
            current = None
            continue
        field = _FIELD.match(line)
        if field and field.group(2):
            fields[(current, field.group(1))] = field.group(2).strip()
    return messages, fields


# -- the records each action decodes to ---------------------------------------------------------------

def _sample(cls: type) -> Any:
    """A record of `cls` with a neutral value in every field (only its kind on the wire matters)."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if hint is SubaccountId:
            values[field.name] = SubaccountId(bytes(ADDRESS_BYTES), 0)
        elif isinstance(hint, type) and issubclass(hint, IntEnum):
            values[field.name] = next(iter(hint))
        elif dataclasses.is_dataclass(hint):
            values[field.name] = _sample(hint)  # type: ignore[arg-type]
        else:
            values[field.name] = hint()  # int, bool, bytes, str
    return cls(**values)


def action_records() -> dict[str, type]:
    """Action kind (the `Action` oneof's field name) -> the record class it decodes to, as the
    codec maps them (each record is encoded once to see which kind it becomes)."""
    records: dict[str, type] = {}
    for cls in typing.get_args(codec.Action):
        kind = codec._action_to_pb(_sample(cls)).WhichOneof("kind")
        if kind is None:
            raise SchemaError(f"{cls.__name__} encodes to no action kind")
        records[kind] = cls
    return records


# -- JSON Schema --------------------------------------------------------------------------------------

def _hex_bytes(name: str) -> dict[str, Any]:
    if name not in BYTES_LENGTHS:
        raise SchemaError(f"bytes field {name!r} has no length in wire/schema.py BYTES_LENGTHS")
    length = BYTES_LENGTHS[name]
    digits = "*" if length is None else "{%d}" % (2 * length)
    return {"type": "string", "pattern": f"^0x[0-9a-fA-F]{digits}$",
            "x-bytes": "any length" if length is None else length}


def _integer(kind: str, name: str) -> dict[str, Any]:
    if name not in UNITS:
        raise SchemaError(f"integer field {kind}.{name} has no unit in wire/schema.py UNITS")
    rule = codec.FIELD_RULES.get(kind, {}).get(name, (0, U64_MAX))
    if isinstance(rule, tuple):
        return {"type": "integer", "minimum": rule[0], "maximum": rule[1], "x-unit": UNITS[name]}
    return {"type": "integer", "oneOf": [{"const": member.value, "title": member.name} for member in rule],
            "x-unit": f"enum {rule.__name__}"}


def _field(kind: str, message: str, field: FieldDescriptor | UpbFieldDescriptor,
           comments: dict[tuple[str, str], str]) -> dict[str, Any]:
    wire_type = _SCALARS.get(field.type)
    if wire_type in ("uint64", "uint32"):
        schema = _integer(kind, field.name)
    elif wire_type == "bool":
        schema = {"type": "boolean"}
    elif wire_type == "bytes":
        schema = _hex_bytes(field.name)
    elif wire_type == "string" and (message, field.name) in codec.UINT256_STRINGS:
        schema = {"type": "string", "pattern": "^(0|[1-9][0-9]*)$", "x-maximum": str(codec.UINT256_MAX),
                  "x-unit": UNITS[field.name]}
    elif wire_type == "string":
        schema = {"type": "string"}
    else:
        raise SchemaError(f"{message}.{field.name}: a field of protobuf type {field.type} is not described")
    description = comments.get((message, field.name))
    described = {"description": description} if description else {}
    return {**described, **schema, "x-protobuf": {"number": field.number, "type": wire_type}}


def _wire_type(field: FieldDescriptor | UpbFieldDescriptor) -> str | None:
    """A scalar's protobuf type, or a nested message's name."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return str(_carried_message(field).name)
    return _SCALARS.get(field.type)


def _nested(kind: str, field: FieldDescriptor | UpbFieldDescriptor, messages: dict[str, str],
            comments: dict[tuple[str, str], str], definitions: dict[str, Any]) -> dict[str, Any]:
    """A field that carries a message: a reference to its definition, added to `definitions`."""
    message = _carried_message(field)
    definitions[message.name] = _message(kind, message, messages, comments, definitions)
    return {"$ref": f"#/$defs/{message.name}", "x-protobuf": {"number": field.number, "type": message.name}}


def _message(kind: str, descriptor: Descriptor | UpbDescriptor, messages: dict[str, str],
             comments: dict[tuple[str, str], str], definitions: dict[str, Any] | None = None) -> dict[str, Any]:
    """A message's schema; the messages its fields carry are added to `definitions` (when given)."""
    properties = {f.name: _field(kind, descriptor.name, f, comments) if f.type != FieldDescriptor.TYPE_MESSAGE
                  else _nested(kind, f, messages, comments, definitions) if definitions is not None
                  else {} for f in _by_number(descriptor.fields)}
    schema: dict[str, Any] = {"type": "object"}
    if messages.get(descriptor.name):
        schema["description"] = messages[descriptor.name]
    schema.update({"properties": properties, "additionalProperties": False,
                   "x-protobuf": {"message": f"perpchain.v1.{descriptor.name}"}})
    return schema


def _by_number(fields: Sequence[FieldDescriptor | UpbFieldDescriptor]) -> list[FieldDescriptor | UpbFieldDescriptor]:
    return sorted(fields, key=lambda f: f.number)


def _action_kinds() -> Sequence[FieldDescriptor | UpbFieldDescriptor]:
    """The fields of the `Action` oneof, one per action kind, as the .proto file declares them."""
    return tx_pb.Action.DESCRIPTOR.oneofs_by_name["kind"].fields


def _carried_message(field: FieldDescriptor | UpbFieldDescriptor) -> Descriptor | UpbDescriptor:
    """The message a field carries (an action kind, or a message inside an action)."""
    if field.message_type is None:
        raise SchemaError(f"field {field.name} is not a message")
    return field.message_type


def action_schema() -> dict[str, Any]:
    """The JSON Schema of a TxBody written as JSON (docs/api.md, "The body as JSON")."""
    messages, comments = proto_comments(PROTO_FILE.read_text())
    records = action_records()
    definitions: dict[str, Any] = {}
    action_properties: dict[str, Any] = {}
    for field in _by_number(_action_kinds()):
        if field.name not in records:
            raise SchemaError(f"action {field.name} decodes to no record in wire.codec.Action")
        record = records[field.name]
        message = _carried_message(field)
        carried: dict[str, Any] = {}
        definition = _message(field.name, message, messages, comments, carried)
        definition["x-record"] = f"{record.__module__}.{record.__qualname__}"
        definitions[message.name] = definition
        definitions.update(carried)
        action_properties[field.name] = {"$ref": f"#/$defs/{message.name}",
                                         "x-protobuf": {"number": field.number, "type": message.name}}
    body = _message("", tx_pb.TxBody.DESCRIPTOR, messages, comments)
    body["properties"]["actions"] = {
        "type": "array", "minItems": 1, "maxItems": MAX_ACTIONS_PER_TX, "items": {"$ref": "#/$defs/Action"},
        "description": comments[("TxBody", "actions")],
        "x-protobuf": {"number": tx_pb.TxBody.DESCRIPTOR.fields_by_name["actions"].number,
                       "type": "repeated Action"}}
    body["required"] = ["chain_id", "account", "nonce", "actions"]
    definitions["Action"] = {
        "type": "object", "description": messages["Action"] + " Exactly one kind per action.",
        "properties": action_properties, "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
        "x-protobuf": {"message": "perpchain.v1.Action", "oneof": "kind"}}
    signed = _message("", tx_pb.SignedTx.DESCRIPTOR, messages, comments)
    signed["required"] = ["body", "signature"]
    definitions["SignedTx"] = signed
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "perpchain TxBody",
        "description": (
            "A perpchain transaction body written as JSON: what docs/api.md shows and this schema checks. "
            "The chain reads only its protobuf encoding (wire/perpchain_tx.proto, field numbers in "
            "x-protobuf): integers are JSON integers, bytes 0x-prefixed hex, and a field left out is "
            "zero (proto3). An integer outside its minimum..maximum, or an enum none of its members, is "
            "refused with code 13 FieldOutOfRange as the tx is decoded. Generated by " + GENERATOR
            + "; do not edit."),
        **{key: value for key, value in body.items() if key != "description"},
        "x-limits": {"max_tx_bytes": MAX_TX_BYTES, "max_actions_per_tx": MAX_ACTIONS_PER_TX,
                     "nonce_window_ms_before_block_time": NONCE_PAST_WINDOW_MS,
                     "nonce_window_ms_after_block_time": NONCE_FUTURE_WINDOW_MS,
                     "recent_nonces_kept": RECENT_NONCES_KEPT},
        "$defs": definitions,
    }


# -- EIP-712 ----------------------------------------------------------------------------------------

_STRUCT = re.compile(r"^(\w+)\((.*)\)$")


def struct_members(encoded_type: str) -> tuple[str, list[dict[str, str]]]:
    """'Tx(string chainId,address account)' -> ('Tx', [{"name": "chainId", "type": "string"}, ...])."""
    match = _STRUCT.match(encoded_type)
    if match is None:
        raise SchemaError(f"not an EIP-712 struct type: {encoded_type!r}")
    members = []
    for member in match.group(2).split(","):
        type_name, name = member.split(" ")
        members.append({"name": name, "type": type_name})
    return match.group(1), members


def typed_data() -> dict[str, Any]:
    """What eth_signTypedData_v4 is given for a tx, with the message's four members described."""
    domain_name, domain_members = struct_members(eip712.DOMAIN_TYPE)
    tx_name, tx_members = struct_members(eip712.TX_TYPE)
    return {
        "description": ("The EIP-712 typed data every perpchain tx is signed over (docs/api.md). Fill in "
                        "`message` and pass the whole object to eth_signTypedData_v4 (or eth-account's "
                        "encode_typed_data). Generated by " + GENERATOR + "; do not edit."),
        "types": {domain_name: domain_members, tx_name: tx_members},
        "primaryType": tx_name,
        "domain": {"name": eip712.DOMAIN_NAME, "version": eip712.DOMAIN_VERSION},
        "message": {
            "chainId": "string: the chain id (/app/status chain_id); the same as TxBody.chain_id",
            "account": "address: the signer, 0x + 40 hex digits; the same as TxBody.account",
            "nonce": "uint64: the same as TxBody.nonce (a millisecond timestamp)",
            "body": "bytes: 0x + the hex of the serialized TxBody, exactly the bytes SignedTx.body carries",
        },
        "x-hashes": {"domainSeparator": "0x" + eip712.DOMAIN_SEPARATOR.hex(),
                     "typeHash": "0x" + eip712.TX_TYPEHASH.hex()},
    }


# -- files and checks -------------------------------------------------------------------------------

def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _rule_text(field: dict[str, Any]) -> str:
    if "oneOf" in field:
        return ", ".join(f"{member['const']} {member['title']}" for member in field["oneOf"])
    if "minimum" in field:
        return f"{field['minimum']}..{field['maximum']}"
    if "x-maximum" in field:
        return f"decimal digits, 0..{field['x-maximum']}"
    if "$ref" in field:
        return "message " + field["x-protobuf"]["type"]
    if "x-bytes" in field:
        return "0x + hex, " + (f"{field['x-bytes']} bytes" if isinstance(field["x-bytes"], int) else "any length")
    return "true / false" if field["type"] == "boolean" else "text"


def _json_type(field: dict[str, Any]) -> str:
    if "$ref" in field:
        return "object"
    return {"integer": "integer", "boolean": "boolean", "string": "string"}[field["type"]]


def _table(definition: dict[str, Any]) -> list[str]:
    lines = ["| # | field | JSON type | range or members | unit | meaning |", "|---:|---|---|---|---|---|"]
    for field_name, field in definition["properties"].items():
        unit = field.get("x-unit", "")
        lines.append(f"| {field['x-protobuf']['number']} | `{field_name}` | {_json_type(field)} "
                     f"({field['x-protobuf']['type']}) | {_cell(_rule_text(field))} | {_cell(unit)} | "
                     f"{_cell(field.get('description', ''))} |")
    return lines + [""]


def _carried(definition: dict[str, Any]) -> list[str]:
    """The names of the messages `definition`'s fields carry, once each, in field order."""
    names = [field["$ref"].removeprefix("#/$defs/") for field in definition["properties"].values() if "$ref" in field]
    return list(dict.fromkeys(names))


def actions_markdown(schema: dict[str, Any]) -> str:
    """docs/api/actions.md: the schema's actions as tables a person reads."""
    lines = ["# Actions: every field, its type, range and unit", "",
             f"Generated by {GENERATOR} from the code, like actions.schema.json beside it; do not edit. "
             "docs/api.md explains how a body is built, encoded and signed. `#` is the protobuf field "
             "number (wire/perpchain_tx.proto); every integer is `uint64` on the wire, and a value outside "
             "its range (or an enum value none of its members) is refused with code 13 FieldOutOfRange "
             "before any module runs. Inside the range the modules' own rules apply (docs/errors.md). A "
             "field left out is zero.", ""]
    actions = schema["$defs"]["Action"]["properties"]
    for kind, reference in actions.items():
        name = reference["$ref"].removeprefix("#/$defs/")
        definition = schema["$defs"][name]
        lines += [f"## `{kind}` (Action field {reference['x-protobuf']['number']}, message {name})", ""]
        if definition.get("description"):
            lines += [definition["description"], ""]
        lines += _table(definition)
        for carried in _carried(definition):
            lines += [f"### message {carried}", ""]
            if schema["$defs"][carried].get("description"):
                lines += [schema["$defs"][carried]["description"], ""]
            lines += _table(schema["$defs"][carried])
    return "\n".join(lines)


def render() -> dict[str, str]:
    """File name (under docs/api/) -> its text."""
    schema = action_schema()
    return {SCHEMA_FILE: json.dumps(schema, indent=2, ensure_ascii=False) + "\n",
            EIP712_FILE: json.dumps(typed_data(), indent=2, ensure_ascii=False) + "\n",
            ACTIONS_FILE: actions_markdown(schema)}


def missing_fields(schema: dict[str, Any]) -> list[str]:
    """Every action field the code defines that `schema` (a loaded actions.schema.json) does not
    describe, as 'kind.field': the protobuf message's fields (with their numbers) and the fields of
    the record the action decodes to (a SubaccountId field `to` travels as `to_account` and
    `to_subaccount`). Empty when the schema is complete."""
    definitions = schema.get("$defs", {})
    actions = definitions.get("Action", {}).get("properties", {})
    missing: list[str] = []
    records = action_records()
    for field in _action_kinds():
        if field.name not in actions:
            missing.append(field.name)
            continue
        message = _carried_message(field)
        properties = definitions.get(message.name, {}).get("properties", {})
        for member in message.fields:
            described = properties.get(member.name, {}).get("x-protobuf", {})
            if described.get("number") != member.number or described.get("type") != _wire_type(member):
                missing.append(f"{field.name}.{member.name}")
        hints = typing.get_type_hints(records[field.name])
        for record_field in dataclasses.fields(records[field.name]):
            names = ([f"{record_field.name}_account", f"{record_field.name}_subaccount"]
                     if hints[record_field.name] is SubaccountId else [record_field.name])
            missing.extend(f"{field.name}.{name}" for name in names
                           if name not in properties and f"{field.name}.{name}" not in missing)
    return missing


def check(directory: Path) -> list[str]:
    """What is wrong with the committed files in `directory`: stale or missing files, missing fields."""
    problems = []
    for name, text in render().items():
        path = directory / name
        if not path.exists():
            problems.append(f"{path} is missing: run `perpchain schema`")
        elif path.read_text() != text:
            problems.append(f"{path} differs from what the code defines: run `perpchain schema`")
    schema_path = directory / SCHEMA_FILE
    if schema_path.exists():
        problems.extend(f"{schema_path}: action field {name} is not described"
                        for name in missing_fields(json.loads(schema_path.read_text())))
    return problems


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render().items():
        (directory / name).write_text(text)
        written.append(directory / name)
    return written
