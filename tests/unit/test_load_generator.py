"""The load generator's pure parts: the loopback guard, the tx flow and the figures it reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from client import PrivateKey, Side, save_key
from localnet.load import (
    BAD,
    BUY,
    QUOTE,
    SELL,
    BlockSeen,
    Flow,
    LoadConfig,
    RemoteNodeRefused,
    Sent,
    TxPlan,
    all_ok_results_hash,
    require_loopback,
    summarize,
)
from perpchain.cli import main


@pytest.mark.parametrize("url", ["http://127.0.0.1:26657", "http://127.9.8.7:1", "http://[::1]:26657",
                                 "http://localhost:26657", "http://LOCALHOST:26657", "https://127.0.0.1"])
def test_a_loopback_node_is_accepted(url: str) -> None:
    require_loopback(url)


@pytest.mark.parametrize("url", ["http://10.0.0.5:26657", "http://192.0.2.1:26657", "http://0.0.0.0:26657",
                                 "http://[2001:db8::1]:26657", "http://node.example.com:26657",
                                 "http://localhost.example.com:26657", "http://128.0.0.1:26657"])
def test_a_node_outside_loopback_is_refused(url: str) -> None:
    with pytest.raises(RemoteNodeRefused, match="not a loopback address"):
        require_loopback(url)


def test_a_node_url_without_a_host_is_refused() -> None:
    with pytest.raises(RemoteNodeRefused, match="names no host"):
        require_loopback("127.0.0.1:26657")


def test_the_load_config_refuses_a_remote_node_unless_allowed() -> None:
    faucet = PrivateKey.generate()
    with pytest.raises(RemoteNodeRefused):
        LoadConfig(nodes=["http://127.0.0.1:26657", "http://192.0.2.1:26657"], faucet=faucet)
    assert LoadConfig(nodes=["http://192.0.2.1:26657"], faucet=faucet, allow_remote=True).nodes == [
        "http://192.0.2.1:26657"]


def test_perpchain_load_refuses_a_remote_node_before_reading_anything(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    missing_root = tmp_path / "no-localnet"  # would fail differently if it were read
    code = main(["load", "--node", "http://192.0.2.1:26657", "--root", str(missing_root)])
    assert code == 2
    error = capsys.readouterr().err
    assert "192.0.2.1 is not a loopback address" in error and "--allow-remote" in error


def test_perpchain_load_checks_every_node_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "faucet.json"
    save_key(PrivateKey.generate(), key)
    code = main(["load", "--node", "http://127.0.0.1:1", "--node", "http://203.0.113.9:26657",
                 "--faucet-key", str(key)])
    assert code == 2
    assert "203.0.113.9 is not a loopback address" in capsys.readouterr().err


def test_a_seed_fixes_the_flow_and_its_share_of_bad_txs() -> None:
    kinds = TxPlan(7, 100_000).kinds(5_000)
    assert kinds == TxPlan(7, 100_000).kinds(5_000)
    assert kinds != TxPlan(8, 100_000).kinds(5_000)
    assert set(kinds) == {QUOTE, BUY, SELL, BAD}
    assert 400 <= kinds.count(BAD) <= 600  # 10% of 5,000, give or take sampling
    assert 2_800 <= kinds.count(QUOTE) + kinds.count(BAD) <= 3_200  # bad txs come out of the 60% maker share
    assert TxPlan(7, 0).kinds(2_000).count(BAD) == 0


def test_only_bad_txs_are_off_tick_and_makers_never_cross_each_other() -> None:
    flow = Flow(market_id=1, tick=100_000, mid=65_000_000_000, levels=15)
    quote = flow.actions(QUOTE)
    assert len(quote) == 31 and flow.orders(QUOTE) == 30  # cancel-all + 15 levels a side
    places = quote[1:]
    assert all(a.price % flow.tick == 0 for a in places)
    assert max(a.price for a in places if a.side == Side.BUY) < flow.mid < min(
        a.price for a in places if a.side == Side.SELL)
    assert all(a.post_only for a in places)
    assert flow.actions(BUY)[0].price % flow.tick == 0 and flow.actions(SELL)[0].price % flow.tick == 0
    assert flow.actions(BAD)[0].price % flow.tick != 0


def _sent(sequence: int, orders: int, submitted: float, checked: float, check_code: int | None,
          included: float = 0.0, height: int = 0, block_code: int | None = None) -> Sent:
    return Sent(sequence, QUOTE, orders, b"", submitted=submitted, checked=checked, check_code=check_code,
                included=included, height=height, block_code=block_code)


def test_txs_failing_in_their_block_are_counted_by_code_and_not_as_finalized_orders() -> None:
    config = LoadConfig(nodes=["http://127.0.0.1:1"], faucet=PrivateKey.generate(), rate=10)
    entries = [
        _sent(0, 30, 100.0, 100.01, 0, included=100.5, height=5, block_code=0),
        _sent(1, 30, 100.1, 100.12, 0, included=100.5, height=5, block_code=400),  # fails in the block
        _sent(2, 1, 100.2, 100.23, 300),  # refused at CheckTx
        _sent(3, 1, 100.3, 100.34, 0, included=101.0, height=6, block_code=0),
        _sent(4, 30, 100.4, 100.45, 0),  # accepted, never in a block
        _sent(5, 1, 100.5, 0.0, None),  # no answer
    ]
    blocks = [BlockSeen(4, 100.0, 1_000, 0, 0, 0), BlockSeen(5, 100.5, 1_400, 2, 2_000, 2),
              BlockSeen(6, 101.0, 1_900, 1, 100, 1)]
    figures = summarize(config, entries, blocks, [3, 9, 1], {"RemoteProtocolError": 1}, 2.0, 10_000)
    assert figures["sent_txs"] == 6
    assert figures["checktx_accepted_txs"] == 4
    assert figures["checktx_rejections_by_code"] == {"300": 1}
    assert figures["block_rejections_by_code"] == {"400": 1}
    assert (figures["included_txs"], figures["finalized_txs"], figures["lost_txs"]) == (3, 2, 1)
    assert figures["finalized_orders"] == 31
    assert figures["window_s"] == 1.0  # first submit 100.0 to the last finalized tx seen at 101.0
    assert (figures["orders_per_s"], figures["txs_per_s"]) == (31.0, 2.0)
    assert (figures["p50_ms"], figures["max_ms"]) == (700.0, 700.0)  # of the finalized: 500 and 700
    assert figures["p90_ms"] == 700.0 and figures["p99_ms"] == 700.0
    assert figures["checktx_max_ms"] == 50.0 and figures["checktx_p50_ms"] == 30.0
    assert figures["blocks"] == 2 and figures["block_interval_ms"] == 500.0  # heights 5..6 carried the run
    assert figures["block_fullness_percent_max"] == 20.0
    assert (figures["mempool_txs_max"], figures["mempool_txs_median"]) == (9, 3)
    assert figures["rpc_errors"] == {"RemoteProtocolError": 1}


def test_the_all_code_zero_results_hash_is_an_rfc6962_root_of_empty_leaves() -> None:
    import hashlib

    def leaf(data: bytes) -> bytes:
        return hashlib.sha256(b"\x00" + data).digest()

    def node(left: bytes, right: bytes) -> bytes:
        return hashlib.sha256(b"\x01" + left + right).digest()

    empty = leaf(b"")  # ExecTxResult{code 0, no data, no gas} serializes to no bytes
    assert all_ok_results_hash(0) == hashlib.sha256(b"").digest()
    assert all_ok_results_hash(1) == empty
    assert all_ok_results_hash(3) == node(node(empty, empty), empty)
    assert all_ok_results_hash(5) == node(node(node(empty, empty), node(empty, empty)), empty)
    assert all_ok_results_hash(6) == node(all_ok_results_hash(4), node(empty, empty))
