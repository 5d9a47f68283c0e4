#!/usr/bin/env bash
# Create .venv and install the pinned requirements (skipped when they have not changed).
# torch/torchvision come from `pip install torch==2.14.1 torchvision==0.29.1` (local disk here).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $PY"
  "$PY" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "==> installing requirements (first run takes a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  echo "$want" > "$stamp"
fi
# The native modexp kernel (deepchain/crypto/native/_modexp.c), rebuilt when its source is newer
# than the module; without a compiler (or on failure) deepchain.crypto.modexp falls back to gmpy2.
native=deepchain/crypto/native
ext=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
so="$native/_modexp$ext"
if [ ! -f "$so" ] || [ "$native/_modexp.c" -nt "$so" ]; then
  inc=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  echo "==> building the native modexp kernel"
  if "${CC:-gcc}" -O3 -std=gnu11 -shared -fPIC -Wall -I"$inc" "$native/_modexp.c" -o "$so.tmp" \
      && mv "$so.tmp" "$so"; then
    .venv/bin/python -c 'from deepchain.crypto.modexp import backend; print("    modexp:", backend())'
  else
    rm -f "$so.tmp"
    echo "    (native kernel not built: deepchain.crypto.modexp uses gmpy2)"
  fi
fi
# The native BabyBear NTT kernel (deepchain/crypto/native/_babybear.c), the same way; without it
# deepchain.crypto.zk.babybear.ntt runs the numpy loop (the same numbers, an order of magnitude slower).
so="$native/_babybear$ext"
if [ ! -f "$so" ] || [ "$native/_babybear.c" -nt "$so" ]; then
  inc=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  echo "==> building the native BabyBear NTT kernel"
  if "${CC:-gcc}" -O3 -std=gnu11 -shared -fPIC -Wall -I"$inc" "$native/_babybear.c" -o "$so.tmp" \
      && mv "$so.tmp" "$so"; then
    echo "    babybear ntt: native"
  else
    rm -f "$so.tmp"
    echo "    (native kernel not built: deepchain.crypto.zk.babybear uses the numpy loop)"
  fi
fi
if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  echo "==> installing Debian's chromium for the browser tests"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
