"""A throwaway localnet of N validators on free loopback ports, for benches and chaos: created,
started, handed over, and stopped with every process it ran when the block ends."""

from __future__ import annotations

import logging
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from localnet.commands import wait_for_blocks
from localnet.create import create_or_resume
from localnet.layout import PORTS_PER_NODE, Layout, LocalnetConfig
from localnet.ports import free_port_block
from localnet.supervisor import Supervisor

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COMETBFT = PROJECT_ROOT / "bin" / "cometbft"


@contextmanager
def fresh_localnet(validators: int, block_time_ms: int = 200, root: Path | None = None,
                   prefix: str = "perpchain-localnet-", snapshot_interval: int = 0) -> Iterator[Supervisor]:
    """A new localnet at `root` (or in a temporary folder named with `prefix`), making blocks,
    until the block ends; `snapshot_interval`: its nodes' (0: none, so no state sync). The
    supervisor's own log lines go to its log file, not the screen."""
    with tempfile.TemporaryDirectory(prefix=prefix) as temporary:
        where = root if root is not None else Path(temporary) / "ln"
        if Layout.load(where) is not None:
            raise ValueError(f"{where} already holds a localnet; start from a fresh folder")
        config = LocalnetConfig(validators=validators, block_time_ms=block_time_ms,
                                port_base=free_port_block(PORTS_PER_NODE * validators + 5),
                                snapshot_interval=snapshot_interval)
        layout, _ = create_or_resume(where, config, COMETBFT)
        handler = logging.FileHandler(layout.supervisor_log)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        supervisor_log = logging.getLogger("perpchain.localnet")
        level = supervisor_log.level
        supervisor_log.addHandler(handler)
        supervisor_log.setLevel(logging.INFO)
        supervisor = Supervisor(layout, COMETBFT, PROJECT_ROOT)
        try:
            supervisor.start()
            wait_for_blocks(layout)
            yield supervisor
        finally:
            for index in range(validators):  # a stopped (paused) process ignores SIGTERM until continued
                supervisor.signal_node(index, signal.SIGCONT)
            supervisor.stop()
            supervisor_log.removeHandler(handler)
            supervisor_log.setLevel(level)
            handler.close()
