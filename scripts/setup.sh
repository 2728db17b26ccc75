#!/usr/bin/env bash
# Installs what the project needs on a Debian machine with Node.js 20 (run as root) and starts the
# services it talks to: dcmtk, gdcm and promtool; pnpm at the pinned version; Redis and PostgreSQL
# when they are not already running; the workspace packages. Safe to run again: it only does
# what is missing. Sourced by .ci/run and scripts/quickstart.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '\n=== %s\n' "$*"; }

PNPM_VERSION=$(node -p "require('./package.json').packageManager.split('@')[1]")
APT_UPDATED=0
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$APT_UPDATED" -eq 0 ]; then apt-get update -qq; APT_UPDATED=1; fi
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

log "system packages"
# dcmtk and gdcm: fixture encoders and reference decoders for the cross-checks;
# prometheus: promtool, which lints the exported metrics; chromium: the headless browser the
# `cxr evaluate` report test opens report.html in (through playwright-core, no browser download);
# orthanc + orthanc-dicomweb: the real PACS the PACS tests start on loopback ports; dicom3tools:
# dciodvfy, the DICOM object verifier. (Orthanc's package tries to start a system service, which
# policy-rc.d refuses here: harmless, the tests start their own.)
# libopenjp2-tools: opj_compress, the one installed writer of 1-bit JPEG 2000 codestreams.
# fonts-dejavu-core: the font of the findings summary image's banner (sharp renders it via fontconfig).
# python3-torch, python3-torchvision, python3-pydicom: the `cxr model import` test exports
# DenseNet121s with PyTorch and compares scores and TorchXRayVision's preprocessing (large: ~1 GB).
# python3-gdcm, python3-pil (with the three above): the seed's Python recipe column of `pnpm bench
# decode` and the seed-style Python pipeline of `pnpm bench pipeline --peer python`
# (pydicom decodes compressed syntaxes through gdcm; PIL resizes).
apt_install dcmtk libgdcm-tools prometheus chromium orthanc orthanc-dicomweb dicom3tools libopenjp2-tools fonts-dejavu-core \
  python3-torch python3-torchvision python3-pydicom python3-gdcm python3-pil

log "pnpm $PNPM_VERSION"
if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null
fi

log "services"
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  command -v redis-server >/dev/null || apt_install redis-server redis-tools
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  cluster_version=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$cluster_version" main start
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 && break; sleep 1; done
fi
if ! psql -h 127.0.0.1 -U postgres -d test -c 'select 1' >/dev/null 2>&1; then
  su postgres -c "psql -c \"ALTER USER postgres PASSWORD NULL\"" >/dev/null 2>&1 || true
  su postgres -c "createdb test" >/dev/null 2>&1 || true
fi
redis-cli -h 127.0.0.1 ping
pg_isready -h 127.0.0.1 -p 5432

log "pnpm install"
# onnxruntime-node's install script would download CUDA/TensorRT providers from a host this
# machine cannot reach; the CPU provider ships inside the npm package.
export ONNXRUNTIME_NODE_INSTALL=skip
# better-sqlite3 has no reachable prebuilt binary here: node-gyp compiles it against the system
# Node headers (Debian's nodejs ships them in /usr/include/node) instead of downloading headers.
if [ -f /usr/include/node/node.h ]; then export npm_config_nodedir=/usr; fi
pnpm install --frozen-lockfile
