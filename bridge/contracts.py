"""Builds the Solidity contracts with solc-js into .gen/contracts (client/artifacts.py loads them).

`python -m bridge.contracts --check` exits 0 when the artifacts match the sources, `--build`
compiles when they do not (scripts/setup.sh runs both).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys

from client.artifacts import (
    ARTIFACTS_DIR,
    COMPILE_SCRIPT,
    ROOT,
    ArtifactsMissing,
    artifacts_up_to_date,
    source_files,
    sources_fingerprint,
)

NODE_MODULES = ROOT / "node_modules"


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
