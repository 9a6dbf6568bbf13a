"""Shared fixtures. Integration tests (marked `integration`) run the real cometbft binary."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.harness import COMETBFT, LocalChain


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: runs real cometbft processes on loopback")


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[LocalChain]:
    """A running one-validator chain with three funded accounts (1,000 USDC each)."""
    if not COMETBFT.exists():
        pytest.fail(f"{COMETBFT} missing: run `make setup`")
    local = LocalChain.create(tmp_path)
    try:
        local.start()
        yield local
    finally:
        local.stop()
