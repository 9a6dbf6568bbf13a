"""The compiled contracts (.gen/contracts/<Contract>.json: ABI and bytecode) and whether they
match their sources. bridge/contracts.py builds them (`make setup`); this module only reads, so
it needs neither Node.js nor web3.

The fingerprint covers every `.sol` file under bridge/contracts, the compile script and
package-lock.json (the solc and OpenZeppelin pins).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS_DIR = ROOT / "bridge" / "contracts"
COMPILE_SCRIPT = ROOT / "bridge" / "compile.mjs"
PACKAGE_LOCK = ROOT / "package-lock.json"
ARTIFACTS_DIR = ROOT / ".gen" / "contracts"
STAMP = ARTIFACTS_DIR / ".stamp"


class ArtifactsMissing(RuntimeError):
    """The compiled contracts are absent or older than their sources: run `make setup`."""


@dataclass(frozen=True)
class Artifact:
    """One compiled contract: its ABI and creation bytecode (0x-prefixed hex)."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    compiler: str


def source_files() -> list[Path]:
    """Every Solidity source, sorted so the build and its fingerprint are reproducible."""
    return sorted(CONTRACTS_DIR.rglob("*.sol"))


def sources_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in [*source_files(), COMPILE_SCRIPT, PACKAGE_LOCK]:
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def artifacts_up_to_date() -> bool:
    return STAMP.is_file() and STAMP.read_text().strip() == sources_fingerprint()


def load_artifact(name: str) -> Artifact:
    """The compiled contract `name` (e.g. "Vault"); raises ArtifactsMissing when not built or stale."""
    if not artifacts_up_to_date():
        raise ArtifactsMissing(f"contracts in {ARTIFACTS_DIR} are missing or stale: run `make setup`")
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.is_file():
        raise ArtifactsMissing(f"no artifact {path}: is there a contract {name} in {CONTRACTS_DIR}?")
    data = json.loads(path.read_text())
    return Artifact(
        name=data["contractName"],
        abi=data["abi"],
        bytecode=data["bytecode"],
        deployed_bytecode=data["deployedBytecode"],
        compiler=data["compiler"],
    )
