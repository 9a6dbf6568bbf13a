"""A throwaway PostgreSQL server for tests: initdb into a folder, pg_ctl start on a free loopback
port, stopped and gone afterwards. Skips the test (with the reason) where no PostgreSQL is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from localnet.ports import free_port

SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/bin", "/usr/lib/postgresql/15/bin"])
SERVICE_USER = "postgres"  # initdb refuses to run as root: as root, the server runs as this user


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", SERVICE_USER, "--", *argv] if os.geteuid() == 0 else argv


@contextmanager
def temporary_postgres(folder: Path) -> Iterator[str]:
    """A SQLAlchemy URL (psycopg) of a new empty database served from `folder`."""
    initdb, pg_ctl = shutil.which("initdb", path=SEARCH_PATH), shutil.which("pg_ctl", path=SEARCH_PATH)
    if initdb is None or pg_ctl is None:
        pytest.skip("no PostgreSQL here: initdb and pg_ctl are not on PATH or in /usr/local/bin")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: initdb refuses root")
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(folder, SERVICE_USER)
        folder.chmod(0o700)
        parent = folder.parent
        while parent != parent.parent:  # the server user must reach its folder
            parent.chmod(parent.stat().st_mode | 0o711)
            parent = parent.parent
    data, port = folder / "data", free_port()
    subprocess.run(_as_server_user([initdb, "-D", str(data), "-U", "indexer", "--auth=trust", "-E", "UTF8"]),
                   check=True, capture_output=True)
    subprocess.run(_as_server_user([pg_ctl, "-D", str(data), "-l", str(folder / "server.log"), "-w", "-o",
                                    f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start"]),
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://indexer@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_server_user([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]), capture_output=True)
