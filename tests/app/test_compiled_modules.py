"""The compiled hot modules (app/native.py): the test run uses them, they compute what the
sources compute, and a build that no longer matches the sources is never loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import modules.orderbook.book
from app import native

BLOCKS = 2_000  # the whole recorded chain: fills, liquidations, triggers, TWAPs and funding ticks
_REPLAY = f"""
import base64, json, sys, tempfile
from pathlib import Path
from app.driver import InProcessChain
from app.native import compiled_in_use
from sim.recording import load
from wire.pb import abci_pb
recording = load()
hashes = []
with tempfile.TemporaryDirectory() as directory:
    chain = InProcessChain.open(Path(directory))
    request = abci_pb.RequestInitChain()
    request.ParseFromString(base64.b64decode(recording.header["init_chain"]))
    chain.init_chain(request)
    for block in recording.blocks[:{BLOCKS}]:
        response = chain.block([base64.b64decode(tx) for tx in block["txs"]], block["time_ms"])
        hashes.append(response.app_hash.hex())
    chain.close()
print(json.dumps({{"compiled": compiled_in_use(), "app_hashes": hashes}}))
"""


def _environment(interpreted: bool) -> dict[str, str]:
    """This process's environment, with PERPCHAIN_INTERPRETED set only when `interpreted`."""
    env = {key: value for key, value in os.environ.items() if key != native.INTERPRETED_ENV}
    if interpreted:
        env[native.INTERPRETED_ENV] = "1"
    return env


def _replay(interpreted: bool) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", _REPLAY], cwd=native.ROOT, env=_environment(interpreted),
                          capture_output=True, text=True, timeout=600, check=True)
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_the_tests_run_the_compiled_modules() -> None:
    manifest = native.read_manifest()
    assert manifest is not None and native.fresh(manifest), "the compiled build is missing or stale: run `make setup`"
    assert Path(modules.orderbook.book.__file__).is_relative_to(native.LIB)


def test_compiled_and_interpreted_nodes_compute_the_same_app_hash_at_every_block() -> None:
    compiled, interpreted = _replay(interpreted=False), _replay(interpreted=True)
    assert "modules.orderbook.placement" in compiled["compiled"] and interpreted["compiled"] == []
    assert len(compiled["app_hashes"]) == BLOCKS
    assert compiled["app_hashes"] == interpreted["app_hashes"]


def test_a_changed_source_makes_the_build_stale() -> None:
    manifest = native.read_manifest()
    assert manifest is not None and native.fresh(manifest)
    for changed in ("modules/orderbook/twap.py", "modules/orderbook/book.py"):  # one not compiled, one compiled
        size, mtime_ns, digest = manifest["sources"][changed]
        edited = {**manifest, "sources": {**manifest["sources"], changed: [size + 1, mtime_ns, "0" * 64]}}
        assert not native.fresh(edited)
    touched = {**manifest, "sources": {**manifest["sources"]}}
    size, mtime_ns, digest = touched["sources"]["wire/codec.py"]
    touched["sources"]["wire/codec.py"] = [size, mtime_ns + 1, digest]  # a new time, the same bytes
    assert native.fresh(touched)
    assert not native.fresh({**manifest, "compiled": manifest["compiled"][1:]})
    missing = {**manifest, "sources": dict(list(manifest["sources"].items())[1:])}
    assert not native.fresh(missing)


def test_a_changed_extension_makes_the_build_stale() -> None:
    manifest = native.read_manifest()
    assert manifest is not None and native.fresh(manifest)
    name, (file, size, mtime_ns) = next(iter(manifest["extensions"].items()))
    assert not native.fresh({**manifest, "extensions": {**manifest["extensions"], name: [file, size - 1, mtime_ns]}})
    assert not native.fresh({**manifest, "extensions": {**manifest["extensions"], name: ["gone.so", size, mtime_ns]}})


def test_only_this_checkouts_packages_get_the_compiled_modules(tmp_path: Path) -> None:
    manifest = native.read_manifest()
    assert manifest is not None
    finder = native._Finder({name: str(native.LIB / entry[0]) for name, entry in manifest["extensions"].items()})
    here = [str(native.ROOT / "modules" / "orderbook")]
    spec = finder.find_spec("modules.orderbook.book", here)
    assert spec is not None and spec.origin is not None and Path(spec.origin).is_relative_to(native.LIB)
    assert finder.find_spec("modules.orderbook.book", [str(tmp_path / "modules" / "orderbook")]) is None
    assert finder.find_spec("modules.orderbook.twap", here) is None  # not compiled: the sources


def test_a_manifest_of_another_shape_runs_the_sources_without_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "manifest.json"
    for content in ("[]", '{"abi": 1}', "{", '{"abi": "x", "compiled": [], "extensions": 3}'):
        bad.write_text(content)
        done = subprocess.run([sys.executable, "-c", "import sys; from app import native; native.MANIFEST = "
                               f"__import__('pathlib').Path({str(bad)!r}); sys.meta_path[:] = [f for f in sys.meta_path "
                               "if not getattr(f, 'perpchain_native', False)]; print(native.install())"],
                              cwd=native.ROOT, env=_environment(interpreted=False), capture_output=True, text=True,
                              timeout=60, check=True)
        assert done.stdout.strip() == "False" and "Traceback" not in done.stderr
