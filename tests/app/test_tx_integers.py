"""A tx's integer fields outside their range (wire/codec.py FIELD_RULES) are refused with
FieldOutOfRange (auth 13) in CheckTx and inside a block, changing nothing; no integer value of
any field, however large, answers code 1."""

from __future__ import annotations

from typing import Any

import pytest

from modules.anchor.types import SignAnchor
from modules.bank.types import Transfer
from modules.bridge.types import ClaimDeposit, ResumeDeposits, SetBridgeKey, SignValset, SignWithdrawal, Withdraw
from modules.integers import I64_MAX, U64_MAX
from modules.orderbook.actions import (
    CancelAll,
    CancelConditional,
    CancelOrder,
    CancelTwap,
    ConditionalKind,
    ModifyOrder,
    PlaceConditional,
    PlaceOrder,
    PlaceTrailingStop,
    PlaceTwap,
    ScheduleCancelAll,
    SetPositionTpSl,
)
from modules.orderbook.types import Side, TimeInForce
from modules.types import SubaccountId
from tests.app.conftest import CHAIN_ID, AppHarness, without_nonces
from tests.app.test_bad_inputs import signed
from wire.codec import FIELD_RULES, _action_to_pb
from wire.pb import tx_pb

PRICE = 65_000_000_000  # BTC-USD (market 1): tick 100_000, step 10
SIG = b"\x01" * 65


def _actions(h: AppHarness) -> list[Any]:
    """One valid-looking action of each kind (they may fail their module's rules: that is fine)."""
    bob = h.keys[1].address
    return [
        Transfer(0, SubaccountId(bob, 0), 1), PlaceOrder(0, 1, Side.BUY, PRICE, 100, TimeInForce.GTC),
        CancelOrder(0, 1, 1, 0), CancelAll(0, 1), ModifyOrder(0, 1, 1, PRICE, 100), ScheduleCancelAll(h.time_ms + 10_000),
        PlaceConditional(0, 1, ConditionalKind.STOP_MARKET, Side.SELL, PRICE - 100_000, PRICE - 200_000, 100, False),
        CancelConditional(0, 1, 1), PlaceTrailingStop(0, 1, Side.SELL, 100, 0, 100, 100, False),
        SetPositionTpSl(0, 1, PRICE + 100_000, 0, 0, 100), PlaceTwap(0, 1, Side.BUY, 100, 2, 1, 100, False),
        CancelTwap(0, 1, 1), ClaimDeposit(1, 1, bytes(32), bytes(20), h.keys[0].address, 0, 1),
        SignWithdrawal(1, SIG), Withdraw(0, bytes(19) + b"\x01", 1), SetBridgeKey(bytes(19) + b"\x02", SIG, 1, SIG),
        SignValset(1, SIG), SignAnchor(1, SIG), ResumeDeposits(1),
    ]


def _raw(h: AppHarness, action: tx_pb.Action) -> bytes:
    key = h.keys[0]
    body = tx_pb.TxBody(chain_id=CHAIN_ID, account=key.address, nonce=h.time_ms)
    body.actions.append(action)
    return signed(body.SerializeToString(), key, CHAIN_ID, key.address, h.time_ms)


def _with(h: AppHarness, action: Any, field: str, value: int) -> bytes:
    message = _action_to_pb(action)
    setattr(getattr(message, message.WhichOneof("kind")), field, value)
    return _raw(h, message)


def _refused_everywhere(h: AppHarness, raw: bytes) -> tuple[int, str]:
    """The CheckTx answer, after asserting the block records the same and changes nothing (but the
    used nonce, when the envelope was sound and an action refused it)."""
    checked = h.check(raw)
    before = h.state()
    result = h.finalize([raw]).tx_results[0]
    h.commit()
    assert (result.code, result.log) == (checked.code, checked.log)
    assert without_nonces(h.state()) == without_nonces(before)
    return checked.code, checked.log


def test_a_subaccount_of_2_to_the_32_is_refused_where_it_used_to_arrive_as_0(harness: AppHarness) -> None:
    transfer = Transfer(0, SubaccountId(harness.keys[1].address, 0), 1)
    code, log = _refused_everywhere(harness, _with(harness, transfer, "from_subaccount", 2**32))
    assert (code, log) == (13, f"FieldOutOfRange: action 0 (transfer): from_subaccount must be from 0 to {2**32 - 1}, "
                               f"got {2**32}")
    order = PlaceOrder(0, 1, Side.BUY, PRICE, 100, TimeInForce.GTC)
    assert _refused_everywhere(harness, _with(harness, order, "subaccount", 2**32))[0] == 13


def test_a_price_of_2_to_the_63_gets_the_range_error_not_price_off_tick(harness: AppHarness) -> None:
    order = PlaceOrder(0, 1, Side.BUY, PRICE, 100, TimeInForce.GTC)
    code, log = _refused_everywhere(harness, _with(harness, order, "price", 2**63))
    assert (code, log) == (13, f"FieldOutOfRange: action 0 (place_order): price must be from 0 to {I64_MAX}, "
                               f"got {2**63}")
    assert _refused_everywhere(harness, _with(harness, order, "size", 2**63))[1].endswith(
        f"size must be from 0 to {I64_MAX}, got {2**63}")
    assert _refused_everywhere(harness, _with(harness, order, "price", I64_MAX))[0] == 300  # in range: the module's rule


def test_the_module_rules_still_apply_inside_the_envelope_range(harness: AppHarness) -> None:
    transfer = Transfer(0, SubaccountId(harness.keys[1].address, 0), 1)
    assert _refused_everywhere(harness, _with(harness, transfer, "to_subaccount", 2**32 - 1))[0] == 101


def _breaks_rule(kind: str, field: str, value: int) -> bool:
    rule = FIELD_RULES.get(kind, {}).get(field)
    if rule is None:
        return False
    if isinstance(rule, tuple):
        return not rule[0] <= value <= rule[1]
    return value not in {member.value for member in rule}


@pytest.mark.parametrize("value", [2**32, 2**63 - 1, 2**63, U64_MAX])
def test_no_integer_field_of_any_action_answers_code_1(harness: AppHarness, value: int) -> None:
    for action in _actions(harness):
        message = _action_to_pb(action)
        kind = message.WhichOneof("kind")
        for field in getattr(message, kind).DESCRIPTOR.fields:
            if field.type != field.TYPE_UINT64:
                continue
            raw = _with(harness, action, field.name, value)
            checked = harness.check(raw)
            result = harness.finalize([raw]).tx_results[0]
            harness.commit()
            assert 1 not in (checked.code, result.code), (kind, field.name, value, checked.log, result.log)
            if _breaks_rule(kind, field.name, value):
                assert (checked.code, result.code) == (13, 13), (kind, field.name, checked.log)
                assert checked.log.startswith(f"FieldOutOfRange: action 0 ({kind}): {field.name} "), checked.log
