"""Downtime on real CometBFT (docs/staking.md): a validator stopped for longer than the downtime
window is jailed (its power 0 in CometBFT's set) while the other three keep making blocks; after
the cool-down its operator sends `perpchain tx unjail`, its power comes back and its signature is
in the commits again."""

from __future__ import annotations

import base64
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from genesis.builder import consensus_pub_key, validator_address
from tests.harness import ROOT, wait_until
from tests.integration.conftest import Net, running_net

pytestmark = pytest.mark.integration

PARAMS = {"power_unit_micro_usdc": 1_000_000, "downtime_window_blocks": 30, "downtime_min_signed_ppm": 500_000,
          "downtime_slash_ppm": 10_000, "jail_cooldown_blocks": 40}
POWER = 10  # LocalnetConfig.power_each: each validator bonds 10 units


def standing(net: Net, address: str) -> dict[str, Any]:
    with net.client(0) as client:
        return dict(client.query(f"/staking/validators/0x{address.lower()}"))


def signers(net: Net, height: int) -> set[str]:
    with net.client(0) as client:
        commit = client.rpc.call("commit", height=str(height))
    return {s["validator_address"] for s in commit["signed_header"]["commit"]["signatures"] if s["validator_address"]}


def cometbft_powers(net: Net) -> dict[str, int]:
    with net.client(0) as client:
        answer = client.rpc.call("validators")
    return {v["address"]: int(v["voting_power"]) for v in answer["validators"]}


def test_a_validator_down_past_the_window_is_jailed_then_unjails_and_signs_again(tmp_path: Path) -> None:
    with running_net(tmp_path / "localnet", staking_params=PARAMS) as net:
        down = net.layout.nodes[3]
        address = validator_address(base64.b64decode(consensus_pub_key(down.home)))
        assert standing(net, address)["power"] == str(POWER)
        net.supervisor.hold(3, signal.SIGKILL)
        wait_until(lambda: standing(net, address)["jailed"], 90, "validator 3 jailed for downtime", 0.5)
        jailed = standing(net, address)
        assert (jailed["tombstoned"], jailed["power"], jailed["slashed_micro_usdc"]) == \
            (False, "0", str(POWER * 1_000_000 // 100))
        wait_until(lambda: address not in cometbft_powers(net), 30, "validator 3 out of CometBFT's set", 0.2)
        going = net.height(0)
        net.wait_all(going + 10, nodes=[0, 1, 2])  # three of four: the chain goes on

        net.supervisor.release(3)
        until = int(jailed["jailed_until_height"])
        net.wait_all(until, nodes=[0, 3])
        key, password = net.layout.operator_key(3)
        sent = subprocess.run([sys.executable, "-m", "perpchain.cli", "tx", "unjail", "--key", str(key),
                               "--password-file", str(password), "--node", net.layout.nodes[0].rpc_url],
                              cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert sent.returncode == 0, sent.stderr
        back = POWER * 99 // 100  # the 1% slash took part of a unit: 9
        wait_until(lambda: standing(net, address)["power"] == str(back), 30, "validator 3's power back", 0.2)
        wait_until(lambda: cometbft_powers(net).get(address) == back, 30, "validator 3 in CometBFT's set", 0.2)
        later = net.height(0)
        net.wait_all(later + 5, nodes=[0])
        assert any(address in signers(net, height) for height in range(later + 1, later + 6)), \
            "validator 3 signs no commit after its unjail"
        assert standing(net, address)["jailed"] is False
