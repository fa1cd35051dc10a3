#!/usr/bin/env bash
# Create .venv with everything the grader and its tests need. Safe to run again.
# torch is installed first and pinned: an unpinned torch resolves to a multi-GB CUDA build,
# while torch==2.13.0 takes the CPU wheel from this machine's local package store.
set -euo pipefail
cd "$(dirname "$0")/.."
# bubblewrap isolates student kernels (README, "Untrusted submissions"): installed where we can, never fatal
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null) \
      || echo "setup: bubblewrap could not be installed; student kernels will run with resource limits only"
  else
    echo "setup: bubblewrap (bwrap) is not installed; student kernels will run with resource limits only" \
         "(as root: apt-get install bubblewrap)"
  fi
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
echo "setup: .venv ready ($(.venv/bin/python -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'))"
