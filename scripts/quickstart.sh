#!/usr/bin/env bash
# The main job on a sample archive: installs what is missing (scripts/setup.sh), compiles the
# workspace (`pnpm build`: `cxr` runs the compiled JavaScript), generates a
# sample archive of phantom chest CRs (every transfer syntax, plus broken files that must be
# rejected with a reason) and a seeded DenseNet121 bundle, then screens the archive with
# `cxr screen` into a SQLite store and prints the summary. Everything lands in .cxr-demo/.
# The seed model's weights are random: its scores show the pipeline works, not a diagnosis.
#
# `--pacs` screens the same archive from a PACS instead: a local Orthanc (Debian's, with its
# DICOMweb plugin) on loopback ports, the archive uploaded to it with fresh UIDs per file, and
# `cxr screen dicomweb+http://127.0.0.1:PORT/dicom-web`. Orthanc stops when the script ends; its
# storage stays in .cxr-demo/pacs, so running it again screens nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."
PACS=0
if [ "${1:-}" = "--pacs" ]; then
  PACS=1
  shift
fi
source scripts/setup.sh

log "pnpm build"
pnpm build

DEMO=.cxr-demo
log "sample archive and seed model in $DEMO/"
pnpm -s fixtures >/dev/null
mkdir -p "$DEMO/archive"
cp packages/fixtures/out/small/*.dcm "$DEMO/archive/"
[ -f "$DEMO/model/manifest.json" ] || pnpm -s cxr model init --out "$DEMO/model" --size 224

if [ "$PACS" = 0 ]; then
  log "cxr screen"
  # A queue prefix of its own, so the demo never shares queues with another pipeline on this Redis.
  CXR_QUEUE_PREFIX=cxr-demo pnpm -s cxr screen "file://$PWD/$DEMO/archive" \
    --model "$DEMO/model" --store "sqlite:$DEMO/results.sqlite" "$@"
  exit
fi

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
PACS_DIR="$PWD/$DEMO/pacs"
mkdir -p "$PACS_DIR"
# The same ports on every run: object URIs name the PACS by host and port, so a second run
# finds the first run's results only at the same address.
[ -f "$PACS_DIR/ports" ] || echo "$(free_port) $(free_port)" >"$PACS_DIR/ports"
read -r HTTP_PORT DICOM_PORT <"$PACS_DIR/ports"
cat >"$PACS_DIR/orthanc.json" <<EOF
{
  "Name": "cxr-demo-pacs",
  "StorageDirectory": "$PACS_DIR/storage",
  "IndexDirectory": "$PACS_DIR/index",
  "HttpPort": $HTTP_PORT,
  "DicomPort": $DICOM_PORT,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "StorageCompression": false,
  "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"],
  "DicomWeb": { "Enable": true, "Root": "/dicom-web/" }
}
EOF
log "demo PACS: Orthanc on 127.0.0.1:$HTTP_PORT (storage in $DEMO/pacs)"
Orthanc "$PACS_DIR/orthanc.json" >"$PACS_DIR/orthanc.log" 2>&1 &
ORTHANC_PID=$!
trap 'kill "$ORTHANC_PID" 2>/dev/null; wait "$ORTHANC_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$HTTP_PORT/system" >/dev/null && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$HTTP_PORT/system" >/dev/null || { tail -20 "$PACS_DIR/orthanc.log"; exit 1; }

if [ ! -f "$PACS_DIR/uploaded" ]; then
  # The sample files share their UIDs (one phantom in many transfer syntaxes): a PACS keeps one
  # instance per SOP Instance UID, so each file goes in as a new study, series and instance.
  # Orthanc refuses what it cannot parse at all (empty, truncated, not DICOM) and dcmodify cannot
  # edit HTJ2K files: those are left out, and said so.
  stored=0
  skipped=()
  copy=$(mktemp -d)
  for file in "$DEMO"/archive/*.dcm; do
    cp "$file" "$copy/instance.dcm"
    if dcmodify -nb -q -gst -gse -gin "$copy/instance.dcm" 2>/dev/null &&
      curl -sf -H 'Content-Type: application/dicom' --data-binary "@$copy/instance.dcm" \
        "http://127.0.0.1:$HTTP_PORT/instances" >/dev/null; then
      stored=$((stored + 1))
    else
      skipped+=("$(basename "$file")")
    fi
  done
  rm -rf "$copy"
  echo "uploaded $stored instances; not uploaded (${#skipped[@]}): ${skipped[*]}"
  touch "$PACS_DIR/uploaded"
fi

log "cxr screen dicomweb+http://127.0.0.1:$HTTP_PORT/dicom-web"
# The default filter lists CR and DX only: the Secondary Capture phantoms (OT) stay in the PACS.
CXR_QUEUE_PREFIX=cxr-demo-pacs pnpm -s cxr screen "dicomweb+http://127.0.0.1:$HTTP_PORT/dicom-web" \
  --model "$DEMO/model" --store "sqlite:$DEMO/results-pacs.sqlite" "$@"
