#!/usr/bin/env bash
# `make run`: a one-validator perpchain on loopback, state kept in .data/single between runs.
# Ctrl-C stops both processes; running it again resumes from the stored chain.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=.data/single
P=".venv/bin/perpchain"
PORT_BASE="${PERPCHAIN_PORT_BASE:-26656}"
RPC="http://127.0.0.1:$((PORT_BASE + 1))"

if [ ! -f "$DIR/cometbft/config/genesis.json" ]; then
  echo "[run] new chain in $DIR (faucet key $DIR/faucet.json holds 1,000,000 USDC)"
  $P genesis --home "$DIR/cometbft" --port-base "$PORT_BASE" --faucet-key "$DIR/faucet.json" > /dev/null
fi
mkdir -p "$DIR"
$P node --data "$DIR/app-data" --abci "tcp://127.0.0.1:$((PORT_BASE + 2))" >> "$DIR/app.log" 2>&1 &
APP=$!
sleep 0.5
bin/cometbft node --home "$DIR/cometbft" >> "$DIR/cometbft.log" 2>&1 &
CMT=$!
trap 'echo; echo "[run] stopping"; kill $CMT 2>/dev/null; wait $CMT 2>/dev/null; kill $APP 2>/dev/null; wait $APP 2>/dev/null; exit 0' INT TERM

for _ in $(seq 1 100); do
  if $P query path /app/status --node "$RPC" 2>/dev/null | grep -q '"height": [1-9]'; then break; fi
  sleep 0.2
done
FAUCET=$($P keys show "$DIR/faucet.json")
cat <<MSG
[run] perpchain is producing blocks.
      RPC        $RPC
      logs       $DIR/app.log, $DIR/cometbft.log
      faucet     $FAUCET ($DIR/faucet.json)
Try, in another terminal:
      $P keys new $DIR/me.json
      $P tx transfer --key $DIR/faucet.json --to \$($P keys show $DIR/me.json) --amount 250 --node $RPC
      $P query balance \$($P keys show $DIR/me.json) --node $RPC
Ctrl-C stops the chain; \`make run\` again resumes it.
MSG
while kill -0 $APP 2>/dev/null && kill -0 $CMT 2>/dev/null; do sleep 1; done
echo "[run] a process exited; see $DIR/app.log and $DIR/cometbft.log" >&2
kill $CMT $APP 2>/dev/null || true
exit 1
