"""Builds the Solidity contracts with solc-js into .gen/contracts and loads the artifacts.

`python -m bridge.contracts --check` exits 0 when the artifacts match the sources, `--build`
compiles when they do not (scripts/setup.sh runs both). The fingerprint covers every `.sol` file
under bridge/contracts, the compile script and package-lock.json (the solc and OpenZeppelin pins).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS_DIR = ROOT / "bridge" / "contracts"
COMPILE_SCRIPT = ROOT / "bridge" / "compile.mjs"
PACKAGE_LOCK = ROOT / "package-lock.json"
NODE_MODULES = ROOT / "node_modules"
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


def build(*, force: bool = False) -> bool:
    """Compile into ARTIFACTS_DIR unless already up to date; return whether it compiled."""
    if not force and artifacts_up_to_date():
        return False
    if not (NODE_MODULES / "solc").is_dir():
        raise ArtifactsMissing(f"{NODE_MODULES / 'solc'} missing: run `make setup` (npm ci)")
    node = shutil.which("node")
    if node is None:
        raise ArtifactsMissing("`node` is not on PATH: solc-js needs Node.js")
    fingerprint = sources_fingerprint()
    staging = ARTIFACTS_DIR.with_name(ARTIFACTS_DIR.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    sources = [path.relative_to(ROOT).as_posix() for path in source_files()]
    result = subprocess.run(
        [node, str(COMPILE_SCRIPT.relative_to(ROOT)), str(staging), *sources],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(f"solc-js failed:\n{result.stderr.strip()}")
    if result.stderr.strip():
        print(result.stderr.strip(), file=sys.stderr)  # compiler warnings
    (staging / ".stamp").write_text(fingerprint + "\n")
    shutil.rmtree(ARTIFACTS_DIR, ignore_errors=True)
    staging.rename(ARTIFACTS_DIR)
    return True


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bridge.contracts", description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--check", action="store_true", help="exit 0 if the artifacts are up to date, else 1")
    group.add_argument("--build", action="store_true", help="compile unless up to date")
    parser.add_argument("--force", action="store_true", help="with --build: compile even if up to date")
    args = parser.parse_args(argv)
    if args.check:
        return 0 if artifacts_up_to_date() else 1
    build(force=args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
