"""The state machine's hot modules compiled to C with mypyc, loaded only while they match the
sources (docs/performance.md, "Compiled modules").

The sources stay the one definition: mypyc compiles the same typed Python to C extensions, with
Python's semantics (integers of any size, the same iteration orders, the same exceptions), so a
compiled node and an interpreted one compute the same app hash. What changes is the CPU an order
costs. `make setup` builds them into .gen/native (`scripts/build_native.py --build`) and
writes a one-line .pth file into the virtualenv that runs this file at every interpreter
start. Importing it puts a finder in front of Python's own, which loads the compiled modules
when, and only when, every first-party source they may depend on is byte for byte the one they
were built from. Change any of them, and every process runs the sources until the next `make
setup`: a stale build is never run, and it is never half used (compiled modules call each other
directly, so it is all or nothing).

  python scripts/build_native.py --build   compile COMPILED, write the manifest and the .pth file
  python scripts/build_native.py --check   exit 0 when the build matches the sources, 1 when not
  PERPCHAIN_INTERPRETED=1                  run the sources even when the build matches (profilers
                                           see into them; a test compares the two)
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import sysconfig
from pathlib import Path
from types import ModuleType
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".gen" / "native"
LIB = BUILD / "lib"
MANIFEST = BUILD / "manifest.json"
PTH_NAME = "perpchain_native.pth"
INTERPRETED_ENV = "PERPCHAIN_INTERPRETED"
# What every order passes through: decoding, the ABCI results, the store and its tree, the
# engine, placement and the margin it checks, and the records and keys they pass each other
# (orders, actions, subaccount ids, stored encodings). Compiled together (one C library), so
# their calls to each other and their reads of each other's records skip the interpreter.
COMPILED = (
    "app/event_encoding.py",
    "app/router.py",
    "app/store.py",
    "app/tree.py",
    "modules/auth/keeper.py",
    "modules/auth/nonces.py",
    "modules/bank/keeper.py",
    "modules/bank/keys.py",
    "modules/context.py",
    "modules/encoding.py",
    "modules/funding/keeper.py",
    "modules/margin/funding_settlement.py",
    "modules/margin/keeper.py",
    "modules/margin/keys.py",
    "modules/margin/risk.py",
    "modules/margin/touched.py",
    "modules/margin/types.py",
    "modules/markets/keeper.py",
    "modules/markets/types.py",
    "modules/oracle/keeper.py",
    "modules/orderbook/actions.py",
    "modules/orderbook/book.py",
    "modules/orderbook/keeper.py",
    "modules/orderbook/keys.py",
    "modules/orderbook/msg_server.py",
    "modules/orderbook/params.py",
    "modules/orderbook/placement.py",
    "modules/orderbook/types.py",
    "modules/store.py",
    "modules/types.py",
    "wire/codec.py",
    "wire/proofs.py",
    "wire/varint.py",
)
# A compiled module may inline what it imports (a constant, a class's layout), so the build
# matches the sources only while every first-party module of the layers it is built from does,
# and the protobuf definitions, the locked compiler and the mypy settings it was built with.
DEPENDED_ON = ("app", "modules", "wire")
BUILT_WITH = ("pyproject.toml", "uv.lock", "wire/*.proto")


def source_files() -> list[Path]:
    return sorted([*(path for layer in DEPENDED_ON for path in (ROOT / layer).rglob("*.py")),
                   *(path for pattern in BUILT_WITH for path in ROOT.glob(pattern))])


def _fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source_stamp(path: Path) -> list[Any]:
    """What the manifest records of a source: its size, its modification time and its digest."""
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns, _fingerprint(path)]


def extension_stamp(path: Path) -> list[Any]:
    """What the manifest records of a built extension: its size and modification time."""
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def abi() -> str:
    return f"{sys.implementation.cache_tag} {sysconfig.get_config_var('EXT_SUFFIX')}"


def fresh(manifest: dict[str, Any]) -> bool:
    """Whether the build the manifest describes is whole and matches this interpreter and the
    sources now: the same compiled list, each extension as built, and each source the same size
    and time or, failing those, the same bytes."""
    if manifest.get("abi") != abi() or manifest.get("compiled") != list(COMPILED):
        return False
    for file, size, mtime_ns in manifest["extensions"].values():
        try:
            if extension_stamp(LIB / file) != [size, mtime_ns]:
                return False
        except OSError:
            return False
    recorded: dict[str, list[Any]] = manifest["sources"]
    sources = source_files()
    if len(recorded) != len(sources):
        return False
    for path in sources:
        entry = recorded.get(str(path.relative_to(ROOT)))
        if entry is None:
            return False
        size, mtime_ns, digest = entry
        stat = path.stat()
        if (stat.st_size, stat.st_mtime_ns) != (size, mtime_ns) and _fingerprint(path) != digest:
            return False
    return True


def read_manifest() -> dict[str, Any] | None:
    try:
        manifest = json.loads(MANIFEST.read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


class _Finder(importlib.abc.MetaPathFinder):
    """Finds the compiled modules (and the C library they share) in the build, before the
    sources: a module only as part of this checkout's packages (a process of another checkout
    that shares the virtualenv gets its own sources)."""

    perpchain_native = True  # what install() recognizes, whichever copy of this module made it

    def __init__(self, extensions: dict[str, str]) -> None:
        self.extensions = extensions

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        file = self.extensions.get(fullname)
        if file is None or (path is not None and not any(Path(p).resolve().is_relative_to(ROOT) for p in path)):
            return None
        return importlib.util.spec_from_file_location(fullname, file,
                                                      loader=importlib.machinery.ExtensionFileLoader(fullname, file))


def install() -> bool:
    """Put the finder in front when the build matches the sources (and PERPCHAIN_INTERPRETED is
    not set); whether it did. Run by the .pth file at every interpreter start, and on import, so
    it never raises: whatever is wrong with the build, the sources run."""
    if os.environ.get(INTERPRETED_ENV) or any(getattr(f, "perpchain_native", False) for f in sys.meta_path):
        return False
    try:
        manifest = read_manifest()
        if manifest is None or not fresh(manifest):
            return False
        extensions = {name: str(LIB / entry[0]) for name, entry in manifest["extensions"].items()}
    except Exception:  # a manifest of another shape: the sources run, and the next `make setup` builds anew
        return False
    sys.meta_path.insert(0, _Finder(extensions))
    return True


def pth_line() -> str:
    """The .pth file's line: this file run as a module of its own, so that an interpreter start
    imports no package of the project (a process of another checkout imports its own `app`);
    nothing when the file is gone (the checkout moved or was removed)."""
    return (f"import os, importlib.util as u; p = {str(Path(__file__).resolve())!r}; "
            "s = os.path.exists(p) and u.spec_from_file_location('_perpchain_native', p); "
            "s and s.loader.exec_module(u.module_from_spec(s))\n")


def compiled_in_use() -> list[str]:
    """The compiled modules this process has imported from the build."""
    return sorted(name for name, module in list(sys.modules.items())
                  if str(getattr(module, "__file__", "") or "").startswith(str(LIB)))


install()
