"""The Vault and TestUSDC on a real anvil: deposits, withdrawals, validator-set hand-over, and
every reason the vault refuses."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.logs import DISCARD
from web3.types import TxReceipt

from bridge.eth import Anvil, deploy_contract
from client.eth import decode_custom_error, transact
from tests.bridge.conftest import USDC, VaultSetup, deploy, reverts, validator_keys
from wire import vault as digests
from wire.crypto import _SECP256K1_N, PrivateKey

# ---------------------------------------------------------------------------------- deposits


def test_deposit_pulls_tokens_and_emits_event_with_increasing_nonce(bridge: VaultSetup) -> None:
    trader = PrivateKey(b"\x11" * 32).address
    vault_before = bridge.balance(bridge.vault.address)

    first = bridge.approve_and_deposit(12 * USDC, trader, 3)
    second = bridge.approve_and_deposit(5 * USDC, trader, 127)

    events = [bridge.vault.events.Deposited().process_receipt(r, errors=DISCARD)[0]["args"] for r in (first, second)]
    assert [dict(e) for e in events] == [
        {
            "depositNonce": 1,
            "sender": bridge.user.checksum,
            "recipient": Web3.to_checksum_address(trader),
            "subaccount": 3,
            "amount": 12 * USDC,
        },
        {
            "depositNonce": 2,
            "sender": bridge.user.checksum,
            "recipient": Web3.to_checksum_address(trader),
            "subaccount": 127,
            "amount": 5 * USDC,
        },
    ]
    assert bridge.vault.functions.lastDepositNonce().call() == 2
    assert bridge.balance(bridge.user) == 1_000 * USDC - 17 * USDC
    assert bridge.balance(bridge.vault.address) == vault_before + 17 * USDC


def test_deposit_of_zero_is_rejected(bridge: VaultSetup) -> None:
    with reverts(bridge.vault, "ZeroAmount"):
        bridge.approve_and_deposit(0, bridge.user.address, 0)
    assert bridge.vault.functions.lastDepositNonce().call() == 0


def test_deposit_to_subaccount_over_127_is_rejected(bridge: VaultSetup) -> None:
    with reverts(bridge.vault, "SubaccountOutOfRange") as args:
        bridge.approve_and_deposit(USDC, bridge.user.address, 128)
    assert args == [(128,)]


def test_deposit_to_the_zero_address_is_rejected(bridge: VaultSetup) -> None:
    with reverts(bridge.vault, "ZeroRecipient"):
        bridge.approve_and_deposit(USDC, b"\0" * 20, 0)


def test_deposit_without_allowance_is_refused_by_the_token(bridge: VaultSetup) -> None:
    call = bridge.vault.functions.deposit(USDC, bridge.user.checksum, 0)
    with reverts(bridge.token, "ERC20InsufficientAllowance"):
        transact(bridge.w3, call, bridge.user.checksum)


# ------------------------------------------------------------------------------- withdrawals


def test_withdrawal_signed_by_all_four_validators_pays_once(bridge: VaultSetup) -> None:
    amount = 250 * USDC
    vault_before = bridge.balance(bridge.vault.address)
    sigs = bridge.sign_withdrawal(7, bridge.recipient.address, amount)

    receipt = bridge.withdraw(7, bridge.recipient.address, amount, sigs)

    (event,) = bridge.vault.events.Withdrawn().process_receipt(receipt, errors=DISCARD)
    assert dict(event["args"]) == {"withdrawalId": 7, "recipient": bridge.recipient.checksum, "amount": amount}
    assert bridge.balance(bridge.recipient) == amount
    assert bridge.balance(bridge.vault.address) == vault_before - amount
    assert bridge.vault.functions.withdrawalPaid(7).call() is True
    assert bridge.vault.functions.withdrawalPaid(8).call() is False


def test_withdrawal_signed_by_three_of_four_equal_validators_pays(bridge: VaultSetup) -> None:
    sigs = bridge.sign_withdrawal(1, bridge.recipient.address, USDC, bridge.validators[1:])
    bridge.withdraw(1, bridge.recipient.address, USDC, sigs)
    assert bridge.balance(bridge.recipient) == USDC


def test_replayed_withdrawal_id_is_rejected(bridge: VaultSetup) -> None:
    sigs = bridge.sign_withdrawal(3, bridge.recipient.address, USDC)
    bridge.withdraw(3, bridge.recipient.address, USDC, sigs)
    with reverts(bridge.vault, "AlreadyPaid") as args:
        bridge.withdraw(3, bridge.recipient.address, USDC, sigs)
    assert args == [(3,)]
    # A new signed message under the same id is still the same id.
    other = bridge.sign_withdrawal(3, bridge.user.address, 2 * USDC)
    with reverts(bridge.vault, "AlreadyPaid"):
        bridge.withdraw(3, bridge.user.address, 2 * USDC, other)
    assert bridge.balance(bridge.recipient) == USDC


def test_signature_by_a_key_outside_the_set_is_rejected(bridge: VaultSetup) -> None:
    outsider = PrivateKey(b"\x42" * 32)
    keys = sorted([*bridge.validators[:3], outsider], key=lambda key: key.address)
    sigs = bridge.sign_withdrawal(1, bridge.recipient.address, USDC, keys)
    with reverts(bridge.vault, "UnknownSigner") as args:
        bridge.withdraw(1, bridge.recipient.address, USDC, sigs)
    index, signer = args[0]
    assert signer == "0x" + outsider.address.hex()
    assert index == keys.index(outsider)


def test_duplicate_signer_is_rejected(bridge: VaultSetup) -> None:
    sigs = bridge.sign_withdrawal(1, bridge.recipient.address, USDC, bridge.validators[:2])
    # Two validators twice would be 4 of 4 if counted: the second copy must be refused.
    doubled = [sigs[0], sigs[0], sigs[1]]
    with reverts(bridge.vault, "DuplicateOrUnsortedSigner") as args:
        bridge.withdraw(1, bridge.recipient.address, USDC, doubled)
    assert args[0] == (1, "0x" + bridge.validators[0].address.hex())


def test_unsorted_signers_are_rejected(bridge: VaultSetup) -> None:
    sigs = bridge.sign_withdrawal(1, bridge.recipient.address, USDC)
    swapped = [sigs[1], sigs[0], *sigs[2:]]
    with reverts(bridge.vault, "DuplicateOrUnsortedSigner") as args:
        bridge.withdraw(1, bridge.recipient.address, USDC, swapped)
    assert args[0][0] == 1


def test_high_s_twin_of_a_valid_signature_is_rejected(bridge: VaultSetup) -> None:
    sigs = bridge.sign_withdrawal(1, bridge.recipient.address, USDC)
    r, s, v = sigs[2]
    # (r, n - s, v ^ 1) recovers the same signer: the malleable twin EIP-2 forbids.
    twin = (r, (_SECP256K1_N - int.from_bytes(s, "big")).to_bytes(32, "big"), 55 - v)
    with reverts(bridge.vault, "HighS") as args:
        bridge.withdraw(1, bridge.recipient.address, USDC, [*sigs[:2], twin, sigs[3]])
    assert args == [(2,)]


@pytest.mark.parametrize("v", [0, 1, 29])
def test_recovery_id_other_than_27_or_28_is_rejected(bridge: VaultSetup, v: int) -> None:
    sigs = bridge.sign_withdrawal(1, bridge.recipient.address, USDC)
    r, s, _ = sigs[0]
    with reverts(bridge.vault, "InvalidV") as args:
        bridge.withdraw(1, bridge.recipient.address, USDC, [(r, s, v), *sigs[1:]])
    assert args == [(0, v)]


def test_signature_that_recovers_no_key_is_rejected(bridge: VaultSetup) -> None:
    sigs = bridge.sign_withdrawal(1, bridge.recipient.address, USDC)
    _, s, v = sigs[0]
    with reverts(bridge.vault, "BadSignature") as args:
        bridge.withdraw(1, bridge.recipient.address, USDC, [(b"\0" * 32, s, v), *sigs[1:]])
    assert args == [(0,)]


def test_two_of_four_validators_is_insufficient_power(bridge: VaultSetup) -> None:
    sigs = bridge.sign_withdrawal(1, bridge.recipient.address, USDC, bridge.validators[:2])
    with reverts(bridge.vault, "InsufficientPower") as args:
        bridge.withdraw(1, bridge.recipient.address, USDC, sigs)
    assert args == [(2, 4)]


def test_no_signatures_is_insufficient_power(bridge: VaultSetup) -> None:
    with reverts(bridge.vault, "InsufficientPower") as args:
        bridge.withdraw(1, bridge.recipient.address, USDC, [])
    assert args == [(0, 4)]


def test_exactly_two_thirds_of_the_power_is_not_enough(anvil: Anvil) -> None:
    setup = deploy(anvil, validator_keys(3), [1, 1, 1])
    sigs = setup.sign_withdrawal(1, setup.recipient.address, USDC, setup.validators[:2])
    with reverts(setup.vault, "InsufficientPower") as args:
        setup.withdraw(1, setup.recipient.address, USDC, sigs)
    assert args == [(2, 3)]


def test_power_not_head_count_decides(anvil: Anvil) -> None:
    keys = validator_keys(4)
    setup = deploy(anvil, keys, [1, 1, 1, 7])  # keys[3] alone holds 70%
    setup.withdraw(1, setup.recipient.address, USDC, setup.sign_withdrawal(1, setup.recipient.address, USDC, keys[3:]))
    with reverts(setup.vault, "InsufficientPower") as args:
        setup.withdraw(
            2, setup.recipient.address, USDC, setup.sign_withdrawal(2, setup.recipient.address, USDC, keys[:3])
        )
    assert args == [(3, 10)]


def test_signatures_over_another_chain_id_are_rejected(bridge: VaultSetup) -> None:
    digest = digests.withdrawal_digest(1, bridge.vault_address, 1, bridge.recipient.address, USDC)
    sigs = digests.sign_quorum(bridge.validators, digest)
    with reverts(bridge.vault, "UnknownSigner") as args:
        bridge.withdraw(1, bridge.recipient.address, USDC, sigs)
    assert args[0][0] == 0


def test_signatures_over_another_vault_address_are_rejected(bridge: VaultSetup, anvil: Anvil) -> None:
    other_vault = deploy(anvil, bridge.validators, bridge.powers)
    digest = digests.withdrawal_digest(bridge.chain_id, other_vault.vault_address, 1, bridge.recipient.address, USDC)
    sigs = digests.sign_quorum(bridge.validators, digest)
    with reverts(bridge.vault, "UnknownSigner"):
        bridge.withdraw(1, bridge.recipient.address, USDC, sigs)
    # The same signatures are good where they belong.
    other_vault.withdraw(1, bridge.recipient.address, USDC, sigs)


@pytest.mark.parametrize("change", ["amount", "recipient", "id"])
def test_signatures_bind_id_recipient_and_amount(bridge: VaultSetup, change: str) -> None:
    sigs = bridge.sign_withdrawal(5, bridge.recipient.address, USDC)
    withdrawal_id, recipient, amount = 5, bridge.recipient.address, USDC
    if change == "amount":
        amount = 2 * USDC
    elif change == "recipient":
        recipient = bridge.user.address
    else:
        withdrawal_id = 6
    with reverts(bridge.vault, "UnknownSigner"):
        bridge.withdraw(withdrawal_id, recipient, amount, sigs)


def test_withdrawal_of_zero_or_to_the_zero_address_is_rejected(bridge: VaultSetup) -> None:
    with reverts(bridge.vault, "ZeroAmount"):
        bridge.withdraw(1, bridge.recipient.address, 0, bridge.sign_withdrawal(1, bridge.recipient.address, 0))
    with reverts(bridge.vault, "ZeroRecipient"):
        bridge.withdraw(1, b"\0" * 20, USDC, bridge.sign_withdrawal(1, b"\0" * 20, USDC))


# ----------------------------------------------------------------------------- validator sets


def sign_valset(setup: VaultSetup, keys: list[PrivateKey], new: list[PrivateKey], powers: list[int],
                nonce: int) -> list[tuple[bytes, bytes, int]]:
    digest = digests.valset_digest(setup.chain_id, setup.vault_address, [k.address for k in new], powers, nonce)
    return digests.sign_quorum(keys, digest)


def update_valset(setup: VaultSetup, new: list[PrivateKey], powers: list[int], nonce: int,
                  sigs: list[tuple[bytes, bytes, int]]) -> TxReceipt:
    call = setup.vault.functions.updateValset([Web3.to_checksum_address(k.address) for k in new], powers, nonce, sigs)
    return transact(setup.w3, call, setup.user.checksum)


def test_current_set_hands_over_to_a_new_set(bridge: VaultSetup) -> None:
    new = validator_keys(5, "next")
    powers = [10, 20, 30, 40, 50]
    receipt = update_valset(bridge, new, powers, 1, sign_valset(bridge, bridge.validators[:3], new, powers, 1))

    (event,) = bridge.vault.events.ValsetUpdated().process_receipt(receipt, errors=DISCARD)
    checkpoint = digests.valset_checkpoint([k.address for k in new], powers, 1)
    assert event["args"]["nonce"] == 1
    assert event["args"]["checkpoint"] == checkpoint
    assert event["args"]["validators"] == [Web3.to_checksum_address(k.address) for k in new]
    assert event["args"]["powers"] == powers
    assert bridge.vault.functions.valsetNonce().call() == 1
    assert bridge.vault.functions.valsetCheckpoint().call() == checkpoint
    assert bridge.vault.functions.totalPower().call() == 150
    assert bridge.vault.functions.currentValset().call() == [event["args"]["validators"], powers]
    assert [bridge.vault.functions.powerOf(Web3.to_checksum_address(k.address)).call() for k in bridge.validators] == [
        0
    ] * 4

    # The old set can no longer withdraw; the new one can (110 of 150 > 2/3).
    with reverts(bridge.vault, "UnknownSigner"):
        bridge.withdraw(1, bridge.recipient.address, USDC, bridge.sign_withdrawal(1, bridge.recipient.address, USDC))
    bridge.withdraw(
        1, bridge.recipient.address, USDC, bridge.sign_withdrawal(1, bridge.recipient.address, USDC, new[2:])
    )
    assert bridge.balance(bridge.recipient) == USDC


def test_constructor_announces_the_initial_set(bridge: VaultSetup) -> None:
    events = bridge.vault.events.ValsetUpdated().get_logs(from_block=0)
    ours = [e for e in events if e["address"] == bridge.vault.address]
    assert len(ours) == 1
    assert ours[0]["args"]["nonce"] == 0
    assert ours[0]["args"]["checkpoint"] == digests.valset_checkpoint(
        [k.address for k in bridge.validators], [1] * 4, 0
    )


def test_stale_valset_nonce_is_rejected(bridge: VaultSetup) -> None:
    new = validator_keys(4, "next")
    with reverts(bridge.vault, "StaleValsetNonce") as args:
        update_valset(bridge, new, [1] * 4, 0, sign_valset(bridge, bridge.validators, new, [1] * 4, 0))
    assert args == [(0, 0)]

    update_valset(bridge, new, [1] * 4, 2, sign_valset(bridge, bridge.validators, new, [1] * 4, 2))
    back = bridge.validators
    for nonce in (1, 2):
        with reverts(bridge.vault, "StaleValsetNonce") as args:
            update_valset(bridge, back, [1] * 4, nonce, sign_valset(bridge, new, back, [1] * 4, nonce))
        assert args == [(nonce, 2)]


def test_valset_update_signed_by_the_new_set_is_rejected(bridge: VaultSetup) -> None:
    new = validator_keys(4, "next")
    with reverts(bridge.vault, "UnknownSigner"):
        update_valset(bridge, new, [1] * 4, 1, sign_valset(bridge, new, new, [1] * 4, 1))
    assert bridge.vault.functions.valsetNonce().call() == 0


def test_valset_update_needs_more_than_two_thirds_of_the_current_set(bridge: VaultSetup) -> None:
    new = validator_keys(4, "next")
    with reverts(bridge.vault, "InsufficientPower") as args:
        update_valset(bridge, new, [1] * 4, 1, sign_valset(bridge, bridge.validators[:2], new, [1] * 4, 1))
    assert args == [(2, 4)]


def test_valset_signatures_bind_the_powers(bridge: VaultSetup) -> None:
    new = validator_keys(4, "next")
    sigs = sign_valset(bridge, bridge.validators, new, [1, 1, 1, 1], 1)
    with reverts(bridge.vault, "UnknownSigner"):
        update_valset(bridge, new, [1, 1, 1, 100], 1, sigs)


@pytest.mark.parametrize(
    ("shape", "error"),
    [
        ("empty", "EmptyValset"),
        ("mismatch", "ValsetLengthMismatch"),
        ("unsorted", "UnsortedValidator"),
        ("duplicate", "UnsortedValidator"),
        ("zero_address", "UnsortedValidator"),
        ("zero_power", "ZeroPower"),
        ("huge_power", "TotalPowerTooLarge"),
    ],
)
def test_malformed_new_set_is_rejected(bridge: VaultSetup, shape: str, error: str) -> None:
    keys = validator_keys(3, "next")
    addresses = [k.address for k in keys]
    powers = [1, 1, 1]
    if shape == "empty":
        addresses, powers = [], []
    elif shape == "mismatch":
        powers = [1, 1]
    elif shape == "unsorted":
        addresses = [addresses[1], addresses[0], addresses[2]]
    elif shape == "duplicate":
        addresses = [addresses[0], addresses[0], addresses[2]]
    elif shape == "zero_address":
        addresses = [b"\0" * 20, *addresses[1:]]
    elif shape == "zero_power":
        powers = [1, 0, 1]
    elif shape == "huge_power":
        powers = [2**127, 2**127, 1]
    call = bridge.vault.functions.updateValset([Web3.to_checksum_address(a) for a in addresses], powers, 1, [])
    with reverts(bridge.vault, error):
        transact(bridge.w3, call, bridge.user.checksum)


# --------------------------------------------------------------------------------- digests


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    withdrawal_id=st.integers(0, 2**64 - 1),
    recipient=st.binary(min_size=20, max_size=20),
    amount=st.integers(0, 2**256 - 1),
)
def test_python_withdrawal_digest_equals_the_vaults(
    bridge: VaultSetup, withdrawal_id: int, recipient: bytes, amount: int
) -> None:
    on_chain = bridge.vault.functions.withdrawalDigest(
        withdrawal_id, Web3.to_checksum_address(recipient), amount
    ).call()
    assert on_chain == bridge.withdrawal_digest(withdrawal_id, recipient, amount)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    members=st.lists(
        st.tuples(st.binary(min_size=20, max_size=20), st.integers(0, 2**256 - 1)), min_size=0, max_size=8
    ),
    nonce=st.integers(0, 2**64 - 1),
)
def test_python_valset_digest_equals_the_vaults(
    bridge: VaultSetup, members: list[tuple[bytes, int]], nonce: int
) -> None:
    validators = [address for address, _ in members]
    powers = [power for _, power in members]
    on_chain = bridge.vault.functions.valsetDigest(
        [Web3.to_checksum_address(a) for a in validators], powers, nonce
    ).call()
    assert on_chain == digests.valset_digest(bridge.chain_id, bridge.vault_address, validators, powers, nonce)


def test_python_domain_and_type_hashes_equal_the_vaults(bridge: VaultSetup) -> None:
    functions = bridge.vault.functions
    assert functions.domainSeparator().call() == digests.domain_separator(bridge.chain_id, bridge.vault_address)
    assert functions.WITHDRAWAL_TYPEHASH().call() == digests.WITHDRAWAL_TYPEHASH
    assert functions.VALSET_TYPEHASH().call() == digests.VALSET_TYPEHASH
    assert functions.DOMAIN_TYPEHASH().call() == digests.DOMAIN_TYPEHASH
    assert (functions.NAME().call(), functions.VERSION().call()) == (digests.DOMAIN_NAME, digests.DOMAIN_VERSION)


# ------------------------------------------------------------------------------- reentrancy


def test_token_calling_back_into_withdraw_is_stopped_and_pays_once(bridge: VaultSetup, anvil: Anvil) -> None:
    hostile = deploy_contract(bridge.w3, "ReentrantToken", sender=bridge.deployer.checksum)
    setup = deploy(anvil, bridge.validators, bridge.powers, token=hostile)
    transact(setup.w3, hostile.functions.mint(setup.vault.address, 100 * USDC), setup.deployer.checksum)
    setup.cover_withdrawals(1, 10 * USDC)
    sigs = setup.sign_withdrawal(1, setup.recipient.address, 10 * USDC)
    again = setup.vault.encode_abi("withdraw", args=[1, setup.recipient.checksum, 10 * USDC, sigs])
    transact(setup.w3, hostile.functions.arm(setup.vault.address, again), setup.deployer.checksum)

    setup.withdraw(1, setup.recipient.address, 10 * USDC, sigs)

    assert hostile.functions.reentryAttempts().call() == 1
    assert hostile.functions.lastReentrySucceeded().call() is False
    reason = decode_custom_error(setup.vault.abi, hostile.functions.lastReentryReturn().call())
    assert reason == ("ReentrancyGuardReentrantCall", ())
    assert hostile.functions.balanceOf(setup.recipient.checksum).call() == 10 * USDC


def test_token_calling_back_into_deposit_is_stopped(bridge: VaultSetup, anvil: Anvil) -> None:
    hostile = deploy_contract(bridge.w3, "ReentrantToken", sender=bridge.deployer.checksum)
    setup = deploy(anvil, bridge.validators, bridge.powers, token=hostile)
    transact(setup.w3, hostile.functions.mint(setup.user.checksum, 100 * USDC), setup.deployer.checksum)
    again = setup.vault.encode_abi("deposit", args=[USDC, setup.user.checksum, 0])
    transact(setup.w3, hostile.functions.arm(setup.vault.address, again), setup.deployer.checksum)

    setup.approve_and_deposit(5 * USDC, setup.user.address, 0)

    assert hostile.functions.lastReentrySucceeded().call() is False
    reason = decode_custom_error(setup.vault.abi, hostile.functions.lastReentryReturn().call())
    assert reason == ("ReentrancyGuardReentrantCall", ())
    assert setup.vault.functions.lastDepositNonce().call() == 1


# ---------------------------------------------------------------------------------- TestUSDC


def test_test_usdc_has_six_decimals_and_only_its_owner_mints(bridge: VaultSetup) -> None:
    assert bridge.token.functions.decimals().call() == 6
    assert bridge.token.functions.symbol().call() == "USDC"
    with reverts(bridge.token, "OwnableUnauthorizedAccount"):
        transact(bridge.w3, bridge.token.functions.mint(bridge.user.checksum, 1), bridge.user.checksum)
