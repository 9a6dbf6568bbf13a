"""web3 takes a second or more to import: the client's chain-only users (the terminal, the CLI's
chain commands) must not pay for it, so client.bridge and client.anchor load it (through
client.eth) only once Ethereum is used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_bridge_and_anchor_clients_load_web3_only_once_ethereum_is_used() -> None:
    probe = "import sys, client, client.bridge, client.anchor; print('web3' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "False"
