"""The validator oracle on 4 validators: a wild price is outvoted, a malformed extension is
refused, and a proposer that forges or drops extensions is refused while the chain goes on."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import Net, running_net

pytestmark = pytest.mark.integration

BTC_REFERENCE = 65_000_000_000


def _btc_price(net: Net, index: int) -> int:
    with net.client(index) as client:
        [btc] = [p for p in client.oracle_prices() if p["ticker"] == "BTC-USD"]
    return int(btc["price"])


def _proposers(net: Net, first: int, last: int) -> list[str]:
    with net.client(0) as client:
        return [client.rpc.call("block", height=str(h))["block"]["header"]["proposer_address"]
                for h in range(first, last + 1)]


def _validator_address(net: Net, index: int) -> str:
    with net.client(index) as client:
        return str(client.rpc.call("status")["validator_info"]["address"])


def _log(net: Net, index: int) -> str:
    return net.layout.nodes[index].app_log.read_text(errors="replace")


def test_a_wild_price_from_one_validator_moves_nothing(tmp_path: Path) -> None:
    with running_net(tmp_path / "ln", price_sources={3: "sim-wild:3"}) as net:
        height = net.height(0) + 10
        net.wait_all(height)
        # every node, the same state (the oracle's included) at that height; the latest heights of
        # four nodes can differ by a block, so their latest prices are not compared
        assert len({net.app_hash(i, height) for i in range(4)}) == 1
        price = _btc_price(net, 0)
        # the honest feeds stay within 0.3% of the reference; the wild one reports 10x
        assert abs(price - BTC_REFERENCE) * 1000 < 3 * BTC_REFERENCE, price


def test_a_malformed_extension_is_refused_and_the_chain_goes_on(tmp_path: Path) -> None:
    with running_net(tmp_path / "ln", byzantine={2: "bad-extension"}) as net:
        start = net.height(0)
        net.wait_all(start + 10)
        assert "rejecting the vote extension" in _log(net, 0)
        assert abs(_btc_price(net, 0) - BTC_REFERENCE) * 1000 < 3 * BTC_REFERENCE


@pytest.mark.parametrize("fault", ["forge-oracle", "drop-oracle"])
def test_a_proposer_that_forges_or_drops_extensions_is_refused(tmp_path: Path, fault: str) -> None:
    with running_net(tmp_path / "ln", byzantine={1: fault}) as net:
        start = net.height(0)
        net.wait_all(start + 24, timeout_s=180)
        byzantine = _validator_address(net, 1)
        proposers = _proposers(net, start + 2, start + 24)
        assert byzantine not in proposers  # its proposals never pass ProcessProposal
        assert len(set(proposers)) == 3  # the three honest validators carry the chain
        assert "rejecting proposal" in _log(net, 0)
