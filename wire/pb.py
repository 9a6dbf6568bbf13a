"""Protobuf modules generated at set-up (scripts/setup.sh) into .gen/proto, never committed.

protoc writes absolute imports (`from tendermint.crypto import ...`), so the generated tree must
be importable as top-level packages; this is the one place that arranges it.
"""

from __future__ import annotations

import sys
from pathlib import Path

GENERATED_DIR = Path(__file__).resolve().parent.parent / ".gen" / "proto"

if not (GENERATED_DIR / "perpchain_tx_pb2.py").exists():
    raise ImportError(f"protobuf types missing in {GENERATED_DIR}: run `make setup` (scripts/setup.sh)")
if str(GENERATED_DIR) not in sys.path:
    sys.path.append(str(GENERATED_DIR))

import perpchain_tx_pb2 as tx_pb  # noqa: E402
from tendermint.abci import types_pb2 as abci_pb  # noqa: E402
from tendermint.types import canonical_pb2 as canonical_pb  # noqa: E402

__all__ = ["abci_pb", "canonical_pb", "tx_pb"]
