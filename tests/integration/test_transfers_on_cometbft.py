"""Signed transfers through client/ on a real cometbft + app, read back through abci_query."""

from __future__ import annotations

import pytest

from client import PrivateKey, SubaccountId, TxRejected
from tests.harness import LocalChain

pytestmark = pytest.mark.integration


def test_transfers_land_in_blocks_and_balances_read_back(chain: LocalChain) -> None:
    alice, bob, carol = chain.keys
    with chain.client() as client:
        first = client.transfer(alice, SubaccountId(bob.address, 0), 250_000_000)
        second = client.transfer(bob, SubaccountId(carol.address, 5), 100_000_001)
        assert first.height >= 1 and second.height >= first.height
        event = next(e for e in first.events if e.type == "transfer")
        assert event.attributes["amount_micro_usdc"] == "250000000"
        assert event.attributes["recipient"] == "0x" + bob.address.hex()

        def balance(key: PrivateKey, number: int = 0) -> int:
            return client.balance("0x" + key.address.hex(), number).amount_micro_usdc

        assert balance(alice) == 750_000_000
        assert balance(bob) == 1_149_999_999
        assert balance(carol) == 1_000_000_000
        assert balance(carol, 5) == 100_000_001
        assert client.query("/bank/supply") == {"supply_micro_usdc": "3000000000"}


def test_many_concurrent_txs_from_one_account_all_land(chain: LocalChain) -> None:
    """Nonces are timestamps, not sequences: 40 txs in flight at once from one account."""
    alice, bob, _ = chain.keys
    with chain.client() as client:
        hashes: list[str] = []
        for _ in range(40):
            tx_hash = client.transfer(alice, SubaccountId(bob.address, 1), 1_000_000, wait=False)
            hashes.append(tx_hash)
        results = [client.wait_for_tx(h) for h in hashes]
        assert {r.tx_hash for r in results} == set(hashes)
        assert client.balance("0x" + bob.address.hex(), 1).amount_micro_usdc == 40_000_000


def test_a_tx_failing_in_check_surfaces_the_chain_code(chain: LocalChain) -> None:
    alice, bob, _ = chain.keys
    with chain.client() as client:
        with pytest.raises(TxRejected) as rejected:
            client.transfer(alice, SubaccountId(bob.address, 0), 5_000_000_000)
        assert (rejected.value.code, rejected.value.codespace, rejected.value.stage) == (100, "bank", "check")
        assert "holds 1000000000 micro-USDC" in rejected.value.log
        assert client.balance("0x" + alice.address.hex()).amount_micro_usdc == 1_000_000_000
