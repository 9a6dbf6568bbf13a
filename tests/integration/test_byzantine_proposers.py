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
MIN_ROUNDS, MAX_ROUNDS = 3, 30
# What the byzantine validator logs when its fault changed a proposal (tests/integration/byzantine_node.py).
FAULT_DONE = {"reorder": "BYZANTINE reordering", "front-run": "BYZANTINE front-running",
              "drop-oracle-tx": "BYZANTINE leaving the oracle tx out"}


def _log(net: Net, index: int) -> str:
    return net.layout.nodes[index].app_log.read_text(errors="replace")


def _send_all(client: Client, orders: list[tuple[PrivateKey, list[PlaceOrder]]]) -> None:
    """Broadcast each account's tx at once, then wait until every one is in a block."""
    hashes = [client.send(key, actions, wait=False) for key, actions in orders]
    for tx_hash in hashes:
        client.wait_for_tx(tx_hash)


def _round(net: Net, makers: Client, takers: Client) -> None:
    """The maker's cheap and dear asks and the two traders' middle asks rest; then the victims
    buy through the cheap and middle levels into the dear one, which they empty."""
    maker, honest, *_ = net.traders
    victims = net.traders[2:5]
    _send_all(makers, [
        (maker, [PlaceOrder(0, BTC, Side.SELL, CHEAP, LEVEL_SIZE),
                 PlaceOrder(0, BTC, Side.SELL, DEAR, (VICTIM_SIZE - LEVEL_SIZE) * len(victims))]),
        (honest, [PlaceOrder(0, BTC, Side.SELL, MIDDLE, LEVEL_SIZE)]),
        (net.byzantine_trader, [PlaceOrder(0, BTC, Side.SELL, MIDDLE, LEVEL_SIZE)]),
    ])
    # sent through the byzantine validator, whose mempool has them first
    _send_all(takers, [(v, [PlaceOrder(0, BTC, Side.BUY, DEAR, VICTIM_SIZE, TimeInForce.IOC)]) for v in victims])


def _account(client: Client, key: PrivateKey) -> dict[str, Any]:
    view = client.positions("0x" + key.address.hex())
    size = sum(int(p["size"]) for p in view["positions"])
    return {"collateral": int(view["collateral_micro_usdc"]), "equity": int(view["equity_micro_usdc"]), "size": size}


def _non_canonical_blocks(net: Net, first: int, last: int) -> list[str]:
    """The committed blocks whose txs break the canonical order seeded by the app hash their
    header carries (the previous block's)."""
    broken = []
    with net.client(0) as client:
        for height in range(first, last + 1):
            block = client.rpc.call("block", height=str(height))["block"]
            txs = [base64.b64decode(t) for t in block["data"]["txs"] or []]
            problem = proposal_order_error([t for t in txs if not is_oracle_tx(t)],
                                           bytes.fromhex(block["header"]["app_hash"]))
            if problem is not None:
                broken.append(f"height {height}: {problem}")
    return broken


def _proposers(net: Net, first: int, last: int) -> list[str]:
    with net.client(0) as client:
        return [client.rpc.call("block", height=str(h))["block"]["header"]["proposer_address"]
                for h in range(first, last + 1)]


@pytest.mark.parametrize("fault", ["reorder", "front-run", "drop-oracle-tx"])
def test_a_byzantine_proposer_is_refused_and_its_trader_ends_no_better_than_an_honest_one(
        tmp_path: Any, fault: str) -> None:
    with running_net(tmp_path / "ln", byzantine={BYZANTINE: fault}) as net:
        start = net.height(0)
        rounds = 0
        with net.client(0) as makers, net.client(BYZANTINE) as takers:
            while rounds < MIN_ROUNDS or (FAULT_DONE[fault] not in _log(net, BYZANTINE) and rounds < MAX_ROUNDS):
                _round(net, makers, takers)
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
        summary = (f"[{fault}] {rounds} rounds, heights {start}..{end}, {refusals} refusals by the honest "
                   f"validators; final collateral / equity / BTC size per account: "
                   + ", ".join(f"{name} {a['collateral']} / {a['equity']} / {a['size']}" for name, a in accounts.items()))
        print(summary)
        assert FAULT_DONE[fault] in _log(net, BYZANTINE), summary  # the fault did happen
        assert refusals > 0, summary
        assert _non_canonical_blocks(net, start + 1, end) == [], summary
        proposers = _proposers(net, start + 1, end)
        assert len(set(proposers) - {byzantine_address}) == 3, summary  # the honest validators carry the chain
        if fault == "drop-oracle-tx":
            assert byzantine_address not in proposers, summary  # not one of its proposals passes
        honest, byzantine = accounts["honest"], accounts["byzantine"]
        assert honest["size"] == byzantine["size"] == -LEVEL_SIZE * rounds, summary
        assert byzantine["collateral"] <= honest["collateral"], summary
        assert byzantine["equity"] <= honest["equity"], summary
        _assert_same_app_hashes(net, [0, 1, 2, 3], start, min(net.height(i) for i in range(4)))
