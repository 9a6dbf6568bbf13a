"""Malicious sequencing on 4 validators, one byzantine proposer per fault (byzantine_node.py):
`reorder` reverses its blocks' txs, `front-run` puts a taking order of its own trader's ahead of
the block's first taking order, `drop-oracle-tx` leaves the oracle tx out. The same trading flow
runs on each: a maker and two equal traders (the honest one, and the one the byzantine validator
trades for) rest asks, then three victims buy through them. Each honest validator refuses the
byzantine proposals, every committed block is in the canonical order (app/ordering.py), the chain
goes on, and the byzantine validator's trader ends no better than the honest one. Each account's
final collateral and equity are printed (`pytest -s`) and carried in the assertion messages."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pytest

from app.oracle_votes import is_oracle_tx
from app.ordering import proposal_order_error
from client import Client, PlaceOrder, PrivateKey, Side, TimeInForce
from tests.integration.conftest import Net, running_net
from tests.integration.test_localnet import _assert_same_app_hashes

pytestmark = pytest.mark.integration

BTC, PRICE = 1, 65_000_000_000
CHEAP, MIDDLE, DEAR = PRICE, PRICE + 650_000_000, PRICE + 1_300_000_000  # the ask levels: +0%, +1%, +2%
LEVEL_SIZE, VICTIM_SIZE = 20, 40  # the cheap and middle levels' orders; each victim's buy (atoms)
BYZANTINE = 3
MIN_ROUNDS, MAX_ROUNDS = 3, 40
# What the byzantine validator logs when its fault changed a proposal (tests/integration/byzantine_node.py).
FAULT_DONE = {"reorder": "BYZANTINE reordering", "front-run": "BYZANTINE front-running",
              "drop-oracle-tx": "BYZANTINE leaving the oracle tx out"}


def _log(net: Net, index: int) -> str:
    return net.layout.nodes[index].app_log.read_text(errors="replace")


def _send_all(client: Client, orders: list[tuple[PrivateKey, list[PlaceOrder]]]) -> set[int]:
    """Broadcast each account's tx at once, then wait until every one is in a block; the blocks' heights."""
    hashes = [client.send(key, actions, wait=False) for key, actions in orders]
    return {client.wait_for_tx(tx_hash).height for tx_hash in hashes}


def _round(net: Net, makers: Client, takers: Client, pause_blocks: int) -> set[int]:
    """The maker's cheap and dear asks and the two traders' middle asks rest; then the victims
    buy through the cheap and middle levels into the dear one, which they empty, `pause_blocks`
    blocks later (rounds of a fixed number of blocks would meet the same proposer every time).
    The heights of the victims' blocks."""
    maker, honest, *_ = net.traders
    victims = net.traders[2:5]
    _send_all(makers, [
        (maker, [PlaceOrder(0, BTC, Side.SELL, CHEAP, LEVEL_SIZE),
                 PlaceOrder(0, BTC, Side.SELL, DEAR, (VICTIM_SIZE - LEVEL_SIZE) * len(victims))]),
        (honest, [PlaceOrder(0, BTC, Side.SELL, MIDDLE, LEVEL_SIZE)]),
        (net.byzantine_trader, [PlaceOrder(0, BTC, Side.SELL, MIDDLE, LEVEL_SIZE)]),
    ])
    net.wait_all(net.height(BYZANTINE) + pause_blocks, nodes=[BYZANTINE])
    # sent through the byzantine validator, whose mempool has them first
    return _send_all(takers, [(v, [PlaceOrder(0, BTC, Side.BUY, DEAR, VICTIM_SIZE, TimeInForce.IOC)]) for v in victims])


def _account(client: Client, key: PrivateKey) -> dict[str, Any]:
    view = client.positions("0x" + key.address.hex())
    size = sum(int(p["size"]) for p in view["positions"])
    return {"collateral": int(view["collateral_micro_usdc"]), "equity": int(view["equity_micro_usdc"]), "size": size}


@dataclass(frozen=True)
class Block:
    height: int
    proposer: str
    seed: bytes  # the app hash its header carries: the previous block's, its order's seed
    txs: list[bytes]
    decided_round: int  # the consensus round it was decided in (> 0: a proposal before it was refused)


def _blocks(net: Net, first: int, last: int) -> list[Block]:
    with net.client(0) as client:
        raw = [client.rpc.call("block", height=str(h))["block"] for h in range(first, last + 2)]
    return [Block(int(b["header"]["height"]), b["header"]["proposer_address"], bytes.fromhex(b["header"]["app_hash"]),
                  [base64.b64decode(t) for t in b["data"]["txs"] or []], int(after["last_commit"]["round"]))
            for b, after in zip(raw, raw[1:])]


def _non_canonical(blocks: list[Block]) -> list[str]:
    """The committed blocks whose txs break the canonical order (app/ordering.py)."""
    problems = [(b.height, proposal_order_error([t for t in b.txs if not is_oracle_tx(t)], b.seed)) for b in blocks]
    return [f"height {height}: {problem}" for height, problem in problems if problem is not None]


@pytest.mark.parametrize("fault", ["reorder", "front-run", "drop-oracle-tx"])
def test_a_byzantine_proposer_is_refused_and_its_trader_ends_no_better_than_an_honest_one(
        tmp_path: Any, fault: str) -> None:
    with running_net(tmp_path / "ln", byzantine={BYZANTINE: fault}) as net:
        start = net.height(0)
        rounds, victim_heights = 0, set()
        with net.client(0) as makers, net.client(BYZANTINE) as takers:
            while rounds < MIN_ROUNDS or (FAULT_DONE[fault] not in _log(net, BYZANTINE) and rounds < MAX_ROUNDS):
                victim_heights |= _round(net, makers, takers, pause_blocks=rounds % 4)
                rounds += 1
        end = net.height(0)
        net.wait_all(end + 3)
        refusals = sum(_log(net, i).count("rejecting proposal") for i in range(BYZANTINE))
        with net.client(0) as client:
            accounts = {name: _account(client, key) for name, key in [
                ("maker", net.traders[0]), ("honest", net.traders[1]), ("victim1", net.traders[2]),
                ("victim2", net.traders[3]), ("victim3", net.traders[4]), ("byzantine", net.byzantine_trader)]}
        with net.client(BYZANTINE) as client:
            byzantine_address = client.rpc.call("status")["validator_info"]["address"]
        blocks = _blocks(net, start + 1, end)
        proposers = [b.proposer for b in blocks]
        victims_blocks = [b for b in blocks if b.height in victim_heights]
        summary = (f"[{fault}] {rounds} rounds, heights {start + 1}..{end} ({sum(p == byzantine_address for p in proposers)} "
                   f"proposed by the byzantine validator, {sum(b.decided_round > 0 for b in blocks)} decided after a "
                   f"refused round), the victims' {len(victims_blocks)} blocks decided in rounds "
                   f"{[b.decided_round for b in victims_blocks]}, {refusals} refusals by the honest validators; "
                   f"final collateral / equity / BTC size per account: "
                   + ", ".join(f"{name} {a['collateral']} / {a['equity']} / {a['size']}" for name, a in accounts.items()))
        print(summary)
        assert FAULT_DONE[fault] in _log(net, BYZANTINE), summary  # the fault did happen
        assert refusals > 0, summary
        assert _non_canonical(blocks) == [], summary
        assert len(set(proposers) - {byzantine_address}) == 3, summary  # the honest validators carry the chain
        if fault == "drop-oracle-tx":
            assert byzantine_address not in proposers, summary  # not one of its proposals passes
        honest, byzantine = accounts["honest"], accounts["byzantine"]
        assert honest["size"] == byzantine["size"] == -LEVEL_SIZE * rounds, summary
        assert byzantine["collateral"] <= honest["collateral"], summary
        assert byzantine["equity"] <= honest["equity"], summary
        _assert_same_app_hashes(net, [0, 1, 2, 3], start, min(net.height(i) for i in range(4)))
