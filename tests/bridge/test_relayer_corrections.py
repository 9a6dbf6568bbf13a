"""What a relayer sends for deposits the chain already has from it (bridge/relayer.py,
`_corrections`), beside a stand-in chain: a deposit read once is done without asking; one read
again after a rewind (a nonce up to `reread_through`) is claimed again, disputed, or its dispute
withdrawn, as Ethereum now holds it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge.relayer import Relayer, RelayerState
from client.bridge import BridgeClient
from modules.bridge.types import ClaimDeposit

ME = "0A" * 20


def _deposit(nonce: int, block: int) -> dict[str, Any]:
    return {"eth_block": block, "eth_tx_hash": f"{block:064x}", "sender": "11" * 20, "recipient": "22" * 20,
            "subaccount": 0, "amount": "5000000"}


class Chain(BridgeClient):
    """The chain's answer to deposit_status for each nonce; `asked` records the nonces asked for."""

    def __init__(self, answers: dict[int, dict[str, Any]]) -> None:
        self.answers = answers
        self.asked: list[int] = []

    def deposit_status(self, nonce: int) -> dict[str, Any]:
        self.asked.append(nonce)
        return self.answers[nonce]


def _relayer(tmp_path: Path, answers: dict[int, dict[str, Any]], reread_through: int) -> tuple[Relayer, Chain]:
    relayer = Relayer.__new__(Relayer)
    relayer._consensus_address = ME
    relayer.state = RelayerState(tmp_path / "state.json", 0)
    relayer.state.pending = {nonce: _deposit(nonce, 100 + nonce) for nonce in answers}
    relayer.state.reread_through = reread_through
    relayer.bridge = chain = Chain(answers)
    return relayer, chain


def _hash(relayer: Relayer, nonce: int) -> str:
    return relayer._claim_of(nonce).content_hash().hex()


def test_deposits_read_once_are_done_without_asking_the_chain(tmp_path: Path) -> None:
    relayer, chain = _relayer(tmp_path, {1: {}, 2: {}}, reread_through=0)
    assert relayer._corrections(next_nonce=3, mine=2, halted=False) == []
    assert chain.asked == [] and relayer.state.pending == {}


def test_a_reread_deposit_is_disputed_then_its_dispute_withdrawn_when_ethereum_holds_the_credit_again(
        tmp_path: Path) -> None:
    relayer, chain = _relayer(tmp_path, {1: {}}, reread_through=1)
    mine = _hash(relayer, 1)
    other = "ff" * 32
    chain.answers[1] = {"status": "credited", "content_hash": other, "disputes": []}
    [dispute] = relayer._corrections(next_nonce=2, mine=1, halted=True)  # disputes go out while halted too
    assert isinstance(dispute, ClaimDeposit) and dispute.content_hash().hex() == mine
    chain.answers[1] = {"status": "credited", "content_hash": other, "disputes": [{"validator": ME, "content_hash": mine}]}
    assert relayer._corrections(next_nonce=2, mine=1, halted=False) == []  # the chain holds the dispute: done
    assert relayer.state.pending == {}

    # Ethereum reorgs back: the deposit read again is the credited one, and this validator's dispute stands.
    relayer.state.pending = {1: _deposit(1, 101)}  # read again after another rewind
    chain.answers[1] = {"status": "credited", "content_hash": mine, "disputes": [{"validator": ME, "content_hash": other}]}
    [withdrawal] = relayer._corrections(next_nonce=2, mine=1, halted=False)
    assert withdrawal.content_hash().hex() == mine  # a late claim with the credited content withdraws the dispute
    chain.answers[1] = {"status": "credited", "content_hash": mine, "disputes": []}
    assert relayer._corrections(next_nonce=2, mine=1, halted=False) == [] and relayer.state.pending == {}


def test_a_reread_uncredited_deposit_is_claimed_again_unless_deposits_are_halted(tmp_path: Path) -> None:
    relayer, chain = _relayer(tmp_path, {3: {}}, reread_through=3)
    chain.answers[3] = {"status": "pending", "claims": [{"validator": ME, "content_hash": "ee" * 32}]}
    assert relayer._corrections(next_nonce=3, mine=3, halted=True) == []
    assert 3 in relayer.state.pending  # kept for after the resume
    [again] = relayer._corrections(next_nonce=3, mine=3, halted=False)
    assert again.deposit_nonce == 3
