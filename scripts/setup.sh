#!/usr/bin/env bash
# Set up memlens in ./.venv on a fresh machine: the CPU build of torch first (any other spelling
# of the requirement pulls a multi-GB CUDA build here), then memlens with its dev extras, then,
# when we are root on Debian, the Fashion-MNIST files (and with --browser, headless Chromium for
# the report tests). Safe to re-run: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
browser=0
[ "${1:-}" = "--browser" ] && browser=1

# this machine's pip.conf names local indexes that may be absent; their warnings are noise
quiet_pip() { "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2); }
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
quiet_pip .venv/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0
quiet_pip .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"

packages=(dataset-fashion-mnist)
[ "$browser" = 1 ] && packages+=(chromium chromium-driver)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "note: not root or no apt-get; skipping ${missing[*]} (fashion-mnist falls back to digits;" \
         "browser tests are skipped)" >&2
  fi
fi
echo "memlens is set up in .venv ($(.venv/bin/python -c 'import torch, memlens; print("memlens", memlens.__version__, "torch", torch.__version__)'))"
