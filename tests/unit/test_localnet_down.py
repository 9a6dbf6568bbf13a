"""`perpchain localnet down` after its supervisor died stops every process supervisor.json names."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from localnet.commands import down
from localnet.layout import Layout, LocalnetConfig


def _child(pid: int | None) -> dict[str, object]:
    return {"pid": pid, "restarts": 0, "last_exit": None}


def test_down_after_a_dead_supervisor_stops_the_bridge_it_recorded_as_well_as_the_nodes(tmp_path: Path) -> None:
    layout = Layout(tmp_path, LocalnetConfig(validators=1))
    layout.config_file.write_text(json.dumps({"validators": 1}))
    app, cometbft, anvil, relayer = (subprocess.Popen(["sleep", "60"]) for _ in range(4))
    try:
        layout.state_file.write_text(json.dumps({
            "pid": None,  # the supervisor is gone
            "nodes": [{"name": "node0", "held": False, "app": _child(app.pid), "cometbft": _child(cometbft.pid)}],
            "bridge": [{"name": "anvil", **_child(anvil.pid)}, {"name": "relayer0", **_child(relayer.pid)},
                       {"name": "relayer1", **_child(None)}],  # one never started
        }))
        assert down(tmp_path) == 0
        assert [p.wait(10) for p in (app, cometbft, anvil, relayer)] == [-15] * 4  # each stopped by SIGTERM
    finally:
        for process in (app, cometbft, anvil, relayer):
            process.kill()
