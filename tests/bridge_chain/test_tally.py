"""The bridge module's rules on a plain in-memory store: deposits credited exactly once by > 2/3 of
the power on one content, in nonce order; withdrawals debited, queued and signed."""

from __future__ import annotations

from typing import Any

import pytest

from app.bridge_verify import VERIFIER
from modules.bank.errors import InsufficientBalance
from modules.bank.keeper import BankKeeper
from modules.bridge import invariants, msg_server
from modules.bridge.errors import (
    AlreadyResumed,
    AlreadySigned,
    BadBridgeKey,
    BadValsetSignature,
    BadWithdrawalSignature,
    BridgeDisabled,
    ClaimOutOfOrder,
    DepositAlreadyCredited,
    DepositsHalted,
    InvalidGenesis,
    MalformedClaim,
    NotBridgeValidator,
    ResumeNotReady,
    TooManyDisputes,
    UnknownHalt,
    UnknownValset,
)
from modules.bridge.genesis import export_genesis, import_genesis, validate_genesis
from modules.bridge.keeper import BridgeKeeper
from modules.bridge.queries import deposit as deposit_query
from modules.bridge.queries import halt as halt_query
from modules.bridge.queries import status as status_query
from modules.bridge.queries import valset as valset_query
from modules.bridge.queries import withdrawal as withdrawal_query
from modules.bridge.types import ClaimDeposit, ResumeDeposits, SetBridgeKey, SignValset, SignWithdrawal, Withdraw
from modules.context import BlockContext
from modules.staking.keeper import StakingKeeper
from modules.types import BOND_SUBACCOUNT, SubaccountId
from tests.memory_store import MemoryStore
from wire import vault as digests
from wire.crypto import PrivateKey, keccak256
from wire.vault import bridge_key_digest, bridge_key_rotation_digest

CTX = BlockContext("perpchain-test", 7, 1_000)
VAULT = bytes.fromhex("11" * 20)
ETH_CHAIN_ID = 31337
TRADER = SubaccountId(bytes.fromhex("aa" * 20), 3)




class Net:
    """Four validators of power 10 (a claim needs 3 of them), their operators and bridge keys."""

    def __init__(self, powers: tuple[int, ...] = (10, 10, 10, 10)) -> None:
        self.store = MemoryStore()
        self.operators = [PrivateKey(keccak256(f"operator-{i}".encode())) for i in range(len(powers))]
        self.eth_keys = [PrivateKey(keccak256(f"eth-{i}".encode())) for i in range(len(powers))]
        self.consensus = [bytes([i + 1]) * 20 for i in range(len(powers))]
        self.genesis: dict[str, Any] = {"eth_chain_id": ETH_CHAIN_ID, "vault": f"0x{VAULT.hex()}", "validators": [
            {"consensus_address": c.hex().upper(), "operator": f"0x{o.address.hex()}",
             "eth_address": f"0x{e.address.hex()}", "power": p}
            for c, o, e, p in zip(self.consensus, self.operators, self.eth_keys, powers)]}
        import_genesis(self.bridge, self.genesis)

    @property
    def bridge(self) -> BridgeKeeper:
        return BridgeKeeper(self.store)

    @property
    def bank(self) -> BankKeeper:
        return BankKeeper(self.store)

    @property
    def staking(self) -> StakingKeeper:
        return StakingKeeper(self.store)

    def bridge_key(self, validator: int) -> bytes:
        """The Ethereum address the chain registers as validator `validator`'s bridge key."""
        registered = self.bridge.validator(self.consensus[validator])
        assert registered is not None
        return registered.eth_address

    def claim(self, validator: int, claim: ClaimDeposit) -> list[str]:
        events = msg_server.handle_claim(self.bridge, self.bank, self.staking, CTX, self.operators[validator].address, claim)
        return [e.type for e in events]


def deposit(nonce: int, amount: int = 5_000_000, recipient: SubaccountId = TRADER) -> ClaimDeposit:
    return ClaimDeposit(nonce, 100 + nonce, keccak256(b"tx%d" % nonce), bytes.fromhex("bb" * 20), recipient.address,
                        recipient.number, amount)


@pytest.fixture
def net() -> Net:
    return Net()


def test_a_deposit_is_credited_once_when_more_than_two_thirds_of_the_power_claim_it(net: Net) -> None:
    assert net.claim(0, deposit(1)) == ["deposit_claim"]
    assert net.claim(1, deposit(1)) == ["deposit_claim"]  # 20 of 40: not yet
    assert net.bank.balance(TRADER) == 0
    assert net.claim(2, deposit(1)) == ["deposit_claim", "deposit_credited"]  # 30 of 40
    assert net.bank.balance(TRADER) == 5_000_000
    assert net.claim(3, deposit(1)) == ["deposit_claim_late"]  # the late fourth claim changes nothing
    assert net.bank.balance(TRADER) == 5_000_000
    assert net.claim(3, deposit(1, amount=6_000_000)) == ["deposit_disputed"]  # nor a late claim of another content
    assert net.bank.balance(TRADER) == 5_000_000
    assert net.bridge.next_deposit_nonce() == 2
    assert deposit_query(net.store, 1)["status"] == "credited"


def test_a_lagging_validators_batch_is_not_refused_when_its_first_claim_credits_past_the_rest() -> None:
    # Three validators of 10 each (30 of 45: not > 2/3) claim 1..3; a byzantine one of power 5
    # claims a forged 1 but the real 2 and 3, so 2 and 3 have a quorum and 1 has not. The lagging
    # validator's batch 1..3 completes 1, the tally credits 1, 2 and 3, and its claims of 2 and 3
    # must not fail the batch (they would on every retry, and nothing after 1 would ever credit).
    net = Net(powers=(10, 10, 10, 5, 10))
    for validator in (0, 1, 2):
        for nonce in (1, 2, 3):
            net.claim(validator, deposit(nonce))
    net.claim(3, deposit(1, amount=10**12))
    net.claim(3, deposit(2))
    net.claim(3, deposit(3))
    assert net.bridge.next_deposit_nonce() == 1 and net.bank.balance(TRADER) == 0
    assert net.claim(4, deposit(1)) == ["deposit_claim", "deposit_credited", "deposit_credited", "deposit_credited"]
    assert net.claim(4, deposit(2)) == ["deposit_claim_late"]
    assert net.claim(4, deposit(3)) == ["deposit_claim_late"]
    assert net.bank.balance(TRADER) == 3 * 5_000_000
    assert net.bridge.next_deposit_nonce() == 4


def test_exactly_two_thirds_is_not_enough() -> None:
    net = Net(powers=(10, 10, 10))
    net.claim(0, deposit(1))
    net.claim(1, deposit(1))
    assert net.bank.balance(TRADER) == 0
    net.claim(2, deposit(1))
    assert net.bank.balance(TRADER) == 5_000_000


def test_one_validator_claiming_a_forged_deposit_credits_nothing(net: Net) -> None:
    forged = deposit(1, amount=10**12)
    assert net.claim(0, forged) == ["deposit_claim"]
    assert net.bank.balance(TRADER) == 0
    assert deposit_query(net.store, 1)["status"] == "pending"
    # the honest three still credit the real deposit, once, with its own content
    net.claim(1, deposit(1))
    net.claim(2, deposit(1))
    assert net.claim(3, deposit(1))[-1] == "deposit_credited"
    assert net.bank.balance(TRADER) == 5_000_000
    answer = deposit_query(net.store, 1)
    assert [c["agrees"] for c in answer["claims"]] == [False, True, True, True]


def test_conflicting_claims_split_below_the_threshold_credit_nothing(net: Net) -> None:
    other = deposit(1, amount=7)
    net.claim(0, deposit(1))
    net.claim(1, deposit(1))
    net.claim(2, other)
    net.claim(3, other)
    assert net.bank.balance(TRADER) == 0
    assert len({c["content_hash"] for c in deposit_query(net.store, 1)["claims"]}) == 2


def test_claims_come_in_nonce_order_and_later_nonces_wait_for_earlier_ones(net: Net) -> None:
    with pytest.raises(ClaimOutOfOrder):
        net.claim(0, deposit(2))
    for validator in (0, 1):
        net.claim(validator, deposit(1))
        net.claim(validator, deposit(2))
    with pytest.raises(ClaimOutOfOrder):  # a validator never claims the same nonce twice
        net.claim(0, deposit(2))
    assert net.bank.balance(TRADER) == 0
    net.claim(2, deposit(1))  # credits 1; 2 waits for the third claimant of 2
    assert net.bank.balance(TRADER) == 5_000_000
    events = net.claim(2, deposit(2))
    assert events == ["deposit_claim", "deposit_credited"]
    assert net.bank.balance(TRADER) == 10_000_000


def test_a_lagging_validator_skips_credited_nonces_to_the_next_pending_one(net: Net) -> None:
    for validator in (0, 1, 2):
        net.claim(validator, deposit(1))
        net.claim(validator, deposit(2))
    assert net.bridge.next_deposit_nonce() == 3
    with pytest.raises(ClaimOutOfOrder):
        net.claim(3, deposit(4))
    net.claim(3, deposit(3))  # validator 3 never claimed 1 or 2: it joins at the pending nonce
    assert net.bridge.last_claim(net.consensus[3]) == 3


def test_claims_from_a_non_validator_are_refused() -> None:
    net = Net()
    with pytest.raises(NotBridgeValidator):
        msg_server.handle_claim(net.bridge, net.bank, net.staking, CTX, bytes(19) + b"\x01", deposit(1))
    assert net.bridge.claims(1) == []


@pytest.mark.parametrize("claim", [
    deposit(1, amount=0), ClaimDeposit(1, 1, b"\x00" * 31, bytes(20), TRADER.address, 0, 1),
    ClaimDeposit(1, 1, b"\x00" * 32, bytes(20), TRADER.address, 128, 1), deposit(1, recipient=SubaccountId(bytes(20), 0)),
])
def test_malformed_claims_are_refused(net: Net, claim: ClaimDeposit) -> None:
    with pytest.raises(MalformedClaim):
        net.claim(0, claim)


def test_a_credited_bond_goes_to_staking_never_to_the_bank(net: Net) -> None:
    """Subaccount 255 (Vault.bond): the tally credits the bond of the key it names, pending until
    the end of the block joins it to that key's validator; no balance anywhere grows."""
    bond = deposit(1, amount=7_000_000, recipient=SubaccountId(net.bridge_key(1), BOND_SUBACCOUNT))
    for validator in range(3):
        net.claim(validator, bond)
    assert net.bridge.credited(1) is not None
    assert net.staking.pending_bond(net.bridge_key(1)) == 7_000_000
    assert net.bank.supply() == 0 and list(net.bank.balances()) == []
    assert invariants.chain_claim_conserved(net.store, 0) is None


def test_without_a_bridge_section_bridge_actions_are_refused() -> None:
    store = MemoryStore()
    with pytest.raises(BridgeDisabled):
        msg_server.handle_claim(BridgeKeeper(store), BankKeeper(store), StakingKeeper(store), CTX, bytes(20), deposit(1))


# -- re-claims: a split tally finishes ----------------------------------------------------------


def moved(claim: ClaimDeposit, block: int) -> ClaimDeposit:
    """The same deposit as read after a reorg put it in another block (another tx hash)."""
    return ClaimDeposit(claim.deposit_nonce, block, keccak256(b"moved %d %d" % (claim.deposit_nonce, block)),
                        claim.sender, claim.recipient, claim.subaccount, claim.amount_micro_usdc)


def test_a_claim_split_two_and_two_completes_once_a_validator_reclaims_with_the_content_it_now_reads(
        net: Net) -> None:
    before, after = deposit(1), moved(deposit(1), 900)  # two validators read it before a reorg, two after
    net.claim(0, before)
    net.claim(1, before)
    net.claim(2, after)
    net.claim(3, after)
    assert net.bank.balance(TRADER) == 0 and net.bridge.next_deposit_nonce() == 1  # 20 and 20 of 40
    with pytest.raises(ClaimOutOfOrder):  # the same content again is still refused
        net.claim(0, before)
    assert net.claim(0, after) == ["deposit_reclaim", "deposit_credited"]  # replaces its claim: 30 of 40
    assert net.bank.balance(TRADER) == 5_000_000
    assert net.claim(1, after) == ["deposit_claim_late"]  # credited once: the second re-claim changes nothing
    assert net.bank.balance(TRADER) == 5_000_000 and net.bridge.next_deposit_nonce() == 2
    answer = deposit_query(net.store, 1)
    assert answer["deposit"]["eth_block"] == "900" and answer["content_hash"] == after.content_hash().hex()
    assert net.bridge.claim_content(1, before.content_hash()) is not None  # validator 1's first claim still names it
    assert [c["agrees"] for c in answer["claims"]] == [True, False, True, True]


def test_a_reclaim_replaces_the_validators_claim_so_its_power_counts_once(net: Net) -> None:
    first, second = deposit(1), moved(deposit(1), 900)
    net.claim(0, first)
    assert net.claim(0, second) == ["deposit_reclaim"]
    assert net.claim(0, first) == ["deposit_reclaim"]  # back again: still one claim of validator 0
    net.claim(1, first)
    assert net.bank.balance(TRADER) == 0  # 20 of 40 on `first`, not 30
    assert len(deposit_query(net.store, 1)["claims"]) == 2
    assert net.bridge.claim_content(1, second.content_hash()) is None  # no claim names it any more
    assert net.bridge.last_claim(net.consensus[0]) == 1


def test_a_forged_minority_claim_in_a_split_still_credits_nothing(net: Net) -> None:
    forged = deposit(1, amount=10**12, recipient=SubaccountId(bytes.fromhex("ee" * 20), 0))
    real = moved(deposit(1), 900)
    net.claim(0, forged)
    net.claim(1, deposit(1))
    net.claim(2, real)
    net.claim(3, real)
    assert net.claim(0, moved(forged, 901)) == ["deposit_reclaim"]  # the forger moving its claim gains nothing
    assert net.bank.balance(forged.credited_to) == 0 and net.bank.balance(TRADER) == 0
    assert net.claim(1, real) == ["deposit_reclaim", "deposit_credited"]
    assert net.bank.balance(TRADER) == 5_000_000 and net.bank.balance(forged.credited_to) == 0


def test_reclaims_and_claims_of_later_nonces_credit_each_nonce_once_in_order(net: Net) -> None:
    for validator in (0, 1):  # read nonces 1 and 2 before the reorg
        net.claim(validator, deposit(1))
        net.claim(validator, deposit(2))
    for validator in (2, 3):  # after it, both deposits in other blocks
        net.claim(validator, moved(deposit(1), 900))
        net.claim(validator, moved(deposit(2), 901))
    assert net.claim(0, moved(deposit(2), 901)) == ["deposit_reclaim"]  # nonce 2 waits for nonce 1
    assert net.bank.balance(TRADER) == 0
    assert net.claim(0, moved(deposit(1), 900)) == ["deposit_reclaim", "deposit_credited", "deposit_credited"]
    assert net.bank.balance(TRADER) == 10_000_000 and net.bridge.next_deposit_nonce() == 3
    with pytest.raises(ClaimOutOfOrder):  # validator 0 claimed up to 2: it claims 3 next
        net.claim(0, deposit(4))


def test_a_claim_of_a_credited_nonce_with_another_content_credits_nothing_and_is_kept_as_a_dispute(
        net: Net) -> None:
    for validator in (0, 1, 2):
        net.claim(validator, deposit(1))
    store_before = dict(net.store.data)
    assert net.claim(3, deposit(1, amount=6_000_000)) == ["deposit_disputed"]  # 10 of 40: no halt
    assert net.bank.balance(TRADER) == 5_000_000 and net.bridge.next_deposit_nonce() == 2
    assert net.bridge.deposit_halt() is None
    assert [d["validator"] for d in deposit_query(net.store, 1)["disputes"]] == [net.consensus[3].hex().upper()]
    after_dispute = dict(net.store.data)
    with pytest.raises(DepositAlreadyCredited):  # the same dispute twice
        net.claim(3, deposit(1, amount=6_000_000))
    assert net.store.data == after_dispute
    assert net.claim(3, deposit(1)) == ["deposit_claim_late", "deposit_dispute_withdrawn"]
    assert deposit_query(net.store, 1)["disputes"] == []
    assert net.store.data == store_before  # a withdrawn dispute leaves nothing behind


def test_a_validator_disputes_at_most_a_bounded_number_of_credited_deposits_at_once(net: Net) -> None:
    """Each dispute is stored and read by the halt checks, and a minority's disputes never halt
    anything, so one validator may hold at most MAX_OPEN_DISPUTES; withdrawing one frees a place."""
    credited_by_all(net, *(deposit(n) for n in range(1, msg_server.MAX_OPEN_DISPUTES + 2)))
    for nonce in range(1, msg_server.MAX_OPEN_DISPUTES + 1):
        assert net.claim(3, deposit(nonce, amount=6_000_000)) == ["deposit_disputed"]
    assert net.bridge.open_disputes(net.consensus[3]) == msg_server.MAX_OPEN_DISPUTES
    before = dict(net.store.data)
    with pytest.raises(TooManyDisputes):
        net.claim(3, deposit(msg_server.MAX_OPEN_DISPUTES + 1, amount=6_000_000))
    assert net.store.data == before
    net.claim(3, deposit(1, amount=7_000_000))  # another content for a nonce it disputes: no new place taken
    assert net.bridge.open_disputes(net.consensus[3]) == msg_server.MAX_OPEN_DISPUTES
    assert net.claim(3, deposit(1)) == ["deposit_claim_late", "deposit_dispute_withdrawn"]
    assert net.claim(3, deposit(msg_server.MAX_OPEN_DISPUTES + 1, amount=6_000_000)) == ["deposit_disputed"]


# -- deposit halts and resumes ------------------------------------------------------------------

OTHER = SubaccountId(bytes.fromhex("dd" * 20), 1)


def canonical(nonce: int, amount: int = 3_000_000, recipient: SubaccountId = OTHER) -> ClaimDeposit:
    """Deposit `nonce` as Ethereum's chain holds it after a reorg deeper than the confirmations."""
    return ClaimDeposit(nonce, 700 + nonce, keccak256(b"canonical %d" % nonce), bytes.fromhex("cc" * 20),
                        recipient.address, recipient.number, amount)


def resume(net: Net, validator: int, halt_id: int = 1) -> list[str]:
    events = msg_server.handle_resume_deposits(net.bridge, net.bank, net.staking, CTX, net.operators[validator].address,
                                               ResumeDeposits(halt_id))
    return [e.type for e in events]


def credited_by_all(net: Net, *claims: ClaimDeposit) -> None:
    for claim in claims:
        for validator in range(len(net.operators)):
            net.claim(validator, claim)


def test_disputes_from_more_than_a_third_of_the_power_halt_deposits_and_refuse_later_claims() -> None:
    net = Net(powers=(10, 10, 10))
    credited_by_all(net, deposit(1))
    assert net.claim(0, canonical(1)) == ["deposit_disputed"]  # exactly 1/3 is not enough
    assert net.bridge.deposit_halt() is None
    net.claim(0, deposit(2))  # claims still go on
    assert net.claim(1, canonical(1)) == ["deposit_disputed", "deposits_halted"]
    halt = net.bridge.deposit_halt()
    assert halt is not None and (halt.halt_id, halt.nonce, halt.height) == (1, 1, CTX.height)
    answer = status_query(net.store)
    assert answer["deposits_halted"] is True and answer["deposit_halt"]["nonce"] == "1"
    assert answer["deposit_halt"]["dispute_power"] == "20"
    assert answer["deposit_halt"]["ready"] is False  # 20 of 30 on the canonical content: exactly 2/3
    before = dict(net.store.data)
    for validator, claim in ((1, deposit(2)), (2, deposit(2)), (0, moved(deposit(2), 900))):
        with pytest.raises(DepositsHalted):  # new claims and re-claims wait for the resume
            net.claim(validator, claim)
    assert net.store.data == before and net.bridge.next_deposit_nonce() == 2


def test_operators_resume_a_halt_crediting_the_canonical_content_and_taking_the_wrong_credit_back(
        net: Net) -> None:
    credited_by_all(net, deposit(1))
    assert net.bank.balance(TRADER) == 5_000_000
    net.claim(0, canonical(1))
    assert net.claim(1, canonical(1))[-1] == "deposits_halted"
    with pytest.raises(ResumeNotReady):  # 20 of 40 on the canonical content: not known yet
        resume(net, 0)
    net.claim(2, canonical(1))
    assert halt_query(net.store, 1)["canonical_content_hash"] == canonical(1).content_hash().hex()
    with pytest.raises(NotBridgeValidator):
        msg_server.handle_resume_deposits(net.bridge, net.bank, net.staking, CTX, TRADER.address, ResumeDeposits(1))
    with pytest.raises(UnknownHalt):
        resume(net, 0, halt_id=2)
    assert resume(net, 0) == ["deposit_resume_sent"]
    with pytest.raises(AlreadyResumed):
        resume(net, 0)
    assert resume(net, 3) == ["deposit_resume_sent"]  # 20 of 40: not yet
    assert net.bank.balance(TRADER) == 5_000_000 and net.bridge.deposit_halt() is not None
    assert resume(net, 1) == ["deposit_resume_sent", "deposit_corrected", "deposits_resumed"]
    assert net.bank.balance(TRADER) == 0 and net.bank.balance(OTHER) == 3_000_000
    assert net.bridge.deposit_halt() is None and net.bridge.shortfall() == 0
    answer = deposit_query(net.store, 1)
    assert answer["deposit"]["recipient"] == "0x" + OTHER.address.hex() and answer["disputes"] == []
    assert [c["agrees"] for c in answer["claims"]] == [True, True, True]  # validator 3 claimed it late: not kept
    assert halt_query(net.store, 1) | {"resumes": None} == {
        "halt_id": "1", "status": "resumed", "resumed_height": CTX.height, "corrected": "1",
        "debited_micro_usdc": "5000000", "shortfall_micro_usdc": "0", "resumes": None, "resume_power": "30",
        "total_power": "40"}
    with pytest.raises(UnknownHalt):  # resumed: nothing more to resume
        resume(net, 2)
    assert invariants.credited_deposits_attested(net.bridge) is None
    assert invariants.deposit_halt_consistent(net.bridge) is None
    assert net.claim(3, canonical(1)) == ["deposit_claim_late"]  # the canonical content is credited: once
    assert net.bank.balance(OTHER) == 3_000_000
    credited_by_all(net, deposit(2))  # deposits flow again
    assert net.bank.balance(TRADER) == 5_000_000 and net.bridge.next_deposit_nonce() == 3


def test_a_resume_takes_back_what_the_balance_holds_and_records_the_rest_as_a_shortfall(net: Net) -> None:
    credited_by_all(net, deposit(1))
    net.bank.transfer(TRADER, SubaccountId(TRADER.address, 9), 2_000_000)  # moved elsewhere before the halt
    for validator in (0, 1, 2):
        net.claim(validator, canonical(1))
    for validator in (0, 1):
        resume(net, validator)
    events = msg_server.handle_resume_deposits(net.bridge, net.bank, net.staking, CTX, net.operators[2].address,
                                               ResumeDeposits(1))
    (short,) = [dict(e.attributes) for e in events if e.type == "deposit_shortfall"]
    assert short == {"halt_id": "1", "recipient": "0x" + TRADER.address.hex(), "subaccount": "3",
                     "shortfall_micro_usdc": "2000000"}
    assert net.bank.balance(TRADER) == 0 and net.bank.balance(SubaccountId(TRADER.address, 9)) == 2_000_000
    assert net.bank.balance(OTHER) == 3_000_000
    assert net.bridge.shortfall() == 2_000_000
    assert status_query(net.store)["deposit_shortfall_micro_usdc"] == "2000000"
    # The chain's claim (5 - 5 + 3 + the 2 it could not take back) = credited (3) + shortfall (2).
    assert invariants.chain_claim_conserved(net.store, 0) is None


def test_a_deposit_that_only_moved_to_another_nonce_takes_nothing_back(net: Net) -> None:
    alice, bob = SubaccountId(bytes.fromhex("a1" * 20), 0), SubaccountId(bytes.fromhex("b2" * 20), 0)
    credited_by_all(net, deposit(1, 5_000_000, alice), deposit(2, 4_000_000, bob))
    net.bank.transfer(alice, SubaccountId(alice.address, 1), 5_000_000)  # alice spent all of it
    for validator in (0, 1, 2):  # on the new chain bob's deposit came first
        net.claim(validator, canonical(1, 4_000_000, bob))
        net.claim(validator, canonical(2, 5_000_000, alice))
    for validator in (0, 1, 2):
        events = resume(net, validator)
    assert events == ["deposit_resume_sent", "deposit_corrected", "deposit_corrected", "deposits_resumed"]
    assert net.bank.balance(alice) == 0 and net.bank.balance(bob) == 4_000_000
    assert net.bridge.shortfall() == 0  # netted per subaccount: alice lost 5 and regained 5


def test_withdrawn_disputes_let_operators_lift_the_halt_and_the_credit_stands(net: Net) -> None:
    credited_by_all(net, deposit(1))
    for validator in (0, 1):
        net.claim(validator, canonical(1))
    with pytest.raises(ResumeNotReady):
        resume(net, 0)
    net.claim(1, deposit(1))  # its relayer reads the credited deposit again (Ethereum went back)
    for validator in (0, 1):
        resume(net, validator)
    assert resume(net, 2) == ["deposit_resume_sent", "deposits_resumed"]
    assert net.bank.balance(TRADER) == 5_000_000 and net.bridge.deposit_halt() is None
    assert deposit_query(net.store, 1)["content_hash"] == deposit(1).content_hash().hex()
    assert [d["validator"] for d in deposit_query(net.store, 1)["disputes"]] == [net.consensus[0].hex().upper()]


def test_a_nonce_still_disputed_by_more_than_a_third_after_a_resume_halts_again(net: Net) -> None:
    credited_by_all(net, deposit(1), deposit(2))
    for validator in (0, 1, 2):
        net.claim(validator, canonical(1))
    for validator in (0, 1):  # nonce 2's canonical content has 20 of 40 so far
        net.claim(validator, canonical(2))
    for validator in (0, 1):
        resume(net, validator)
    assert resume(net, 2) == ["deposit_resume_sent", "deposit_corrected", "deposits_resumed", "deposits_halted"]
    halt = net.bridge.deposit_halt()
    assert halt is not None and (halt.halt_id, halt.nonce) == (2, 2)
    assert net.bank.balance(OTHER) == 3_000_000 and net.bank.balance(TRADER) == 5_000_000
    net.claim(2, canonical(2))
    for validator in (0, 1, 2):
        resume(net, validator, halt_id=2)
    assert net.bank.balance(OTHER) == 6_000_000 and net.bank.balance(TRADER) == 0
    assert invariants.deposit_halt_consistent(net.bridge) is None


def _withdraw(net: Net, amount: int = 2_000_000) -> int:
    net.bank.mint(TRADER, 5_000_000)
    msg_server.handle_withdraw(net.bridge, net.bank, CTX, TRADER.address,
                               Withdraw(TRADER.number, bytes.fromhex("cc" * 20), amount))
    return net.bridge.next_withdrawal_id() - 1


def _sign(net: Net, validator: int, withdrawal_id: int, key: PrivateKey | None = None) -> list[str]:
    w = net.bridge.withdrawal(withdrawal_id)
    assert w is not None
    digest = digests.withdrawal_digest(ETH_CHAIN_ID, VAULT, withdrawal_id, w.recipient, w.amount_micro_usdc)
    signature = digests.sign(key or net.eth_keys[validator], digest)
    events = msg_server.handle_sign_withdrawal(net.bridge, VERIFIER, net.operators[validator].address,
                                               SignWithdrawal(withdrawal_id, signature))
    return [e.type for e in events]


def test_a_withdrawal_debits_the_subaccount_and_is_ready_at_a_supermajority_of_signatures(net: Net) -> None:
    withdrawal_id = _withdraw(net)
    assert withdrawal_id == 1 and net.bank.balance(TRADER) == 3_000_000
    assert net.bridge.withdrawn_total() == 2_000_000
    assert _sign(net, 3, 1) == ["withdrawal_signed"]
    assert _sign(net, 0, 1) == ["withdrawal_signed"]
    assert withdrawal_query(net.store, 1)["ready"] is False
    assert _sign(net, 1, 1) == ["withdrawal_signed", "withdrawal_ready"]
    answer = withdrawal_query(net.store, 1)
    assert answer["ready"] is True
    signers = [bytes.fromhex(s["eth_address"][2:]) for s in answer["signatures"]]
    assert signers == sorted(signers)  # the order Vault.withdraw requires
    with pytest.raises(AlreadySigned):
        _sign(net, 1, 1)


def test_a_withdrawal_beyond_the_balance_is_refused(net: Net) -> None:
    with pytest.raises(InsufficientBalance):
        _withdraw(net, amount=6_000_000)


def test_a_signature_by_another_key_is_refused(net: Net) -> None:
    _withdraw(net)
    with pytest.raises(BadWithdrawalSignature):
        _sign(net, 0, 1, key=net.eth_keys[1])
    with pytest.raises(BadWithdrawalSignature):
        msg_server.handle_sign_withdrawal(net.bridge, VERIFIER, net.operators[0].address, SignWithdrawal(1, b"\x00" * 65))


def test_rotating_a_bridge_key_needs_its_proof_and_moves_the_valset_nonce(net: Net) -> None:
    new_key = PrivateKey(keccak256(b"new"))
    action = rotation(net, 0, new_key)
    operator = net.operators[0].address
    with pytest.raises(BadBridgeKey, match="is or was the bridge key of validator"):  # another validator's key
        msg_server.handle_set_bridge_key(net.bridge, VERIFIER, CTX.chain_id, operator,
                                         rotation(net, 0, net.eth_keys[1], proof_by=new_key))
    with pytest.raises(BadBridgeKey, match="the proof is not the new key's signature"):  # someone else's proof
        msg_server.handle_set_bridge_key(net.bridge, VERIFIER, CTX.chain_id, operator,
                                         rotation(net, 0, PrivateKey(keccak256(b"unregistered")), proof_by=new_key))
    with pytest.raises(BadBridgeKey):  # the new key's proof is missing
        msg_server.handle_set_bridge_key(net.bridge, VERIFIER, CTX.chain_id, operator,
                                         rotation(net, 0, new_key, proof_by=net.eth_keys[0]))
    msg_server.handle_set_bridge_key(net.bridge, VERIFIER, CTX.chain_id, operator, action)
    assert net.bridge_key(0) == new_key.address
    assert net.bridge.valset_nonce() == 1
    _withdraw(net)
    _sign(net, 0, 1, key=new_key)
    with pytest.raises(BadBridgeKey, match="is or was the bridge key of validator"):  # a released key is not reused
        msg_server.handle_set_bridge_key(net.bridge, VERIFIER, CTX.chain_id, net.operators[1].address,
                                         rotation(net, 1, net.eth_keys[0]))


def test_a_withdrawal_signed_before_a_rotation_is_signed_again_with_the_new_key(net: Net) -> None:
    _withdraw(net)
    for validator in (0, 1):
        _sign(net, validator, 1)
    new_key = _rotate(net, 0, b"new")
    answer = withdrawal_query(net.store, 1)
    assert answer["signed_power"] == "10"  # the old key's signature no longer counts
    assert {s["eth_address"]: s["power"] for s in answer["signatures"]} == {
        f"0x{net.eth_keys[0].address.hex()}": "0", f"0x{net.eth_keys[1].address.hex()}": "10"}
    with pytest.raises(BadWithdrawalSignature):
        _sign(net, 0, 1)  # the old key is not the validator's any more
    assert _sign(net, 0, 1, key=new_key) == ["withdrawal_signed"]
    with pytest.raises(AlreadySigned):
        _sign(net, 0, 1, key=new_key)
    assert _sign(net, 2, 1) == ["withdrawal_signed", "withdrawal_ready"]
    signers = [s["eth_address"] for s in withdrawal_query(net.store, 1)["signatures"]]
    assert f"0x{new_key.address.hex()}" in signers and f"0x{net.eth_keys[0].address.hex()}" not in signers


def rotation(net: Net, validator: int, new_key: PrivateKey, current: PrivateKey | None = None,
             proof_by: PrivateKey | None = None, valset_nonce: int | None = None) -> SetBridgeKey:
    """SetBridgeKey as `perpchain tx bridge-key` builds it: the new key's proof (by `proof_by` if
    given) and the approval by `current` (default: the validator's genesis key) of this rotation at
    `valset_nonce` (default: the next one)."""
    current = current or net.eth_keys[validator]
    nonce = net.bridge.valset_nonce() + 1 if valset_nonce is None else valset_nonce
    consensus = net.consensus[validator]
    proof = (proof_by or new_key).sign_digest(bridge_key_digest(CTX.chain_id, consensus, new_key.address))
    approval = current.sign_digest(bridge_key_rotation_digest(CTX.chain_id, consensus, current.address,
                                                              new_key.address, nonce))
    return SetBridgeKey(new_key.address, proof, nonce, approval)


def _rotate(net: Net, validator: int, seed: bytes) -> PrivateKey:
    new_key = PrivateKey(keccak256(seed))
    msg_server.handle_set_bridge_key(net.bridge, VERIFIER, CTX.chain_id, net.operators[validator].address,
                                     rotation(net, validator, new_key))
    return new_key


def _sign_valset(net: Net, validator: int, nonce: int, key: PrivateKey | None = None) -> list[str]:
    answer = valset_query(net.store, nonce)
    addresses = [bytes.fromhex(a[2:]) for a in answer["validators"]]
    digest = digests.valset_digest(ETH_CHAIN_ID, VAULT, addresses, [int(p) for p in answer["powers"]], nonce)
    events = msg_server.handle_sign_valset(net.bridge, VERIFIER, net.operators[validator].address,
                                           SignValset(nonce, digests.sign(key or net.eth_keys[validator], digest)))
    return [e.type for e in events]


def test_genesis_records_the_vaults_first_set_as_valset_zero(net: Net) -> None:
    answer = valset_query(net.store, 0)
    assert answer["validators"] == sorted(f"0x{k.address.hex()}" for k in net.eth_keys)
    assert answer["powers"] == ["10"] * 4 and answer["ready"] is False
    with pytest.raises(UnknownValset):
        valset_query(net.store, 1)


def test_a_rotation_is_handed_over_by_more_than_two_thirds_of_the_previous_set(net: Net) -> None:
    new_key = _rotate(net, 0, b"new")
    answer = valset_query(net.store, 1)
    assert f"0x{new_key.address.hex()}" in answer["validators"]
    assert f"0x{net.eth_keys[0].address.hex()}" not in answer["validators"]
    # The rotated validator signs with its previous key (the vault's), not the new one.
    with pytest.raises(BadValsetSignature, match="not the validator's key"):
        _sign_valset(net, 0, 1, key=new_key)
    assert _sign_valset(net, 1, 1) == ["valset_signed"]
    assert _sign_valset(net, 2, 1) == ["valset_signed"]
    assert valset_query(net.store, 1)["ready"] is False  # exactly 2/3 is not enough
    with pytest.raises(AlreadySigned):
        _sign_valset(net, 2, 1)
    assert _sign_valset(net, 3, 1) == ["valset_signed", "valset_ready"]
    answer = valset_query(net.store, 1)
    assert answer["ready"] is True and answer["signed_power"] == "30" and answer["signing_power"] == "40"
    signers = [bytes.fromhex(s["eth_address"][2:]) for s in answer["signatures"]]
    assert signers == sorted(signers) and len(answer["vault_signatures"]) == 3
    # The vault's own check: each vault signature recovers to a distinct member of set 0.
    addresses = [bytes.fromhex(a[2:]) for a in answer["validators"]]
    recovered = [VERIFIER.valset_signer(ETH_CHAIN_ID, VAULT, addresses, [10] * 4, 1,
                                        bytes.fromhex(r[2:]) + bytes.fromhex(s[2:]) + bytes([v]))
                 for r, s, v in answer["vault_signatures"]]
    assert recovered == sorted(k.address for k in net.eth_keys[1:])


def test_a_second_rotation_is_signed_by_the_first_rotations_set(net: Net) -> None:
    first = _rotate(net, 0, b"first")
    second = _rotate(net, 1, b"second")
    assert net.bridge.valset_nonce() == 2
    _sign_valset(net, 0, 2, key=first)  # validator 0 is in set 1 with its new key
    with pytest.raises(BadValsetSignature):
        _sign_valset(net, 1, 2, key=second)  # set 1 holds validator 1's old key
    assert _sign_valset(net, 1, 2) == ["valset_signed"]
    assert _sign_valset(net, 2, 2) == ["valset_signed", "valset_ready"]


def test_unknown_or_genesis_valset_nonces_are_refused(net: Net) -> None:
    for nonce in (0, 1, 2**63):
        with pytest.raises(UnknownValset):
            msg_server.handle_sign_valset(net.bridge, VERIFIER, net.operators[0].address, SignValset(nonce, b"\x00" * 65))
    _rotate(net, 0, b"new")
    with pytest.raises(NotBridgeValidator):
        msg_server.handle_sign_valset(net.bridge, VERIFIER, TRADER.address, SignValset(1, b"\x00" * 65))
    with pytest.raises(BadValsetSignature):
        msg_server.handle_sign_valset(net.bridge, VERIFIER, net.operators[1].address, SignValset(1, b"\x00" * 65))
    assert net.bridge.valset_signatures(1) == []


def test_genesis_round_trips_and_names_bad_fields(net: Net) -> None:
    assert export_genesis(net.bridge) == net.genesis
    assert validate_genesis({}) is None
    bad = dict(net.genesis, validators=[net.genesis["validators"][0], net.genesis["validators"][0]])
    with pytest.raises(InvalidGenesis, match=r"validators\[1\].consensus_address repeats"):
        validate_genesis(bad)
    with pytest.raises(InvalidGenesis, match="bridge.vault"):
        validate_genesis(dict(net.genesis, vault="0x12"))


def test_a_resume_takes_back_a_bond_reorged_out_while_it_is_still_pending(net: Net) -> None:
    """Deposit 1 was credited as a bond to validator 1's key (pending: no block end here joins it);
    Ethereum's canonical deposit 1 is another's deposit. The bond leaves staking, the deposit
    reaches the bank, and nothing is left to report as a shortfall."""
    key = net.bridge_key(1)
    credited_by_all(net, deposit(1, amount=7_000_000, recipient=SubaccountId(key, BOND_SUBACCOUNT)))
    assert net.staking.pending_bond(key) == 7_000_000 and net.staking.bonded_total() == 7_000_000
    for validator in range(3):
        net.claim(validator, canonical(1))
    assert [resume(net, v) for v in range(3)][-1] == ["deposit_resume_sent", "deposit_corrected", "deposits_resumed"]
    assert net.staking.pending_bond(key) == 0 and net.staking.bonded_total() == 0
    assert net.bank.balance(OTHER) == 3_000_000
    assert invariants.chain_claim_conserved(net.store, 0) is None
