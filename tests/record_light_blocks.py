"""Records what a real 4-validator localnet's CometBFT answers for /commit and /validators at a few
heights into tests/unit/data/light_blocks.json, the input of tests/unit/test_light.py (which needs
no running node). Re-record with `python -m tests.record_light_blocks` after a CometBFT upgrade.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from tests.integration.conftest import running_net

OUT = Path(__file__).resolve().parent / "unit" / "data" / "light_blocks.json"
HEIGHTS = (1, 2, 6)  # a trust root, the header after it, and a later one reached by skipping


def record(out: Path = OUT) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder, running_net(Path(folder) / "localnet") as net:
        net.wait_all(max(HEIGHTS) + 1, nodes=[0])
        with net.client(0) as client:
            blocks = {str(height): {
                "commit": client.rpc.call("commit", height=str(height)),
                "validators": client.rpc.call("validators", height=str(height), per_page="100"),
            } for height in HEIGHTS}
            recorded = {"chain_id": client.chain_id(), "blocks": blocks}
    out.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    return recorded


if __name__ == "__main__":
    print(f"recorded heights {sorted(record()['blocks'], key=int)} into {OUT}")
