"""No unit of collateral is paid twice, on any path, in any order of events: the real Vault on
anvil and the real chain in process (tests/bridge_chain/vault_world.py).

The regression test replays what an audit found: a withdrawal paid while the vault was live,
then a freeze, then an exit from the older anchor and a reclaim of a later deposit paid the user
twice. The property test drives seeded random sequences of deposits, withdrawals (paid as soon
as they may be, and tried before), transfers, anchors on time, late or never, freezes, exits,
reclaims, relayer crashes, Ethereum reorgs and a validator caught equivocating (its vote taken
by a fraud proof, so the vault's quorum is the other three), and after every step checks that no user has
gained more than the chain credited and that the vault holds all it owes; every honest payment
must succeed. Each sequence ends by paying everyone out: then every user's gain is exactly the
chain's credit and the vault is empty.

    PERPCHAIN_LEDGER_SEQUENCES=2000 .venv/bin/python -m pytest -s tests/bridge_chain/test_vault_ledger.py
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Callable, Iterator

import pytest

from bridge.contracts import build
from bridge.eth import Anvil
from modules.anchor.keeper import AnchorKeeper
from tests.bridge_chain.vault_world import (
    FREEZE_PERIOD_S,
    USDC,
    USERS,
    VALIDATORS,
    Deployed,
    Refused,
    World,
)

SEQUENCES = int(os.environ.get("PERPCHAIN_LEDGER_SEQUENCES", "200"))
STEPS = int(os.environ.get("PERPCHAIN_LEDGER_STEPS", "30"))
FIRST_SEED = 20261205


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployed]:
    build()
    with Anvil() as anvil:
        yield Deployed.on(anvil)


def relay_everything(world: World) -> None:
    """Every relayer reads, claims and signs until the chain has all of it; anchors are not sent."""
    for _ in range(3):
        for v in VALIDATORS:
            world.follow(v)
            world.claim(v)
        world.block()
        for v in VALIDATORS:
            world.sign(v)
        world.block()


def test_a_withdrawal_paid_live_then_a_freeze_never_pays_the_user_twice(deployed: Deployed, tmp_path: Path) -> None:
    """Alice deposits 100, Bob 80; anchor 1 has both. Alice withdraws 100 (id 1) and the relayers
    try to pay it at once: the vault refuses, no anchor covers it. Alice deposits 50 more and
    withdraws them (id 2). No anchor lands again; the vault freezes. Alice exits anchor 1's 100
    and reclaims the 50 deposited after it: 150 in all, what she put in. Bob's exit still pays."""
    world = World(deployed, tmp_path / "chain")
    alice, bob = USERS[0], USERS[1]
    try:
        world.deposit(alice, 100 * USDC)
        world.deposit(bob, 80 * USDC)
        relay_everything(world)
        while world.height % 3 != 1:  # to the block after the next anchor height
            world.block()
        relay_everything(world)
        assert world.submit_anchor()
        assert world.vault.functions.anchoredDepositNonce().call() == 2
        world.withdraw(alice, 100 * USDC)
        relay_everything(world)
        with pytest.raises(Refused) as refused:
            world.pay(1)
        assert refused.value.name == "WithdrawalNotAnchored"
        world.deposit(alice, 50 * USDC)
        relay_everything(world)
        world.withdraw(alice, 50 * USDC)
        relay_everything(world)
        assert world.chain_balance(alice.address) == 0
        world.pass_time(FREEZE_PERIOD_S)
        assert world.frozen()
        assert world.exit(alice) == 100 * USDC
        [late] = world.reclaimable(alice)
        world.reclaim(alice, late)
        with pytest.raises(Refused) as refused:
            world.pay(2)
        assert refused.value.name == "WithdrawalNotAnchored"
        assert world.gained(alice) == 0  # 150 in, 150 out
        assert world.exit(bob) == 80 * USDC
        assert world.gained(bob) == 0
        assert world.owed() == 0 and world.token_balance(bytes.fromhex(world.vault.address[2:])) == 0
    finally:
        world.close()


class Sequence:
    """One seeded sequence of steps; `failure` names the first broken rule."""

    def __init__(self, world: World, seed: int) -> None:
        self.world, self.rng, self.seed = world, random.Random(seed), seed
        self.steps: list[str] = []
        self.exited: set[bytes] = set()
        self.cheated = False

    def honest(self, what: str, action: Callable[[], object]) -> None:
        """An action an honest party takes when the rules allow it: it must not revert."""
        try:
            action()
        except Refused as refused:
            raise AssertionError(f"honest {what} reverted: {refused}") from None

    def attempt(self, action: Callable[[], object]) -> None:
        """What an adversary tries: if the vault lets it through, the ledger's rules judge it."""
        try:
            action()
        except Refused:
            pass

    def expect_refusal(self, action: Callable[[], object], *names: str) -> None:
        try:
            action()
        except Refused as refused:
            assert refused.name in names, f"refused with {refused}, expected one of {names}"
            return
        raise AssertionError(f"expected the vault to refuse with one of {names}")

    # -- steps ----------------------------------------------------------------------------------

    def deposit(self) -> None:
        user, amount = self.rng.choice(USERS), self.rng.randint(1, 60) * USDC
        if self.world.frozen():
            self.expect_refusal(lambda: self.world.deposit(user, amount), "VaultFrozen")
        else:
            self.honest("deposit", lambda: self.world.deposit(user, amount))

    def withdraw(self) -> None:
        user = self.rng.choice(USERS)
        balance = self.world.chain_balance(user.address)
        if balance:
            self.world.withdraw(user, self.rng.randint(1, balance))

    def transfer(self) -> None:
        sender, recipient = self.rng.sample(USERS, 2)
        balance = self.world.chain_balance(sender.address)
        if balance:
            self.world.transfer(sender, recipient, self.rng.randint(1, balance))

    def relay(self) -> None:
        """Usually every relayer takes its turn; sometimes only some (one down, or slow)."""
        for v in VALIDATORS if self.rng.random() < 0.7 else self.rng.sample(VALIDATORS, self.rng.randint(1, 3)):
            self.world.follow(v)
            self.world.claim(v)
            self.world.sign(v)

    def crash(self) -> None:
        self.world.seen[self.rng.choice(VALIDATORS).consensus_address].clear()

    def blocks(self) -> None:
        for _ in range(self.rng.randint(1, 4)):
            self.world.block()

    def anchor(self) -> None:
        """The newest ready anchor, or the vault's own again (a slow relayer): the vault refuses
        a stale one, and any once it is frozen."""
        vault_nonce = self.world.vault.functions.anchorNonce().call()
        try:
            self.world.submit_anchor(None if self.rng.random() < 0.8 else max(1, vault_nonce))
        except Refused as refused:
            assert refused.name in ("VaultFrozen", "StaleAnchorNonce"), f"an honest anchor was refused: {refused}"

    def pay(self) -> None:
        for withdrawal_id in self.world.payable():
            self.honest(f"payment of withdrawal {withdrawal_id}", lambda: self.world.pay(withdrawal_id))
        covered = self.world.vault.functions.anchoredWithdrawalId().call()
        queued = self.world.next_withdrawal_id() - 1
        if queued > covered and self.world.is_ready(covered + 1):  # a relayer that does not wait
            self.attempt(lambda: self.world.pay(covered + 1))

    def time(self) -> None:
        self.world.pass_time(self.rng.choice((5, 60, FREEZE_PERIOD_S // 2, FREEZE_PERIOD_S)))

    def freeze(self) -> None:
        if self.world.frozen() and not self.world.vault.functions.freezeRecorded().call():
            self.honest("freeze", lambda: self.world.eth_send(USERS[0], self.world.vault.functions.freeze()))

    def exits(self) -> None:
        if not self.world.frozen():
            return
        for user in self.rng.sample(USERS, self.rng.randint(1, len(USERS))):
            if user.address in self.exited:
                self.expect_refusal(lambda: self.world.exit(user), "AlreadyExited")
            else:
                self.honest("exit", lambda: self.exited.update([user.address] if self.world.exit(user) else []))
            for nonce in self.world.reclaimable(user):
                self.honest(f"reclaim of deposit {nonce}", lambda: self.world.reclaim(user, nonce))

    def cheat(self) -> None:
        """Once per sequence, a validator signs two anchors with one nonce and a user proves it.
        Relayers send only the signatures of keys the vault holds, as the real one does."""
        if self.cheated or AnchorKeeper(self.world.store).latest() is None:
            return
        self.cheated = True
        self.honest("fraud proof", lambda: self.world.equivocate(self.rng.choice(VALIDATORS), self.rng.choice(USERS)))

    def reorg(self) -> None:
        """A fork of Ethereum the relayers never read: a few vault calls, then dropped."""
        point = self.world.fork_point()
        exited = set(self.exited)
        for _ in range(self.rng.randint(1, 3)):
            self.rng.choice((self.deposit, self.pay, self.anchor, self.time, self.exits))()
        self.world.reorg_to(point)
        self.exited = exited

    STEPS: tuple[tuple[str, int], ...] = (
        ("deposit", 5), ("withdraw", 5), ("transfer", 2), ("relay", 6), ("blocks", 2), ("anchor", 4), ("pay", 5),
        ("time", 2), ("freeze", 1), ("exits", 2), ("crash", 1), ("reorg", 2), ("cheat", 1))

    def run(self, steps: int) -> None:
        """Each sequence draws how often relayers send anchors to the vault: often, seldom or
        never; seldom and never are when a vault freezes on an old anchor, or on none."""
        names, weights = zip(*self.STEPS)
        anchors = self.rng.choice((4, 1, 0))
        weights = tuple(anchors if name == "anchor" else w for name, w in self.STEPS)
        for _ in range(steps):
            name = self.rng.choices(names, weights)[0]
            self.steps.append(name)
            getattr(self, name)()
            self.world.block()  # the chain runs on whatever happens on Ethereum
            self.check(name)
        self.drain()

    def drain(self) -> None:
        """Pay everyone out: relay and sign everything, send the latest anchor if the vault is
        still live, freeze, pay, exit, reclaim. Then the books close exactly."""
        world = self.world
        relay_everything(world)
        if not world.frozen():
            if self.rng.random() < 0.5:  # the last anchor reaches the vault, or it freezes on an older one
                try:
                    world.submit_anchor()
                except Refused as refused:
                    assert refused.name == "StaleAnchorNonce", f"an honest anchor was refused: {refused}"
            world.pass_time(FREEZE_PERIOD_S)
        self.steps.append("drain")
        relay_everything(world)
        self.pay()
        for user in USERS:
            if user.address not in self.exited:
                self.honest("exit", lambda: world.exit(user))
            for nonce in world.reclaimable(user):
                self.honest(f"reclaim of deposit {nonce}", lambda: world.reclaim(user, nonce))
        self.check("drain")
        for user in USERS:
            assert world.gained(user) == world.chain_credit(user), (
                f"user 0x{user.address.hex()[:8]} ends with {world.gained(user)}, the chain credited "
                f"{world.chain_credit(user)}")
        assert world.token_balance(bytes.fromhex(world.vault.address[2:])) == 0, "the vault kept money"

    def check(self, step: str) -> None:
        message = self.world.broken()
        assert message is None, f"after {step}: {message}"


def test_no_sequence_of_events_pays_anyone_more_than_the_chain_credited(
        deployed: Deployed, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    steps = cheats = 0
    for seed in range(FIRST_SEED, FIRST_SEED + SEQUENCES):
        world = World(deployed, tmp_path / f"chain-{seed}")
        sequence = Sequence(world, seed)
        try:
            sequence.run(STEPS)
        except AssertionError as failure:
            raise AssertionError(f"seed {seed}, steps {' '.join(sequence.steps)}: {failure}") from None
        finally:
            world.close()
        steps += len(sequence.steps)
        cheats += sequence.cheated
    with capsys.disabled():
        print(f"\n[vault ledger] {SEQUENCES} sequences ({cheats} with a vote taken by a fraud proof), {steps} steps, "
              f"seeds {FIRST_SEED}..{FIRST_SEED + SEQUENCES - 1}: "
              "no user paid more than the chain credited, the vault solvent after every step, every honest "
              "payment paid, every sequence closed exactly")
