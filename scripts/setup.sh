#!/usr/bin/env bash
# One-step, idempotent set-up: Python env from uv.lock, cometbft into ./bin, protobuf types.
# Each step prints one line and skips itself when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

COMETBFT_VERSION="v0.38.26"
UV_VERSION="0.13.8"
ROOT="$(pwd)"
BIN="$ROOT/bin"
GEN="$ROOT/.gen/proto"
step() { printf '[setup] %s\n' "$*"; }

# 1. uv, pinned, in a project-local tools venv (no global install).
if [ ! -x .tools/venv/bin/uv ] || [ "$(.tools/venv/bin/uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  step "installing uv $UV_VERSION into .tools/venv"
  python3.11 -m venv .tools/venv 2>/dev/null || python3 -m venv .tools/venv
  .tools/venv/bin/pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi

# 2. Python dependencies exactly as locked.
step "python environment from uv.lock"
.tools/venv/bin/uv sync --frozen --quiet

# 3. cometbft, built from source at the pinned tag.
if [ -x "$BIN/cometbft" ] && [ "$("$BIN/cometbft" version 2>/dev/null)" = "${COMETBFT_VERSION#v}" ]; then
  step "cometbft $COMETBFT_VERSION already in bin/"
else
  step "building cometbft $COMETBFT_VERSION with go install (about a minute the first time)"
  mkdir -p "$BIN"
  GOBIN="$BIN" GOFLAGS=-mod=mod go install "github.com/cometbft/cometbft/cmd/cometbft@$COMETBFT_VERSION"
fi

# 4. Protobuf types: CometBFT's own .proto files of the pinned version, plus ours.
MODCACHE="$(go env GOMODCACHE)"
CMT_PROTO="$MODCACHE/github.com/cometbft/cometbft@$COMETBFT_VERSION/proto"
if [ ! -d "$CMT_PROTO" ]; then
  GOFLAGS=-mod=mod go mod download -x "github.com/cometbft/cometbft@$COMETBFT_VERSION" >/dev/null 2>&1 || true
fi
GOGO_DIR="$(ls -d "$MODCACHE"/github.com/cosmos/gogoproto@v1.* 2>/dev/null | sort -V | tail -n1)"
if [ -z "$GOGO_DIR" ]; then
  step "fetching gogoproto's .proto files"
  GOFLAGS=-mod=mod go mod download "github.com/cosmos/gogoproto@v1.7.0"
  GOGO_DIR="$MODCACHE/github.com/cosmos/gogoproto@v1.7.0"
fi
STAMP="$GEN/.stamp"
WANT="$COMETBFT_VERSION pyi $(cat wire/*.proto | sha256sum | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  step "protobuf types up to date in .gen/proto"
else
  step "generating protobuf types into .gen/proto"
  rm -rf "$GEN"; mkdir -p "$GEN"
  PROTOS=(
    tendermint/abci/types.proto tendermint/crypto/keys.proto tendermint/crypto/proof.proto
    tendermint/types/types.proto tendermint/types/params.proto tendermint/types/validator.proto
    tendermint/types/canonical.proto tendermint/version/types.proto
  )
  .venv/bin/python -m grpc_tools.protoc -I "$CMT_PROTO" -I "$GOGO_DIR" --python_out="$GEN" --pyi_out="$GEN" \
    "${PROTOS[@]}" gogoproto/gogo.proto
  .venv/bin/python -m grpc_tools.protoc -I "$ROOT/wire" --python_out="$GEN" --pyi_out="$GEN" "$ROOT"/wire/*.proto
  echo "$WANT" > "$STAMP"
fi
# ---------------------------------------------------------------------------------------------
# 5. Ethereum tools for the bridge, exactly as locked in package-lock.json (solc-js, anvil,
#    OpenZeppelin) into ./node_modules, skipped while the lock's hash matches the stamp; then the
#    bridge contracts compiled with solc-js into .gen/contracts, skipped while sources are unchanged.
NPM_STAMP="node_modules/.perpchain-lock.sha256"
NPM_WANT="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ -f "$NPM_STAMP" ] && [ "$(cat "$NPM_STAMP")" = "$NPM_WANT" ]; then
  step "npm packages up to date in node_modules/"
else
  step "installing npm packages from package-lock.json (npm ci: solc-js, anvil, OpenZeppelin)"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
  echo "$NPM_WANT" > "$NPM_STAMP"
fi
if .venv/bin/python -m bridge.contracts --check; then
  step "contracts up to date in .gen/contracts"
else
  step "compiling contracts with solc-js into .gen/contracts"
  .venv/bin/python -m bridge.contracts --build
fi
# ---------------------------------------------------------------------------------------------
# 6. The hot modules compiled to C with mypyc (app/native.py) into .gen/native, skipped
#    while they match the sources; needs a C compiler (gcc) and Python's headers.
if .venv/bin/python scripts/build_native.py --check; then
  step "compiled modules up to date in .gen/native"
else
  step "compiling the hot modules with mypyc into .gen/native (about half a minute)"
  .venv/bin/python scripts/build_native.py --build >/dev/null
fi

step "ready (cometbft: $BIN/cometbft, python: .venv/bin/python)"
