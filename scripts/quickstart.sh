#!/usr/bin/env bash
# The main job on a sample archive: installs what is missing (scripts/setup.sh), compiles the
# workspace (`pnpm build`: `cxr` runs the compiled JavaScript), generates a
# sample archive of phantom chest CRs (every transfer syntax, plus broken files that must be
# rejected with a reason) and a seeded DenseNet121 bundle, then screens the archive with
# `cxr screen` into a SQLite store and prints the summary. Everything lands in .cxr-demo/.
# The seed model's weights are random: its scores show the pipeline works, not a diagnosis.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

log "pnpm build"
pnpm build

DEMO=.cxr-demo
log "sample archive and seed model in $DEMO/"
pnpm -s fixtures >/dev/null
mkdir -p "$DEMO/archive"
cp packages/fixtures/out/small/*.dcm "$DEMO/archive/"
[ -f "$DEMO/model/manifest.json" ] || pnpm -s cxr model init --out "$DEMO/model" --size 224

log "cxr screen"
# A queue prefix of its own, so the demo never shares queues with another pipeline on this Redis.
CXR_QUEUE_PREFIX=cxr-demo pnpm -s cxr screen "file://$PWD/$DEMO/archive" \
  --model "$DEMO/model" --store "sqlite:$DEMO/results.sqlite" "$@"
