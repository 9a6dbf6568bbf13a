"""Builds the compiled hot modules (app/native.py says which and how they are loaded):
`--build` compiles them with mypyc into .gen/native, records the sources they were built from
and writes the .pth file that loads them; `--check` exits 0 when that build matches the sources
and the .pth file is in place, 1 when not. scripts/setup.sh runs `--check`, then `--build` if
needed."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import sysconfig
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.native import (  # noqa: E402  (after the path: run as a script)
    BUILD,
    COMPILED,
    LIB,
    MANIFEST,
    PTH_NAME,
    ROOT,
    abi,
    extension_stamp,
    fresh,
    pth_line,
    read_manifest,
    source_files,
    source_stamp,
)

PTH = Path(sysconfig.get_paths()["purelib"]) / PTH_NAME


def build() -> None:
    """Compile COMPILED into .gen/native, then record what it was built from and write the .pth.
    The manifest goes first and comes back last: while it is missing, every process runs the
    sources; and it is not written at all when a source changed during the compile."""
    from mypyc.build import mypycify  # the build's tools, imported only to build
    from setuptools import setup

    MANIFEST.unlink(missing_ok=True)
    shutil.rmtree(BUILD, ignore_errors=True)
    before = _stamps()
    cwd = os.getcwd()
    os.chdir(ROOT)  # mypyc reads the mypy settings of pyproject.toml and names modules from here
    try:
        setup(name="perpchain-native", packages=[], py_modules=[],
              ext_modules=mypycify(list(COMPILED), opt_level="3", target_dir=str(BUILD / "c")),
              script_args=["--quiet", "build_ext", "--build-lib", str(LIB), "--build-temp", str(BUILD / "tmp")])
    finally:
        os.chdir(cwd)
    if _stamps() != before:
        raise SystemExit("a source changed while it was compiled: run the build again")
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    extensions = {str(path.relative_to(LIB))[: -len(suffix)].replace("/", "."): [str(path.relative_to(LIB)),
                                                                                *extension_stamp(path)]
                  for path in LIB.rglob(f"*{suffix}")}
    missing = [source for source in COMPILED if source[:-3].replace("/", ".") not in extensions]
    if missing:
        raise SystemExit(f"the build made no extension for {', '.join(missing)}")
    MANIFEST.write_text(json.dumps({"abi": abi(), "compiled": list(COMPILED), "extensions": extensions,
                                    "sources": before}, indent=1))
    PTH.write_text(pth_line())


def _stamps() -> dict[str, list[object]]:
    return {str(path.relative_to(ROOT)): source_stamp(path) for path in source_files()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/build_native.py", description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--build", action="store_true", help="compile the hot modules into .gen/native")
    action.add_argument("--check", action="store_true", help="exit 0 when the build matches the sources")
    args = parser.parse_args(argv)
    if args.build:
        build()
        return 0
    manifest = read_manifest()
    try:
        built = manifest is not None and fresh(manifest)
    except Exception:  # a manifest of another shape
        built = False
    return 0 if built and PTH.exists() and PTH.read_text() == pth_line() else 1


if __name__ == "__main__":
    raise SystemExit(main())
